"""Range parsing, the abuse guards, 416, and multipart/byteranges layout."""

from __future__ import annotations

import email.parser
import email.policy
import re
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.ranges import (
    ByteRange,
    RangeKind,
    RangeResult,
    content_range,
    make_boundary,
    multipart_layout,
    parse_range,
    unsatisfied_content_range,
)

IGNORE, SAT, UNSAT = RangeKind.IGNORE, RangeKind.SATISFIABLE, RangeKind.UNSATISFIABLE


def spans(result: RangeResult) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in result.ranges]


class ByteRangeTests(SynchronousTestCase):
    def test_length(self) -> None:
        self.assertEqual(ByteRange(0, 0).length, 1)
        self.assertEqual(ByteRange(5, 9).length, 5)

    def test_invalid(self) -> None:
        with self.assertRaises(ValueError):
            ByteRange(5, 4)
        with self.assertRaises(ValueError):
            ByteRange(-1, 4)


class FormTests(SynchronousTestCase):
    def test_forms(self) -> None:
        cases = {
            "bytes=0-0": [(0, 0)],
            "bytes=0-99": [(0, 99)],
            "bytes=10-": [(10, 99)],
            "bytes=-10": [(90, 99)],
            "bytes=-1000": [(0, 99)],
            "bytes=50-1000": [(50, 99)],
            "bytes=99-99": [(99, 99)],
            "bytes=0-0,-1": [(0, 0), (99, 99)],
            "bytes=0-9,20-29,40-49": [(0, 9), (20, 29), (40, 49)],
            "BYTES=0-9": [(0, 9)],
            "bytes = 0-9 , 20-29": [(0, 9), (20, 29)],
            "bytes=\t0-9,\t20-29\t": [(0, 9), (20, 29)],
            "bytes=0-9,,20-29,": [(0, 9), (20, 29)],
            "bytes=00-09": [(0, 9)],
        }
        for header, expected in cases.items():
            result = parse_range(header, 100)
            self.assertEqual((result.kind, spans(result)), (SAT, expected), header)
            self.assertTrue(result.reason)

    def test_huge_numbers(self) -> None:
        big = "9" * 5000
        self.assertEqual(spans(parse_range(f"bytes=0-{big}", 100)), [(0, 99)])
        self.assertEqual(spans(parse_range(f"bytes=-{big}", 100)), [(0, 99)])
        self.assertEqual(parse_range(f"bytes={big}-", 100).kind, UNSAT)
        self.assertEqual(parse_range(f"bytes={big}-{big}", 100).kind, UNSAT)
        self.assertEqual(parse_range(f"bytes={big}9-{big}", 100).kind, IGNORE)
        self.assertEqual(spans(parse_range("bytes=" + "0" * 5000 + "5-9", 100)), [(5, 9)])

    def test_ignored(self) -> None:
        for header in [
            None,
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "items=0-9",
            "0-9",
            "bytes=a-b",
            "bytes=-",
            "bytes=5-4",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=-+2",
            "bytes=1 - 2",
            "bytes=0x1-2",
            "bytes=\u0661-2",  # Arabic-Indic digit one: digits are ASCII only
            "bytes=0-9,junk",
            "bytes=0-9;foo",
        ]:
            result = parse_range(header, 100)
            self.assertEqual(result.kind, IGNORE, header)
            self.assertEqual(result.ranges, ())
            self.assertTrue(result.reason, header)


class CoalesceTests(SynchronousTestCase):
    def test_overlapping_and_adjacent(self) -> None:
        self.assertEqual(spans(parse_range("bytes=0-9,10-19", 100)), [(0, 19)])
        self.assertEqual(spans(parse_range("bytes=0-9,5-14", 100)), [(0, 14)])
        self.assertEqual(spans(parse_range("bytes=0-9,11-19", 100)), [(0, 9), (11, 19)])
        self.assertEqual(spans(parse_range("bytes=0-9,2-3", 100)), [(0, 9)])

    def test_sorted(self) -> None:
        self.assertEqual(
            spans(parse_range("bytes=50-59,-5,0-9", 100)), [(0, 9), (50, 59), (95, 99)]
        )

    def test_reason_mentions_coalescing(self) -> None:
        self.assertIn("coalesced", parse_range("bytes=0-9,10-19", 100).reason)


