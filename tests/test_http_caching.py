"""Cache-Control policy, the fingerprint rule, max-age parsing and Expires."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.caching import (
    CachePolicy,
    cache_control,
    expires_header,
    is_fingerprinted,
    max_age_of,
)
from twisted_netlab.http.validators import http_date, parse_http_date

IMMUTABLE = "public, max-age=31536000, immutable"


class FingerprintTests(SynchronousTestCase):
    def test_fingerprinted(self) -> None:
        for name in [
            "app.3f9a2c1d.js",
            "main-3F9A2C1D.css",
            "chunk.a1b2c3d4e5.js",
            "app.3f9a2c1d.min.js",
            "3f9a2c1d.js",
            "vendor.0123456789abcdef0123.js",  # webpack 20-char contenthash
            "index-BXz3k9aQ.js",  # Vite / Rollup base64url
            "index-D_gj3Xq1.js",
            "chunk-5VNEQL3T.js",  # esbuild base32
            "static/js/main.8c2f1e4b.chunk.js",
            "assets\\logo.a1b2c3d4.svg",
        ]:
            self.assertTrue(is_fingerprinted(name), name)

    def test_not_fingerprinted(self) -> None:
        for name in [
            "app.js",
            "jquery-3.7.1.min.js",
            "20240101.log",
            "2024-01-01.tar.gz",
            "deadbeef.bin",  # hex without digits
            "12345678.txt",  # digits only
            "sha256sums.txt",
            "release2024.zip",
            "windows10.iso",
            "IMG_20240101_123456.jpg",
            "DSC01234.JPG",
            "roboto-v30-latin-regular.woff2",
            "ubuntu-22.04.3-desktop-amd64.iso",
            "a1b2c3d.js",  # 7 chars
            "README",
            "",
            ".a1b2c3d4",  # dotfile: the whole name is the extension
            "x" * 200 + "1a2b3c4d",
        ]:
            self.assertFalse(is_fingerprinted(name), name)

    def test_extension_alone_is_not_a_fingerprint(self) -> None:
        self.assertFalse(is_fingerprinted("file.a1b2c3d4e5"))

    def test_directory_part_ignored(self) -> None:
        self.assertFalse(is_fingerprinted("a1b2c3d4e5/app.js"))


class CacheControlTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        policy = CachePolicy()
        self.assertEqual(cache_control(policy, "app.js", "text/javascript"), "no-cache")
        self.assertEqual(cache_control(policy, "app.3f9a2c1d.js", "text/javascript"), IMMUTABLE)
        self.assertEqual(
            cache_control(policy, "index.html", "text/html; charset=utf-8"), "no-cache"
        )

    def test_max_age(self) -> None:
        policy = CachePolicy(max_age=600)
        self.assertEqual(cache_control(policy, "logo.png", "image/png"), "public, max-age=600")
        self.assertEqual(cache_control(policy, "index.html", "text/html"), "no-cache")
        self.assertEqual(cache_control(policy, "app.3f9a2c1d.js", "text/javascript"), IMMUTABLE)

    def test_html_never_immutable(self) -> None:
        for ct in ["text/html", "TEXT/HTML; charset=utf-8", "application/xhtml+xml"]:
            self.assertEqual(cache_control(CachePolicy(), "page.a1b2c3d4.html", ct), "no-cache")

    def test_dev(self) -> None:
        policy = CachePolicy(max_age=600, dev=True)
        for name, ct in [("app.3f9a2c1d.js", "text/javascript"), ("logo.png", "image/png")]:
            self.assertEqual(cache_control(policy, name, ct), "no-cache")

    def test_custom_immutable_age(self) -> None:
        policy = CachePolicy(immutable_max_age=86400)
        self.assertEqual(
            cache_control(policy, "app.3f9a2c1d.js", "text/javascript"),
            "public, max-age=86400, immutable",
        )

    def test_negative_rejected(self) -> None:
        with self.assertRaises(ValueError):
            CachePolicy(max_age=-1)
        with self.assertRaises(ValueError):
            CachePolicy(immutable_max_age=-1)


class MaxAgeTests(SynchronousTestCase):
    def test_parse(self) -> None:
        self.assertEqual(max_age_of("public, max-age=600"), 600)
        self.assertEqual(max_age_of(IMMUTABLE), 31536000)
        self.assertEqual(max_age_of('MAX-AGE="60"'), 60)
        self.assertEqual(max_age_of("max-age = 5 , no-transform"), 5)
        self.assertIsNone(max_age_of("no-cache"))
        self.assertIsNone(max_age_of("max-age=abc"))
        self.assertIsNone(max_age_of("max-age=-1"))
        self.assertIsNone(max_age_of("s-maxage=60"))
        self.assertIsNone(max_age_of(""))

    def test_huge_max_age_capped(self) -> None:
        self.assertEqual(max_age_of("max-age=" + "9" * 5000), 2**31)
        self.assertEqual(max_age_of("max-age=4294967296"), 2**31)
        self.assertEqual(max_age_of("max-age=" + "0" * 5000 + "7"), 7)

    def test_expires(self) -> None:
        now = 784111777.0
        self.assertEqual(expires_header(now, "no-cache"), http_date(now))
        self.assertEqual(expires_header(now, "no-store"), http_date(now))
        self.assertEqual(expires_header(now, "public, max-age=0"), http_date(now))
        self.assertEqual(expires_header(now, "no-cache, max-age=600"), http_date(now))
        self.assertEqual(expires_header(now, "public, max-age=600"), http_date(now + 600))
        self.assertEqual(expires_header(now, IMMUTABLE), http_date(now + 31536000))

    @settings(max_examples=100)
    @given(st.integers(min_value=0, max_value=10**40))
    def test_expires_never_overflows(self, age: int) -> None:
        value = expires_header(1_700_000_000.0, f"max-age={age}")
        parsed = parse_http_date(value)
        assert parsed is not None
        self.assertGreaterEqual(parsed, 1_700_000_000.0)
