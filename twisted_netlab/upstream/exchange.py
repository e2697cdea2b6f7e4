"""One request/response with an upstream: its state, timeouts, retry and flow control.

The exchange sits between the caller's handler and whichever pooled connection carries
it. It is the producer of the response body: the caller registers it (an
``IPushProducer``) on its own consumer, and a slow consumer pauses the upstream socket.
Timeouts are checked by the client's one sweep (``Deadlines``): the response timeout
runs from the start to the final head (connect time included), the idle timeout from
the last body byte while not paused by the consumer.

Retry: a request sent on a reused connection that the upstream closes before a single
response byte (it closed an idle keep-alive connection as we wrote) is sent again once,
on a new connection, if its method is idempotent and its body can be replayed.
"""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from twisted_netlab.http.reqhead import RequestHeadError, request_head
from twisted_netlab.upstream.deadlines import Deadlines
from twisted_netlab.upstream.errors import (
    IdleTimeout,
    InternalError,
    RequestBodyFailed,
    ResponseTimeout,
    UpstreamError,
)
from twisted_netlab.upstream.message import (
    BodySource,
    Origin,
    ResponseHandler,
    ResponseHead,
    UpstreamRequest,
)
from twisted_netlab.upstream.roles import Carrier, ConnectionSource, State

__all__ = ["IDEMPOTENT", "Exchange", "State"]

log = Logger()

# RFC 9110 9.2.2.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


@implementer(IPushProducer)
class Exchange:
    connection: Carrier | None = None
    reused = False
    paused = False
    # Per-exchange state starts from these class defaults (one exchange per request:
    # fewer assignments in ``__init__``).
    _deadline = 0.0
    _last = 0.0
    _watched = False
    _retried = False
    head_bytes = b""

    def __init__(
        self,
        *,
        origin: Origin,
        request: UpstreamRequest,
        handler: ResponseHandler,
        pool: ConnectionSource,
        deadlines: Deadlines,
        reactor: IReactorTime,
        response_timeout: float,
        idle_timeout: float,
        tick: float,
    ) -> None:
        self.origin = origin
        self.request = request
        self.handler = handler
        self.state = State.CONNECTING
        self._pool = pool
        self._deadlines = deadlines
        self._reactor = reactor
        self._response_timeout = response_timeout
        self._idle_timeout = idle_timeout
        self._tick = tick

    def start(self) -> None:
        request = self.request
        body = request.body
        if request.head is not None:
            self.head_bytes = request.head
        else:
            self._format(request, body)
            if self.state is State.DONE:
                return
        if self._response_timeout > 0 or self._idle_timeout > 0:
            self._deadline = self._reactor.seconds() + self._response_timeout
            self._watched = True
            self._deadlines.add(self, self._tick)
        self._pool.acquire(self)

    def _format(self, request: UpstreamRequest, body: BodySource | None) -> None:
        try:
            self.head_bytes = request_head(
                request.method,
                request.target,
                request.headers,
                body.length if body is not None else None,
                body is not None,
            )
        except RequestHeadError as exc:
            self._fail(InternalError("request could not be sent", str(exc)))

    # -- from the pool -------------------------------------------------------------

    def connected(self, connection: Carrier, reused: bool) -> None:
        self.connection = connection
        self.reused = reused
        self.state = State.WAITING
        connection.send(self)

    def connect_failed(self, error: UpstreamError) -> None:
        if self.state is State.DONE:
            return
        self._fail(error)

    # -- from the connection's reader (ReaderEvents) --------------------------------

    def interim(self, head: ResponseHead) -> None:
        self.handler.interim_received(head)

    def head(self, head: ResponseHead) -> None:
        self.state = State.BODY
        if self._idle_timeout > 0:
            self._last = self._reactor.seconds()
        self.handler.head_received(head)

    def body(self, data: bytes) -> None:
        if self._idle_timeout > 0:
            self._last = self._reactor.seconds()
        self.handler.body_received(data)

    # -- from the connection ---------------------------------------------------------

    def completed(self) -> None:
        if self.state is State.DONE:
            return
        self.state = State.DONE
        if self._watched:
            self._watched = False
            self._deadlines.discard(self)
        self.handler.response_done()

    def lost(self, error: UpstreamError, retryable: bool) -> None:
        """The connection ended the exchange; ``retryable``: nothing came back on a
        reused connection."""
        if self.state is State.DONE:
            return
        self.connection = None
        body = self.request.body
        if (
            retryable
            and not self._retried
            and self.request.method in IDEMPOTENT
            and (body is None or body.rewind())
        ):
            self._retried = True
            self.state = State.CONNECTING
            self._pool.acquire(self, fresh=True)
            return
        self._fail(error)

    def body_progress(self) -> None:
        """Request body bytes went out: the response timeout counts from the last of
        them. A long upload (streamed at the client's pace) is not a slow upstream; an
        upstream that stops reading it still times out (nothing goes out any more)."""
        if self._response_timeout > 0 and self.state is State.WAITING:
            self._deadline = self._reactor.seconds() + self._response_timeout

    def body_failed(self, reason: str) -> None:
        if self.state is State.DONE:
            return
        self._cancel_connection()
        self._fail(RequestBodyFailed("request body failed", reason))

    # -- from the caller -------------------------------------------------------------

    def cancel(self) -> None:
        """Stop: the upstream connection is closed (it cannot be reused mid-message).
        The handler hears nothing more."""
        if self.state is State.DONE:
            return
        self._end()
        self._cancel_connection()

    def pauseProducing(self) -> None:
        self.paused = True
        if self.connection is not None:
            self.connection.pause_reading()

    def resumeProducing(self) -> None:
        self.paused = False
        if self._idle_timeout > 0:
            self._last = self._reactor.seconds()
        if self.connection is not None:
            self.connection.resume_reading()

    def stopProducing(self) -> None:
        self.cancel()

    # -- deadlines ---------------------------------------------------------------------

    def check_deadline(self, now: float) -> None:
        state = self.state
        if state is State.BODY:
            idle = now - self._last
            if self._idle_timeout > 0 and not self.paused and idle >= self._idle_timeout:
                self._timed_out(
                    IdleTimeout(
                        "upstream idle mid-body",
                        f"no body byte for {self._idle_timeout}s",
                    )
                )
        elif state is not State.DONE and self._response_timeout > 0 and now >= self._deadline:
            self._timed_out(ResponseTimeout("no response within the timeout"))

    def _timed_out(self, error: UpstreamError) -> None:
        self._cancel_connection()
        self._fail(error)

    # -- endings -------------------------------------------------------------------------

    def _cancel_connection(self) -> None:
        connection = self.connection
        self.connection = None
        if connection is not None:
            connection.abandon(self)

    def _end(self) -> None:
        self.state = State.DONE
        if self._watched:
            self._watched = False
            self._deadlines.discard(self)

    def _fail(self, error: UpstreamError) -> None:
        self._end()
        try:
            self.handler.exchange_failed(error)
        except Exception:
            log.failure("upstream handler failed handling {error}", error=error.reason)
