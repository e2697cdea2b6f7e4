"""The one-range 206 from its remembered header list: exact heads and bytes.

A single range is answered with the representation's headers plus its Content-Range
and Content-Length, one list kept per (first, last) byte of each file version; these
tests pin the wire form (each field once), HEAD, HTTP/1.0 and the memo's bound.
"""

from __future__ import annotations

from tests.static_support import StaticTestCase, raw_header, status_of

OLD = 1_600_000_000
DATA = bytes(range(256)) * 4  # 1024 bytes


class OneRangeHeadTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.file("a.bin", DATA, mtime=OLD)

    async def test_one_range_head_has_each_field_once(self) -> None:
        raw = await self.raw_get(b"/a.bin", b"Range: bytes=10-19\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertEqual(status_of(raw), 206)
        self.assertEqual(body, DATA[10:20])
        lower = head.lower()
        self.assertEqual(lower.count(b"\r\ncontent-length: "), 1)
        self.assertEqual(lower.count(b"\r\ncontent-range: "), 1)
        self.assertEqual(raw_header(raw, b"content-length"), b"10")
        self.assertEqual(raw_header(raw, b"content-range"), b"bytes 10-19/1024")
        self.assertEqual(raw_header(raw, b"accept-ranges"), b"bytes")
        self.assertEqual(raw_header(raw, b"content-type"), b"application/octet-stream")

    async def test_suffix_and_open_ranges(self) -> None:
        raw = await self.raw_get(b"/a.bin", b"Range: bytes=-4\r\n")
        self.assertEqual(raw_header(raw, b"content-range"), b"bytes 1020-1023/1024")
        self.assertTrue(raw.endswith(b"\r\n\r\n" + DATA[-4:]))
        raw = await self.raw_get(b"/a.bin", b"Range: bytes=1000-\r\n")
        self.assertEqual(raw_header(raw, b"content-range"), b"bytes 1000-1023/1024")
        self.assertEqual(raw_header(raw, b"content-length"), b"24")
        self.assertTrue(raw.endswith(b"\r\n\r\n" + DATA[1000:]))

    async def test_head_with_range_is_the_full_head(self) -> None:
        raw = await self.raw_get(b"/a.bin", b"Range: bytes=10-19\r\n", method=b"HEAD")
        self.assertEqual(status_of(raw), 200)
        self.assertEqual(raw_header(raw, b"content-length"), b"1024")
        self.assertIsNone(raw_header(raw, b"content-range"))
        self.assertTrue(raw.endswith(b"\r\n\r\n"))

    async def test_http10_gets_expires_on_a_206(self) -> None:
        raw = await self.raw_get(b"/a.bin", b"Range: bytes=0-1\r\n", version=b"HTTP/1.0")
        self.assertEqual(status_of(raw), 206)
        self.assertIsNotNone(raw_header(raw, b"expires"))
        self.assertEqual(raw_header(raw, b"content-range"), b"bytes 0-1/1024")

    async def test_range_then_full_200_does_not_carry_range_fields(self) -> None:
        await self.raw_get(b"/a.bin", b"Range: bytes=0-1\r\n")
        raw = await self.raw_get(b"/a.bin")
        self.assertEqual(status_of(raw), 200)
        self.assertIsNone(raw_header(raw, b"content-range"))
        self.assertEqual(raw_header(raw, b"content-length"), b"1024")

    async def test_the_header_memo_is_bounded_per_version(self) -> None:
        resource = self.serve()
        for first in range(40):
            raw = await self.raw_get(b"/a.bin", b"Range: bytes=%d-%d\r\n" % (first, first + 1))
            self.assertEqual(
                raw_header(raw, b"content-range"), b"bytes %d-%d/1024" % (first, first + 1)
            )
            self.assertTrue(raw.endswith(b"\r\n\r\n" + DATA[first : first + 2]))
        rep = next(iter(resource.table.values())).identity
        self.assertLessEqual(len(rep.range_headers_memo), 32)
        self.file("a.bin", DATA[:100], mtime=OLD + 60)
        raw = await self.raw_get(b"/a.bin", b"Range: bytes=39-40\r\n")
        self.assertEqual(raw_header(raw, b"content-range"), b"bytes 39-40/100")
