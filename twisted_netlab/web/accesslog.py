"""The access log and the ``Site`` it belongs to.

``NetlabSite`` is twisted.web's ``Site`` with an access log that costs nothing unless
asked for, written in the combined format nginx and Apache write (Twisted's own
formatter quotes the client address, which log analysers reject). A leaf of ``web/``:
the limited site (``connections.py``) builds on it and ``site.py`` composes both.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Site

__all__ = ["NetlabSite", "combined_log_line", "open_access_log"]


class NetlabSite(Site):
    """A ``Site`` whose access log costs nothing unless asked for."""

    def __init__(
        self, resource: IResource, access_log: IO[bytes] | None = None, **kwargs: Any
    ) -> None:
        Site.__init__(self, resource, **kwargs)  # explicit: mypy cannot see through super()
        self._access_log = access_log

    def log(self, request: http.Request) -> None:
        if self._access_log is None:
            return
        line = combined_log_line(http.datetimeToLogString(), request)
        self._access_log.write(line.encode("utf-8", "replace") + b"\n")
        self._access_log.flush()


def _escape(value: bytes | str) -> str:
    # nginx's escaping: log analysers split on quotes, so no raw quote or control byte.
    raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
    return "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02X}" for b in raw
    )


def combined_log_line(timestamp: str, request: http.Request) -> str:
    """One line of the combined log format, as nginx and Apache write it.

    Twisted's own formatter quotes the client address, which log analysers reject.
    """
    client = request.getClientAddress()
    host = getattr(client, "host", None) or "-"
    length = request.sentLength or "-"
    return (
        f"{host} - - {timestamp} "
        f'"{_escape(request.method)} {_escape(request.uri)} {_escape(request.clientproto)}" '
        f"{request.code} {length} "
        f'"{_escape(request.getHeader(b"referer") or b"-")}" '
        f'"{_escape(request.getHeader(b"user-agent") or b"-")}"'
    )


def open_access_log(target: str | None) -> IO[bytes] | None:
    if not target:
        return None
    if target == "-":
        return sys.stdout.buffer
    return open(target, "ab")
