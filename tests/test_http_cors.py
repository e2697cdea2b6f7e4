"""Pure CORS decisions: origins, preflights, actual requests, configuration errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cors import (
    CorsConfigError,
    CorsPolicy,
    actual_response_headers,
    is_preflight,
    normalize_origin,
    parse_header_list,
    preflight_response,
)

APP = "http://app.example:3000"


class NormalizeOriginTests(SynchronousTestCase):
    def test_canonical_forms(self) -> None:
        self.assertEqual(normalize_origin("HTTP://App.Example:3000"), APP)
        self.assertEqual(normalize_origin("http://a.example:80"), "http://a.example")
        self.assertEqual(normalize_origin("https://a.example:443/"), "https://a.example")
        self.assertEqual(normalize_origin("https://a.example:8443"), "https://a.example:8443")
        self.assertEqual(normalize_origin("http://[::1]:8080"), "http://[::1]:8080")
        self.assertEqual(normalize_origin("*"), "*")
        self.assertEqual(normalize_origin("null"), "null")

    def test_refused(self) -> None:
        for bad in [
            "app.example", "http://", "http://a.example/path", "http://a.example?x",
            "http://u@a.example", "http://a.example:0", "http://a.example:99999",
            "http://a.example:x", "http://a.example:", "1http://a", "http://[::1",
            "http://a b", "",
        ]:
            with self.assertRaises(CorsConfigError, msg=bad):
                normalize_origin(bad)


class PolicyTests(SynchronousTestCase):
    def test_star_with_credentials_is_refused(self) -> None:
        with self.assertRaises(CorsConfigError) as caught:
            CorsPolicy.build(["*"], credentials=True)
        self.assertIn("credentials", str(caught.exception))

    def test_bad_values_refused(self) -> None:
        with self.assertRaises(CorsConfigError):
            CorsPolicy.build([])
        with self.assertRaises(CorsConfigError):
            CorsPolicy.build([APP], headers=["X Bad"])
        with self.assertRaises(CorsConfigError):
            CorsPolicy.build([APP], max_age=-1)

    def test_origin_matching(self) -> None:
        policy = CorsPolicy.build([APP])
        self.assertTrue(policy.allows_origin(APP))
        self.assertTrue(policy.allows_origin("HTTP://APP.example:3000"))
        self.assertFalse(policy.allows_origin("http://app.example:3001"))
        self.assertFalse(policy.allows_origin("https://app.example:3000"))
        self.assertFalse(policy.allows_origin("http://app.example:3000.evil.example"))
        self.assertFalse(policy.allows_origin("null"))
        self.assertFalse(policy.allows_origin("garbage"))
        self.assertFalse(policy.allows_origin(None))

    def test_null_only_when_configured(self) -> None:
        self.assertTrue(CorsPolicy.build(["null"]).allows_origin("null"))
        self.assertFalse(CorsPolicy.build(["null"]).allows_origin(APP))


class IsPreflightTests(SynchronousTestCase):
    def test_needs_options_origin_and_method(self) -> None:
        full = {"origin": APP, "access-control-request-method": "PUT"}
        self.assertTrue(is_preflight("OPTIONS", full))
        self.assertTrue(
            is_preflight("OPTIONS", {"Origin": APP, "Access-Control-Request-Method": "PUT"})
        )
        self.assertFalse(is_preflight("GET", full))
        self.assertFalse(is_preflight("options", full))
        self.assertFalse(is_preflight("OPTIONS", {"origin": APP}))
        self.assertFalse(is_preflight("OPTIONS", {"access-control-request-method": "PUT"}))


class PreflightTests(SynchronousTestCase):
    def test_allowed_exact_headers(self) -> None:
        policy = CorsPolicy.build([APP], credentials=True, max_age=120)
        self.assertEqual(
            preflight_response(policy, APP, "PUT", "Content-Type, x-requested-with"),
            [
                ("Access-Control-Allow-Origin", APP),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE"),
                ("Access-Control-Allow-Headers", "content-type, x-requested-with"),
                ("Access-Control-Max-Age", "120"),
                ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            ],
        )

    def test_echoes_received_origin_spelling(self) -> None:
        policy = CorsPolicy.build(["http://app.example:3000"])
        headers = preflight_response(policy, "http://APP.example:3000", "GET", None)
        assert headers is not None
        self.assertEqual(headers[0], ("Access-Control-Allow-Origin", "http://APP.example:3000"))
        self.assertNotIn("Access-Control-Allow-Headers", dict(headers))
        self.assertNotIn("Access-Control-Allow-Credentials", dict(headers))

    def test_refusals(self) -> None:
        policy = CorsPolicy.build([APP], methods=["PUT"])
        self.assertIsNone(preflight_response(policy, "http://other.example", "PUT", None))
        self.assertIsNone(preflight_response(policy, None, "PUT", None))
        self.assertIsNone(preflight_response(policy, APP, "DELETE", None))
        self.assertIsNone(preflight_response(policy, APP, "put", None))  # case-sensitive
        self.assertIsNone(preflight_response(policy, APP, "", None))
        self.assertIsNone(preflight_response(policy, APP, "PUT", "x-custom"))
        self.assertIsNone(preflight_response(policy, APP, "PUT", "bad header"))

    def test_safelisted_methods_always_allowed(self) -> None:
        policy = CorsPolicy.build([APP], methods=["PUT"])
        headers = preflight_response(policy, APP, "POST", "content-type")
        assert headers is not None
        self.assertEqual(dict(headers)["Access-Control-Allow-Methods"], "PUT, POST")

    def test_star_headers_and_methods_mirror(self) -> None:
        policy = CorsPolicy.build([APP], methods=["*"], headers=["*"])
        headers = preflight_response(policy, APP, "PURGE", "X-One, x-two")
        assert headers is not None
        self.assertEqual(dict(headers)["Access-Control-Allow-Methods"], "PURGE")
        self.assertEqual(dict(headers)["Access-Control-Allow-Headers"], "x-one, x-two")

    def test_public_policy(self) -> None:
        policy = CorsPolicy.build(["*"], max_age=None)
        self.assertEqual(
            preflight_response(policy, "http://any.example", "GET", None),
            [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE"),
                ("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers"),
            ],
        )


class ActualTests(SynchronousTestCase):
    def test_allowed_with_credentials_and_expose(self) -> None:
        policy = CorsPolicy.build([APP], credentials=True, expose=["X-Total", "ETag"])
        self.assertEqual(
            actual_response_headers(policy, APP),
            [
                ("Access-Control-Allow-Origin", APP),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Expose-Headers", "X-Total, ETag"),
                ("Vary", "Origin"),
            ],
        )

    def test_refused_origin_gets_only_vary(self) -> None:
        policy = CorsPolicy.build([APP])
        self.assertEqual(
            actual_response_headers(policy, "http://evil.example"), [("Vary", "Origin")]
        )
        self.assertEqual(actual_response_headers(policy, None), [("Vary", "Origin")])

    def test_public(self) -> None:
        policy = CorsPolicy.build(["*"])
        self.assertEqual(
            actual_response_headers(policy, "http://x.example"),
            [("Access-Control-Allow-Origin", "*")],
        )
        self.assertEqual(actual_response_headers(policy, None), [])


class HeaderListTests(SynchronousTestCase):
    def test_parse(self) -> None:
        self.assertEqual(parse_header_list(" A-b ,, c ,a-B"), ["a-b", "c"])
        self.assertEqual(parse_header_list(None), [])
        self.assertIsNone(parse_header_list("a, b c"))

    @settings(max_examples=200)
    @given(st.text(max_size=40))
    def test_never_raises_and_only_tokens(self, value: str) -> None:
        names = parse_header_list(value)
        if names is not None:
            for name in names:
                self.assertRegex(name, r"^[!#$%&'*+\-.^_`|~0-9a-z]+$")

    @settings(max_examples=200)
    @given(st.text(max_size=40))
    def test_origin_matching_never_raises(self, origin: str) -> None:
        policy = CorsPolicy.build([APP])
        allowed = policy.allows_origin(origin)
        self.assertEqual(allowed, allowed and normalize_origin(origin) == APP)
