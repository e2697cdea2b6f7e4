"""The exact response heads of the static fast paths (issue 12).

A 304 carries what RFC 9110 15.4.5 lists when the 200 would have it (Date, ETag,
Cache-Control, Expires, Vary) plus the security header a browser keeps applying
(X-Content-Type-Options, as nginx's ``add_header`` also sends on a 304), and nothing
about the body: no Content-Type, Content-Length, Accept-Ranges or Last-Modified (an
ETag is there). A 200 carries each of its fields exactly once. The If-Modified-Since
decisions the fast path makes alone are pinned against the full rules here too.
"""

from __future__ import annotations

from tests.static_support import StaticTestCase, raw_header, status_of
from twisted_netlab.http.validators import http_date

OLD = 1_700_000_000
# ``raw_get`` asks to close: twisted.web answers ``Connection: close`` first.
NOT_MODIFIED_HEAD = [
    b"connection", b"server", b"date", b"etag", b"cache-control", b"x-content-type-options",
]
FULL_HEAD = [
    b"connection", b"server", b"date", b"content-type", b"x-content-type-options", b"accept-ranges",
    b"etag", b"last-modified", b"cache-control", b"content-length",
]


def names(raw: bytes) -> list[bytes]:
    head = raw.partition(b"\r\n\r\n")[0]
    return [line.partition(b":")[0].lower() for line in head.split(b"\r\n")[1:]]


class HeadTests(StaticTestCase):
    async def etag(self, path: bytes = b"/a.bin") -> bytes:
        raw = await self.raw_get(path)
        value = raw_header(raw, b"etag")
        assert value is not None
        return value

    async def test_200_head(self) -> None:
        self.file("a.bin", b"x" * 1024, mtime=OLD)
        for method in (b"GET", b"HEAD"):
            raw = await self.raw_get(b"/a.bin", method=method)
            self.assertEqual((status_of(raw), names(raw)), (200, FULL_HEAD), method)
            self.assertEqual(raw_header(raw, b"content-length"), b"1024")
            self.assertEqual(raw_header(raw, b"last-modified"), http_date(OLD).encode())
        self.assertTrue(raw.endswith(b"\r\n\r\n"))  # HEAD: no body

    async def test_304_head_for_each_validator(self) -> None:
        self.file("a.bin", b"x" * 1024, mtime=OLD)
        etag = await self.etag()
        for extra in (
            b"If-None-Match: " + etag + b"\r\n",  # our ETag sent back
            b"If-Modified-Since: " + http_date(OLD).encode() + b"\r\n",  # our date sent back
            b"If-Modified-Since: " + http_date(OLD + 3600).encode() + b"\r\n",  # a later date
            b"If-None-Match: " + etag + b"\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
        ):
            for method in (b"GET", b"HEAD"):
                raw = await self.raw_get(b"/a.bin", extra, method=method)
                self.assertEqual((status_of(raw), names(raw)), (304, NOT_MODIFIED_HEAD), extra)
                self.assertEqual(raw_header(raw, b"etag"), etag)
                self.assertEqual(raw_header(raw, b"cache-control"), b"no-cache")
                self.assertEqual(raw_header(raw, b"x-content-type-options"), b"nosniff")
                self.assertTrue(raw.endswith(b"\r\n\r\n"), raw[-40:])

    async def test_304_keeps_vary_and_expires_when_the_200_has_them(self) -> None:
        # Compressible and large enough: negotiable, so both answers vary on the coding.
        self.file("a.txt", b"hello " * 400, mtime=OLD)
        raw = await self.raw_get(b"/a.txt", version=b"HTTP/1.0")
        self.assertEqual(raw_header(raw, b"vary"), b"Accept-Encoding")
        self.assertIsNotNone(raw_header(raw, b"expires"))
        etag = raw_header(raw, b"etag") or b""
        raw = await self.raw_get(
            b"/a.txt", b"If-None-Match: " + etag + b"\r\n", version=b"HTTP/1.0"
        )
        self.assertEqual(
            (status_of(raw), names(raw)),
            (304, [*NOT_MODIFIED_HEAD[1:], b"vary", b"expires"]),  # HTTP/1.0 closes anyway
        )
        self.assertEqual(raw_header(raw, b"vary"), b"Accept-Encoding")


class IfModifiedSinceAloneTests(StaticTestCase):
    """The fast path decides If-Modified-Since alone as evaluate() would."""

    async def status(self, extra: bytes) -> tuple[int, bytes]:
        raw = await self.raw_get(b"/a.bin", extra)
        return status_of(raw), raw.partition(b"\r\n\r\n")[2]

    async def test_decisions(self) -> None:
        self.file("a.bin", b"0123456789", mtime=OLD)
        ims = b"If-Modified-Since: "
        cases = [
            (ims + http_date(OLD + 1).encode(), (304, b"")),
            (ims + http_date(OLD - 1).encode(), (200, b"0123456789")),
            (ims + b"Tuesday, 14-Nov-23 22:13:20 GMT", (304, b"")),  # RFC 850, == mtime
            (ims + b"not a date", (200, b"0123456789")),
            (ims + http_date(4_000_000_000).encode(), (200, b"0123456789")),  # future
            (ims + http_date(OLD - 1).encode() + b"\r\nIf-Range: \"x\"", (200, b"0123456789")),
            # With a Range the full rules decide: 304 first, else the range.
            (ims + http_date(OLD + 1).encode() + b"\r\nRange: bytes=0-1", (304, b"")),
            (ims + http_date(OLD - 1).encode() + b"\r\nRange: bytes=0-1", (206, b"01")),
            # Two fields: the last one counts, as in the full rules.
            (ims + http_date(OLD + 1).encode() + b"\r\n" + ims + http_date(OLD - 1).encode(),
             (200, b"0123456789")),
        ]
        for extra, expected in cases:
            self.assertEqual(await self.status(extra + b"\r\n"), expected, extra)

    async def test_explain(self) -> None:
        self.serve(explain=True)
        self.file("a.bin", b"0123456789", mtime=OLD)
        raw = await self.raw_get(
            b"/a.bin", b"If-Modified-Since: " + http_date(OLD + 60).encode() + b"\r\n"
        )
        self.assertEqual(
            raw_header(raw, b"x-netlab-explain"),
            f"304 If-Modified-Since: not modified since {http_date(OLD + 60)}".encode(),
        )
        raw = await self.raw_get(
            b"/a.bin", b"If-Modified-Since: " + http_date(OLD - 60).encode() + b"\r\n"
        )
        self.assertEqual(
            raw_header(raw, b"x-netlab-explain"),
            b"200 preconditions passed; no Range; identity representation",
        )
