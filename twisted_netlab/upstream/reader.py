"""One response read from bytes: ``httptools`` (llhttp) parsing, our framing rule.

No Twisted here: ``feed(data)`` in, events out (``ReaderEvents``), so every framing
case is tested byte by byte without a socket. llhttp parses the head and the body
framing; ``twisted_netlab.http.msgframing`` decides at the end of each head whether the
response is acceptable and how it ends, and the reader enforces what llhttp cannot know:

- a response to HEAD has no body whatever its headers say. httptools exposes no way to
  tell llhttp that (its ``on_headers_complete`` return value is fixed), so for HEAD the
  reader cuts the stream at each blank line and feeds llhttp one head at a time;
- the head size is bounded (llhttp has no limit);
- bytes after the final message (an upstream answering twice, or junk) make the
  connection unusable instead of being read as the next response.

A fresh parser per response keeps no state from a previous exchange.
"""

from __future__ import annotations

from typing import Protocol

import httptools

from twisted_netlab.http.msgframing import BodyKind, FramingError, response_framing
from twisted_netlab.upstream.errors import BadResponse
from twisted_netlab.upstream.message import Pair, ResponseHead

DEFAULT_MAX_HEAD = 64 * 1024


class ReaderEvents(Protocol):
    def interim(self, head: ResponseHead) -> None: ...

    def head(self, head: ResponseHead) -> None: ...

    def body(self, data: bytes) -> None: ...


class _Stop(Exception):
    """Raised inside a parser callback to make llhttp stop where it is."""


class ResponseReader:
    """Reads the response to one request. ``feed`` raises ``BadResponse``.

    After ``feed`` returns, ``complete`` says the final message ended; ``reusable``
    that the connection may carry another request.
    """

    def __init__(
        self, method: bytes, events: ReaderEvents, max_head: int = DEFAULT_MAX_HEAD
    ) -> None:
        self.method = method
        self.events = events
        self.max_head = max_head
        self.started = False  # a response byte arrived
        self.got_head = False  # the final head was delivered
        self.complete = False
        self.stopped = False
        self.kind: BodyKind | None = None
        self.keep_alive = False
        self.extra = False  # bytes after the final message
        self._head_bytes = 0
        self._head_size = 0
        self._status = b""
        self._headers: list[Pair] = []
        self._split = method == b"HEAD"
        self._pending = b""  # HEAD mode: bytes of a head not yet complete
        self._parser = httptools.HttpResponseParser(self)

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.extra

    def stop(self) -> None:
        """The caller lost interest: ignore everything from now on."""
        self.stopped = True

    # -- input -------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.stopped or not data:
            return
        if self.complete:
            self.extra = True
            return
        if not self.started:
            self.started = True
            if not b"HTTP/".startswith(data[:5]):
                raise BadResponse("invalid status line", f"response starts {data[:20]!r}")
        if self._split:
            self._feed_split(data)
            return
        if not self.got_head:
            self._head_bytes += len(data)
        self._execute(data)
        if not self.got_head and not self.complete and self._head_bytes > self.max_head:
            raise BadResponse("response head too large")

    def _feed_split(self, data: bytes) -> None:
        buf = self._pending + data
        while buf and not self.complete and not self.stopped:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head, buf = buf[: end + 4], buf[end + 4 :]
            self._execute(head)
        if self.complete:
            self.extra = self.extra or bool(buf)
            buf = b""
        if len(buf) > self.max_head:
            raise BadResponse("response head too large")
        self._pending = buf

    def _execute(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Stop):
                return
            if isinstance(cause, FramingError):
                raise BadResponse(cause.reason) from cause
            if cause is not None:
                raise cause from None  # the handler's own bug: not the upstream's fault
            raise BadResponse("invalid response", str(exc)) from exc
        except httptools.HttpParserUpgrade as exc:  # pragma: no cover - 101 refused first
            raise BadResponse("unexpected upgrade") from exc
        except httptools.HttpParserError as exc:
            raise BadResponse(_short(exc), str(exc)) from exc

    def eof(self) -> bool:
        """The upstream closed the connection; True when that ends the response."""
        if self.complete:
            return True
        if self.got_head and self.kind is BodyKind.CLOSE and not self.stopped:
            self.complete = True
            return True
        return False

    # -- llhttp callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second message after the final one: junk
            self.extra = True
            raise _Stop()
        self._status = b""
        self._headers = []
        self._head_size = 0

    def on_status(self, status: bytes) -> None:
        self._status += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.got_head:  # after the head: chunked trailers, dropped
            self._headers.append((name, value))
            self._head_size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        if self.stopped:
            raise _Stop()
        if self._head_size > self.max_head:
            raise FramingError("response head too large")
        parser = self._parser
        status = parser.get_status_code()
        version = parser.get_http_version().encode("ascii")
        framing = response_framing(self.method, status, version, self._headers)
        head = ResponseHead(status, self._status, version, self._headers, framing)
        if framing.kind is BodyKind.INTERIM:
            self._head_bytes = 0
            self.events.interim(head)
            if self.stopped:
                raise _Stop()
            return
        self.got_head = True
        self.kind = framing.kind
        self.keep_alive = framing.keep_alive
        self.events.head(head)
        if framing.kind is BodyKind.NO_BODY and self._split:
            # llhttp ends 204/304 itself; for HEAD it would wait for a body.
            self.complete = True
            raise _Stop()
        if self.stopped:
            raise _Stop()

    def on_body(self, data: bytes) -> None:
        if self.stopped:
            raise _Stop()
        self.events.body(data)

    def on_message_complete(self) -> None:
        if self.got_head:
            self.complete = True


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:60]
