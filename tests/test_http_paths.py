"""Pure path rules: what may reach the file system."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.errors import PathError
from twisted_netlab.http.paths import (
    BadPathError,
    HiddenPathError,
    RequestPath,
    has_extension,
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

    def test_dot_segments_refused(self) -> None:
        for segments in ([b".."], [b"a", b".."], [b"."], [b"a", b".", b"b"]):
            with self.assertRaises(BadPathError) as ctx:
                split_request_path(segments)
            self.assertEqual(ctx.exception.status, 400)

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
