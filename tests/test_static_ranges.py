"""Range forms through the static resource: exact statuses, headers and bytes.

Each case runs on a small file (served from memory) and a large one (streamed by the
producer from disk), since the two paths slice differently.
"""

from __future__ import annotations

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.config_support import static_config
from tests.static_support import StaticTestCase
from twisted_netlab.http.validators import http_date, make_etag
from twisted_netlab.web.site import MountRoot, NetlabSite
from twisted_netlab.web.static import build_static_resource

OLD = 1_600_000_000
SMALL = bytes(range(256)) * 4  # 1024 bytes
LARGE = os.urandom(300_000)


def etag_of(path: str) -> str:
    st = os.stat(path)
    return str(make_etag(st.st_size, st.st_mtime_ns, st.st_ino))


def parse_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/byteranges body exactly as RFC 2046 frames it."""
    delimiter = b"\r\n--" + boundary.encode()
    assert body.startswith(delimiter + b"\r\n"), body[:60]
    assert body.endswith(delimiter + b"--\r\n"), body[-60:]
    parts = []
    for chunk in body[: -len(delimiter + b"--\r\n")].split(delimiter)[1:]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, data))
    return parts


class RangeTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.small = self.file("small.bin", SMALL, mtime=OLD)
        self.large = self.file("large.bin", LARGE, mtime=OLD)

    async def each(self, range_value: str, extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        for name, data in (("small.bin", SMALL), ("large.bin", LARGE)):
            headers = {"Range": range_value, **(extra or {})}
            yield data, await self.request("/" + name, headers=headers)

    async def test_single_forms(self) -> None:
        for spec, start, end in (
            ("bytes=0-0", 0, 0),
            ("bytes=10-19", 10, 19),
            ("bytes=1000-", 1000, None),
            ("bytes=-24", None, 24),
            ("bytes=5-99999999", 5, None),
            ("BYTES = 3-4".replace(" ", ""), 3, 4),
        ):
            async for data, reply in self.each(spec):
                size = len(data)
                first = start if start is not None else size - end  # type: ignore[operator]
                last = (end if start is not None and end is not None else size - 1)
                self.assertEqual(reply.code, 206, spec)
                self.assertEqual(
                    reply.header("content-range"), f"bytes {first}-{last}/{size}", spec
                )
                self.assertEqual(reply.body, data[first : last + 1], spec)
                self.assertEqual(reply.header("content-length"), str(last - first + 1))
                self.assertEqual(reply.header("accept-ranges"), "bytes")

    async def test_multipart(self) -> None:
        async for data, reply in self.each("bytes=0-9, 100-109, -5"):
            self.assertEqual(reply.code, 206)
            ctype = reply.header("content-type") or ""
            match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", ctype)
            self.assertIsNotNone(match, ctype)
            assert match is not None
            self.assertEqual(reply.header("content-length"), str(len(reply.body)))
            self.assertIsNone(reply.header("content-range"))
            parts = parse_multipart(reply.body, match.group(1))
            size = len(data)
            expected = [(0, 9), (100, 109), (size - 5, size - 1)]
            self.assertEqual(len(parts), 3)
            for (headers, body), (first, last) in zip(parts, expected, strict=True):
                self.assertEqual(headers["content-range"], f"bytes {first}-{last}/{size}")
                self.assertEqual(headers["content-type"], "application/octet-stream")
                self.assertEqual(body, data[first : last + 1])

    async def test_overlapping_and_adjacent_coalesce(self) -> None:
        async for data, reply in self.each("bytes=0-9,5-19,20-29"):
            self.assertEqual(reply.code, 206)
            self.assertEqual(reply.header("content-range"), f"bytes 0-29/{len(data)}")
            self.assertEqual(reply.body, data[:30])

    async def test_unsatisfiable(self) -> None:
        async for data, reply in self.each("bytes=999999999-"):
            self.assertEqual(reply.code, 416)
            self.assertEqual(reply.header("content-range"), f"bytes */{len(data)}")
            self.assertIsNone(reply.header("content-encoding"))

    async def test_ignored_ranges_give_full_200(self) -> None:
        for spec in ("bytes=abc", "items=0-1", "bytes=9-1", ",".join(["bytes=0-0"] + ["1-1"] * 17)):
            async for data, reply in self.each(spec):
                self.assertEqual(reply.code, 200, spec)
                self.assertEqual(reply.body, data)

    async def test_ranges_larger_than_file_give_full_200(self) -> None:
        async for data, reply in self.each("bytes=0-,0-,0-"):
            self.assertEqual((reply.code, reply.body), (200, data))

    async def test_max_ranges_option(self) -> None:
        self.serve(max_ranges=2)
        reply = await self.request("/small.bin", headers={"Range": "bytes=0-0,2-2,4-4"})
        self.assertEqual((reply.code, reply.body), (200, SMALL))
        reply = await self.request("/small.bin", headers={"Range": "bytes=0-0,2-2"})
        self.assertEqual(reply.code, 206)

    async def test_if_range(self) -> None:
        for path, data in ((self.small, SMALL), (self.large, LARGE)):
            name = "/" + os.path.basename(path)
            etag = etag_of(path)
            hit = await self.request(name, headers={"Range": "bytes=0-3", "If-Range": etag})
            self.assertEqual((hit.code, hit.body), (206, data[:4]))
            miss = await self.request(name, headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
            self.assertEqual((miss.code, miss.body), (200, data))
            weak = await self.request(name, headers={"Range": "bytes=0-3", "If-Range": "W/" + etag})
            self.assertEqual(weak.code, 200)
            date = await self.request(
                name, headers={"Range": "bytes=0-3", "If-Range": http_date(OLD)}
            )
            self.assertEqual((date.code, date.body), (206, data[:4]))
            old = await self.request(
                name, headers={"Range": "bytes=0-3", "If-Range": http_date(OLD - 60)}
            )
            self.assertEqual(old.code, 200)

    async def test_resume_after_change_is_not_corrupt(self) -> None:
        etag = etag_of(self.small)
        self.file("small.bin", b"Z" * 1024, mtime=OLD + 100)
        reply = await self.request("/small.bin", headers={"Range": "bytes=512-", "If-Range": etag})
        self.assertEqual((reply.code, reply.body), (200, b"Z" * 1024))

    async def test_range_with_precondition(self) -> None:
        etag = etag_of(self.small)
        reply = await self.request(
            "/small.bin", headers={"Range": "bytes=0-3", "If-None-Match": etag}
        )
        self.assertEqual(reply.code, 304)
        reply = await self.request("/small.bin", headers={"Range": "bytes=0-3", "If-Match": '"x"'})
        self.assertEqual(reply.code, 412)

    async def test_head_ignores_range(self) -> None:
        reply = await self.request("/small.bin", headers={"Range": "bytes=0-3"}, method="HEAD")
        self.assertEqual((reply.code, reply.body), (200, b""))
        self.assertIsNone(reply.header("content-range"))

    async def test_empty_file(self) -> None:
        self.file("empty.bin", b"")
        reply = await self.request("/empty.bin", headers={"Range": "bytes=0-"})
        self.assertEqual(reply.code, 416)
        self.assertEqual(reply.header("content-range"), "bytes */0")
        reply = await self.request("/empty.bin", headers={"Range": "bytes=-5"})
        self.assertEqual((reply.code, reply.body), (200, b""))


class RangePropertyTests(SynchronousTestCase):
    """Any Range header on an in-memory file: the bytes sent are the bytes named."""

    def setUp(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        self.data = bytes((i * 7 + 3) % 256 for i in range(1000))
        with open(os.path.join(root, "f.bin"), "wb") as handle:
            handle.write(self.data)
        self.site = NetlabSite(MountRoot(build_static_resource(static_config(root), reactor)))

    def exchange(self, range_value: str) -> tuple[int, dict[bytes, bytes], bytes]:
        proto = self.site.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(
            b"GET /f.bin HTTP/1.1\r\nHost: x\r\nRange: " + range_value.encode() + b"\r\n\r\n"
        )
        raw = transport.value()
        proto.connectionLost(Failure(ConnectionDone()))
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        status = int(lines[0].split(b" ")[1])
        if status != 416:  # the 416 error page is chunked
            self.assertEqual(int(headers[b"content-length"]), len(body))
        return status, headers, body

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.one_of(
                st.tuples(st.integers(0, 1100), st.integers(0, 1100)).map(
                    lambda t: f"{min(t)}-{max(t)}"
                ),
                st.integers(0, 1100).map(lambda a: f"{a}-"),
                st.integers(0, 1100).map(lambda n: f"-{n}"),
            ),
            min_size=1,
            max_size=5,
        )
    )
    def test_bytes_match(self, specs: list[str]) -> None:
        code, headers, body = self.exchange("bytes=" + ",".join(specs))
        self.assertIn(code, (200, 206, 416))
        if code == 200:
            self.assertEqual(body, self.data)
        elif code == 416:
            self.assertEqual(headers[b"content-range"], b"bytes */1000")
        elif headers[b"content-type"].startswith(b"multipart/byteranges"):
            boundary = headers[b"content-type"].split(b"boundary=")[1].decode()
            parts = parse_multipart(body, boundary)
            self.assertGreater(len(parts), 1)
            previous_end = -2
            for part_headers, part in parts:
                match = re.fullmatch(r"bytes (\d+)-(\d+)/1000", part_headers["content-range"])
                assert match is not None
                first, last = int(match.group(1)), int(match.group(2))
                self.assertGreater(first, previous_end + 1)  # sorted, coalesced
                previous_end = last
                self.assertEqual(part, self.data[first : last + 1])
        else:
            match = re.fullmatch(rb"bytes (\d+)-(\d+)/1000", headers[b"content-range"])
            assert match is not None
            self.assertEqual(body, self.data[int(match.group(1)) : int(match.group(2)) + 1])
