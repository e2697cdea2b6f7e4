"""Content negotiation: sidecars, on-the-fly gzip/br, ETags per coding, Vary, ranges."""

from __future__ import annotations

import gzip
import os

from twisted.trial.unittest import SkipTest

from tests.static_support import StaticTestCase
from twisted_netlab.http.validators import make_etag
from twisted_netlab.web.filefacts import BROTLI_AVAILABLE

OLD = 1_600_000_000
TEXT = b"".join(b"line %d of a compressible text file\n" % i for i in range(400))


def etag_of(path: str, encoding: str | None = None) -> str:
    st = os.stat(path)
    return str(make_etag(st.st_size, st.st_mtime_ns, st.st_ino, encoding=encoding))


class OnTheFlyTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.path = self.file("app.js", TEXT, mtime=OLD)

    async def test_gzip(self) -> None:
        reply = await self.request("/app.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-encoding"), "gzip")
        self.assertEqual(reply.header("vary"), "Accept-Encoding")
        self.assertEqual(reply.header("etag"), etag_of(self.path, "gzip"))
        self.assertEqual(reply.header("content-type"), "text/javascript; charset=utf-8")
        self.assertEqual(gzip.decompress(reply.body), TEXT)
        self.assertLess(len(reply.body), len(TEXT))
        # Served again from the compressed cache: identical bytes.
        again = await self.request("/app.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(again.body, reply.body)

    async def test_identity_still_varies(self) -> None:
        reply = await self.request("/app.js")
        self.assertEqual(reply.body, TEXT)
        self.assertIsNone(reply.header("content-encoding"))
        self.assertEqual(reply.header("vary"), "Accept-Encoding")
        self.assertEqual(reply.header("etag"), etag_of(self.path))

    async def test_q_values(self) -> None:
        reply = await self.request("/app.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
        self.assertIsNone(reply.header("content-encoding"))
        reply = await self.request("/app.js", headers={"Accept-Encoding": "br;q=0.1, gzip;q=0.9"})
        self.assertEqual(reply.header("content-encoding"), "gzip")

    async def test_brotli_preferred(self) -> None:
        if not BROTLI_AVAILABLE:
            raise SkipTest("brotli not installed")
        import brotli

        reply = await self.request("/app.js", headers={"Accept-Encoding": "gzip, br"})
        self.assertEqual(reply.header("content-encoding"), "br")
        self.assertEqual(reply.header("etag"), etag_of(self.path, "br"))
        self.assertEqual(brotli.decompress(reply.body), TEXT)

    async def test_conditional_per_coding(self) -> None:
        gz = etag_of(self.path, "gzip")
        hit = await self.request(
            "/app.js", headers={"Accept-Encoding": "gzip", "If-None-Match": gz}
        )
        self.assertEqual(hit.code, 304)
        self.assertEqual(hit.header("etag"), gz)
        self.assertEqual(hit.header("vary"), "Accept-Encoding")
        # The identity tag does not validate the gzip representation.
        miss = await self.request(
            "/app.js", headers={"Accept-Encoding": "gzip", "If-None-Match": etag_of(self.path)}
        )
        self.assertEqual(miss.code, 200)

    async def test_range_of_gzip_representation(self) -> None:
        full = (await self.request("/app.js", headers={"Accept-Encoding": "gzip"})).body
        reply = await self.request(
            "/app.js", headers={"Accept-Encoding": "gzip", "Range": "bytes=10-29"}
        )
        self.assertEqual(reply.code, 206)
        self.assertEqual(reply.header("content-encoding"), "gzip")
        self.assertEqual(reply.header("content-range"), f"bytes 10-29/{len(full)}")
        self.assertEqual(reply.body, full[10:30])
        # If-Range with the identity tag does not match the gzip representation.
        other = await self.request(
            "/app.js",
            headers={
                "Accept-Encoding": "gzip", "Range": "bytes=10-29", "If-Range": etag_of(self.path)
            },
        )
        self.assertEqual((other.code, other.body), (200, full))

    async def test_multiple_ranges_use_identity(self) -> None:
        reply = await self.request(
            "/app.js", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-4,10-14"}
        )
        self.assertEqual(reply.code, 206)
        self.assertIsNone(reply.header("content-encoding"))
        self.assertEqual(reply.header("etag"), etag_of(self.path))
        self.assertIn(b"Content-Range: bytes 0-4/%d\r\n\r\n" % len(TEXT) + TEXT[0:5], reply.body)

    async def test_rewrite_invalidates_compressed_cache(self) -> None:
        await self.request("/app.js", headers={"Accept-Encoding": "gzip"})
        new_text = TEXT.replace(b"line", b"LINE")
        self.file("app.js", new_text, mtime=OLD + 10)
        reply = await self.request("/app.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(gzip.decompress(reply.body), new_text)
        self.assertEqual(reply.header("etag"), etag_of(self.path, "gzip"))

    async def test_no_compression_below_threshold_or_for_images(self) -> None:
        self.file("small.js", b"x=1;" * 10)
        self.file("photo.png", TEXT)
        for name in ("/small.js", "/photo.png"):
            reply = await self.request(name, headers={"Accept-Encoding": "gzip, br"})
            self.assertIsNone(reply.header("content-encoding"), name)
            self.assertIsNone(reply.header("vary"), name)

    async def test_options_threshold_and_off(self) -> None:
        self.file("small.js", b"x=1;" * 100)
        self.serve(gzip_min_size=100)
        reply = await self.request("/small.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(reply.header("content-encoding"), "gzip")
        self.serve(no_compress=True)
        reply = await self.request("/app.js", headers={"Accept-Encoding": "gzip"})
        self.assertIsNone(reply.header("content-encoding"))

    async def test_vary_merges_with_existing(self) -> None:
        from twisted.internet import reactor
        from twisted.web.resource import Resource

        from twisted_netlab.web.site import MountRoot, NetlabSite

        inner = self.serve()

        class AddOrigin(Resource):
            isLeaf = True

            def render(self, request):  # type: ignore[no-untyped-def]
                request.setHeader(b"Vary", b"Origin")
                return inner.render(request)

        self.port.stopListening()
        self.port = reactor.listenTCP(0, NetlabSite(MountRoot(AddOrigin())), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        reply = await self.request("/app.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(reply.header("vary"), "Origin, Accept-Encoding")


class SidecarTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.path = self.file("data.json", TEXT, mtime=OLD)
        # A sidecar whose bytes differ from what we would produce: proves it is used.
        self.gz_bytes = gzip.compress(TEXT, compresslevel=1, mtime=12345)
        self.gz = self.file("data.json.gz", self.gz_bytes, mtime=OLD + 1)

    async def test_sidecar_used(self) -> None:
        reply = await self.request("/data.json", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(reply.body, self.gz_bytes)
        self.assertEqual(reply.header("content-encoding"), "gzip")
        self.assertEqual(reply.header("content-type"), "application/json; charset=utf-8")
        self.assertEqual(reply.header("etag"), etag_of(self.gz, "gzip"))
        part = await self.request(
            "/data.json", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"}
        )
        self.assertEqual(part.header("content-range"), f"bytes 0-9/{len(self.gz_bytes)}")
        self.assertEqual(part.body, self.gz_bytes[:10])

    async def test_zstd_sidecar(self) -> None:
        self.file("data.json.zst", b"not really zstd", mtime=OLD + 1)
        reply = await self.request("/data.json", headers={"Accept-Encoding": "zstd, gzip;q=0.5"})
        self.assertEqual(reply.header("content-encoding"), "zstd")
        self.assertEqual(reply.body, b"not really zstd")

    async def test_stale_sidecar_ignored(self) -> None:
        os.utime(self.gz, (OLD - 100, OLD - 100))
        self.serve(no_compress=True)
        reply = await self.request("/data.json", headers={"Accept-Encoding": "gzip"})
        self.assertEqual((reply.header("content-encoding"), reply.body), (None, TEXT))

    async def test_sidecar_symlink_escape_ignored(self) -> None:
        outside = os.path.abspath(self.mktemp())
        os.makedirs(outside)
        target = os.path.join(outside, "evil.gz")
        with open(target, "wb") as handle:
            handle.write(b"outside bytes")
        os.remove(self.gz)
        os.symlink(target, self.gz)
        self.serve(no_compress=True)
        reply = await self.request("/data.json", headers={"Accept-Encoding": "gzip"})
        self.assertEqual((reply.header("content-encoding"), reply.body), (None, TEXT))
        self.serve(no_compress=True, symlinks="follow")
        reply = await self.request("/data.json", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(reply.body, b"outside bytes")

    async def test_sidecar_not_served_directly_as_hidden(self) -> None:
        # A sidecar is an ordinary file when asked for by name.
        reply = await self.request("/data.json.gz")
        self.assertEqual((reply.code, reply.body), (200, self.gz_bytes))
        self.assertEqual(reply.header("content-type"), "application/gzip")
