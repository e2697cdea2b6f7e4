"""The revalidation fast paths decide exactly as the full RFC 9110 evaluation would.

An If-Modified-Since equal to our Last-Modified string is answered without parsing the
date; these tests pin the cases where that shortcut must not apply.
"""

from __future__ import annotations

import time

from tests.static_support import StaticTestCase
from twisted_netlab.http.validators import http_date

OLD = 1_700_000_000


class FastRevalidationTests(StaticTestCase):
    async def test_equal_date_is_a_304_with_the_304_headers(self) -> None:
        self.file("a.txt", b"hello", mtime=OLD)
        first = await self.request("/a.txt")
        modified = first.header("last-modified")
        self.assertEqual(modified, http_date(OLD))
        reply = await self.request("/a.txt", {"If-Modified-Since": modified or ""})
        self.assertEqual((reply.code, reply.body), (304, b""))
        self.assertEqual(reply.header("etag"), first.header("etag"))
        self.assertIsNone(reply.header("last-modified"))  # RFC 9110 15.4.5 list only
        self.assertIsNone(reply.header("content-type"))

    async def test_a_future_modification_date_is_not_trusted(self) -> None:
        # The file claims to change an hour from now: evaluate() ignores an
        # If-Modified-Since later than now, so the shortcut must too (full 200).
        future = int(time.time()) + 3600
        self.file("a.txt", b"hello", mtime=future)
        reply = await self.request("/a.txt", {"If-Modified-Since": http_date(future)})
        self.assertEqual((reply.code, reply.body), (200, b"hello"))

    async def test_other_preconditions_take_the_full_rules(self) -> None:
        self.file("a.txt", b"hello", mtime=OLD)
        first = await self.request("/a.txt")
        etag = first.header("etag") or ""
        equal = {"If-Modified-Since": http_date(OLD)}
        reply = await self.request("/a.txt", {**equal, "If-Match": '"other"'})
        self.assertEqual(reply.code, 412)
        reply = await self.request("/a.txt", {**equal, "If-Unmodified-Since": http_date(OLD - 10)})
        self.assertEqual(reply.code, 412)
        reply = await self.request("/a.txt", {**equal, "If-None-Match": '"other"'})
        self.assertEqual(reply.code, 200)
        reply = await self.request("/a.txt", {**equal, "If-None-Match": etag})
        self.assertEqual(reply.code, 304)

    async def test_explain_still_says_why(self) -> None:
        self.serve(explain=True)
        self.file("a.txt", b"hello", mtime=OLD)
        etag = (await self.request("/a.txt")).header("etag") or ""
        reply = await self.request("/a.txt", {"If-Modified-Since": http_date(OLD)})
        self.assertEqual(
            reply.header("x-netlab-explain"),
            f"304 If-Modified-Since: not modified since {http_date(OLD)}",
        )
        reply = await self.request("/a.txt", {"If-None-Match": etag})
        self.assertEqual(reply.header("x-netlab-explain"), f"304 If-None-Match matched {etag}")

    async def test_200_from_memory_has_one_content_length(self) -> None:
        self.file("a.txt", b"hello", mtime=OLD)
        raw = await self.raw_get(b"/a.txt")
        head = raw.split(b"\r\n\r\n", 1)[0].lower()
        self.assertEqual(head.count(b"\r\ncontent-length: 5"), 1)
        self.assertEqual(head.count(b"content-length"), 1)
        self.assertTrue(raw.endswith(b"\r\n\r\nhello"))

    async def test_fast_path_needs_one_field_and_keeps_the_full_rules_otherwise(self) -> None:
        # Two If-None-Match fields (one list) miss the one-comparison shortcut and are
        # decided by the full rules: still a 304 when one of them is our ETag.
        self.file("a.txt", b"hello", mtime=OLD)
        etag = ((await self.request("/a.txt")).header("etag") or "").encode()
        twice = b'If-None-Match: "x"\r\nIf-None-Match: ' + etag + b"\r\n"
        raw = await self.raw_get(b"/a.txt", twice)
        self.assertTrue(raw.startswith(b"HTTP/1.1 304 "), raw[:40])
        # A Range beside a matching validator: the 304 wins (RFC 9110 13.2.2).
        raw = await self.raw_get(b"/a.txt", b"Range: bytes=0-1\r\nIf-None-Match: " + etag + b"\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 304 "), raw[:40])
