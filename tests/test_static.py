"""Static resource: methods, headers, preconditions, directories, SPA, explain, caches."""

from __future__ import annotations

import json
import os

from twisted.python import usage
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.config_support import static_config, web_options
from tests.static_support import StaticTestCase, raw_header, status_of, write
from twisted_netlab.http.validators import http_date, make_etag
from twisted_netlab.web import filefacts
from twisted_netlab.web.config import StaticConfig
from twisted_netlab.web.fsinfo import SymlinkPolicy

OLD = 1_600_000_000  # a fixed mtime, far in the past
BODY = b"0123456789" * 100  # 1000 bytes, below the gzip threshold


def etag_of(path: str, encoding: str | None = None) -> str:
    st = os.stat(path)
    return str(make_etag(st.st_size, st.st_mtime_ns, st.st_ino, encoding=encoding))


class BasicResponseTests(StaticTestCase):
    async def test_full_200(self) -> None:
        path = self.file("data.txt", BODY, mtime=OLD)
        reply = await self.request("/data.txt")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.body, BODY)
        self.assertEqual(reply.header("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(reply.header("x-content-type-options"), "nosniff")
        self.assertEqual(reply.header("accept-ranges"), "bytes")
        self.assertEqual(reply.header("etag"), etag_of(path))
        self.assertEqual(reply.header("last-modified"), http_date(OLD))
        self.assertEqual(reply.header("cache-control"), "no-cache")
        self.assertEqual(reply.header("content-length"), "1000")
        self.assertIsNone(reply.header("vary"))  # not negotiable: too small to compress

    async def test_head_has_headers_no_body(self) -> None:
        path = self.file("data.txt", BODY, mtime=OLD)
        reply = await self.request("/data.txt", method="HEAD")
        self.assertEqual((reply.code, reply.body), (200, b""))
        self.assertEqual(reply.header("etag"), etag_of(path))
        raw = await self.raw_get(b"/data.txt", method=b"HEAD")
        self.assertEqual(raw_header(raw, b"content-length"), b"1000")
        self.assertTrue(raw.endswith(b"\r\n\r\n"))

    async def test_unknown_type_is_octet_stream(self) -> None:
        self.file("blob.unknownext", b"\x00\x01")
        reply = await self.request("/blob.unknownext")
        self.assertEqual(reply.header("content-type"), "application/octet-stream")
        self.assertEqual(reply.header("x-content-type-options"), "nosniff")

    async def test_fingerprinted_name_is_immutable(self) -> None:
        self.file("app.3f9a2c1d.js", b"var a = 1;\n")
        reply = await self.request("/app.3f9a2c1d.js")
        self.assertEqual(reply.header("cache-control"), "public, max-age=31536000, immutable")

    async def test_max_age_and_dev(self) -> None:
        self.file("style.css", b"a{}")
        self.file("index.html", b"<p>")
        self.serve(max_age=600)
        self.assertEqual(
            (await self.request("/style.css")).header("cache-control"), "public, max-age=600"
        )
        self.assertEqual((await self.request("/index.html")).header("cache-control"), "no-cache")
        self.serve(max_age=600, dev=True)
        self.assertEqual((await self.request("/style.css")).header("cache-control"), "no-cache")

    async def test_expires_only_for_http10(self) -> None:
        self.file("style.css", b"a{}")
        self.serve(max_age=600)
        raw10 = await self.raw_get(b"/style.css", version=b"HTTP/1.0")
        self.assertEqual(status_of(raw10), 200)
        self.assertIsNotNone(raw_header(raw10, b"expires"))
        raw11 = await self.raw_get(b"/style.css")
        self.assertIsNone(raw_header(raw11, b"expires"))

    async def test_empty_file(self) -> None:
        self.file("empty.txt", b"")
        reply = await self.request("/empty.txt")
        self.assertEqual((reply.code, reply.body, reply.header("content-length")), (200, b"", "0"))

    async def test_file_with_trailing_slash_is_404(self) -> None:
        self.file("data.txt", BODY)
        self.assertEqual((await self.request("/data.txt/")).code, 404)

    async def test_unreadable_is_403(self) -> None:
        if os.getuid() == 0:
            raise SkipTest("root reads any file: cannot make one unreadable")
        path = self.file("locked.txt", b"no")
        os.chmod(path, 0)
        self.addCleanup(os.chmod, path, 0o644)
        self.assertEqual((await self.request("/locked.txt")).code, 403)

    async def test_permission_error_is_403(self) -> None:
        # Runs as root too: the OS's EACCES is injected where the file is opened.
        self.file("locked.txt", b"no")

        def denied(path: str, *args: object, **kwargs: object) -> object:
            raise PermissionError(13, "Permission denied", path)

        filefacts.open = denied  # type: ignore[attr-defined]  # shadows the builtin
        try:
            reply = await self.request("/locked.txt")
        finally:
            del filefacts.open  # type: ignore[attr-defined]
        self.assertEqual(reply.code, 403)
        self.assertIn(b"Permission denied.", reply.body)
        # Nothing was cached from the failed read: the next request reads the file.
        reply = await self.request("/locked.txt")
        self.assertEqual((reply.code, reply.body), (200, b"no"))

    async def test_missing_is_404(self) -> None:
        reply = await self.request("/nope.txt")
        self.assertEqual(reply.code, 404)
        self.assertEqual(reply.header("x-content-type-options"), "nosniff")


class MethodTests(StaticTestCase):
    async def test_options(self) -> None:
        self.file("data.txt", BODY)
        reply = await self.request("/data.txt", method="OPTIONS")
        self.assertEqual(reply.code, 204)
        self.assertEqual(reply.header("allow"), "GET, HEAD, OPTIONS")
        self.assertEqual(reply.body, b"")
        raw = await self.raw_get(b"/data.txt", method=b"OPTIONS")
        self.assertEqual(status_of(raw), 204)
        self.assertIsNone(raw_header(raw, b"content-length"))  # RFC 9110 8.6

    async def test_other_methods_405(self) -> None:
        self.file("data.txt", BODY)
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            reply = await self.request("/data.txt", method=method)
            self.assertEqual(reply.code, 405, method)
            self.assertEqual(reply.header("allow"), "GET, HEAD, OPTIONS")
        # The file is untouched.
        self.assertEqual((await self.request("/data.txt")).body, BODY)


class PreconditionTests(StaticTestCase):
    """RFC 9110 13.2.2 through the resource (the pure rules have their own tests)."""

    def setUp(self) -> None:
        super().setUp()
        self.path = self.file("data.txt", BODY, mtime=OLD)
        self.etag = etag_of(self.path)

    async def check(self, headers: dict[str, str], code: int, method: str = "GET") -> None:
        reply = await self.request("/data.txt", headers=headers, method=method)
        self.assertEqual(reply.code, code, headers)
        if code == 304:
            self.assertEqual(reply.body, b"")
            self.assertEqual(reply.header("etag"), self.etag)
            self.assertEqual(reply.header("cache-control"), "no-cache")
            self.assertIsNone(reply.header("content-type"))
        elif code == 200 and method == "GET":
            self.assertEqual(reply.body, BODY)

    async def test_if_none_match(self) -> None:
        await self.check({"If-None-Match": self.etag}, 304)
        await self.check({"If-None-Match": self.etag}, 304, method="HEAD")
        await self.check({"If-None-Match": f'"x", W/{self.etag}'}, 304)  # weak compare, list
        await self.check({"If-None-Match": "*"}, 304)
        await self.check({"If-None-Match": '"other"'}, 200)

    async def test_304_raw_headers(self) -> None:
        raw = await self.raw_get(b"/data.txt", b"If-None-Match: " + self.etag.encode() + b"\r\n")
        self.assertEqual(status_of(raw), 304)
        self.assertIsNone(raw_header(raw, b"content-length"))
        self.assertIsNone(raw_header(raw, b"transfer-encoding"))
        self.assertEqual(raw_header(raw, b"etag"), self.etag.encode())
        self.assertTrue(raw.endswith(b"\r\n\r\n"))

    async def test_if_modified_since(self) -> None:
        await self.check({"If-Modified-Since": http_date(OLD)}, 304)
        await self.check({"If-Modified-Since": http_date(OLD - 10)}, 200)
        await self.check({"If-Modified-Since": "garbage"}, 200)
        # Ignored when If-None-Match is present (and does not match).
        await self.check({"If-None-Match": '"other"', "If-Modified-Since": http_date(OLD)}, 200)

    async def test_if_match(self) -> None:
        await self.check({"If-Match": self.etag}, 200)
        await self.check({"If-Match": "*"}, 200)
        await self.check({"If-Match": '"other"'}, 412)
        await self.check({"If-Match": f"W/{self.etag}"}, 412)  # strong comparison

    async def test_if_unmodified_since(self) -> None:
        await self.check({"If-Unmodified-Since": http_date(OLD)}, 200)
        await self.check({"If-Unmodified-Since": http_date(OLD - 10)}, 412)
        # If-Match takes precedence over If-Unmodified-Since.
        await self.check({"If-Match": self.etag, "If-Unmodified-Since": http_date(OLD - 10)}, 200)

    async def test_if_match_before_if_none_match(self) -> None:
        await self.check({"If-Match": '"other"', "If-None-Match": self.etag}, 412)

    async def test_412_carries_validator(self) -> None:
        reply = await self.request("/data.txt", headers={"If-Match": '"nope"'})
        self.assertEqual(reply.code, 412)
        self.assertEqual(reply.header("etag"), self.etag)


class ChangeOnDiskTests(StaticTestCase):
    async def test_rewrite_invalidates(self) -> None:
        self.file("data.txt", b"first version", mtime=OLD)
        first = await self.request("/data.txt")
        self.assertEqual(first.body, b"first version")
        # Same size, new mtime: the ETag and the bytes must change.
        self.file("data.txt", b"other version", mtime=OLD + 5)
        second = await self.request("/data.txt")
        self.assertEqual(second.body, b"other version")
        self.assertNotEqual(first.header("etag"), second.header("etag"))
        stale = await self.request(
            "/data.txt", headers={"If-None-Match": first.header("etag") or ""}
        )
        self.assertEqual((stale.code, stale.body), (200, b"other version"))

    async def test_replace_by_rename(self) -> None:
        self.file("data.txt", b"AAAA", mtime=OLD)
        await self.request("/data.txt")
        self.file("tmp.bin", b"BBBB", mtime=OLD)  # same size and mtime, other inode
        os.replace(os.path.join(self.root, "tmp.bin"), os.path.join(self.root, "data.txt"))
        self.assertEqual((await self.request("/data.txt")).body, b"BBBB")

    async def test_change_while_reading_retries(self) -> None:
        from twisted_netlab.web import static_response as static

        self.file("data.txt", b"AAAA", mtime=OLD)
        real_read = static.read_body
        calls: list[int] = []

        def flaky(rep, cache):  # type: ignore[no-untyped-def]
            calls.append(1)
            return None if len(calls) == 1 else real_read(rep, cache)

        self.patch(static, "read_body", flaky)
        reply = await self.request("/data.txt", headers={"Range": "bytes=1-2"})
        self.assertEqual((reply.code, reply.body), (206, b"AA"))
        self.assertEqual(len(calls), 2)

        self.patch(static, "read_body", lambda rep, cache: None)
        reply = await self.request("/data.txt")
        self.assertEqual(reply.code, 503)
        self.assertIsNone(reply.header("etag"))
        self.flushLoggedErrors()

    async def test_deleted_file_is_404(self) -> None:
        path = self.file("data.txt", b"AAAA")
        await self.request("/data.txt")
        os.remove(path)
        self.assertEqual((await self.request("/data.txt")).code, 404)


class DirectoryTests(StaticTestCase):
    async def test_redirect_keeps_query(self) -> None:
        os.makedirs(os.path.join(self.root, "sub dir"))
        reply = await self.request("/sub%20dir?x=1&y=2")
        self.assertEqual(reply.code, 301)
        self.assertEqual(reply.header("location"), "/sub%20dir/?x=1&y=2")

    async def test_redirect_never_protocol_relative(self) -> None:
        os.makedirs(os.path.join(self.root, "evil.example"))
        raw = await self.raw_get(b"//evil.example")
        self.assertEqual(status_of(raw), 301)
        self.assertEqual(raw_header(raw, b"location"), b"/evil.example/")

    async def test_index_html(self) -> None:
        self.file("docs/index.html", b"<h1>docs</h1>")
        reply = await self.request("/docs/")
        self.assertEqual((reply.code, reply.body), (200, b"<h1>docs</h1>"))
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        self.assertEqual((await self.request("/")).code, 200)  # root listing

    async def test_listing_html_escaped_sorted(self) -> None:
        self.file("d/b.txt", b"bb")
        self.file('d/<script>alert("x")&.txt', b"x")
        self.file("d/A.txt", b"a")
        self.file("d/.secret", b"s")
        os.makedirs(os.path.join(self.root, "d", "zdir"))
        reply = await self.request("/d/")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-type"), "text/html; charset=utf-8")
        html = reply.body.decode()
        self.assertNotIn("<script>", html)
        self.assertIn("&lt;script&gt;alert(&quot;x&quot;)&amp;.txt", html)
        self.assertIn('href="%3Cscript%3Ealert%28%22x%22%29%26.txt"', html)
        self.assertNotIn(".secret", html)
        self.assertIn('<a href="../">../</a>', html)
        positions = [
            html.index(n)
            for n in ('href="zdir/"', 'href="%3Cscript', 'href="A.txt"', 'href="b.txt"')
        ]
        self.assertEqual(positions, sorted(positions))
        self.assertIn("2 B", html)

    async def test_listing_json(self) -> None:
        self.file("d/b.txt", b"bb", mtime=OLD)
        os.makedirs(os.path.join(self.root, "d", "sub"))
        reply = await self.request("/d/", headers={"Accept": "application/json"})
        self.assertEqual(reply.header("content-type"), "application/json")
        self.assertIn("Accept", reply.header("vary") or "")
        data = json.loads(reply.body)
        self.assertEqual(data["path"], "/d/")
        self.assertEqual(data["parent"], "../")
        self.assertEqual(
            data["entries"],
            [
                {"name": "sub", "type": "directory", "size": 0,
                 "modified": data["entries"][0]["modified"], "href": "sub/"},
                {"name": "b.txt", "type": "file", "size": 2, "modified": http_date(OLD),
                 "href": "b.txt"},
            ],
        )

    async def test_no_listing(self) -> None:
        self.file("d/b.txt", b"bb")
        self.file("e/index.html", b"idx")
        self.serve(no_listing=True)
        self.assertEqual((await self.request("/d/")).code, 404)
        self.assertEqual((await self.request("/e/")).body, b"idx")

    async def test_index_replaced_by_listing_when_removed(self) -> None:
        path = self.file("d/index.html", b"idx")
        self.assertEqual((await self.request("/d/")).body, b"idx")
        os.remove(path)
        reply = await self.request("/d/")
        self.assertEqual(reply.code, 200)
        self.assertIn(b"Index of /d/", reply.body)


class SpaTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.file("index.html", b"<div id=app></div>")
        self.file("app.js", b"x=1")

    async def test_fallback(self) -> None:
        self.serve(spa=True, max_age=3600)
        reply = await self.request("/users/42/profile", headers={"Accept": "text/html,*/*"})
        self.assertEqual((reply.code, reply.body), (200, b"<div id=app></div>"))
        self.assertEqual(reply.header("cache-control"), "no-cache")
        head = await self.request("/about", headers={"Accept": "text/html"}, method="HEAD")
        self.assertEqual((head.code, head.body), (200, b""))

    async def test_never_for_assets_or_non_html(self) -> None:
        self.serve(spa=True)
        self.assertEqual(
            (await self.request("/missing.js", headers={"Accept": "text/html"})).code, 404
        )
        self.assertEqual(
            (await self.request("/about", headers={"Accept": "application/json"})).code, 404
        )
        self.assertEqual(
            (await self.request("/about", headers={"Accept": "text/html"}, method="POST")).code,
            405,
        )

    async def test_off_by_default(self) -> None:
        self.assertEqual((await self.request("/about", headers={"Accept": "text/html"})).code, 404)


class ExplainTests(StaticTestCase):
    async def test_explain_header(self) -> None:
        path = self.file("data.txt", BODY, mtime=OLD)
        etag = etag_of(path)
        self.serve(explain=True)
        cases = [
            ({}, "200 no preconditions: full 200; identity representation"),
            ({"If-None-Match": etag}, f"304 If-None-Match matched {etag}"),
            ({"If-Match": '"nope"'}, '412 If-Match failed: "nope" does not strongly match ' + etag),
            ({"Range": "bytes=0-9"}, "206 range 0-9 of identity (1000 bytes)"),
            ({"Range": "bytes=5000-"}, "416 no range-spec overlaps the representation"),
            ({"Range": "bytes=0-1", "If-Range": '"old"'},
             f'200 If-Range "old" does not match {etag}: full 200; identity representation'),
        ]
        for headers, expected in cases:
            reply = await self.request("/data.txt", headers=headers)
            self.assertEqual(reply.header("x-netlab-explain"), expected, headers)

    async def test_off_by_default(self) -> None:
        self.file("data.txt", BODY)
        self.assertIsNone((await self.request("/data.txt")).header("x-netlab-explain"))


class OptionsTests(SynchronousTestCase):
    def parse(self, *args: str) -> StaticConfig:
        return web_options(*args).web_config.static

    def test_defaults(self) -> None:
        config = self.parse()
        self.assertEqual(config, StaticConfig(root=os.path.abspath(".")))
        self.assertEqual(config.symlinks, SymlinkPolicy.INSIDE)
        self.assertEqual(config.max_ranges, 16)
        self.assertEqual(config.facts.gzip_min_size, 1024)
        self.assertTrue(config.listing)
        self.assertFalse(config.explain)

    def test_values(self) -> None:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        config = self.parse(
            "--path", directory, "--symlinks", "deny", "--max-age", "60", "--max-ranges", "4",
            "--no-listing", "--allow-dotfiles", "--spa", "--explain", "--dev",
            "--gzip-min-size", "10", "--compress-max-size", "20", "--memory-cache-size", "30",
            "--memory-file-max", "40", "--no-compress",
        )
        self.assertEqual(config, static_config(
            directory, symlinks="deny", max_age=60, max_ranges=4, no_listing=True,
            allow_dotfiles=True, spa=True, explain=True, dev=True, gzip_min_size=10,
            compress_max_size=20, memory_cache_size=30, memory_file_max=40, no_compress=True,
        ))

    def test_byte_counts_take_size_forms(self) -> None:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        config = self.parse(
            "--path", directory, "--memory-cache-size", "32m", "--memory-file-max", "128k",
            "--gzip-min-size", "0", "--compress-max-size", "1g",
        )
        self.assertEqual(
            (config.memory_cache_size, config.facts.memory_file_max,
             config.facts.gzip_min_size, config.facts.compress_max_size),
            (32 * 1024 * 1024, 128 * 1024, 0, 1024 * 1024 * 1024),
        )

    def test_bad_values(self) -> None:
        missing = os.path.abspath(self.mktemp())
        file_path = write(os.path.abspath(self.mktemp()), b"x")
        for args in (
            ("--path", missing),
            ("--path", file_path),
            ("--symlinks", "sometimes"),
            ("--max-age", "soon"),
            ("--max-ranges", "0"),
            ("--gzip-min-size", "-1"),
            ("--memory-cache-size", "lots"),
            ("--memory-file-max", "1.5m"),
        ):
            self.assertRaises(usage.UsageError, self.parse, *args)
