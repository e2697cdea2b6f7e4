"""The upstream client in memory: pool reuse, expiry and sizing, retry, timeouts,
1xx, framing errors, request bodies under flow control. No sockets: connections are
``StringTransport``s and time is a ``MemoryReactorClock``."""

from __future__ import annotations

import io
from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.upstream.bodies import READ_SIZE, BytesBody, FileBody
from twisted_netlab.upstream.client import ClientConfig, UpstreamClient
from twisted_netlab.upstream.connection import UpstreamConnection
from twisted_netlab.upstream.errors import (
    BadResponse,
    BodyFailed,
    ClosedEarly,
    ConnectFailed,
    IdleTimeout,
    ResponseTimeout,
    UpstreamError,
)
from twisted_netlab.upstream.message import BodySink, Origin, ResponseHead, UpstreamRequest

ORIGIN = Origin("http", "up.test", 80)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Handler:
    def __init__(self) -> None:
        self.interims: list[ResponseHead] = []
        self.head: ResponseHead | None = None
        self.body = bytearray()
        self.done = False
        self.error: UpstreamError | None = None

    def interim_received(self, head: ResponseHead) -> None:
        self.interims.append(head)

    def head_received(self, head: ResponseHead) -> None:
        self.head = head

    def body_received(self, data: bytes) -> None:
        self.body += data

    def response_done(self) -> None:
        self.done = True

    def exchange_failed(self, error: UpstreamError) -> None:
        self.error = error


class FakeEndpoint:
    """Connects at once over a StringTransport (or fails, when told to)."""

    def __init__(self) -> None:
        self.connections: list[UpstreamConnection] = []
        self.refuse = False
        self.pending: list[tuple[Any, Deferred[Any]]] = []
        self.hold = False

    def connect(self, factory: Any) -> Deferred[Any]:
        if self.refuse:
            return fail(Failure(error.ConnectionRefusedError()))
        if self.hold:
            d: Deferred[Any] = Deferred()
            self.pending.append((factory, d))
            return d
        return succeed(self.make(factory))

    def make(self, factory: Any) -> UpstreamConnection:
        connection = factory.buildProtocol(None)
        connection.makeConnection(StringTransport())
        self.connections.append(connection)
        return connection  # type: ignore[no-any-return]


def wire(connection: UpstreamConnection) -> bytes:
    transport = connection.transport
    assert isinstance(transport, StringTransport)
    value = transport.value()
    transport.clear()
    return value


def lose(connection: UpstreamConnection) -> None:
    connection.connectionLost(Failure(error.ConnectionDone()))


class ClientTestCase(SynchronousTestCase):
    def make(self, **config: Any) -> None:
        self.clock = MemoryReactorClock()
        self.endpoint = FakeEndpoint()
        self.client = UpstreamClient(
            self.clock, ClientConfig(**config), endpoint_for=lambda origin: self.endpoint  # type: ignore[arg-type,return-value]
        )

    def request(
        self, method: bytes = b"GET", body: Any = None, target: bytes = b"/x"
    ) -> tuple[Any, Handler]:
        handler = Handler()
        request = UpstreamRequest(method, target, {b"Host": [b"up.test"]}, body)
        return self.client.request(ORIGIN, request, handler), handler

    def answer(self, connection: UpstreamConnection, data: bytes = OK) -> None:
        connection.dataReceived(data)


