"""Traversal, encoded separators, NUL, dotfiles and symlink policies, over raw sockets.

Raw request lines, because HTTP clients (treq, hyperlink) normalise ``..`` and
percent-encoding before sending.
"""

from __future__ import annotations

import os

from tests.static_support import StaticTestCase, raw_header, status_of

SECRET = b"TOP SECRET outside the root\n"


class TraversalTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        # The secret sits next to the root: any escape would reach it.
        self.secret = os.path.join(os.path.dirname(self.root), "secret.txt")
        with open(self.secret, "wb") as handle:
            handle.write(SECRET)
        self.file("sub/ok.txt", b"ok")
        self.file("a%2fb", b"literal name")

    async def assert_refused(self, target: bytes, status: int) -> None:
        raw = await self.raw_get(target)
        self.assertEqual(status_of(raw), status, (target, raw[:200]))
        self.assertNotIn(SECRET, raw)

    async def test_dot_segments(self) -> None:
        for target in (
            b"/../secret.txt",
            b"/sub/../../secret.txt",
            b"/%2e%2e/secret.txt",
            b"/%2E%2E/secret.txt",
            b"/sub/%2e%2e/%2e%2e/secret.txt",
            b"/sub/.%2e/ok.txt",
            b"/sub/..",
        ):
            await self.assert_refused(target, 400)

    async def test_encoded_separators_backslash_nul(self) -> None:
        for target in (
            b"/sub%2f..%2f..%2fsecret.txt",
            b"/sub%2Fok.txt",
            b"/..%5csecret.txt",
            b"/sub%5Cok.txt",
            b"/sub\\ok.txt",
            b"/ok.txt%00.png",
            b"/sub/ok.txt%0a",
        ):
            await self.assert_refused(target, 400)

    async def test_double_encoding(self) -> None:
        for target in (b"/%252e%252e/secret.txt", b"/sub%252fok.txt", b"/x%2500"):
            await self.assert_refused(target, 400)

    async def test_dot_and_empty_segments_name_the_same_file(self) -> None:
        for target in (b"/./sub/ok.txt", b"//sub//ok.txt", b"/sub/%2e/ok.txt", b"/sub/./ok.txt"):
            raw = await self.raw_get(target)
            self.assertEqual(status_of(raw), 200, target)
            self.assertTrue(raw.endswith(b"\r\n\r\nok"), target)

    async def test_refusal_is_short_plain_text(self) -> None:
        raw = await self.raw_get(b"/sub/..%2f..%2fsecret.txt")
        self.assertEqual(status_of(raw), 400)
        self.assertEqual(raw_header(raw, b"content-type"), b"text/plain; charset=utf-8")
        self.assertTrue(
            raw.endswith(b"\r\n\r\n400 Bad Request: encoded path separator (%2F) refused\n"), raw
        )
        raw = await self.raw_get(b"/sub/%2e%2e/ok.txt")
        self.assertTrue(
            raw.endswith(b"\r\n\r\n400 Bad Request: '..' path segments are refused\n"), raw
        )
        self.assertNotIn(b"b'", raw)

    async def test_encoded_normal_names_work(self) -> None:
        raw = await self.raw_get(b"/s%75b/ok.txt")
        self.assertEqual(status_of(raw), 200)
        self.assertTrue(raw.endswith(b"\r\n\r\nok"))

    async def test_dotfiles_hidden(self) -> None:
        self.file(".env", b"PASSWORD=1")
        self.file(".git/config", b"[core]")
        for target in (b"/.env", b"/.git/config", b"/.git/", b"/%2eenv"):
            await self.assert_refused(target, 404)
        self.serve(allow_dotfiles=True)
        raw = await self.raw_get(b"/.env")
        self.assertEqual(status_of(raw), 200)
        self.assertTrue(raw.endswith(b"PASSWORD=1"))


class SymlinkTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.outside = os.path.abspath(self.mktemp())
        os.makedirs(self.outside)
        with open(os.path.join(self.outside, "secret.txt"), "wb") as handle:
            handle.write(SECRET)
        self.file("real/inside.txt", b"inside")
        os.symlink(
            os.path.join(self.root, "real", "inside.txt"), os.path.join(self.root, "link-in.txt")
        )
        os.symlink(
            os.path.join(self.outside, "secret.txt"), os.path.join(self.root, "link-out.txt")
        )
        os.symlink(self.outside, os.path.join(self.root, "dir-out"))
        os.symlink(os.path.join(self.root, "real"), os.path.join(self.root, "dir-in"))

    async def code_and_body(self, target: bytes) -> tuple[int, bytes]:
        raw = await self.raw_get(target)
        return status_of(raw), raw.partition(b"\r\n\r\n")[2]

    async def test_inside_default(self) -> None:
        self.assertEqual(await self.code_and_body(b"/link-in.txt"), (200, b"inside"))
        self.assertEqual(await self.code_and_body(b"/dir-in/inside.txt"), (200, b"inside"))
        for target in (b"/link-out.txt", b"/dir-out/secret.txt"):
            status, body = await self.code_and_body(target)
            self.assertEqual(status, 404, target)
            self.assertNotIn(SECRET, body)

    async def test_deny(self) -> None:
        self.serve(symlinks="deny")
        for target in (
            b"/link-in.txt", b"/dir-in/inside.txt", b"/link-out.txt", b"/dir-out/secret.txt"
        ):
            status, _ = await self.code_and_body(target)
            self.assertEqual(status, 404, target)
        self.assertEqual(await self.code_and_body(b"/real/inside.txt"), (200, b"inside"))

    async def test_follow(self) -> None:
        self.serve(symlinks="follow")
        self.assertEqual(await self.code_and_body(b"/link-out.txt"), (200, SECRET))
        self.assertEqual(await self.code_and_body(b"/dir-out/secret.txt"), (200, SECRET))

    async def test_index_symlink_escape_not_served(self) -> None:
        os.makedirs(os.path.join(self.root, "site"))
        os.symlink(
            os.path.join(self.outside, "secret.txt"),
            os.path.join(self.root, "site", "index.html"),
        )
        status, body = await self.code_and_body(b"/site/")
        self.assertEqual(status, 200)
        self.assertNotIn(SECRET, body)
        self.assertIn(b"Index of /site/", body)
        self.assertNotIn(b"index.html", body)  # the listing hides it too

    async def test_listing_applies_policy(self) -> None:
        _, body = await self.code_and_body(b"/")
        self.assertIn(b'href="link-in.txt"', body)
        self.assertIn(b'href="dir-in/"', body)
        self.assertNotIn(b"link-out", body)
        self.assertNotIn(b"dir-out", body)
        self.serve(symlinks="deny")
        _, body = await self.code_and_body(b"/")
        self.assertNotIn(b"link-in", body)
        self.assertIn(b'href="real/"', body)

    async def test_retargeted_symlink_rechecked(self) -> None:
        link = os.path.join(self.root, "moving.txt")
        os.symlink(os.path.join(self.root, "real", "inside.txt"), link)
        self.assertEqual(await self.code_and_body(b"/moving.txt"), (200, b"inside"))
        os.remove(link)
        os.symlink(os.path.join(self.outside, "secret.txt"), link)
        status, body = await self.code_and_body(b"/moving.txt")
        self.assertEqual(status, 404)
        self.assertNotIn(SECRET, body)

    async def test_redirect_location_is_local(self) -> None:
        raw = await self.raw_get(b"/real?x=%0d%0a")
        self.assertEqual(status_of(raw), 301)
        self.assertEqual(raw_header(raw, b"location"), b"/real/?x=%0d%0a")
