"""Serving a stored body: byte ranges in one pass, and flow control (in memory)."""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.cache.memory import MemoryReader
from twisted_netlab.http.ranges import ByteRange
from twisted_netlab.web.proxy.cache_body import (
    CHUNK,
    Piece,
    StoredBody,
    range_stream,
    select_ranges,
)

BODY = bytes(range(256)) * 1024  # 256 KiB


class RangeStreamTests(SynchronousTestCase):
    def test_ranges_across_chunk_boundaries(self) -> None:
        chunks = iter([BODY[i : i + 1000] for i in range(0, len(BODY), 1000)])
        pieces: list[Piece] = [b"<a>", ByteRange(990, 1010), b"<b>", ByteRange(5000, 5000),
                  ByteRange(len(BODY) - 3, len(BODY) - 1), b"<end>"]
        out = b"".join(range_stream(chunks, pieces))
        self.assertEqual(
            out, b"<a>" + BODY[990:1011] + b"<b>" + BODY[5000:5001] + BODY[-3:] + b"<end>"
        )

    def test_short_body_is_an_error(self) -> None:
        with self.assertRaises(ValueError):
            list(range_stream(iter([b"abc"]), [ByteRange(2, 10)]))

    def test_select_single_multi_and_unsatisfiable(self) -> None:
        headers = (("Content-Type", "text/plain"), ("ETag", '"x"'))
        single = select_ranges("bytes=0-9", 100, headers)
        assert single is not None
        self.assertEqual((single.status, single.length), (206, 10))
        self.assertEqual(single.headers[-1], ("Content-Range", "bytes 0-9/100"))
        multi = select_ranges("bytes=0-1,50-51", 100, headers)
        assert multi is not None
        self.assertEqual(multi.status, 206)
        self.assertTrue(dict(multi.headers)["Content-Type"].startswith("multipart/byteranges"))
        self.assertEqual(len(multi.pieces), 5)
        unsatisfiable = select_ranges("bytes=200-", 100, headers)
        assert unsatisfiable is not None
        self.assertEqual((unsatisfiable.status, unsatisfiable.length), (416, 0))
        self.assertEqual(unsatisfiable.headers[-1], ("Content-Range", "bytes */100"))
        self.assertIsNone(select_ranges("items=0-1", 100, headers))


class FakeRequest:
    """A consumer that records writes and the registered producer."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.written.append(data)


class FlowControlTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.request = FakeRequest()
        self.ended: list[bool] = []

    def body(self) -> StoredBody:
        reader = MemoryReader((BODY,), len(BODY))
        return StoredBody(self.request, reader, self.clock, None, self.ended.append)

    def test_pause_stops_reading_resume_continues(self) -> None:
        body = self.body()
        original = self.request.write

        def write_then_pause(data: bytes) -> None:
            original(data)
            body.pauseProducing()

        self.request.write = write_then_pause  # type: ignore[method-assign]
        body.start()
        self.clock.advance(0)
        self.assertEqual(len(self.request.written), 1)
        self.request.write = original  # type: ignore[method-assign]
        body.resumeProducing()
        self.clock.advance(0)
        self.assertEqual(b"".join(self.request.written), BODY)
        self.assertEqual(self.ended, [True])
        self.assertIsNone(self.request.producer)

    def test_writes_in_bounded_bursts(self) -> None:
        big = BODY * 8  # 2 MiB: 32 chunks, 16 per reactor turn
        StoredBody(
            self.request, MemoryReader((big,), len(big)), self.clock, None, self.ended.append
        ).start()
        self.assertEqual(len(self.request.written), 16)
        self.assertEqual(self.ended, [])
        self.clock.advance(0)
        self.assertEqual(len(self.request.written), 32)
        self.assertTrue(all(len(c) == CHUNK for c in self.request.written))
        self.assertEqual(b"".join(self.request.written), big)
        self.assertEqual(self.ended, [True])

    def test_stop_ends_quietly(self) -> None:
        body = self.body()
        self.request.write = lambda data: body.stopProducing()  # type: ignore[method-assign]
        body.start()
        self.clock.advance(0)
        self.assertEqual(self.ended, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