class PoolTests(ClientTestCase):
    def test_keep_alive_reuses_one_connection(self) -> None:
        self.make()
        for i in range(3):
            _, handler = self.request(target=b"/n%d" % i)
            [connection] = self.endpoint.connections
            self.assertEqual(wire(connection), b"GET /n%d HTTP/1.1\r\nHost: up.test\r\n\r\n" % i)
            self.answer(connection)
            self.assertEqual((handler.done, bytes(handler.body)), (True, b"ok"))
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 1)

    def test_connection_close_is_not_pooled(self) -> None:
        self.make()
        _, handler = self.request()
        [connection] = self.endpoint.connections
        self.answer(
            connection, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self.assertTrue(handler.done)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)
        self.assertTrue(connection.transport.disconnecting)  # type: ignore[union-attr]
        self.request()
        self.assertEqual(len(self.endpoint.connections), 2)

    def test_idle_connections_expire_and_leave_no_timer(self) -> None:
        self.make(pool_idle_timeout=5.0, response_timeout=0, idle_timeout=0)
        self.request()
        [connection] = self.endpoint.connections
        self.answer(connection)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)  # the sweep
        self.clock.advance(4.5)
        self.assertFalse(connection.transport.disconnecting)  # type: ignore[union-attr]
        self.clock.advance(1.0)
        self.assertTrue(connection.transport.disconnecting)  # type: ignore[union-attr]
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)
        lose(connection)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_upstream_closing_an_idle_connection_removes_it(self) -> None:
        self.make()
        self.request()
        [connection] = self.endpoint.connections
        self.answer(connection)
        lose(connection)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)
        self.request()
        self.assertEqual(len(self.endpoint.connections), 2)

    def test_unsolicited_bytes_on_an_idle_connection_close_it(self) -> None:
        self.make()
        self.request()
        [connection] = self.endpoint.connections
        self.answer(connection)
        connection.dataReceived(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        self.assertTrue(connection.transport.disconnected)  # type: ignore[union-attr]
        lose(connection)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)

    def test_pool_size_follows_the_load(self) -> None:
        """Peak concurrency 40 with a floor of 4: all 40 are kept while the load lasts,
        so the next rounds open nothing; when the load is gone they expire."""
        self.make(pool_floor=4, pool_idle_timeout=10.0, response_timeout=0, idle_timeout=0)
        for _ in range(5):
            handlers = [self.request()[1] for _ in range(40)]
            busy = [c for c in self.endpoint.connections if c.exchange is not None]
            self.assertEqual(len(busy), 40)
            for connection in busy:
                self.answer(connection)
            self.assertTrue(all(h.done for h in handlers))
            self.clock.advance(3)
        self.assertEqual(len(self.endpoint.connections), 40)
        self.assertEqual(self.client.pool.opened, 40)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 40)
        self.clock.advance(11)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)
        # After the peak window passed, a light load keeps only the floor.
        self.clock.advance(11)
        handlers = [self.request()[1] for _ in range(8)]
        for connection in [c for c in self.endpoint.connections if c.exchange is not None]:
            self.answer(connection)
        self.assertTrue(all(h.done for h in handlers))
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 8)  # the 8 of this window's peak

    def test_floor_caps_idle_without_load_history(self) -> None:
        self.make(pool_floor=2)
        busy = [self.request() for _ in range(3)]
        self.assertEqual(len(self.endpoint.connections), 3)
        for connection in self.endpoint.connections:
            self.answer(connection)
        self.assertTrue(all(h.done for _, h in busy))
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 3)  # peak 3 > floor 2

    def test_close_closes_idle_connections(self) -> None:
        self.make()
        self.request()
        [connection] = self.endpoint.connections
        self.answer(connection)
        d = self.client.close()
        self.assertTrue(connection.transport.disconnecting)  # type: ignore[union-attr]
        self.assertNoResult(d)
        lose(connection)
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class RetryTests(ClientTestCase):
    def reused(self, method: bytes, body: Any = None) -> tuple[UpstreamConnection, Handler]:
        self.make()
        self.request()
        [first] = self.endpoint.connections
        self.answer(first)
        wire(first)
        _, handler = self.request(method, body)
        self.assertEqual(len(self.endpoint.connections), 1)
        return first, handler

    def test_idempotent_request_retried_once_on_a_new_connection(self) -> None:
        first, handler = self.reused(b"PUT", BytesBody(b"data"))
        sent = wire(first)
        lose(first)  # closed as we wrote: no response byte
        [_, second] = self.endpoint.connections
        self.assertEqual(wire(second), sent)
        self.answer(second)
        self.assertTrue(handler.done)
        self.assertIsNone(handler.error)

    def test_second_failure_is_reported(self) -> None:
        first, handler = self.reused(b"GET")
        lose(first)
        second = self.endpoint.connections[1]
        lose(second)
        self.assertIsInstance(handler.error, ClosedEarly)
        self.assertEqual(len(self.endpoint.connections), 2)

    def test_post_is_not_retried(self) -> None:
        first, handler = self.reused(b"POST", BytesBody(b"x"))
        lose(first)
        self.assertIsInstance(handler.error, ClosedEarly)
        self.assertEqual(handler.error.reason, "connection closed before a response")  # type: ignore[union-attr]
        self.assertEqual(len(self.endpoint.connections), 1)

    def test_no_retry_once_a_response_byte_arrived(self) -> None:
        first, handler = self.reused(b"GET")
        first.dataReceived(b"HTTP/1.1 200")
        lose(first)
        self.assertIsInstance(handler.error, BadResponse)
        self.assertEqual(handler.error.reason, "connection closed in the response head")  # type: ignore[union-attr]

    def test_fresh_connection_is_not_retried(self) -> None:
        self.make()
        _, handler = self.request()
        lose(self.endpoint.connections[0])
        self.assertIsInstance(handler.error, ClosedEarly)
        self.assertEqual(len(self.endpoint.connections), 1)

    def test_connect_refused(self) -> None:
        self.make()
        self.endpoint.refuse = True
        _, handler = self.request()
        self.assertIsInstance(handler.error, ConnectFailed)
        self.assertEqual(handler.error.reason, "connection refused")  # type: ignore[union-attr]