class GuardTests(SynchronousTestCase):
    def test_too_many(self) -> None:
        header = "bytes=" + ",".join(f"{i}-{i}" for i in range(17))
        result = parse_range(header, 100)
        self.assertEqual(result.kind, IGNORE)
        self.assertIn("too many ranges", result.reason)
        header16 = "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(16))
        self.assertEqual(len(parse_range(header16, 100).ranges), 16)
        self.assertEqual(parse_range("bytes=0-0,2-2,4-4", 100, max_ranges=2).kind, IGNORE)

    def test_count_before_coalescing(self) -> None:
        # 17 adjacent ranges would coalesce into one, but the cap counts requests.
        header = "bytes=" + ",".join(f"{i}-{i}" for i in range(17))
        self.assertEqual(parse_range(header, 100).kind, IGNORE)

    def test_count_includes_unsatisfiable(self) -> None:
        header = "bytes=0-0," + ",".join("500-600" for _ in range(16))
        self.assertIn("too many ranges", parse_range(header, 100).reason)

    def test_sum_exceeds_size(self) -> None:
        result = parse_range("bytes=0-,0-", 100)
        self.assertEqual(result.kind, IGNORE)
        self.assertIn("more than", result.reason)
        self.assertEqual(parse_range("bytes=0-60,40-99", 100).kind, IGNORE)
        self.assertEqual(spans(parse_range("bytes=0-50,40-88", 100)), [(0, 88)])
        self.assertEqual(spans(parse_range("bytes=0-", 100)), [(0, 99)])
        self.assertEqual(parse_range("bytes=-100,-1", 100).kind, IGNORE)

    def test_invalid_args(self) -> None:
        with self.assertRaises(ValueError):
            parse_range("bytes=0-1", -1)
        with self.assertRaises(ValueError):
            parse_range("bytes=0-1", 10, max_ranges=0)


class UnsatisfiableTests(SynchronousTestCase):
    def test_416(self) -> None:
        for header in ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=100-,-0,200-300"]:
            result = parse_range(header, 100)
            self.assertEqual((result.kind, result.ranges), (UNSAT, ()), header)
            self.assertTrue(result.reason)

    def test_unsatisfiable_dropped_when_others_remain(self) -> None:
        self.assertEqual(spans(parse_range("bytes=200-300,0-4,-0", 100)), [(0, 4)])

    def test_empty_file(self) -> None:
        self.assertEqual(parse_range("bytes=0-", 0).kind, UNSAT)
        self.assertEqual(parse_range("bytes=0-0", 0).kind, UNSAT)
        self.assertEqual(parse_range("bytes=-0", 0).kind, UNSAT)
        # RFC 9110 14.1.1: a non-zero suffix is satisfiable on an empty file, yet no
        # Content-Range can describe it: the empty 200 is sent.
        self.assertEqual(parse_range("bytes=-5", 0).kind, IGNORE)
        self.assertEqual(parse_range("bytes=0-,-5", 0).kind, IGNORE)

    def test_headers(self) -> None:
        self.assertEqual(content_range(ByteRange(0, 9), 100), "bytes 0-9/100")
        self.assertEqual(unsatisfied_content_range(100), "bytes */100")


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=200)
    @given(
        st.integers(min_value=0, max_value=300),
        st.lists(
            st.one_of(
                st.tuples(st.integers(0, 400), st.integers(0, 400)).map(
                    lambda t: f"{min(t)}-{max(t)}"
                ),
                st.integers(0, 400).map(lambda a: f"{a}-"),
                st.integers(0, 400).map(lambda n: f"-{n}"),
            ),
            min_size=1,
            max_size=20,
        ),
    )
    def test_invariants(self, size: int, specs: list[str]) -> None:
        result = parse_range("bytes=" + ",".join(specs), size, max_ranges=16)
        # Reference model: the set of requested byte positions, clamped to the file.
        wanted: set[int] = set()
        total = 0
        for spec in specs:
            first, _, last = spec.partition("-")
            if first:
                a = int(first)
                b = size - 1 if not last else min(int(last), size - 1)
            else:
                n = int(last)
                a, b = max(size - n, 0), size - 1
                if n == 0 or size == 0:
                    continue
            if a <= b:
                wanted.update(range(a, b + 1))
                total += b - a + 1
        if len(specs) > 16:
            self.assertEqual(result.kind, IGNORE)
            return
        if result.kind is SAT:
            ranges = result.ranges
            self.assertTrue(ranges)
            for r in ranges:
                self.assertTrue(0 <= r.start <= r.end < size)
            for prev, nxt in pairwise(ranges):
                self.assertGreater(nxt.start, prev.end + 1)  # sorted, disjoint, not adjacent
            covered = {i for r in ranges for i in range(r.start, r.end + 1)}
            self.assertEqual(covered, wanted)
            self.assertLessEqual(total, size)
        elif result.kind is UNSAT:
            self.assertEqual(wanted, set())
        else:
            self.assertTrue(total > size or (size == 0 and not wanted))

    @settings(max_examples=200)
    @given(st.text(max_size=60), st.integers(0, 1000))
    def test_never_raises(self, header: str, size: int) -> None:
        result = parse_range(header, size)
        self.assertIsInstance(result.kind, RangeKind)


