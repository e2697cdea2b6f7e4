"""Accept-Encoding parsing and negotiation, and the compressible-type rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.encoding import (
    SIDECARS,
    choose_encoding,
    is_compressible,
    parse_accept_encoding,
)

ALL = ["br", "zstd", "gzip", "identity"]


class ParseTests(SynchronousTestCase):
    def test_basic(self) -> None:
        self.assertEqual(
            parse_accept_encoding("gzip, deflate, br;q=0.9, *;q=0.1"),
            {"gzip": 1.0, "deflate": 1.0, "br": 0.9, "*": 0.1},
        )

    def test_case_and_whitespace(self) -> None:
        self.assertEqual(
            parse_accept_encoding(" GZip ;\tQ=0.5 ,BR"), {"gzip": 0.5, "br": 1.0}
        )

    def test_none_and_empty(self) -> None:
        self.assertEqual(parse_accept_encoding(None), {})
        self.assertEqual(parse_accept_encoding(""), {})
        self.assertEqual(parse_accept_encoding(" , ,"), {})

    def test_bad_q(self) -> None:
        self.assertEqual(
            parse_accept_encoding("gzip;q=abc, br;q=, zstd;q=nan, deflate;q=inf, x;q=0.3"),
            {"x": 0.3},
        )

    def test_q_clamped(self) -> None:
        self.assertEqual(parse_accept_encoding("gzip;q=2, br;q=-1"), {"gzip": 1.0, "br": 0.0})

    def test_other_params_ignored(self) -> None:
        self.assertEqual(parse_accept_encoding("gzip;level=9;q=0.4"), {"gzip": 0.4})

    def test_aliases_and_duplicates(self) -> None:
        self.assertEqual(parse_accept_encoding("x-gzip"), {"gzip": 1.0})
        self.assertEqual(parse_accept_encoding("gzip;q=0.2, gzip;q=0.7"), {"gzip": 0.7})

    def test_invalid_tokens_skipped(self) -> None:
        self.assertEqual(parse_accept_encoding('gz ip, "br", gzip'), {"gzip": 1.0})

    @settings(max_examples=200)
    @given(st.text())
    def test_never_raises(self, value: str) -> None:
        for coding, q in parse_accept_encoding(value).items():
            self.assertTrue(0.0 <= q <= 1.0)
            self.assertEqual(coding, coding.lower())


class ChooseTests(SynchronousTestCase):
    def test_matrix(self) -> None:
        cases: list[tuple[str | None, list[str], str | None]] = [
            (None, ALL, "identity"),
            (None, ["gzip"], "gzip"),
            (None, [], None),
            ("", ALL, "identity"),
            ("gzip", ALL, "gzip"),
            ("gzip, br", ALL, "br"),
            ("gzip, deflate, br, zstd", ALL, "br"),
            ("gzip, br;q=0.5", ALL, "gzip"),
            ("gzip;q=0.5", ALL, "gzip"),  # implicit identity ranks below listed codings
            ("gzip;q=0.001", ALL, "gzip"),
            ("gzip;q=0.5, identity", ALL, "identity"),
            ("gzip;q=0", ALL, "identity"),
            ("*", ALL, "br"),
            ("*;q=0.5, gzip", ALL, "gzip"),
            ("*;q=0", ALL, None),
            ("*;q=0", ["gzip"], None),
            ("*;q=0, identity", ALL, "identity"),
            ("*;q=0, gzip;q=0.1", ALL, "gzip"),
            ("identity;q=0", ["identity"], None),
            ("identity;q=0", ALL, None),
            ("identity;q=0, gzip", ALL, "gzip"),
            ("deflate", ALL, "identity"),
            ("deflate", ["gzip"], None),
            ("x-gzip", ALL, "gzip"),
            ("br;q=0.8, zstd;q=0.8, gzip;q=0.9", ALL, "gzip"),
            ("br;q=0.8, zstd;q=0.8", ALL, "br"),
            ("br;q=0.8, zstd;q=0.8", ["zstd", "br", "identity"], "zstd"),
            ("GZIP", ["GZIP", "identity"], "gzip"),
        ]
        failures = [
            (ae, av, choose_encoding(ae, av), want)
            for ae, av, want in cases
            if choose_encoding(ae, av) != want
        ]
        self.assertEqual(failures, [])

    @settings(max_examples=200)
    @given(st.text(), st.lists(st.sampled_from(ALL), unique=True))
    def test_result_is_available(self, header: str, available: list[str]) -> None:
        chosen = choose_encoding(header, available)
        self.assertTrue(chosen is None or chosen in available)


class CompressibleTests(SynchronousTestCase):
    def test_yes(self) -> None:
        for ct in [
            "text/html; charset=utf-8",
            "text/css",
            "text/javascript",
            "application/javascript",
            "application/json",
            "application/manifest+json",
            "application/vnd.api+json",
            "application/xml",
            "application/atom+xml",
            "image/svg+xml",
            "application/wasm",
            "font/ttf",
            "image/x-icon",
            " Text/Plain ",
        ]:
            self.assertTrue(is_compressible(ct), ct)

    def test_no(self) -> None:
        for ct in [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/avif",
            "video/mp4",
            "audio/mpeg",
            "application/zip",
            "application/gzip",
            "application/zstd",
            "application/octet-stream",
            "font/woff2",
            "font/woff",
            "",
        ]:
            self.assertFalse(is_compressible(ct), ct)

    def test_sidecars(self) -> None:
        self.assertEqual(SIDECARS, {"br": ".br", "zstd": ".zst", "gzip": ".gz"})