class TimeoutTests(ClientTestCase):
    def test_response_timeout_counts_from_the_start(self) -> None:
        self.make(response_timeout=2.0, idle_timeout=0)
        _, handler = self.request()
        [connection] = self.endpoint.connections
        self.clock.advance(1.0)
        connection.dataReceived(b"HTTP/1.1 103 Early Hints\r\n\r\n")  # not a final head
        self.clock.advance(1.0)
        self.assertIsInstance(handler.error, ResponseTimeout)
        self.assertTrue(connection.transport.disconnected)  # type: ignore[union-attr]
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_response_timeout_while_connecting(self) -> None:
        self.make(response_timeout=1.0, idle_timeout=0)
        self.endpoint.hold = True
        _, handler = self.request()
        self.clock.advance(1.0)
        self.assertIsInstance(handler.error, ResponseTimeout)
        factory, d = self.endpoint.pending.pop()
        d.callback(self.endpoint.make(factory))  # arrives late: kept warm, not used
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 1)

    def test_idle_body_times_out_unless_paused(self) -> None:
        self.make(response_timeout=0, idle_timeout=1.0)
        exchange, handler = self.request()
        [connection] = self.endpoint.connections
        connection.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
        exchange.pauseProducing()
        self.assertEqual(connection.transport.producerState, "paused")  # type: ignore[union-attr]
        self.clock.advance(5.0)
        self.assertIsNone(handler.error)
        exchange.resumeProducing()
        self.assertEqual(connection.transport.producerState, "producing")  # type: ignore[union-attr]
        self.clock.advance(0.5)
        connection.dataReceived(b"cd")
        self.clock.advance(0.9)
        self.assertIsNone(handler.error)
        self.clock.advance(0.2)
        self.assertIsInstance(handler.error, IdleTimeout)
        self.assertEqual(bytes(handler.body), b"abcd")
        self.assertTrue(connection.transport.disconnected)  # type: ignore[union-attr]

    def test_cancel_closes_the_connection_and_stays_silent(self) -> None:
        self.make()
        exchange, handler = self.request()
        [connection] = self.endpoint.connections
        connection.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
        exchange.cancel()
        self.assertTrue(connection.transport.disconnected)  # type: ignore[union-attr]
        lose(connection)
        self.assertEqual((handler.done, handler.error), (False, None))
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ResponseTests(ClientTestCase):
    def test_interim_heads_reach_the_handler_first(self) -> None:
        self.make()
        _, handler = self.request()
        [connection] = self.endpoint.connections
        connection.dataReceived(
            b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + OK
        )
        self.assertEqual([(h.status, h.headers) for h in handler.interims],
                         [(103, [(b"Link", b"</s.css>; rel=preload")])])
        self.assertTrue(handler.done)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 1)

    def test_bad_framing_fails_and_drops_the_connection(self) -> None:
        self.make()
        _, handler = self.request()
        [connection] = self.endpoint.connections
        connection.dataReceived(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc")
        self.assertIsInstance(handler.error, BadResponse)
        self.assertEqual(handler.error.reason, "unsupported Transfer-Encoding: gzip")  # type: ignore[union-attr]
        self.assertTrue(connection.transport.disconnected)  # type: ignore[union-attr]
        lose(connection)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)

    def test_close_delimited_body(self) -> None:
        self.make()
        _, handler = self.request()
        [connection] = self.endpoint.connections
        connection.dataReceived(b"HTTP/1.0 200 OK\r\n\r\nsome")
        connection.dataReceived(b" body")
        self.assertFalse(handler.done)
        lose(connection)
        self.assertTrue(handler.done)
        self.assertEqual(bytes(handler.body), b"some body")
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)

    def test_truncated_body_fails_after_the_head(self) -> None:
        self.make()
        _, handler = self.request()
        [connection] = self.endpoint.connections
        connection.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
        connection.connectionLost(Failure(error.ConnectionLost()))
        self.assertIsNotNone(handler.head)
        self.assertIsInstance(handler.error, BodyFailed)
        self.assertEqual(handler.error.reason, "upstream closed mid-body")  # type: ignore[union-attr]

    def test_head_request_with_length(self) -> None:
        self.make()
        _, handler = self.request(b"HEAD")
        [connection] = self.endpoint.connections
        connection.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")
        self.assertTrue(handler.done)
        self.assertEqual(handler.head.framing.length, 1048576)  # type: ignore[union-attr]
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 1)

    def test_handler_bug_is_logged_and_contained(self) -> None:
        self.make()
        _, handler = self.request()

        def broken(data: bytes) -> None:
            raise ZeroDivisionError()

        handler.body_received = broken  # type: ignore[method-assign]
        [connection] = self.endpoint.connections
        connection.dataReceived(OK)
        self.assertEqual(handler.error.reason, "could not be relayed")  # type: ignore[union-attr]
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(connection.transport.disconnected)  # type: ignore[union-attr]