def _build_body(
    data: bytes, layout_parts: tuple[tuple[bytes, ByteRange], ...], epi: bytes
) -> bytes:
    out = bytearray()
    for preamble, r in layout_parts:
        out += preamble + data[r.start : r.end + 1]
    out += epi
    return bytes(out)


class MultipartTests(SynchronousTestCase):
    data = bytes(range(256)) * 4  # 1024 bytes, with CR, LF and dashes inside

    def test_exact_bytes(self) -> None:
        ranges = (ByteRange(0, 1), ByteRange(10, 12))
        layout = multipart_layout(ranges, 1024, "text/plain; charset=utf-8", "B0UND")
        body = _build_body(self.data, layout.parts, layout.epilogue)
        self.assertEqual(
            body,
            b"\r\n--B0UND\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Range: bytes 0-1/1024\r\n\r\n\x00\x01"
            b"\r\n--B0UND\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Range: bytes 10-12/1024\r\n\r\n\x0a\x0b\x0c"
            b"\r\n--B0UND--\r\n",
        )
        self.assertEqual(layout.content_length, len(body))
        self.assertEqual(layout.content_type, "multipart/byteranges; boundary=B0UND")

    def _parse(self, body: bytes, content_type: str) -> list[tuple[str, str, bytes]]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        self.assertTrue(message.is_multipart())
        self.assertEqual(message.defects, [])
        out = []
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out.append((part["Content-Type"], part["Content-Range"], payload))
        return out

    def test_parses_with_email(self) -> None:
        result = parse_range("bytes=0-99,200-299,-24", 1024)
        boundary = make_boundary()
        layout = multipart_layout(result.ranges, 1024, "application/octet-stream", boundary)
        body = _build_body(self.data, layout.parts, layout.epilogue)
        self.assertEqual(layout.content_length, len(body))
        parts = self._parse(body, layout.content_type)
        self.assertEqual(
            [(cr, payload) for _ct, cr, payload in parts],
            [
                ("bytes 0-99/1024", self.data[0:100]),
                ("bytes 200-299/1024", self.data[200:300]),
                ("bytes 1000-1023/1024", self.data[1000:]),
            ],
        )
        self.assertEqual({ct for ct, _cr, _p in parts}, {"application/octet-stream"})

    @settings(max_examples=100)
    @given(st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 1023)), min_size=1, max_size=8))
    def test_length_and_parse_property(self, pairs: list[tuple[int, int]]) -> None:
        header = "bytes=" + ",".join(f"{min(p)}-{max(p)}" for p in pairs)
        result = parse_range(header, 1024)
        if result.kind is not SAT:
            return
        layout = multipart_layout(result.ranges, 1024, "image/png", make_boundary())
        body = _build_body(self.data, layout.parts, layout.epilogue)
        self.assertEqual(layout.content_length, len(body))
        parts = self._parse(body, layout.content_type)
        self.assertEqual(
            [payload for _ct, _cr, payload in parts],
            [self.data[r.start : r.end + 1] for r in result.ranges],
        )

    def test_boundary(self) -> None:
        a, b = make_boundary(), make_boundary()
        self.assertNotEqual(a, b)
        self.assertRegex(a, re.compile(r"^[0-9a-f]{32}$"))

    def test_rejects_bad_input(self) -> None:
        r = (ByteRange(0, 1),)
        with self.assertRaises(ValueError):
            multipart_layout(r, 10, "text/plain", "bad boundary\r\n")
        with self.assertRaises(ValueError):
            multipart_layout(r, 10, "text/plain", "x" * 71)
        with self.assertRaises(ValueError):
            multipart_layout(r, 10, "text/plain\r\nX-Evil: 1", "B")
        with self.assertRaises(ValueError):
            multipart_layout((ByteRange(0, 10),), 10, "text/plain", "B")
        with self.assertRaises(ValueError):
            multipart_layout((), 10, "text/plain", "B")
