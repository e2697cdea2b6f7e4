"""The echo service over real loopback sockets (and one in-memory byte-by-byte run)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from twisted_netlab.framing import encode
from twisted_netlab.tcp.config import EchoConfig
from twisted_netlab.tcp.factory import DrainResult, EchoFactory
from twisted_netlab.tcp.protocol import EchoProtocol
from twisted_netlab.tcp.service import EchoService

reactor: Any = _reactor


@implementer(IHalfCloseableProtocol)
class Collector(Protocol):
    """A test peer: records what it reads; ``closed`` fires when the server is gone."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed: Deferred[None] = Deferred()
        self.read_closed = False

    def connectionMade(self) -> None:
        host = self.transport.getHost()
        self.name = f"{host.host}:{host.port}"  # what the server logs as the peer

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def readConnectionLost(self) -> None:
        self.read_closed = True
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed.callback(None)


async def wait_for(predicate: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Poll the real reactor; a bounded wait, never a timing assertion."""
    for _ in range(int(limit / 0.01)):
        if predicate():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"gave up waiting for {what}")


class ServiceTestCase(TestCase):
    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def serve(self, clock: Any = reactor, **kwargs: Any) -> EchoFactory:
        factory = EchoFactory(clock, EchoConfig(**kwargs))
        self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        return factory

    async def connect(self) -> Collector:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        peer = await connectProtocol(endpoint, Collector())

        def close() -> Deferred[None]:
            peer.transport.abortConnection()
            return peer.closed

        self.addCleanup(close)
        return peer

    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_level") == LogLevel.error]


class EchoTests(ServiceTestCase):
    async def test_burst_of_separate_writes(self) -> None:
        self.serve()
        peer = await self.connect()
        frames = [encode(str(i).encode(), i) for i in range(1, 6)]
        for f in frames:
            peer.transport.write(f)
        expected = b"".join(frames)
        await wait_for(lambda: len(peer.data) >= len(expected), "5 replies")
        self.assertEqual(bytes(peer.data), expected)

    async def test_byte_by_byte(self) -> None:
        self.serve()
        peer = await self.connect()
        peer.transport.setTcpNoDelay(True)
        stream = encode("你好张三".encode(), 1) + encode(b"", 2) + encode(b"x", -3)
        for i in range(len(stream)):
            peer.transport.write(stream[i : i + 1])
            await deferLater(reactor, 0.001, lambda: None)
        await wait_for(lambda: len(peer.data) >= len(stream), "replies")
        self.assertEqual(bytes(peer.data), stream)

    async def test_half_close_answered_then_closed(self) -> None:
        factory = self.serve()
        peer = await self.connect()
        stream = b"".join(encode(b"m%d" % i, i) for i in range(100))
        peer.transport.write(stream)
        peer.transport.loseWriteConnection()
        await peer.closed
        self.assertEqual(bytes(peer.data), stream)
        self.assertTrue(peer.read_closed)
        await wait_for(lambda: not factory.connections, "server side closed")
        self.assertEqual(self.errors(), [])

    async def test_truncated_frame_at_eof(self) -> None:
        self.serve()
        peer = await self.connect()
        whole = encode(b"ok", 7)
        peer.transport.write(whole + encode(b"cut short", 8)[:6])
        peer.transport.loseWriteConnection()
        await peer.closed
        self.assertEqual(bytes(peer.data), whole)
        [event] = self.errors()
        self.assertEqual(event["reason"], "truncated frame")
        self.assertEqual(event["peer"], peer.name)

    async def test_oversize_closes_only_that_connection(self) -> None:
        factory = self.serve(max_frame=100)
        good = await self.connect()
        bad = await self.connect()
        good.transport.write(encode(b"a" * 100, 1))
        await wait_for(lambda: len(good.data) == 104, "first reply")
        bad.transport.write(encode(b"fine", 2) + b"\x00\x03\x00\x65")  # length 101
        await bad.closed
        self.assertEqual(bytes(bad.data), encode(b"fine", 2))
        [event] = self.errors()
        self.assertEqual(event["reason"], "frame too large")
        self.assertEqual(event["peer"], bad.name)
        good.transport.write(encode(b"still here", 3))
        await wait_for(lambda: len(good.data) == 104 + 14, "second reply")
        self.assertEqual(bytes(good.data[104:]), encode(b"still here", 3))
        self.assertEqual(len(factory.connections), 1)

    async def test_negative_length_closes(self) -> None:
        self.serve()
        peer = await self.connect()
        peer.transport.write(b"\x00\x01\xff\xfe")
        await peer.closed
        [event] = self.errors()
        self.assertEqual(event["reason"], "invalid length")

    async def test_unframed_echo(self) -> None:
        self.serve(framing="none")
        peer = await self.connect()
        peer.transport.write(b"1")
        peer.transport.write(b"234")
        await wait_for(lambda: len(peer.data) >= 4, "echo")
        self.assertEqual(bytes(peer.data), b"1234")

    async def test_idle_timeout_with_fake_clock(self) -> None:
        clock = Clock()
        factory = self.serve(clock=clock, idle_timeout=30)
        peer = await self.connect()
        await wait_for(lambda: bool(factory.connections), "server side connected")
        clock.advance(20)
        peer.transport.write(encode(b"ping", 1))
        await wait_for(lambda: len(peer.data) == 8, "reply")
        clock.advance(20)  # 40 s since connect, 20 s since data: still open
        self.assertEqual(len(factory.connections), 1)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(10)
        await peer.closed
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertTrue(
            any(e.get("log_format", "").startswith("timeout:") for e in self.events)
        )

    async def test_drip_closed_at_frame_deadline_with_fake_clock(self) -> None:
        clock = Clock()
        factory = self.serve(clock=clock, frame_timeout=30, idle_timeout=300)
        peer = await self.connect()
        peer.transport.setTcpNoDelay(True)
        frame = encode(b"d" * 100, 1)
        for i in range(29):  # one byte a (fake) second
            peer.transport.write(frame[i : i + 1])
            await wait_for(lambda n=i + 1: factory.pending_total == n, f"byte {i + 1} read")
            clock.advance(1)
        self.assertEqual(len(factory.connections), 1)
        clock.advance(1)  # 30 s after the frame's first byte
        await peer.closed
        self.assertEqual(bytes(peer.data), b"")
        [event] = [e for e in self.events if e.get("log_format", "").startswith("timeout:")]
        self.assertEqual((event["peer"], event["pending"]), (peer.name, 29))

    async def test_pending_cap_closes_the_biggest_holder(self) -> None:
        factory = self.serve(framing="wide", max_frame=1 << 20, max_pending=100_000)
        small = await self.connect()
        big = await self.connect()
        small.transport.write(encode(b"s" * 50_000, 1, "wide")[:30_000])
        await wait_for(lambda: factory.pending_total == 30_000, "small partial frame")
        big.transport.write(encode(b"b" * 200_000, 2, "wide")[:80_000])
        await big.closed
        self.assertEqual(factory.pending_total, 30_000)
        [event] = [e for e in self.events if e.get("log_format", "").startswith("max-pending")]
        self.assertEqual(event["peer"], big.name)
        self.assertGreater(event["total"], 100_000)
        small.transport.write(encode(b"s" * 50_000, 1, "wide")[30_000:])
        await wait_for(lambda: len(small.data) == 50_008, "the small frame's echo")
        self.assertEqual(bytes(small.data), encode(b"s" * 50_000, 1, "wide"))

    async def test_slow_reader_pauses_reading(self) -> None:
        factory = self.serve(framing="len32", max_frame=1 << 20)
        peer = await self.connect()
        peer.transport.pauseProducing()  # the client does not read its replies
        body = b"z" * 65532
        chunk = encode(body, layout="len32") * 16  # 1 MiB per write
        total = len(chunk) * 32
        for _ in range(32):
            peer.transport.write(chunk)
        await wait_for(lambda: bool(factory.connections), "server side connected")
        [server] = factory.connections
        await wait_for(lambda: server.paused, "server to pause reading")
        read_when_paused = server.bytes_received
        await deferLater(reactor, 0.2, lambda: None)
        self.assertTrue(server.paused)
        self.assertEqual(server.bytes_received, read_when_paused)
        self.assertLess(server.bytes_received, total)
        # The client starts reading: everything comes back, nothing lost.
        peer.transport.resumeProducing()
        await wait_for(lambda: len(peer.data) >= total, "all replies", limit=30)
        self.assertEqual(len(peer.data), total)
        self.assertEqual(bytes(peer.data[: len(chunk)]), chunk)
        self.assertGreaterEqual(server.pauses, 1)
        self.assertFalse(server.paused)


class InMemoryTests(SynchronousTestCase):
    def build(self, **kwargs: Any) -> tuple[EchoProtocol, StringTransport]:
        factory = EchoFactory(Clock(), EchoConfig(**kwargs))
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport

    def test_byte_by_byte_exact(self) -> None:
        proto, transport = self.build()
        stream = encode(b"abc", 1) + encode(b"", 2)
        writes = []
        for i in range(len(stream)):
            proto.dataReceived(stream[i : i + 1])
            writes.append(transport.value())
            transport.clear()
        self.assertEqual(writes[6], encode(b"abc", 1))
        self.assertEqual(writes[10], encode(b"", 2))
        self.assertEqual(b"".join(writes), stream)

    def test_one_write_per_read(self) -> None:
        proto, _ = self.build()
        calls: list[bytes] = []
        proto._write = calls.append
        stream = b"".join(encode(b"%d" % i, i) for i in range(50))
        proto.dataReceived(stream)
        self.assertEqual(calls, [stream])

    def test_registered_as_streaming_producer(self) -> None:
        proto, transport = self.build()
        self.assertIs(transport.producer, proto)
        self.assertTrue(transport.streaming)
        proto.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        proto.resumeProducing()
        self.assertEqual(transport.producerState, "producing")

    def test_bad_frame_closes_and_ignores_the_rest(self) -> None:
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        proto, transport = self.build(max_frame=10)
        good = encode(b"ok", 1)
        proto.dataReceived(good + b"\x00\x02\x00\x0b")
        self.assertEqual(transport.value(), good)  # answered before closing
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(transport.producer)  # unregistered, so the close completes
        proto.dataReceived(good)
        self.assertEqual(transport.value(), good)
        errors = [e for e in events if e.get("log_level") == LogLevel.error]
        self.assertEqual([e["reason"] for e in errors], ["frame too large"])

    @settings(max_examples=100, deadline=None)
    @given(
        st.sampled_from(["seed", "wide", "len32", "none"]),
        st.lists(st.binary(max_size=50), max_size=30),
        st.lists(st.integers(0, 3000), max_size=20),
    )
    def test_echo_is_the_input_under_any_chunking(
        self, framing: str, bodies: list[bytes], cuts: list[int]
    ) -> None:
        proto, transport = self.build(framing=framing)
        stream = b"".join(encode(b, layout=framing) for b in bodies)
        bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
        for a, b in pairwise(bounds):
            proto.dataReceived(stream[a:b])
        self.assertEqual(transport.value(), stream)
        proto.readConnectionLost()
        self.assertTrue(transport.disconnecting)


@implementer(IStreamServerEndpoint)
class _Recording:
    """Wraps an endpoint and keeps the listening ports it makes (port 0 resolved)."""

    def __init__(self, inner: IStreamServerEndpoint) -> None:
        self.inner = inner
        self.ports: list[IListeningPort] = []

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        def keep(port: IListeningPort) -> IListeningPort:
            self.ports.append(port)
            return port

        return self.inner.listen(factory).addCallback(keep)


class GracefulStopTests(ServiceTestCase):
    def start(self, **kwargs: Any) -> tuple[EchoService, EchoFactory]:
        factory = EchoFactory(reactor, EchoConfig(**kwargs))
        self.endpoint = _Recording(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"))
        service = EchoService(factory, [StreamServerEndpointService(self.endpoint, factory)])
        service.startService()

        def stop() -> Deferred[None] | None:
            return service.stopService() if service.running else None

        self.addCleanup(stop)
        [self.port] = self.endpoint.ports
        return service, factory

    async def test_client_mid_frame_gets_its_reply(self) -> None:
        service, factory = self.start()
        busy = await self.connect()
        idle = await self.connect()
        frame = encode(b"x" * 1000, 9)
        busy.transport.write(frame[:500])
        idle.transport.write(encode(b"hi", 1))
        await wait_for(
            lambda: len(idle.data) == 6 and factory.pending_total == 500, "both in"
        )
        number = self.port.getHost().port
        stopping = service.stopService()
        await idle.closed  # idle: closed at once, its reply already delivered
        self.assertEqual(bytes(idle.data), encode(b"hi", 1))
        with self.assertRaises(ConnectionRefusedError):  # no longer accepting
            await TCP4ClientEndpoint(reactor, "127.0.0.1", number).connect(
                Factory.forProtocol(Protocol)
            )
        busy.transport.write(frame[500:] + encode(b"late", 10)[:3])
        await busy.closed
        self.assertEqual(bytes(busy.data), frame)  # the frame in flight was answered
        await stopping
        self.assertEqual(service.drained, DrainResult(idle=1, finishing=1, drained=2, cut=0))
        [done] = [e for e in self.events if e.get("log_format", "").startswith("drain done")]
        self.assertEqual((done["drained"], done["cut"]), (2, 0))

    async def test_frame_never_finished_is_cut_after_drain_timeout(self) -> None:
        service, factory = self.start(drain_timeout=0.2)
        peer = await self.connect()
        peer.transport.write(encode(b"y" * 100, 1)[:10])
        await wait_for(lambda: factory.pending_total == 10, "partial frame held")
        await service.stopService()
        await peer.closed
        self.assertEqual(bytes(peer.data), b"")
        self.assertEqual(service.drained, DrainResult(idle=0, finishing=1, drained=0, cut=1))