class ChunkedSource:
    """A body of unknown length written in two pieces when told."""

    length = None

    def __init__(self) -> None:
        self.sink: BodySink | None = None
        self.stopped = False

    def start(self, sink: BodySink) -> None:
        self.sink = sink

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        self.stopped = True

    def rewind(self) -> bool:
        return False


class RequestBodyTests(ClientTestCase):
    def test_file_body_streams_under_flow_control(self) -> None:
        self.make()
        data = bytes(range(256)) * (8 * 1024 + 3)  # 2 MiB + 768 bytes
        body = FileBody(io.BytesIO(data), len(data), self.clock)
        _, handler = self.request(b"POST", body)
        [connection] = self.endpoint.connections
        transport = connection.transport
        assert isinstance(transport, StringTransport)
        self.assertIs(transport.producer, body)
        head, _, first = transport.value().partition(b"\r\n\r\n")
        self.assertIn(b"\r\nContent-Length: %d" % len(data), head)
        self.assertEqual(len(first), 16 * READ_SIZE)  # one turn's worth, then it yields
        body.pauseProducing()  # what a full socket buffer does
        self.clock.advance(0)
        self.assertEqual(len(transport.value().partition(b"\r\n\r\n")[2]), 16 * READ_SIZE)
        body.resumeProducing()
        for _ in range(3):
            self.clock.advance(0)
        self.assertEqual(transport.value().partition(b"\r\n\r\n")[2], data)
        self.assertIsNone(transport.producer)  # unregistered when complete
        connection.dataReceived(OK)
        self.assertTrue(handler.done)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 1)

    def test_unknown_length_is_chunked(self) -> None:
        self.make()
        source = ChunkedSource()
        _, handler = self.request(b"POST", source)
        [connection] = self.endpoint.connections
        assert source.sink is not None
        source.sink.write(b"hello")
        source.sink.write(b"")
        source.sink.write(b"world!")
        source.sink.finish()
        self.assertEqual(
            wire(connection).partition(b"\r\n\r\n")[2], b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n"
        )
        connection.dataReceived(OK)
        self.assertTrue(handler.done)

    def test_response_before_the_body_ends_stops_the_source(self) -> None:
        self.make()
        source = ChunkedSource()
        _, handler = self.request(b"POST", source)
        [connection] = self.endpoint.connections
        connection.dataReceived(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(handler.done)
        self.assertTrue(source.stopped)
        self.assertEqual(self.client.pool.idle_count(ORIGIN), 0)  # half-sent: unusable

    def test_body_longer_than_its_length_fails(self) -> None:
        self.make()
        source = ChunkedSource()
        source.length = 3  # type: ignore[assignment]
        _, handler = self.request(b"PUT", source)
        assert source.sink is not None
        source.sink.write(b"toolong")
        self.assertEqual(handler.error.reason, "request body failed")  # type: ignore[union-attr]
        self.assertEqual(handler.error.detail, "request body longer than its Content-Length")  # type: ignore[union-attr]
        self.assertTrue(self.endpoint.connections[0].transport.disconnected)  # type: ignore[union-attr]

    def test_invalid_header_never_reaches_the_wire(self) -> None:
        self.make()
        handler = Handler()
        request = UpstreamRequest(b"GET", b"/", {b"Host": [b"u"], b"X": [b"a\r\nY: b"]})
        self.client.request(ORIGIN, request, handler)
        self.assertEqual(handler.error.reason, "request could not be sent")  # type: ignore[union-attr]
        self.assertEqual(self.endpoint.connections, [])
