"""Large files: streamed by the producer, exact bytes, client disconnects close the file."""

from __future__ import annotations

import hashlib
import os

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.static_support import StaticTestCase, raw_header
from twisted_netlab.web.producers import PartsProducer

SIZE = 6 * 1024 * 1024 + 123


def open_fds_to(path: str) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == path:
                count += 1
        except OSError:
            continue
    return count


class FirstBytes(Protocol):
    """Sends a request, then hangs up after the first chunk of the answer."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.got_data: Deferred[bytes] = Deferred()
        self.closed: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if not self.got_data.called:
            self.got_data.callback(data)
            self.transport.abortConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.closed.callback(None)


class StreamTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.data = os.urandom(SIZE)
        self.path = self.file("big.bin", self.data)

    async def test_full_download(self) -> None:
        reply = await self.request("/big.bin")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.length, SIZE)
        self.assertEqual(hashlib.sha256(reply.body).digest(), hashlib.sha256(self.data).digest())

    async def test_head(self) -> None:
        raw = await self.raw_get(b"/big.bin", method=b"HEAD")
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "))
        self.assertEqual(raw_header(raw, b"content-length"), str(SIZE).encode())
        self.assertTrue(raw.endswith(b"\r\n\r\n"))

    async def test_http10_client(self) -> None:
        raw = await self.raw_get(b"/big.bin", version=b"HTTP/1.0")
        _, _, body = raw.partition(b"\r\n\r\n")
        self.assertIsNone(raw_header(raw, b"transfer-encoding"))
        self.assertIsNotNone(raw_header(raw, b"expires"))
        self.assertEqual(body, self.data)

    async def test_range_across_chunks(self) -> None:
        start, end = 200_000, 3_000_000
        reply = await self.request("/big.bin", headers={"Range": f"bytes={start}-{end}"})
        self.assertEqual(reply.code, 206)
        self.assertEqual(reply.header("content-range"), f"bytes {start}-{end}/{SIZE}")
        self.assertEqual(reply.body, self.data[start : end + 1])

    async def test_suffix_range(self) -> None:
        reply = await self.request("/big.bin", headers={"Range": "bytes=-1000000"})
        self.assertEqual(reply.body, self.data[-1_000_000:])

    async def test_client_disconnect_closes_file(self) -> None:
        if not os.path.isdir("/proc/self/fd"):
            raise SkipTest("needs /proc/self/fd to count open files")
        self.serve()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        proto = FirstBytes(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        await connectProtocol(endpoint, proto)
        first = await proto.got_data
        self.assertTrue(first.startswith(b"HTTP/1.1 200 "))
        await proto.closed
        real = os.path.realpath(self.path)
        for _ in range(100):
            if open_fds_to(real) == 0:
                break
            await deferLater(reactor, 0.02, lambda: None)
        self.assertEqual(open_fds_to(real), 0)
        # The server is still healthy.
        reply = await self.request("/big.bin", headers={"Range": "bytes=0-9"})
        self.assertEqual(reply.body, self.data[:10])


class FakeRequest:
    """Just what PartsProducer uses of a request, recorded."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.finished = False
        self.producer: object = None
        self.finish_notice: Deferred[None] = Deferred()
        self.aborted = False
        self.channel = self

    @property
    def transport(self) -> FakeRequest:
        return self

    def abortConnection(self) -> None:
        self.aborted = True

    def notifyFinish(self) -> Deferred[None]:
        return self.finish_notice

    def registerProducer(self, producer: object, streaming: bool) -> None:
        assert not streaming
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def finish(self) -> None:
        self.finished = True


class PartsProducerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())
        self.data = bytes(range(256)) * 40  # 10240 bytes
        with open(self.path, "wb") as handle:
            handle.write(self.data)

    def producer(self, parts: list, chunk: int) -> tuple[PartsProducer, FakeRequest]:  # type: ignore[type-arg]
        request = FakeRequest()
        producer = PartsProducer(request, os.open(self.path, os.O_RDONLY), parts, chunk)  # type: ignore[arg-type]
        producer.start()
        return producer, request

    def test_chunks_and_literals(self) -> None:
        producer, request = self.producer([b"<", (100, 5000), b">", (0, 10)], 1024)
        rounds = 0
        while not request.finished and rounds < 100:
            producer.resumeProducing()
            rounds += 1
        self.assertTrue(request.finished)
        self.assertIsNone(request.producer)
        self.assertTrue(all(len(w) <= 1024 + 1 for w in request.written))
        self.assertEqual(
            b"".join(request.written), b"<" + self.data[100:5100] + b">" + self.data[:10]
        )
        self.assertIsNone(producer.fd)

    def test_client_gone_closes(self) -> None:
        producer, request = self.producer([(0, len(self.data))], 1024)
        producer.resumeProducing()
        request.finish_notice.errback(Failure(ConnectionError("gone")))
        self.assertIsNone(producer.fd)
        producer.resumeProducing()  # a late call is harmless
        self.assertEqual(len(request.written), 1)
        self.assertFalse(request.finished)

    def test_file_shrank_aborts(self) -> None:
        producer, request = self.producer([(0, len(self.data))], 4096)
        producer.resumeProducing()
        os.truncate(self.path, 5000)
        producer.resumeProducing()  # reads 904 bytes, short of the promise
        producer.resumeProducing()  # reads nothing: abort
        self.assertTrue(request.aborted)
        self.assertFalse(request.finished)
        self.assertIsNone(producer.fd)
        self.flushLoggedErrors(OSError)
