"""The shared lexical rules (``http/tokens.py``) and path segments (``http/segments.py``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.segments import (
    has_dot_segment,
    join_segments,
    merge_slashes,
    path_segments,
)
from twisted_netlab.http.tokens import (
    CONNECTION_FIELDS,
    HOP_BY_HOP,
    TOKEN_BYTES,
    is_token,
    split_list,
    split_list_bytes,
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class TokenTests(SynchronousTestCase):
    def test_every_tchar_and_nothing_else(self) -> None:
        for code in range(256):
            char = chr(code)
            self.assertEqual(is_token(char), char in TCHARS, repr(char))
            self.assertEqual(
                TOKEN_BYTES.fullmatch(bytes([code])) is not None, char in TCHARS, repr(char)
            )

    def test_empty_and_trailing_newline_are_not_tokens(self) -> None:
        self.assertFalse(is_token(""))
        self.assertFalse(is_token("gzip\n"))
        self.assertIsNone(TOKEN_BYTES.fullmatch(b"gzip\n"))


class ListTests(SynchronousTestCase):
    def test_split(self) -> None:
        self.assertEqual(split_list(" a, b,,c ,"), ["a", "b", "c"])
        self.assertEqual(split_list(""), [])
        self.assertEqual(split_list_bytes(b"close, X-Foo ,"), [b"close", b"X-Foo"])

    @given(st.lists(st.text(alphabet=TCHARS, min_size=1), max_size=6))
    def test_join_then_split_round_trips(self, items: list[str]) -> None:
        self.assertEqual(split_list(", ".join(items)), items)


class HopByHopTests(SynchronousTestCase):
    def test_sets(self) -> None:
        self.assertEqual(
            HOP_BY_HOP - CONNECTION_FIELDS, {b"proxy-authenticate", b"proxy-authorization"}
        )
        self.assertIn(b"proxy-connection", CONNECTION_FIELDS)
        self.assertTrue(all(name == name.lower() for name in HOP_BY_HOP))


class SegmentTests(SynchronousTestCase):
    def test_segments(self) -> None:
        self.assertEqual(path_segments("/api//v1/"), ["api", "v1"])
        self.assertEqual(path_segments("/"), [])
        self.assertEqual(join_segments([]), "/")
        self.assertEqual(join_segments(["a", "b"], trailing_slash=True), "/a/b/")
        self.assertEqual(merge_slashes("/a//b/"), "/a/b/")
        self.assertEqual(merge_slashes("a//b"), "/a/b")
        self.assertEqual(merge_slashes(""), "/")
        self.assertTrue(has_dot_segment("/a/../b"))
        self.assertTrue(has_dot_segment("/a/./"))
        self.assertFalse(has_dot_segment("/a/..b/.c"))
