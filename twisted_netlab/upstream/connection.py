"""One keep-alive connection to an upstream: writes requests, reads responses.

A Twisted ``Protocol`` carrying at most one exchange at a time (no pipelining). The
request head goes out in one write and the body through a ``BodySink`` that frames it
(Content-Length checked, or chunked) while the body source is registered as a streaming
producer on this transport. Responses are read by one ``ResponseReader`` per connection,
restarted for each exchange.
When a response completes, the connection goes back to the pool if both sides say it
may (keep-alive, nothing extra received, request body fully sent), else it is closed.
"""

from __future__ import annotations

from typing import Protocol as Role
from typing import cast

from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_netlab.http.reqhead import LAST_CHUNK, chunk
from twisted_netlab.upstream.errors import (
    BadResponse,
    BodyFailed,
    ClosedEarly,
    InternalError,
    failure_text,
)
from twisted_netlab.upstream.message import BodySource, Origin
from twisted_netlab.upstream.reader import ResponseReader
from twisted_netlab.upstream.roles import ConnectionHome, ExchangeRole

log = Logger()


class _Transport(Role):
    """What this connection uses of its transport (TCP or TLS)."""

    def write(self, data: bytes) -> None: ...

    def writeSequence(self, data: list[bytes]) -> None: ...

    def registerProducer(self, producer: object, streaming: bool) -> None: ...

    def unregisterProducer(self) -> None: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def loseConnection(self) -> None: ...

    def abortConnection(self) -> None: ...


class _BodyWriter:
    """The ``BodySink`` a request body source writes into."""

    def __init__(self, connection: UpstreamConnection, source: BodySource) -> None:
        self.connection = connection
        self.source = source
        self.chunked = source.length is None
        self.left = source.length or 0
        self.done = False

    def write(self, data: bytes) -> None:
        if self.done or not data:
            return
        transport = self.connection.wire
        if transport is None:
            return
        self.connection.body_progress()
        if self.chunked:
            transport.writeSequence(chunk(data))
            return
        if len(data) > self.left:
            self.fail("request body longer than its Content-Length")
            return
        self.left -= len(data)
        transport.write(data)

    def finish(self) -> None:
        if self.done:
            return
        if not self.chunked and self.left:
            self.fail("request body shorter than its Content-Length")
            return
        self.done = True
        transport = self.connection.wire
        if transport is not None:
            if self.chunked:
                transport.write(LAST_CHUNK)
            transport.unregisterProducer()

    def fail(self, reason: str) -> None:
        if self.done:
            return
        self.done = True
        self.connection.body_failed(reason)

    def stop(self) -> None:
        """The exchange ended first: stop the source and take it off the transport."""
        if self.done:
            return
        self.done = True
        self.source.stopProducing()
        if self.connection.wire is not None:
            self.connection.wire.unregisterProducer()


class UpstreamConnection(Protocol):
    exchange: ExchangeRole | None = None
    reader: ResponseReader | None = None
    alive = False
    reused = False
    idle_since = 0.0
    wire: _Transport | None = None

    def __init__(
        self, pool: ConnectionHome[UpstreamConnection], origin: Origin, max_head: int
    ) -> None:
        self.pool = pool
        self.origin = origin
        self.max_head = max_head
        self._writer: _BodyWriter | None = None
        self._paused = False
        self._spare: ResponseReader | None = None  # this connection's reader, between uses

    def connectionMade(self) -> None:
        self.wire = cast(_Transport, self.transport)
        self.alive = True

    # -- sending ---------------------------------------------------------------------

    def send(self, exchange: ExchangeRole) -> None:
        self.exchange = exchange
        request = exchange.request
        reader = self._spare
        if reader is None:
            reader = self._spare = ResponseReader(request.method, exchange, self.max_head)
        else:
            reader.restart(request.method, exchange)
        self.reader = reader
        transport = self.wire
        assert transport is not None
        transport.write(exchange.head_bytes)
        body = request.body
        if body is not None:
            writer = self._writer = _BodyWriter(self, body)
            transport.registerProducer(body, True)
            body.start(writer)

    def body_progress(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.body_progress()

    def body_failed(self, reason: str) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.body_failed(reason)

    # -- receiving -------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        exchange = self.exchange
        reader = self.reader
        if exchange is None or reader is None:
            # Nothing was asked: an idle connection must stay silent (some servers
            # send a 408 before closing). It cannot be trusted for the next request.
            self._close(abort=True)
            return
        try:
            reader.feed(data)
        except BadResponse as error:
            got_head = reader.got_head
            self._drop()
            if got_head:
                exchange.lost(BodyFailed("invalid response body", error.detail), False)
            else:
                exchange.lost(error, False)
            return
        except Exception:
            log.failure("upstream {origin}: handler failed", origin=self.origin)
            self._drop()
            exchange.lost(InternalError("could not be relayed"), False)
            return
        if reader.complete and self.exchange is exchange:
            self._finish()

    def pause_reading(self) -> None:
        if not self._paused and self.wire is not None:
            self._paused = True
            self.wire.pauseProducing()

    def resume_reading(self) -> None:
        if self._paused and self.wire is not None:
            self._paused = False
            self.wire.resumeProducing()

    # -- endings ---------------------------------------------------------------------

    def _detach(self) -> None:
        self.exchange = None
        if self.reader is not None:
            self.reader.stop()
            self.reader = None
        writer = self._writer
        self._writer = None
        if writer is not None:
            writer.stop()

    def _finish(self) -> None:
        """The response is complete: back to the pool, or closed."""
        exchange = self.exchange
        reader = self.reader
        assert exchange is not None and reader is not None
        writer = self._writer
        reusable = reader.reusable and (writer is None or writer.done)
        self._detach()
        if self._paused:
            self.resume_reading()
        if reusable and self.alive:
            self.pool.release(self)
        else:
            self._close(abort=False)
            self.pool.discard(self)
        exchange.completed()

    def _drop(self) -> None:
        """The exchange ends with this connection unusable."""
        self._detach()
        self._close(abort=True)
        self.pool.discard(self)

    def abandon(self, exchange: ExchangeRole) -> None:
        """The exchange was cancelled or timed out mid-way."""
        if self.exchange is exchange:
            self._drop()

    def _close(self, abort: bool) -> None:
        self.alive = False
        transport = self.wire
        if transport is None:
            return
        if abort:
            transport.abortConnection()
        else:
            transport.loseConnection()

    def close(self) -> None:
        """Close an idle connection (pool expiry or shutdown)."""
        self._close(abort=False)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.alive = False
        try:
            self._lost(reason)
        finally:
            self.pool.forget(self)

    def _lost(self, reason: Failure) -> None:
        exchange = self.exchange
        reader = self.reader
        if exchange is None or reader is None:
            return
        if reader.eof():
            self._finish()  # a close-delimited body ends here
            return
        self._detach()
        self.pool.discard(self)
        detail = failure_text(reason)
        if not reader.started:
            exchange.lost(
                ClosedEarly("connection closed before a response", detail), self.reused
            )
        elif reader.got_head:
            exchange.lost(BodyFailed("upstream closed mid-body", detail), False)
        else:
            exchange.lost(BadResponse("connection closed in the response head", detail), False)
