"""The sans-IO codec: seed vectors, every split of the stream, errors, round trips."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.errors import FrameError
from twisted_netlab.framing import (
    LAYOUTS,
    Decoder,
    Encoder,
    FrameTooLarge,
    InvalidLength,
    InvalidSerial,
    TruncatedFrame,
    UnknownLayout,
    encode,
)

SEED_BODY = "你好张三".encode()
SEED_FRAME = bytes.fromhex("0001000c") + SEED_BODY


def feed_all(decoder: Decoder, chunks: list[bytes]) -> list[tuple[int | None, bytes]]:
    out: list[tuple[int | None, bytes]] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def raw_all(decoder: Decoder, chunks: list[bytes]) -> bytes:
    return b"".join(decoder.feed_raw(chunk) for chunk in chunks)


class SeedVectorTests(SynchronousTestCase):
    def test_encode_seed_example(self) -> None:
        frame = encode(SEED_BODY, 1)
        self.assertEqual(frame, SEED_FRAME)
        self.assertEqual(frame[:7].hex(" "), "00 01 00 0c e4 bd a0")

    def test_decode_whole(self) -> None:
        self.assertEqual(Decoder().feed(SEED_FRAME), [(1, SEED_BODY)])

    def test_decode_byte_by_byte(self) -> None:
        d = Decoder()
        out = feed_all(d, [SEED_FRAME[i : i + 1] for i in range(len(SEED_FRAME))])
        self.assertEqual(out, [(1, SEED_BODY)])
        self.assertEqual(d.pending, 0)
        d.finish()

    def test_trailing_data_kept(self) -> None:
        d = Decoder()
        self.assertEqual(d.feed(SEED_FRAME + b"\x00\x02\x00"), [(1, SEED_BODY)])
        self.assertEqual(d.pending, 3)
        self.assertEqual(d.feed(b"\x01Z"), [(2, b"Z")])

    def test_header_split(self) -> None:
        d = Decoder()
        self.assertEqual(d.feed(SEED_FRAME[:1]), [])
        self.assertEqual(d.feed(SEED_FRAME[1:3]), [])
        self.assertEqual(d.feed(SEED_FRAME[3:]), [(1, SEED_BODY)])

    def test_zero_length_bodies(self) -> None:
        stream = encode(b"", 5) * 3 + encode(b"a", 6)
        self.assertEqual(
            Decoder().feed(stream), [(5, b""), (5, b""), (5, b""), (6, b"a")]
        )

    def test_signed_serials(self) -> None:
        self.assertEqual(encode(b"", -1), b"\xff\xff\x00\x00")
        self.assertEqual(Decoder().feed(b"\x80\x00\x00\x00"), [(-32768, b"")])

    def test_encoder_counts_from_zero_and_wraps(self) -> None:
        enc = Encoder()
        self.assertEqual(enc.encode(b"a")[:2], b"\x00\x00")
        self.assertEqual(enc.encode(b"b")[:2], b"\x00\x01")
        self.assertEqual(enc.encode(b"c", serial=9)[:2], b"\x00\x09")
        self.assertEqual(enc.encode(b"d")[:2], b"\x00\x02")
        enc._next = 32767
        self.assertEqual(enc.encode(b"")[:2], b"\x7f\xff")
        self.assertEqual(enc.encode(b"")[:2], b"\x80\x00")

    def test_accepts_any_bytes_like(self) -> None:
        d = Decoder()
        self.assertEqual(d.feed(bytearray(SEED_FRAME[:5])), [])
        self.assertEqual(d.feed(memoryview(SEED_FRAME)[5:]), [(1, SEED_BODY)])
        self.assertEqual(Decoder().feed_raw(bytearray(SEED_FRAME)), SEED_FRAME)

    def test_raw_returns_complete_frames_verbatim(self) -> None:
        d = Decoder()
        stream = SEED_FRAME * 3
        self.assertIs(d.feed_raw(stream), stream)
        self.assertEqual(d.feed_raw(SEED_FRAME[:5]), b"")
        self.assertEqual(d.feed_raw(SEED_FRAME[5:] + SEED_FRAME[:2]), SEED_FRAME)
        self.assertEqual(d.pending, 2)


class OtherLayoutTests(SynchronousTestCase):
    def test_wide(self) -> None:
        frame = encode(b"hello", 70000, "wide")
        self.assertEqual(frame, b"\x00\x01\x11\x70\x00\x00\x00\x05hello")
        self.assertEqual(Decoder("wide").feed(frame), [(70000, b"hello")])

    def test_len32_is_int32stringreceiver_wire(self) -> None:
        frame = encode(b"hi", layout="len32")
        self.assertEqual(frame, b"\x00\x00\x00\x02hi")
        self.assertEqual(Decoder("len32").feed(frame * 2), [(None, b"hi")] * 2)
        self.assertRaises(InvalidSerial, encode, b"hi", 1, "len32")

    def test_none_passes_bytes_through(self) -> None:
        d = Decoder("none")
        self.assertEqual(d.feed(b"1234"), [(None, b"1234")])
        self.assertEqual(d.feed(b""), [])
        self.assertEqual(d.feed_raw(b"ab"), b"ab")
        self.assertEqual(encode(b"xyz", layout="none"), b"xyz")
        d.finish()

    def test_unknown_layout(self) -> None:
        self.assertRaises(UnknownLayout, Decoder, "int24")
        self.assertRaises(ValueError, encode, b"", None, "nope")

    def test_mixed_sizes_and_runs(self) -> None:
        # Long runs of equal sizes (the C fast path) broken by other sizes.
        bodies = [b"x" * 60] * 50 + [b"y"] + [b"z" * 60] * 7 + [b""] * 9 + [b"q" * 3]
        stream = b"".join(encode(b, i % 100, "seed") for i, b in enumerate(bodies))
        expected = [(i % 100, b) for i, b in enumerate(bodies)]
        self.assertEqual(Decoder().feed(stream), expected)
        self.assertEqual(Decoder().feed_raw(stream), stream)
        lstream = b"".join(encode(b, layout="len32") for b in bodies)
        self.assertEqual(Decoder("len32").feed(lstream), [(None, b) for b in bodies])


class ErrorTests(SynchronousTestCase):
    def test_oversize_rejected_when_header_arrives(self) -> None:
        d = Decoder(max_frame=10)
        exc = self.assertRaises(FrameTooLarge, d.feed, b"\x00\x01\x00\x0b")
        self.assertEqual((exc.length, exc.limit), (11, 10))
        self.assertIn("11", str(exc))
        self.assertIsInstance(exc, FrameError)

    def test_error_carries_frames_before_it(self) -> None:
        good = encode(b"ok", 3)
        exc = self.assertRaises(
            FrameTooLarge, Decoder(max_frame=10).feed, good + b"\x00\x01\x00\x0b"
        )
        self.assertEqual(exc.frames, [(3, b"ok")])
        exc = self.assertRaises(
            FrameTooLarge, Decoder(max_frame=10).feed_raw, good * 5 + b"\x00\x01\x00\x0b"
        )
        self.assertEqual(exc.raw, good * 5)

    def test_negative_seed_length(self) -> None:
        exc = self.assertRaises(InvalidLength, Decoder().feed, b"\x00\x01\xff\xff")
        self.assertEqual(exc.length, -1)
        self.assertIn("seed", str(exc))
        exc = self.assertRaises(InvalidLength, Decoder().feed_raw, b"\x00\x01\x80\x00xx")
        self.assertEqual(exc.length, -32768)

    def test_encode_limits(self) -> None:
        self.assertRaises(FrameTooLarge, encode, b"x" * 32768)
        self.assertRaises(FrameTooLarge, encode, b"x" * 11, 0, "seed", 10)
        self.assertRaises(InvalidSerial, encode, b"", 32768)
        self.assertRaises(InvalidSerial, encode, b"", -32769)

    def test_truncated_at_eof(self) -> None:
        d = Decoder()
        d.feed(SEED_FRAME[:6])
        exc = self.assertRaises(TruncatedFrame, d.finish)
        self.assertEqual((exc.have, exc.need), (6, 16))
        d2 = Decoder()
        d2.feed(b"\x00")
        exc = self.assertRaises(TruncatedFrame, d2.finish)
        self.assertEqual((exc.have, exc.need), (1, None))

    def test_no_feeding_after_error(self) -> None:
        d = Decoder(max_frame=1)
        self.assertRaises(FrameTooLarge, d.feed, b"\x00\x00\x00\x05")
        self.assertRaises(FrameError, d.feed, SEED_FRAME)


framed_layouts = st.sampled_from([n for n, lay in LAYOUTS.items() if lay.header])


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[tuple[int | None, bytes]], list[bytes]]:
    name = draw(framed_layouts)
    lay = LAYOUTS[name]
    serials = (
        st.integers(lay.serial_min, lay.serial_max) if lay.has_serial else st.none()
    )
    sizes = draw(st.sampled_from([st.integers(0, 40), st.just(7)]))
    frames = draw(
        st.lists(
            st.tuples(serials, sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n))),
            max_size=40,
        )
    )
    stream = b"".join(encode(body, serial, name) for serial, body in frames)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in pairwise(bounds)]
    return name, frames, chunks


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(streams())
    def test_round_trip_any_chunking(self, case: tuple[str, list, list[bytes]]) -> None:
        name, frames, chunks = case
        d = Decoder(name)
        self.assertEqual(feed_all(d, chunks), frames)
        d.finish()
        stream = b"".join(chunks)
        self.assertEqual(raw_all(Decoder(name), chunks), stream)

    @settings(max_examples=100, deadline=None)
    @given(streams(), st.integers(1, 30))
    def test_truncated_stream_reported(self, case: tuple[str, list, list[bytes]], cut: int) -> None:
        name, frames, chunks = case
        stream = b"".join(chunks)
        if not frames:
            return
        d = Decoder(name)
        cut = min(cut, len(stream) - 1)
        if cut <= 0:
            return
        got = feed_all(d, [stream[:-cut]])
        self.assertLess(len(got), len(frames))
        self.assertEqual(got, frames[: len(got)])
        if d.pending:
            self.assertRaises(TruncatedFrame, d.finish)
        else:  # the cut fell on a frame boundary
            self.assertEqual(len(b"".join(encode(b, s, name) for s, b in got)), len(stream) - cut)


class ErrorPropertyTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(streams(), st.integers(0, 40), st.lists(st.integers(0, 2000), max_size=20))
    def test_frames_before_bad_header_are_kept(
        self, case: tuple[str, list, list[bytes]], where: int, cuts: list[int]
    ) -> None:
        name, frames, _ = case
        where = min(where, len(frames))
        lay = LAYOUTS[name]
        good = b"".join(encode(b, s, name) for s, b in frames[:where])
        bad = lay.header.pack(*([0] if lay.has_serial else []), 41)  # over max_frame=40
        stream = good + bad + b"".join(encode(b, s, name) for s, b in frames[where:])
        bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
        chunks = [stream[a:b] for a, b in pairwise(bounds)]

        got: list = []
        d = Decoder(name, max_frame=40)
        with self.assertRaises(FrameTooLarge) as ctx:
            for chunk in chunks:
                got.extend(d.feed(chunk))
        got.extend(ctx.exception.frames)
        self.assertEqual(got, frames[:where])

        raw = b""
        d = Decoder(name, max_frame=40)
        with self.assertRaises(FrameTooLarge) as ctx:
            for chunk in chunks:
                raw += d.feed_raw(chunk)
        self.assertEqual(raw + ctx.exception.raw, good)


class MemoryTests(SynchronousTestCase):
    """Pending bytes live in one buffer: memory within 2x of what is pending."""

    def measure(self, chunks: list[bytes], raw: bool) -> tuple[int, int]:
        import tracemalloc

        d = Decoder("wide")
        feed = d.feed_raw if raw else d.feed
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for chunk in chunks:
                feed(chunk)
            used = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        return d.pending, used

    def test_one_byte_drip(self) -> None:
        frame = encode(b"m" * 32000, 1, "wide")
        for raw in (False, True):
            pending, used = self.measure([frame[i : i + 1] for i in range(32007)], raw)
            self.assertEqual(pending, 32007)
            self.assertLessEqual(used, 2 * pending)

    def test_uneven_chunks_and_a_tail_of_a_big_read(self) -> None:
        stream = encode(b"a" * 5000, 1, "wide") * 3 + encode(b"b" * 90000, 2, "wide")
        cut = len(stream) - 70000  # the last frame ends 70000 bytes later
        chunks = [stream[:cut]]  # a big read whose tail starts a frame
        chunks += [stream[i : i + 7] for i in range(cut, cut + 7000, 7)]
        pending, used = self.measure(chunks, raw=True)
        self.assertEqual(pending, 90008 - 70000 + 7000)
        self.assertLessEqual(used, 2 * pending)
