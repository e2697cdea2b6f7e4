"""Pure path rules: what may reach the file system."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.errors import PathError
from twisted_netlab.http.paths import (
    BadPathError,
    HiddenPathError,
    RequestPath,
    check_proxy_path,
    has_extension,
    judged_path,
    sidecar_source,
    split_request_path,
)


class SplitTests(SynchronousTestCase):
    def test_root(self) -> None:
        self.assertEqual(split_request_path([b""]), RequestPath((), True))
        self.assertEqual(split_request_path([]), RequestPath((), True))

    def test_file_and_directory(self) -> None:
        self.assertEqual(split_request_path([b"a", b"b.txt"]), RequestPath(("a", "b.txt"), False))
        self.assertEqual(split_request_path([b"a", b"b", b""]), RequestPath(("a", "b"), True))

    def test_empty_segments_merge(self) -> None:
        self.assertEqual(split_request_path([b"a", b"", b"b"]), RequestPath(("a", "b"), False))

    def test_utf8(self) -> None:
        self.assertEqual(
            split_request_path(["é t".encode()]).segments, ("é t",)
        )

    def test_dot_dot_refused(self) -> None:
        for segments in ([b".."], [b"a", b".."], [b"a", b"..", b"b"]):
            with self.assertRaises(BadPathError) as ctx:
                split_request_path(segments)
            self.assertEqual(ctx.exception.status, 400)
            self.assertEqual(str(ctx.exception), "'..' path segments are refused")

    def test_dot_segments_removed(self) -> None:
        # Twisted decodes %2e once, so "/a/%2e/b" arrives as [b"a", b".", b"b"].
        self.assertEqual(split_request_path([b"a", b".", b"b"]), RequestPath(("a", "b"), False))
        self.assertEqual(split_request_path([b"."]), RequestPath((), True))
        self.assertEqual(split_request_path([b"a", b"."]), RequestPath(("a",), True))
        self.assertEqual(split_request_path([b"", b"a", b"", b".", b"b"]).url_path, "/a/b")

    def test_separators_nul_control_refused(self) -> None:
        # Twisted decodes once: %2F -> "/", %5C -> "\\", %00 -> NUL inside a segment.
        for segment in (b"a/b", b"..\\etc", b"a\\b", b"a\x00b", b"a\r\nb", b"\x7f"):
            self.assertRaises(BadPathError, split_request_path, [segment])

    def test_double_encoding_refused(self) -> None:
        for segment in (b"%2e%2e", b"%2E%2e", b"a%2fb", b"a%5Cb", b"a%00"):
            self.assertRaises(BadPathError, split_request_path, [segment])

    def test_literal_percent_allowed(self) -> None:
        self.assertEqual(split_request_path([b"100%.txt"]).segments, ("100%.txt",))
        self.assertEqual(split_request_path([b"%41"]).segments, ("%41",))

    def test_dotfiles_hidden(self) -> None:
        for segments in ([b".env"], [b".git", b"config"], [b"a", b".htaccess"]):
            with self.assertRaises(HiddenPathError) as ctx:
                split_request_path(segments)
            self.assertEqual(ctx.exception.status, 404)
            self.assertIsInstance(ctx.exception, PathError)

    def test_dotfiles_allowed(self) -> None:
        self.assertEqual(
            split_request_path([b".well-known", b"x"], allow_dotfiles=True).segments,
            (".well-known", "x"),
        )
        # Allowing dotfiles never allows dot segments.
        self.assertRaises(BadPathError, split_request_path, [b".."], allow_dotfiles=True)

    def test_invalid_utf8_is_not_found(self) -> None:
        self.assertRaises(HiddenPathError, split_request_path, [b"\xff\xfe"])

    def test_has_extension(self) -> None:
        self.assertTrue(has_extension("app.js"))
        self.assertTrue(has_extension("a.b.c"))
        self.assertFalse(has_extension("about"))
        self.assertFalse(has_extension(".hidden"))
        self.assertFalse(has_extension("trailing."))


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=200)
    @given(st.lists(st.binary(max_size=12), max_size=6))
    def test_accepted_names_are_plain(self, segments: list[bytes]) -> None:
        try:
            result = split_request_path(segments, allow_dotfiles=True)
        except PathError:
            return
        for name in result.segments:
            self.assertNotIn(name, ("", ".", ".."))
            for bad in ("/", "\\", "\x00"):
                self.assertNotIn(bad, name)


def _protected(*paths: str) -> Callable[[str], bool]:
    return lambda path: path in paths or path.endswith(".svg")


class JudgedPathTests(SynchronousTestCase):
    """Which path a gate judges when the server may answer with another file."""

    def test_sidecar_source(self) -> None:
        self.assertEqual(sidecar_source("/m/logo.svg.gz"), "/m/logo.svg")
        self.assertEqual(sidecar_source("/m/logo.svg.br"), "/m/logo.svg")
        self.assertEqual(sidecar_source("/m/logo.svg.zst"), "/m/logo.svg")
        self.assertIsNone(sidecar_source("/m/logo.svg"))
        self.assertIsNone(sidecar_source("/m/.gz"))
        self.assertIsNone(sidecar_source("/.gz"))
        self.assertIsNone(sidecar_source("/m.gz/"))

    def test_sidecar_judged_as_its_source(self) -> None:
        svg = RequestPath(("media", "logo.svg.gz"), False)
        self.assertEqual(judged_path(svg, _protected()), "/media/logo.svg")
        tar = RequestPath(("a.tar.gz",), False)
        self.assertEqual(judged_path(tar, _protected()), "/a.tar.gz")

    def test_directory_judged_as_itself_then_its_index(self) -> None:
        docs = RequestPath(("docs",), True)
        self.assertEqual(judged_path(docs, _protected("/docs/")), "/docs/")
        self.assertEqual(
            judged_path(docs, _protected("/docs/index.html")), "/docs/index.html"
        )
        self.assertEqual(
            judged_path(RequestPath((), True), _protected("/index.html")), "/index.html"
        )
        self.assertEqual(judged_path(docs, _protected()), "/docs/")

    def test_spa_fallback_judged_as_index(self) -> None:
        route = RequestPath(("app", "settings"), False)
        index = _protected("/index.html")
        self.assertEqual(judged_path(route, index, spa=True, accepts_html=True), "/index.html")
        self.assertEqual(judged_path(route, index, spa=False, accepts_html=True), "/app/settings")
        self.assertEqual(judged_path(route, index, spa=True, accepts_html=False), "/app/settings")
        asset = RequestPath(("app.js",), False)
        self.assertEqual(judged_path(asset, index, spa=True, accepts_html=True), "/app.js")
        # A protected request path is judged as itself (its own signature counts).
        both = _protected("/index.html", "/app/settings")
        self.assertEqual(judged_path(route, both, spa=True, accepts_html=True), "/app/settings")


class ProxyPathTests(SynchronousTestCase):
    def refused(self, path: bytes) -> str:
        with self.assertRaises(BadPathError) as ctx:
            check_proxy_path(path.split(b"/")[1:])
        self.assertEqual(ctx.exception.status, 400)
        return str(ctx.exception)

    def test_every_spelling_of_a_dot_segment(self) -> None:
        for path in (b"/..", b"/a/../b", b"/.", b"/a/./b", b"/%2e", b"/%2E%2e/x", b"/.%2e/x",
                     b"/%2e./x", b"/..;/x", b"/.;x=1/y"):
            self.assertEqual(
                self.refused(path),
                "dot segments ('.', '..' or encoded) are refused in proxied paths",
            )

    def test_encoded_separators_and_controls(self) -> None:
        for path, reason in (
            (b"/..%2f1k.txt", "encoded path separator (%2F) refused"),
            (b"/%2e%2e%2f1k.txt", "encoded path separator (%2F) refused"),
            (b"/.%2e%2f1k.txt", "encoded path separator (%2F) refused"),
            (b"/a%2Fb", "encoded path separator (%2F) refused"),
            (b"/..%5c1k.txt", "backslash (or %5C) in the path refused"),
            (b"/a\\b", "backslash (or %5C) in the path refused"),
            (b"/a%00", "control character (NUL, CR, LF, ...) in the path refused"),
            (b"/%252e%252e/x", "double percent-encoding refused"),
        ):
            self.assertEqual(self.refused(path), reason, path)

    def test_plain_paths_pass(self) -> None:
        for path in (b"/", b"/a/b.txt", b"/a//b", b"/%41bc", b"/a%20b", b"/a;b=1",
                     b"/.well-known/x", b"/..x", b"/x.."):
            check_proxy_path(path.split(b"/")[1:])

    @given(st.lists(st.binary(max_size=8), max_size=6))
    @settings(max_examples=300)
    def test_never_forwards_an_escape(self, segments: list[bytes]) -> None:
        try:
            check_proxy_path(segments)
        except BadPathError:
            return
        from urllib.parse import unquote_to_bytes
        for raw in segments:
            decoded = unquote_to_bytes(raw)
            self.assertNotIn(decoded.split(b";")[0], (b".", b".."))
            self.assertNotIn(b"/", decoded)
            self.assertNotIn(b"\\", decoded)
