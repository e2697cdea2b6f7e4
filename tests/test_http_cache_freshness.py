"""RFC 9111 4.2.1/4.2.2 freshness, 3 storability (shared cache), 4.2.4/5.2.1 reuse."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.directives import (
    RequestDirectives,
    parse_request_directives,
    parse_response_directives,
)
from twisted_netlab.http.cache.fields import Fields, field_values
from twisted_netlab.http.cache.freshness import (
    Freshness,
    FreshnessSource,
    HeuristicPolicy,
    freshness_lifetime,
)
from twisted_netlab.http.cache.request import Reuse, ReuseKind, evaluate_reuse
from twisted_netlab.http.cache.storable import (
    SetCookiePolicy,
    StorePolicy,
    StoreVerdict,
    may_store,
)
from twisted_netlab.http.validators import http_date

DATE = 1_700_000_000.0


def _fresh(status: int, headers: Fields, cap: float = 86400.0) -> Freshness:
    directives = parse_response_directives(field_values(headers, "cache-control"))
    return freshness_lifetime(status, headers, directives, DATE, HeuristicPolicy(cap=cap))


class FreshnessTests(SynchronousTestCase):
    def test_rfc9111_4_2_1_s_maxage_over_max_age(self) -> None:
        got = _fresh(200, [("Cache-Control", "max-age=10, s-maxage=20")])
        self.assertEqual(got, Freshness(20.0, FreshnessSource.S_MAXAGE))

    def test_rfc9111_4_2_1_max_age_over_expires(self) -> None:
        got = _fresh(200, [("Cache-Control", "max-age=10"), ("Expires", http_date(DATE + 99))])
        self.assertEqual(got, Freshness(10.0, FreshnessSource.MAX_AGE))

    def test_rfc9111_4_2_1_expires_minus_date(self) -> None:
        got = _fresh(200, [("Expires", http_date(DATE + 99))])
        self.assertEqual(got, Freshness(99.0, FreshnessSource.EXPIRES))
        self.assertTrue(got.explicit)

    def test_rfc9111_5_3_invalid_expires_is_already_stale(self) -> None:
        for value in ["0", "never", "-1"]:
            got = _fresh(200, [("Expires", value), ("Last-Modified", http_date(DATE - 1e6))])
            self.assertEqual(got, Freshness(0.0, FreshnessSource.INVALID), value)

    def test_rfc9111_4_2_1_duplicate_expires_disagreeing_is_stale(self) -> None:
        got = _fresh(200, [("Expires", http_date(DATE + 5)), ("Expires", http_date(DATE + 9))])
        self.assertEqual(got.lifetime, 0.0)

    def test_rfc9111_4_2_1_expires_in_past_is_zero(self) -> None:
        self.assertEqual(_fresh(200, [("Expires", http_date(DATE - 50))]).lifetime, 0.0)

    def test_rfc9111_4_2_1_invalid_max_age_stale_even_with_expires(self) -> None:
        got = _fresh(200, [("Cache-Control", "max-age=x"), ("Expires", http_date(DATE + 50))])
        self.assertEqual(got.source, FreshnessSource.INVALID)

    def test_rfc9111_4_2_2_heuristic_ten_percent(self) -> None:
        got = _fresh(200, [("Last-Modified", http_date(DATE - 1000))])
        self.assertEqual(got, Freshness(100.0, FreshnessSource.HEURISTIC))
        self.assertFalse(got.explicit)

    def test_rfc9111_4_2_2_heuristic_capped(self) -> None:
        got = _fresh(200, [("Last-Modified", http_date(DATE - 10_000_000))], cap=3600)
        self.assertEqual(got.lifetime, 3600.0)

    def test_rfc9111_4_2_2_no_heuristic_for_non_heuristic_status(self) -> None:
        got = _fresh(302, [("Last-Modified", http_date(DATE - 1000))])
        self.assertEqual(got, Freshness(0.0, FreshnessSource.NONE))

    def test_rfc9111_4_2_2_public_allows_heuristic(self) -> None:
        got = _fresh(302, [("Cache-Control", "public"), ("Last-Modified", http_date(DATE - 1000))])
        self.assertEqual(got.lifetime, 100.0)

    def test_rfc9111_4_2_2_future_last_modified_gives_nothing(self) -> None:
        self.assertEqual(_fresh(200, [("Last-Modified", http_date(DATE + 10))]).lifetime, 0.0)

    def test_heuristic_policy_validates(self) -> None:
        with self.assertRaises(ValueError):
            HeuristicPolicy(fraction=2.0)


def _store(
    status: int = 200,
    response: Fields = (("Cache-Control", "max-age=60"),),
    request: Fields = (),
    method: str = "GET",
    policy: StorePolicy | None = None,
) -> StoreVerdict:
    return may_store(
        method,
        status,
        request,
        parse_request_directives(field_values(request, "cache-control")),
        response,
        parse_response_directives(field_values(response, "cache-control")),
        policy or StorePolicy(),
    )


class StorableTests(SynchronousTestCase):
    def test_rfc9111_3_explicit_freshness_stored(self) -> None:
        self.assertEqual(_store(), StoreVerdict(True, "storable"))

    def test_rfc9111_3_only_get_stored(self) -> None:
        for method in ("HEAD", "POST", "PUT"):
            self.assertFalse(_store(method=method).store, method)

    def test_rfc9110_15_1_heuristic_status_without_freshness_stored(self) -> None:
        for status in (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501):
            self.assertTrue(_store(status, ()).store, status)

    def test_rfc9110_15_1_other_status_needs_explicit_freshness(self) -> None:
        for status in (302, 303, 307, 500, 503):
            self.assertFalse(_store(status, ()).store, status)
            self.assertTrue(_store(status).store, status)

    def test_rfc9111_3_non_final_and_304_not_stored(self) -> None:
        self.assertFalse(_store(100).store)
        self.assertFalse(_store(304).store)

    def test_rfc9111_3_3_partial_content_not_stored(self) -> None:
        self.assertFalse(_store(206).store)
        self.assertFalse(
            _store(200, (("Cache-Control", "max-age=5"), ("Content-Range", "bytes 0-1/9"))).store
        )

    def test_rfc9111_5_2_2_5_no_store(self) -> None:
        self.assertEqual(
            _store(200, (("Cache-Control", "max-age=5, no-store"),)),
            StoreVerdict(False, "response no-store"),
        )

    def test_rfc9111_5_2_2_3_must_understand_overrides_no_store(self) -> None:
        self.assertTrue(_store(200, (("Cache-Control", "no-store, must-understand"),)).store)
        self.assertFalse(
            _store(299, (("Cache-Control", "max-age=5, no-store, must-understand"),)).store
        )

    def test_rfc9111_5_2_1_5_request_no_store(self) -> None:
        self.assertFalse(_store(request=(("Cache-Control", "no-store"),)).store)

    def test_rfc9111_5_2_2_7_private_never_stored_by_shared_cache(self) -> None:
        self.assertEqual(
            _store(200, (("Cache-Control", "private, max-age=60"),)),
            StoreVerdict(False, "response private"),
        )

    def test_rfc9111_5_2_2_7_private_field_names_omitted(self) -> None:
        got = _store(200, (("Cache-Control", 'private="X-User", max-age=60'),))
        self.assertEqual(got, StoreVerdict(True, "storable", frozenset({"x-user"})))

    def test_rfc9111_3_5_authorization_refused_by_default(self) -> None:
        auth = (("Authorization", "Basic dTpw"),)
        self.assertFalse(_store(request=auth).store)
        for allowing in ("public", "s-maxage=5", "must-revalidate, max-age=5"):
            self.assertTrue(_store(200, (("Cache-Control", allowing),), auth).store, allowing)

    def test_set_cookie_policy(self) -> None:
        response = (("Cache-Control", "max-age=5"), ("Set-Cookie", "sid=1"))
        self.assertFalse(_store(200, response).store)
        strip = _store(200, response, policy=StorePolicy(SetCookiePolicy.STRIP))
        self.assertEqual(strip, StoreVerdict(True, "storable", frozenset({"set-cookie"})))
        keep = _store(200, response, policy=StorePolicy(SetCookiePolicy.STORE))
        self.assertEqual(keep, StoreVerdict(True, "storable"))

    def test_rfc9111_4_1_vary_star_not_stored(self) -> None:
        self.assertFalse(_store(200, (("Cache-Control", "max-age=5"), ("Vary", "a, *"))).store)


def _reuse(age: float, lifetime: float, request: str = "", response: str = "") -> Reuse:
    return evaluate_reuse(
        age,
        lifetime,
        parse_request_directives([request] if request else []),
        parse_response_directives([response] if response else []),
    )


class ReuseTests(SynchronousTestCase):
    def test_rfc9111_4_2_fresh(self) -> None:
        self.assertEqual(_reuse(5, 10), Reuse(ReuseKind.FRESH, "fresh"))

    def test_rfc9111_4_2_age_equal_lifetime_is_stale(self) -> None:
        self.assertEqual(_reuse(10, 10).kind, ReuseKind.VALIDATE)

    def test_rfc9111_5_2_1_1_request_max_age(self) -> None:
        self.assertEqual(_reuse(6, 100, "max-age=5").kind, ReuseKind.VALIDATE)
        self.assertEqual(_reuse(5, 100, "max-age=5").kind, ReuseKind.FRESH)

    def test_rfc9111_5_2_1_3_min_fresh(self) -> None:
        self.assertEqual(_reuse(5, 10, "min-fresh=6").kind, ReuseKind.VALIDATE)
        self.assertEqual(_reuse(5, 10, "min-fresh=5").kind, ReuseKind.FRESH)

    def test_rfc9111_5_2_1_2_max_stale_with_value(self) -> None:
        self.assertEqual(_reuse(15, 10, "max-stale=5"), Reuse(
            ReuseKind.STALE_OK, "stale within request max-stale=5", 5.0))
        self.assertEqual(_reuse(16, 10, "max-stale=5").kind, ReuseKind.VALIDATE)

    def test_rfc9111_5_2_1_2_max_stale_without_value(self) -> None:
        self.assertEqual(_reuse(1e6, 10, "max-stale").kind, ReuseKind.STALE_OK)

    def test_rfc9111_5_2_1_4_request_no_cache(self) -> None:
        self.assertEqual(
            _reuse(0, 10, "no-cache"),
            Reuse(ReuseKind.VALIDATE, "request no-cache", by_request=True),
        )

    def test_rfc9111_5_2_2_4_response_no_cache(self) -> None:
        self.assertEqual(_reuse(0, 10, "", "no-cache").kind, ReuseKind.VALIDATE)

    def test_rfc9111_5_2_2_2_must_revalidate_beats_max_stale(self) -> None:
        for response in ("must-revalidate", "proxy-revalidate", "s-maxage=10"):
            self.assertEqual(_reuse(15, 10, "max-stale", response).kind, ReuseKind.VALIDATE)

    def test_request_directives_default_is_neutral(self) -> None:
        self.assertEqual(
            evaluate_reuse(1, 2, RequestDirectives(), parse_response_directives([])).kind,
            ReuseKind.FRESH,
        )


class CookieRequestTests(SynchronousTestCase):
    cookie = (("Cookie", "sid=alice"),)

    def test_cookie_request_refused_unless_public_s_maxage_or_vary_cookie(self) -> None:
        self.assertEqual(
            _store(request=self.cookie),
            StoreVerdict(False, "request carried Cookie without public, s-maxage or Vary: Cookie"),
        )
        for response in (
            (("Cache-Control", "public, max-age=5"),),
            (("Cache-Control", "s-maxage=5"),),
            (("Cache-Control", "max-age=5"), ("Vary", "Accept, COOKIE")),
        ):
            self.assertTrue(_store(200, response, self.cookie).store, response)

    def test_cookie_request_policy_opt_in(self) -> None:
        policy = StorePolicy(cookie_requests=True)
        self.assertTrue(_store(request=self.cookie, policy=policy).store)
