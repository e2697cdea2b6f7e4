"""Pure hotlink rules: path patterns, signed URLs, modes (referer rules: test_http_referer)."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.hotlink import (
    BAD_PATH,
    BAD_SIGNATURE,
    EXPIRED,
    MALFORMED_SIGNATURE,
    MISSING_SIGNATURE,
    OUTSIDE_PREFIX,
    UNKNOWN_KEY,
    HotlinkConfigError,
    HotlinkPolicy,
    KeyRing,
    Mode,
    PathPatterns,
    RefererPolicy,
    Verdict,
    mint_query,
    mint_url,
    parse_key_spec,
    sign,
    verify,
)
from twisted_netlab.http.segments import merge_slashes

SECRET = b"s3cret-s3cret-s3cret"
OLD = b"old-secret-old-secret"


def split(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return unquote(parts.path), parse_qs(parts.query)


class PatternTests(SynchronousTestCase):
    def test_default_media_list(self) -> None:
        patterns = PathPatterns()
        for path in ["/a.png", "/x/y/Photo.JPG", "/v.mp4", "/s.flac", "/i.svg", "/f.ico"]:
            self.assertTrue(patterns.matches(path), path)
        for path in ["/", "/index.html", "/a.png.txt", "/png", "/app.js"]:
            self.assertFalse(patterns.matches(path), path)

    def test_path_globs(self) -> None:
        patterns = PathPatterns.parse(["/private/*", "*.pdf"])
        self.assertTrue(patterns.matches("/private/a/b.txt"))
        self.assertTrue(patterns.matches("/docs/x.PDF"))
        self.assertFalse(patterns.matches("/public/a.png"))
        with self.assertRaises(HotlinkConfigError):
            PathPatterns.parse([])
        with self.assertRaises(HotlinkConfigError):
            PathPatterns.parse([" "])


class SignatureTests(SynchronousTestCase):
    keys: ClassVar[dict[str, bytes]] = {"k2": SECRET, "k1": OLD}

    def mint(
        self, path: str = "/media/a.png", **kwargs: object
    ) -> tuple[str, dict[str, list[str]]]:
        kwargs.setdefault("key_id", "k2")
        kwargs.setdefault("secret", SECRET)
        kwargs.setdefault("expires_at", 1000)
        return split(mint_url(path, **kwargs))  # type: ignore[arg-type]

    def verify(
        self, path: str, params: dict[str, list[str]], now: float = 500, **kw: float
    ) -> Verdict:
        return verify(path, params, keys=self.keys, now=now, **kw)

    def test_url_shape(self) -> None:
        url = mint_url("/media/a b.png", key_id="k2", secret=SECRET, expires_at=1000)
        sig = sign(SECRET, "k2", scope="/media/a b.png", expires_at=1000, prefix=False)
        self.assertEqual(url, f"/media/a%20b.png?exp=1000&kid=k2&sig={sig}")
        self.assertEqual(len(sig), 43)  # 32 bytes, base64url, no padding
        self.assertNotIn("=", sig)

    def test_valid(self) -> None:
        path, params = self.mint()
        self.assertEqual(self.verify(path, params), Verdict(True, "valid signature"))

    def test_non_ascii_path(self) -> None:
        path, params = self.mint("/médias/ü.png")
        self.assertEqual(path, "/médias/ü.png")
        self.assertTrue(self.verify(path, params).ok)

    def test_expiry_and_skew(self) -> None:
        path, params = self.mint()
        self.assertTrue(self.verify(path, params, now=1000).ok)
        self.assertTrue(self.verify(path, params, now=1029.9).ok)  # within the 30 s skew
        self.assertTrue(self.verify(path, params, now=1030).ok)
        self.assertEqual(self.verify(path, params, now=1030.5), Verdict(False, EXPIRED))
        self.assertEqual(self.verify(path, params, now=1001, skew=0), Verdict(False, EXPIRED))
        self.assertTrue(self.verify(path, params, now=1100, skew=120).ok)

    def test_missing_and_malformed(self) -> None:
        self.assertEqual(self.verify("/a.png", {}), Verdict(False, MISSING_SIGNATURE))
        self.assertEqual(self.verify("/a.png", {"x": ["1"]}), Verdict(False, MISSING_SIGNATURE))
        path, params = self.mint()
        for name in ["exp", "kid", "sig"]:
            partial = {k: v for k, v in params.items() if k != name}
            self.assertEqual(self.verify(path, partial), Verdict(False, MALFORMED_SIGNATURE))
        for bad_exp in ["-1", "1e3", "", "99999999999999", " 1000"]:
            self.assertEqual(
                self.verify(path, {**params, "exp": [bad_exp]}), Verdict(False, MALFORMED_SIGNATURE)
            )
        doubled = {**params, "sig": params["sig"] * 2}
        self.assertEqual(self.verify(path, doubled), Verdict(False, MALFORMED_SIGNATURE))

    def test_wrong_key_and_unknown_kid(self) -> None:
        path, params = self.mint(secret=b"another-secret-of-16")
        self.assertEqual(self.verify(path, params), Verdict(False, BAD_SIGNATURE))
        path, params = self.mint(key_id="k9")
        self.assertEqual(self.verify(path, params), Verdict(False, UNKNOWN_KEY))
        path, params = self.mint()
        swapped = {**params, "kid": ["k1"]}  # a known kid with someone else's signature
        self.assertEqual(self.verify(path, swapped), Verdict(False, BAD_SIGNATURE))

    def test_tampering(self) -> None:
        path, params = self.mint()
        self.assertEqual(self.verify("/media/b.png", params), Verdict(False, BAD_SIGNATURE))
        self.assertEqual(
            self.verify(path, {**params, "exp": ["999999"]}), Verdict(False, BAD_SIGNATURE)
        )
        # An old link with its expiry pushed back is a bad signature, not "expired".
        self.assertEqual(
            self.verify(path, {**params, "exp": ["10"]}, now=500), Verdict(False, BAD_SIGNATURE)
        )
        flipped = params["sig"][0][:-1] + ("A" if params["sig"][0][-1] != "A" else "B")
        self.assertEqual(
            self.verify(path, {**params, "sig": [flipped]}), Verdict(False, BAD_SIGNATURE)
        )
        self.assertEqual(
            self.verify(path, {**params, "sig": ["é" * 43]}), Verdict(False, BAD_SIGNATURE)
        )
        # A path signature used as a prefix signature does not verify.
        self.assertEqual(
            self.verify("/media/a.png/x", {**params, "prefix": ["/media/a.png"]}),
            Verdict(False, BAD_SIGNATURE),
        )

    def test_prefix(self) -> None:
        _, params = self.mint("/media/a.png", prefix="/media/")
        self.assertEqual(params["prefix"], ["/media/"])
        self.assertEqual(
            self.verify("/media/deep/b.mp4", params), Verdict(True, "valid signature (prefix)")
        )
        self.assertEqual(self.verify("/other/b.png", params), Verdict(False, OUTSIDE_PREFIX))
        self.assertEqual(self.verify("/media", params), Verdict(False, OUTSIDE_PREFIX))
        self.assertEqual(self.verify("/media/../secret.png", params), Verdict(False, BAD_PATH))
        self.assertEqual(
            self.verify("/media/b.png", {**params, "prefix": ["/"]}), Verdict(False, BAD_SIGNATURE)
        )

    def test_prefix_without_slash_respects_segments(self) -> None:
        _, params = self.mint("/media/a.png", prefix="/media")
        self.assertTrue(self.verify("/media/x.png", params).ok)
        self.assertTrue(self.verify("/media", params).ok)
        self.assertEqual(self.verify("/media2/x.png", params), Verdict(False, OUTSIDE_PREFIX))

    def test_empty_segments_are_merged(self) -> None:
        _, params = self.mint("/media/a.png")
        self.assertTrue(self.verify("//media//a.png", params).ok)
        self.assertEqual(merge_slashes("//a//b/"), "/a/b/")
        self.assertEqual(merge_slashes(""), "/")

    def test_rotated_keys(self) -> None:
        ring = KeyRing.from_pairs([("k1", OLD), ("k2", SECRET)], active="k2")
        self.assertEqual(ring.active, "k2")
        old_path, old_params = self.mint(key_id="k1", secret=OLD)
        new_path, new_params = self.mint(key_id=ring.active, secret=ring.keys[ring.active])
        for p, q in [(old_path, old_params), (new_path, new_params)]:
            self.assertTrue(verify(p, q, keys=ring.keys, now=0).ok)
        retired = {"k2": SECRET}
        self.assertEqual(
            verify(old_path, old_params, keys=retired, now=0), Verdict(False, UNKNOWN_KEY)
        )

    def test_mint_refuses_bad_input(self) -> None:
        for path in ["media/a.png", "/a/../b.png", "/a/\x00.png"]:
            with self.assertRaises(HotlinkConfigError, msg=path):
                mint_query(path, key_id="k", secret=SECRET, expires_at=1)
        with self.assertRaises(HotlinkConfigError):
            mint_query("/a.png", key_id="bad kid", secret=SECRET, expires_at=1)
        with self.assertRaises(HotlinkConfigError):
            mint_query("/a.png", key_id="k", secret=SECRET, expires_at=-1)
        with self.assertRaises(HotlinkConfigError):
            mint_query("/a.png", key_id="k", secret=SECRET, expires_at=10**12)
        with self.assertRaises(HotlinkConfigError):
            mint_query("/a.png", key_id="k", secret=SECRET, expires_at=1, prefix="/b/")

    def test_key_specs_and_ring(self) -> None:
        self.assertEqual(parse_key_spec("k1=" + "x" * 16), ("k1", b"x" * 16))
        self.assertEqual(parse_key_spec("k1=a=b=c-0123456789"), ("k1", b"a=b=c-0123456789"))
        for spec in ["nokey", "=" + "x" * 16, "k 1=" + "x" * 16, "k1=short"]:
            with self.assertRaises(HotlinkConfigError, msg=spec):
                parse_key_spec(spec)
        with self.assertRaises(HotlinkConfigError):
            KeyRing.from_pairs([])
        with self.assertRaises(HotlinkConfigError):
            KeyRing.from_pairs([("a", SECRET)], active="b")
        with self.assertRaises(HotlinkConfigError):
            KeyRing.from_pairs([("a", SECRET), ("a", OLD)])
        self.assertEqual(KeyRing.from_pairs([("a", SECRET), ("b", OLD)]).active, "a")

    @settings(max_examples=150, deadline=None)
    @given(
        path=st.lists(
            st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
                    min_size=1, max_size=8).filter(lambda s: s not in (".", "..")),
            min_size=1, max_size=4,
        ).map(lambda segs: "/" + "/".join(segs)),
        exp=st.integers(min_value=0, max_value=10**12 - 1),
    )  # fmt: skip
    def test_roundtrip_property(self, path: str, exp: int) -> None:
        url = mint_url(path, key_id="k2", secret=SECRET, expires_at=exp)
        got_path, params = split(url)
        self.assertEqual(got_path, merge_slashes(path))
        self.assertTrue(verify(got_path, params, keys=self.keys, now=exp).ok)
        self.assertEqual(
            verify(got_path + "x", params, keys=self.keys, now=exp), Verdict(False, BAD_SIGNATURE)
        )


class PolicyTests(SynchronousTestCase):
    referers = RefererPolicy.parse(["example.com"])
    ring = KeyRing.from_pairs([("k2", SECRET)])

    def policy(self, mode: Mode) -> HotlinkPolicy:
        return HotlinkPolicy(PathPatterns(), mode, referers=self.referers, keys=self.ring)

    def signed(self) -> dict[str, list[str]]:
        return split(mint_url("/a.png", key_id="k2", secret=SECRET, expires_at=100))[1]

    def test_unprotected(self) -> None:
        d = self.policy(Mode.BOTH).decide("/index.html", params={}, now=0, referer="http://evil/")
        self.assertEqual((d.allowed, d.protected, d.used_referer), (True, False, False))

    def test_either(self) -> None:
        p = self.policy(Mode.EITHER)
        self.assertTrue(p.decide("/a.png", params=self.signed(), now=0).allowed)
        d = p.decide("/a.png", params={}, now=0, referer="http://example.com/")
        self.assertEqual((d.allowed, d.used_referer), (True, True))
        d = p.decide("/a.png", params={}, now=0, referer="http://evil.net/")
        self.assertEqual(d.reason, "referer not allowed; signature: missing signature")
        self.assertFalse(d.allowed)

    def test_referer_only_ignores_signature(self) -> None:
        p = HotlinkPolicy(PathPatterns(), Mode.REFERER, referers=self.referers)
        self.assertFalse(p.decide("/a.png", params=self.signed(), now=0).allowed)

    def test_signed_only(self) -> None:
        p = self.policy(Mode.SIGNED)
        d = p.decide("/a.png", params={}, now=0, referer="http://example.com/")
        self.assertEqual(
            (d.allowed, d.reason, d.used_referer), (False, "signature: missing signature", False)
        )
        self.assertTrue(p.decide("/a.png", params=self.signed(), now=0).allowed)
        self.assertEqual(
            p.decide("/a.png", params=self.signed(), now=200).reason, "signature: expired"
        )

    def test_both(self) -> None:
        p = self.policy(Mode.BOTH)
        self.assertFalse(p.decide("/a.png", params=self.signed(), now=0).allowed)
        self.assertFalse(
            p.decide("/a.png", params={}, now=0, referer="http://example.com/").allowed
        )
        self.assertTrue(
            p.decide("/a.png", params=self.signed(), now=0, referer="http://example.com/").allowed
        )

    def test_config_errors(self) -> None:
        with self.assertRaises(HotlinkConfigError):
            HotlinkPolicy(PathPatterns(), Mode.EITHER, referers=self.referers)
        with self.assertRaises(HotlinkConfigError):
            HotlinkPolicy(PathPatterns(), Mode.REFERER, keys=self.ring)
        with self.assertRaises(HotlinkConfigError):
            HotlinkPolicy(PathPatterns(), Mode.SIGNED, keys=self.ring, skew=-1)
        with self.assertRaises(HotlinkConfigError):
            Mode.parse("sometimes")
        self.assertIs(Mode.parse(" Either "), Mode.EITHER)
