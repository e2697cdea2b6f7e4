"""Pure referer rules (``http/referer.py``): nginx valid_referers and Fetch Metadata."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.errors import NetlabError
from twisted_netlab.http.referer import RefererPolicy
from twisted_netlab.http.verdict import HotlinkConfigError, Verdict


class RefererMatrixTests(SynchronousTestCase):
    policy = RefererPolicy.parse(
        ["none blocked server_names", "example.com *.example.org", "static.* .cdn.net",
         "www.example.net/galleries/", r"~\.google\."]
    )  # fmt: skip

    def check(self, referer: str | None, ok: bool, reason: str | None = None) -> None:
        verdict = self.policy.check_referer(referer, server_names=["my.site"])
        self.assertEqual(verdict.ok, ok, (referer, verdict))
        if reason is not None:
            self.assertEqual(verdict.reason, reason)

    def test_none_and_blocked(self) -> None:
        self.check(None, True, "no referer")
        self.check("", True, "blocked referer")  # present but empty: nginx says blocked
        self.check("XXXXXXXXXXXXXXXXXX", True, "blocked referer")
        self.check("ftp://example.com/", True, "blocked referer")

    def test_none_and_blocked_not_listed(self) -> None:
        strict = RefererPolicy.parse(["example.com"])
        self.assertEqual(strict.check_referer(None), Verdict(False, "no referer not allowed"))
        self.assertEqual(
            strict.check_referer("----"), Verdict(False, "blocked referer not allowed")
        )
        self.assertEqual(
            strict.check_referer("http://example.com/x"), Verdict(True, "referer whitelisted")
        )

    def test_exact_host_port_and_case_insensitive(self) -> None:
        self.check("http://example.com/", True, "referer whitelisted")
        self.check("https://EXAMPLE.com:8443/page?q=1", True)
        self.check("HTTPS://example.com", True)
        self.check("http://example.com.", True)
        self.check("http://www.example.com/", False, "referer not allowed")
        self.check("http://example.com.evil.net/", False)
        self.check("http://notexample.com/", False)

    def test_leading_wildcard_is_subdomains_only(self) -> None:
        self.check("http://a.example.org/", True)
        self.check("http://a.b.example.org:81/x", True)
        self.check("http://example.org/", False)
        self.check("http://badexample.org/", False)

    def test_dot_form_is_domain_and_subdomains(self) -> None:
        self.check("http://cdn.net/", True)
        self.check("http://img.cdn.net/", True)
        self.check("http://xcdn.net/", False)

    def test_trailing_wildcard(self) -> None:
        self.check("http://static.com/", True)
        self.check("http://static.co.uk/", True)
        self.check("http://static/", False)
        self.check("http://www.static.com/", False)

    def test_uri_part_is_a_case_sensitive_prefix(self) -> None:
        self.check("http://www.example.net/galleries/", True)
        self.check("http://www.example.net:8080/galleries/cats.html", True)
        self.check("http://www.example.net/Galleries/", False)
        self.check("http://www.example.net/", False)
        self.check("http://www.example.net", False)

    def test_regex_after_scheme(self) -> None:
        self.check("https://www.GOOGLE.de/search", True)
        self.check("http://google/", False)

    def test_server_names(self) -> None:
        self.check("http://my.site:8080/index.html", True)
        self.check("http://MY.SITE/", True)
        without = RefererPolicy.parse(["example.com"])
        self.assertFalse(without.check_referer("http://my.site/", ["my.site"]).ok)

    def test_userinfo_trick(self) -> None:
        self.check("http://example.com@evil.net/", False)
        self.check("http://example.com:80@evil.net/", False)

    def test_ipv6_host(self) -> None:
        with self.assertRaises(HotlinkConfigError):
            RefererPolicy.parse(["[::1]"])
        self.check("http://[::1]:8080/", False)

    def test_bad_rules(self) -> None:
        for token in ["example.com:8080", "ex*ample.com", "*.", "a.*.b", "~(unclosed"]:
            with self.assertRaises(HotlinkConfigError, msg=token):
                RefererPolicy.parse([token])
        with self.assertRaises(HotlinkConfigError):
            RefererPolicy.parse(["  "])
        self.assertTrue(issubclass(HotlinkConfigError, NetlabError))


class FetchMetadataTests(SynchronousTestCase):
    policy = RefererPolicy.parse(["none", "blocked", "example.com"])

    def check(self, **kwargs: str | None) -> Verdict:
        kwargs.setdefault("referer", None)
        return self.policy.check_request(server_names=["my.site"], **kwargs)  # type: ignore[arg-type]

    def test_same_site_values_pass(self) -> None:
        for value in ["same-origin", "same-site", "none", "Same-Origin"]:
            verdict = self.check(sec_fetch_site=value, referer="http://evil.net/")
            self.assertTrue(verdict.ok, value)
            self.assertEqual(verdict.reason, f"sec-fetch-site {value.lower()}")

    def test_cross_site_without_referer_refused_despite_none(self) -> None:
        self.assertEqual(
            self.check(sec_fetch_site="cross-site"),
            Verdict(False, "cross-site request not whitelisted"),
        )
        self.assertFalse(self.check(sec_fetch_site="cross-site", referer="masked").ok)
        self.assertFalse(self.check(sec_fetch_site="cross-site", referer="http://evil.net/").ok)

    def test_cross_site_whitelisted_referer_or_origin(self) -> None:
        self.assertEqual(
            self.check(sec_fetch_site="cross-site", referer="https://example.com/a"),
            Verdict(True, "cross-site, referer whitelisted"),
        )
        self.assertEqual(
            self.check(sec_fetch_site="cross-site", origin="https://example.com"),
            Verdict(True, "cross-site, origin whitelisted"),
        )
        self.assertFalse(self.check(sec_fetch_site="cross-site", origin="null").ok)

    def test_origin_without_referer(self) -> None:
        self.assertEqual(
            self.check(origin="https://example.com"), Verdict(True, "origin whitelisted")
        )
        self.assertEqual(
            self.check(origin="https://evil.net"), Verdict(False, "origin not allowed")
        )
        self.assertEqual(self.check(origin="null"), Verdict(True, "opaque origin"))
        strict = RefererPolicy.parse(["none", "example.com"])
        self.assertEqual(
            strict.check_request(referer=None, origin="null"),
            Verdict(False, "opaque origin not allowed"),
        )

    def test_origin_rescues_a_bad_referer(self) -> None:
        self.assertTrue(self.check(referer="http://evil.net/", origin="http://example.com").ok)

    def test_unknown_sec_fetch_site_falls_back_to_referer(self) -> None:
        self.assertTrue(self.check(sec_fetch_site="weird").ok)  # none allowed
        self.assertFalse(self.check(sec_fetch_site="weird", referer="http://evil.net/").ok)
