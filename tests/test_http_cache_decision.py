"""The decision core: lookup / admit / freshen / stale_on_error, end to end on values."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.age import AgeInputs
from twisted_netlab.http.cache.cache_status import CacheStatus, FwdReason
from twisted_netlab.http.cache.decision import (
    Admission,
    CacheConfig,
    Forward,
    GatewayTimeout,
    Hit,
    Revalidate,
    Stale,
    admit,
    freshen,
    lookup,
    served_headers,
    stale_on_error,
)
from twisted_netlab.http.cache.entry import EntryMeta, Stored, primary_key
from twisted_netlab.http.cache.fields import Fields
from twisted_netlab.http.cache.storable import SetCookiePolicy, StorePolicy
from twisted_netlab.http.validators import http_date

T0 = 1_700_000_000.0
KEY = "http://origin.test/item"


def _entry(
    response: Fields,
    request: Fields = (),
    status: int = 200,
    ident: str = "e1",
    config: CacheConfig | None = None,
) -> Stored:
    headers = (("Date", http_date(T0)), *response)
    admission = admit(KEY, "GET", request, status, headers, T0, T0, config or CacheConfig())
    assert admission.meta is not None, admission.reason
    return Stored(ident, admission.meta)


class LookupTests(SynchronousTestCase):
    def test_rfc9111_4_uri_miss(self) -> None:
        self.assertEqual(lookup("GET", [], T0, []), Forward(FwdReason.URI_MISS, "not stored"))

    def test_rfc9111_4_unsafe_method_forwarded(self) -> None:
        got = lookup("POST", [], T0, [_entry([("Cache-Control", "max-age=60")])])
        self.assertIsInstance(got, Forward)
        assert isinstance(got, Forward)
        self.assertEqual(got.fwd, FwdReason.METHOD)

    def test_rfc9111_4_2_fresh_hit_with_age_and_ttl(self) -> None:
        entry = _entry([("Cache-Control", "max-age=60"), ("ETag", '"a"')])
        got = lookup("GET", [], T0 + 10, [entry])
        self.assertEqual(
            got,
            Hit(
                entry,
                (
                    ("Date", http_date(T0)),
                    ("Cache-Control", "max-age=60"),
                    ("ETag", '"a"'),
                    ("Age", "10"),
                ),
                CacheStatus(hit=True, ttl=50),
            ),
        )

    def test_rfc9110_9_3_2_head_answered_from_stored_get(self) -> None:
        entry = _entry([("Cache-Control", "max-age=60")])
        self.assertIsInstance(lookup("HEAD", [], T0 + 1, [entry]), Hit)

    def test_rfc9111_4_2_3_upstream_age_counts(self) -> None:
        entry = _entry([("Cache-Control", "max-age=60"), ("Age", "55")])
        self.assertIsInstance(lookup("GET", [], T0 + 4, [entry]), Hit)
        got = lookup("GET", [], T0 + 5, [entry])
        self.assertIsInstance(got, Revalidate)

    def test_rfc9111_4_3_1_stale_revalidates_with_validators(self) -> None:
        lm = http_date(T0 - 100)
        entry = _entry([("Cache-Control", "max-age=5"), ("ETag", '"v"'), ("Last-Modified", lm)])
        got = lookup("GET", [], T0 + 6, [entry])
        self.assertEqual(
            got,
            Revalidate(
                (entry,),
                (("If-None-Match", '"v"'), ("If-Modified-Since", lm)),
                FwdReason.STALE,
                "stale",
            ),
        )

    def test_rfc9111_5_2_1_4_request_no_cache_revalidates_fresh(self) -> None:
        entry = _entry([("Cache-Control", "max-age=60"), ("ETag", '"v"')])
        got = lookup("GET", [("Cache-Control", "no-cache")], T0, [entry])
        assert isinstance(got, Revalidate)
        self.assertEqual(
            (got.fwd, got.conditional), (FwdReason.REQUEST, (("If-None-Match", '"v"'),))
        )

    def test_rfc9111_5_4_pragma_no_cache_revalidates(self) -> None:
        entry = _entry([("Cache-Control", "max-age=60"), ("ETag", '"v"')])
        self.assertIsInstance(lookup("GET", [("Pragma", "no-cache")], T0, [entry]), Revalidate)

    def test_rfc9111_5_2_1_2_max_stale_serves_stale(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5"), ("ETag", '"v"')])
        got = lookup("GET", [("Cache-Control", "max-stale=10")], T0 + 12, [entry])
        assert isinstance(got, Stale)
        self.assertEqual(
            (got.background, got.status),
            (False, CacheStatus(hit=True, ttl=-7, detail="max-stale")),
        )

    def test_rfc9111_5_2_1_7_only_if_cached_miss_is_504(self) -> None:
        got = lookup("GET", [("Cache-Control", "only-if-cached")], T0, [])
        self.assertIsInstance(got, GatewayTimeout)
        entry = _entry([("Cache-Control", "max-age=5"), ("ETag", '"v"')])
        stale = lookup("GET", [("Cache-Control", "only-if-cached")], T0 + 9, [entry])
        self.assertIsInstance(stale, GatewayTimeout)
        fresh = lookup("GET", [("Cache-Control", "only-if-cached")], T0 + 1, [entry])
        self.assertIsInstance(fresh, Hit)

    def test_rfc5861_3_stale_while_revalidate_serves_and_revalidates(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5, stale-while-revalidate=10"), ("ETag", '"v"')])
        got = lookup("GET", [], T0 + 8, [entry])
        assert isinstance(got, Stale)
        self.assertEqual((got.background, got.revalidate), (True, (("If-None-Match", '"v"'),)))
        self.assertIsInstance(lookup("GET", [], T0 + 16, [entry]), Revalidate)

    def test_rfc9111_4_1_vary_selects_variant_or_misses(self) -> None:
        gzip = _entry(
            [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")],
            [("Accept-Encoding", "gzip")],
        )
        self.assertIsInstance(lookup("GET", [("Accept-Encoding", "GZIP")], T0, [gzip]), Hit)
        miss = lookup("GET", [("Accept-Encoding", "br")], T0, [gzip])
        self.assertEqual(
            miss,
            Forward(FwdReason.VARY_MISS, "no stored response matches the Vary request headers"),
        )

    def test_rfc9111_4_most_recent_matching_response_chosen(self) -> None:
        old = _entry([("Cache-Control", "max-age=60")], ident="old")
        new = Stored("new", EntryMeta(KEY, 200, (), (), AgeInputs(T0, 0, T0 + 1, T0 + 1), 60.0))
        got = lookup("GET", [], T0 + 2, [old, new])
        assert isinstance(got, Hit)
        self.assertEqual(got.entry.ident, "new")

    def test_rfc9111_5_2_2_4_no_cache_fields_not_served_unvalidated(self) -> None:
        entry = _entry([("Cache-Control", 'max-age=60, no-cache="X-Secret"'), ("X-Secret", "s")])
        got = lookup("GET", [], T0, [entry])
        assert isinstance(got, Hit)
        self.assertEqual([n for n, _ in got.headers], ["Date", "Cache-Control", "Age"])
        validated = served_headers(entry.meta, T0, validated=True)
        self.assertIn(("X-Secret", "s"), validated)


class AdmitTests(SynchronousTestCase):
    def test_rfc9111_3_1_hop_by_hop_and_age_not_stored(self) -> None:
        got = admit(
            KEY, "GET", [], 200,
            [("Cache-Control", "max-age=9"), ("Connection", "x-hop"), ("X-Hop", "1"),
             ("Keep-Alive", "5"), ("Age", "3"), ("X-Kept", "y")],
            T0, T0,
        )
        assert got.meta is not None
        self.assertEqual(got.meta.headers, (("Cache-Control", "max-age=9"), ("X-Kept", "y")))
        self.assertEqual(got.meta.age, AgeInputs(T0, 3, T0, T0))
        self.assertEqual(got.reason, "stored (max-age)")

    def test_rfc9111_3_refusal_carries_reason(self) -> None:
        self.assertEqual(
            admit(KEY, "GET", [], 200, [("Cache-Control", "private")], T0, T0),
            Admission(False, "response private", None),
        )

    def test_stale_on_arrival_without_validator_not_stored(self) -> None:
        got = admit(KEY, "GET", [], 200, [("Cache-Control", "max-age=0")], T0, T0)
        self.assertFalse(got.store)
        kept = admit(KEY, "GET", [], 200, [("Cache-Control", "max-age=0"), ("ETag", '"e"')], T0, T0)
        self.assertTrue(kept.store)

    def test_no_cache_without_validator_not_stored(self) -> None:
        got = admit(KEY, "GET", [], 200, [("Cache-Control", "max-age=60, no-cache")], T0, T0)
        self.assertEqual(
            got.reason, "no-cache without a validator: every reuse would be a full fetch"
        )
        kept = admit(KEY, "GET", [], 200,
                     [("Cache-Control", "max-age=60, no-cache"), ("ETag", '"e"')], T0, T0)
        self.assertTrue(kept.store)

    def test_rfc9111_4_4_unsafe_method_invalidates(self) -> None:
        got = admit(KEY, "POST", [], 303,
                    [("Location", "/other"), ("Content-Location", "//evil/x")], T0, T0)
        self.assertEqual(got.invalidate, (KEY, "http://origin.test/other"))
        self.assertFalse(got.store)

    def test_set_cookie_strip_policy(self) -> None:
        config = CacheConfig(store=StorePolicy(SetCookiePolicy.STRIP))
        entry = _entry([("Cache-Control", "max-age=9"), ("Set-Cookie", "a=1")], config=config)
        self.assertEqual([n for n, _ in entry.meta.headers], ["Date", "Cache-Control"])

    def test_private_fields_omitted_from_store(self) -> None:
        entry = _entry([("Cache-Control", 'max-age=9, private="X-User"'), ("X-User", "bob")])
        self.assertEqual([n for n, _ in entry.meta.headers], ["Date", "Cache-Control"])

    def test_primary_key_normalises_origin_only(self) -> None:
        self.assertEqual(primary_key("HTTP://Origin.TEST:80/A?B#f"), "http://origin.test/A?B")
        self.assertEqual(primary_key("https://h:8443"), "https://h:8443/")
        self.assertEqual(primary_key("http://[::1]:80/x"), "http://[::1]/x")
        with self.assertRaises(ValueError):
            primary_key("http://h:port/")


class FreshenTests(SynchronousTestCase):
    def test_rfc9111_4_3_4_304_updates_headers_and_freshness(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5"), ("ETag", '"v"'), ("Content-Length", "3")])
        later = T0 + 100
        updated = freshen(
            [entry],
            [("ETag", '"v"'), ("Cache-Control", "max-age=50"), ("Date", http_date(later)),
             ("Content-Length", "0")],
            later, later,
        )
        self.assertEqual(len(updated), 1)
        meta = updated[0].meta
        self.assertEqual(updated[0].ident, "e1")
        self.assertEqual(meta.lifetime, 50.0)
        self.assertIn(("Content-Length", "3"), meta.headers)
        self.assertIn(("Cache-Control", "max-age=50"), meta.headers)
        self.assertIsInstance(lookup("GET", [], later + 10, updated), Hit)

    def test_rfc9111_4_3_4_mismatched_validator_updates_nothing(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5"), ("ETag", '"v"')])
        self.assertEqual(freshen([entry], [("ETag", '"other"')], T0, T0), [])

    def test_304_adding_no_store_drops_entry(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5"), ("ETag", '"v"')])
        self.assertEqual(
            freshen([entry], [("ETag", '"v"'), ("Cache-Control", "no-store")], T0, T0), []
        )


class StaleOnErrorTests(SynchronousTestCase):
    def test_rfc5861_4_stale_if_error_window(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5, stale-if-error=60"), ("ETag", '"v"')])
        served = stale_on_error(entry, [], T0 + 30, None)
        assert served is not None
        self.assertEqual(served.status, CacheStatus(hit=True, ttl=-25, detail="stale-if-error"))
        self.assertIsNotNone(stale_on_error(entry, [], T0 + 30, 503))
        self.assertIsNone(stale_on_error(entry, [], T0 + 30, 404))
        self.assertIsNone(stale_on_error(entry, [], T0 + 66, None))

    def test_rfc9111_5_2_2_2_must_revalidate_means_504_not_stale(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5, must-revalidate, stale-if-error=60"),
                        ("ETag", '"v"')])
        self.assertIsNone(stale_on_error(entry, [], T0 + 30, None))

    def test_request_stale_if_error(self) -> None:
        entry = _entry([("Cache-Control", "max-age=5"), ("ETag", '"v"')])
        self.assertIsNone(stale_on_error(entry, [], T0 + 30, 502))
        self.assertIsNotNone(stale_on_error(entry, [("Cache-Control", "stale-if-error=100")],
                                            T0 + 30, 502))
