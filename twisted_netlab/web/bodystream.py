"""The streaming-body contract: what a consumer of request bodies as they arrive provides.

The channel (``channel.LimitedChannel``) hands body bytes to a ``BodyStream`` when the
site's ``open_body`` hook returns one (``connections.LimitedSite`` and, for uploads
through the proxy, ``proxy/opener.py``) instead of spooling them to memory or disk.  It
lives apart from the channel because the consumers implement it without needing the
channel's internals.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["BodyStream"]


class BodyStream(Protocol):
    """A body consumer that takes bytes as they arrive (the streaming hook).

    File-like towards twisted.web (``write``/``tell``/``seek``/``read``/``close``), plus
    ``fail``: the channel refused the request mid-body (413, 408), so the consumer must
    abandon what it started rather than see a short body as complete.
    """

    def write(self, data: bytes) -> None: ...

    def tell(self) -> int: ...

    def seek(self, offset: int, whence: int = 0) -> int: ...

    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...

    def fail(self, reason: str) -> None: ...
