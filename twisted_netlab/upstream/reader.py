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

One reader serves a connection's whole life (``restart`` for each response): the
llhttp parser is kept from one response to the next only when the previous message
ended cleanly (complete, keep-alive by llhttp's reading too, nothing after it, not a
HEAD answer cut by the reader); anything else gets a fresh parser, so no state leaks
from an exchange that went wrong. The framing fields are picked out as llhttp reports
each header, so the rule does not walk the head a second time.
"""

from __future__ import annotations

from typing import Protocol

import httptools

from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.http.msgframing import (
    FRAMING_NAME_LENGTHS,
    BodyKind,
    FramingError,
    framing_of,
)
from twisted_netlab.upstream.errors import BadResponse
from twisted_netlab.upstream.headmemo import MAX_HEAD, HeadPlan, head_memo, memo_key, plan_for
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

    ``memo``: heads parsed before (``headmemo``), shared by every reader; None: none.
    """

    memo: BoundedMemo[bytes, HeadPlan] | None = head_memo

    def __init__(
        self, method: bytes, events: ReaderEvents, max_head: int = DEFAULT_MAX_HEAD
    ) -> None:
        self.max_head = max_head
        self._parser: httptools.HttpResponseParser | None = None
        self._clean = False  # the parser ended a message and may read the next one
        self.restart(method, events)

    def restart(self, method: bytes, events: ReaderEvents) -> None:
        """Read the response to the next request on the same connection."""
        self.method = method
        self.events = events
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
        self._lengths: list[bytes] = []
        self._codings: list[bytes] = []
        self._connection: list[bytes] = []
        split = self._split = method == b"HEAD"
        self._pending = b""  # HEAD mode: bytes of a head not yet complete
        # The memo key and date of a head that arrived whole at the start of this
        # response, until llhttp has parsed it (then it is kept, ``on_headers_complete``).
        self._candidate: tuple[bytes, bytes | None] | None = None
        if self._parser is None or split or not self._clean:
            self._parser = httptools.HttpResponseParser(self)
        self._clean = False

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
            if not self._split and self.memo is not None and self._from_memo(data):
                return
        if self._split:
            self._feed_split(data)
            return
        if not self.got_head:
            self._head_bytes += len(data)
        self._execute(data)
        if not self.got_head and not self.complete and self._head_bytes > self.max_head:
            raise BadResponse("response head too large")

    def _from_memo(self, data: bytes) -> bool:
        """The first bytes of the response: True when they are a whole message whose
        head was parsed before (``headmemo``), now delivered as llhttp would have."""
        end = data.find(b"\r\n\r\n")
        size = end + 4
        if end < 0 or size > MAX_HEAD or size > self.max_head:
            return False
        key, date = memo_key(self.method, data[:size])
        memo = self.memo
        plan = memo.get(key) if memo is not None else None
        if plan is None:
            self._candidate = (key, date)
            return False
        framing = plan.framing
        rest = len(data) - size
        kind = framing.kind
        if not (
            (kind is BodyKind.LENGTH and rest == framing.length)
            or (kind is BodyKind.NO_BODY and rest == 0)
        ):
            return False  # the body is not all here (or more is): llhttp reads it
        head = plan.head(date)
        if head is None:
            return False
        head.memo_key = key
        head.memo_date = date
        head.whole = True
        self.got_head = True
        self.kind = kind
        self.keep_alive = framing.keep_alive
        self.events.head(head)
        if self.stopped:
            return True  # the caller lost interest: never complete, never reused
        if rest:
            self.events.body(data[size:])
            if self.stopped:
                return True
        self.complete = True
        self._clean = True  # llhttp did not see this message: still at a boundary
        return True

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
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserCallbackError as exc:
            self._clean = False
            cause = exc.__context__
            if isinstance(cause, _Stop):
                return
            if isinstance(cause, FramingError):
                raise BadResponse(cause.reason) from cause
            if cause is not None:
                raise cause from None  # the handler's own bug: not the upstream's fault
            raise BadResponse("invalid response", str(exc)) from exc
        except httptools.HttpParserUpgrade as exc:  # pragma: no cover - 101 refused first
            self._clean = False
            raise BadResponse("unexpected upgrade") from exc
        except httptools.HttpParserError as exc:
            self._clean = False
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
            self._clean = False
            raise _Stop()

    def on_status(self, status: bytes) -> None:
        self._status += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.got_head:  # after the head: chunked trailers, dropped
            return
        self._headers.append((name, value))
        size = len(name)
        self._head_size += size + len(value) + 4
        if size in FRAMING_NAME_LENGTHS:
            low = name.lower()
            if low == b"content-length":
                self._lengths.append(value)
            elif low == b"transfer-encoding":
                self._codings.append(value)
            elif low == b"connection":
                self._connection.append(value)

    def on_headers_complete(self) -> None:
        if self.stopped:
            raise _Stop()
        if self._head_size > self.max_head:
            raise FramingError("response head too large")
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        text = parser.get_http_version()
        version = _VERSION_BYTES.get(text) or text.encode("ascii")
        framing = framing_of(
            self.method, status, version, self._lengths, self._codings, self._connection
        )
        head = ResponseHead(status, self._status, version, self._headers, framing)
        if framing.kind is BodyKind.INTERIM:
            # The final head starts afresh (the lists now belong to ``head``).
            self._head_bytes = 0
            self._head_size = 0
            self._status = b""
            self._headers = []
            self._lengths = []
            self._codings = []
            self._connection = []
            self._candidate = None  # the bytes at the start were this interim head
            self.events.interim(head)
            if self.stopped:
                raise _Stop()
            return
        self.got_head = True
        self.kind = framing.kind
        self.keep_alive = framing.keep_alive
        candidate = self._candidate
        if candidate is not None and self.memo is not None:
            self._candidate = None
            plan = plan_for(head, candidate[1])
            if plan is not None:
                self.memo.remember(candidate[0], plan)
                head.memo_key, head.memo_date = candidate
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
            parser = self._parser
            self._clean = (
                not self._split and parser is not None and parser.should_keep_alive()
            )


_VERSION_BYTES = {"1.1": b"1.1", "1.0": b"1.0"}


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:60]
