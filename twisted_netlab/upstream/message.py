"""The values and roles of one upstream exchange: request, heads, handler, body source.

Roles are ``typing.Protocol`` classes, not base classes: the proxy call is a handler,
a spooled file or (later) a streaming upload is a body source, and tests use plain
recorders for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from twisted_netlab.http.msgframing import Framing
from twisted_netlab.upstream.errors import UpstreamError

Pair = tuple[bytes, bytes]
# Header names to their values, as ``forward_request_headers`` builds them.
GroupedHeaders = Mapping[bytes, Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class Origin:
    """One upstream (the pool key): ``scheme`` is ``http`` or ``https``."""

    scheme: str
    host: str
    port: int


class BodySink(Protocol):
    """Where a body source writes: the upstream connection, framed and flow-controlled.

    While the upstream socket is full the sink calls the source's ``pauseProducing``
    (the source is registered as a streaming producer on the upstream transport).
    """

    def write(self, data: bytes) -> None: ...

    def finish(self) -> None: ...

    def fail(self, reason: str) -> None: ...


class BodySource(Protocol):
    """A request body: an ``IPushProducer`` that writes into a ``BodySink``.

    ``length`` None means unknown (sent chunked). ``rewind()`` prepares the body to be
    sent again for a retry and says whether that is possible (a body streamed from the
    client cannot be replayed once a byte went out).
    """

    length: int | None

    def start(self, sink: BodySink) -> None: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def stopProducing(self) -> None: ...

    def rewind(self) -> bool: ...


# Not frozen (a frozen dataclass pays ``object.__setattr__`` per field): one of each is
# built per proxied request. Treat them as read-only values all the same.
@dataclass(slots=True)
class UpstreamRequest:
    """``target`` is origin-form; ``headers`` must carry Host and no framing headers
    (Content-Length / Transfer-Encoding are the client's to write)."""

    method: bytes
    target: bytes
    headers: GroupedHeaders
    body: BodySource | None = None
    # The head as ``request_head`` formats it, when the caller has it already (a
    # direct relay sends the bytes its plan recorded): the exchange then skips formatting.
    head: bytes | None = None


@dataclass(slots=True)
class ResponseHead:
    """A response head as received (names as the upstream spelled them)."""

    status: int
    reason: bytes
    version: bytes
    headers: list[Pair]
    framing: Framing
    # The head's key in the reader's memo (``headmemo.memo_key``) and the Date value
    # taken out of it, when the head is memoised (None: it is not); ``whole``: the
    # whole message came in the read that started it (its body follows at once).
    memo_key: bytes | None = None
    memo_date: bytes | None = None
    whole: bool = False


class ResponseHandler(Protocol):
    """The caller's side of an exchange. Exactly one of ``response_done`` and
    ``exchange_failed`` ends it, unless the caller cancelled it first."""

    def interim_received(self, head: ResponseHead) -> None:
        """A 1xx head (never 101); more heads follow."""

    def head_received(self, head: ResponseHead) -> None:
        """The final head; body bytes follow unless ``head.framing`` says none."""

    def body_received(self, data: bytes) -> None: ...

    def response_done(self) -> None: ...

    def exchange_failed(self, error: UpstreamError) -> None:
        """Before the head: no response (map to 502/504). After: the body broke."""
