"""RFC 9111 4.3.2 client conditionals on stored responses; RFC 9211 status fields."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.cache_status import CacheStatus, FwdReason
from twisted_netlab.http.cache.decision import admit
from twisted_netlab.http.cache.serve import (
    client_conditional,
    forwarded_status,
    status_fields,
    validated_status,
)
from twisted_netlab.http.validators import http_date

T0 = 1_700_000_000.0
KEY = "http://origin.test/x"


def _meta_headers() -> tuple[tuple[str, str], ...]:
    return (
        ("Date", http_date(T0)),
        ("Cache-Control", "max-age=60"),
        ("ETag", '"v1"'),
        ("Last-Modified", http_date(T0 - 3600)),
    )


class ClientConditionalTests(SynchronousTestCase):
    def setUp(self) -> None:
        admission = admit(KEY, "GET", [], 200, _meta_headers(), T0, T0)
        assert admission.meta is not None
        self.meta = admission.meta

    def test_rfc9111_4_3_2_if_none_match_answered_304(self) -> None:
        got = client_conditional("GET", [("If-None-Match", 'W/"v1"')], self.meta, T0 + 1)
        self.assertEqual(got.status, 304)

    def test_rfc9111_4_3_2_if_modified_since_answered_304(self) -> None:
        got = client_conditional(
            "GET", [("If-Modified-Since", http_date(T0 - 10))], self.meta, T0 + 1
        )
        self.assertEqual(got.status, 304)

    def test_rfc9111_4_3_2_mismatch_proceeds(self) -> None:
        got = client_conditional("GET", [("If-None-Match", '"v0"')], self.meta, T0 + 1)
        self.assertIsNone(got.status)

    def test_rfc9110_13_1_1_if_match_fails_412(self) -> None:
        got = client_conditional("GET", [("If-Match", '"other"')], self.meta, T0 + 1)
        self.assertEqual(got.status, 412)


class StatusFieldTests(SynchronousTestCase):
    def test_rfc9211_forwarded_and_stored_ttl_excludes_initial_age(self) -> None:
        headers = (*_meta_headers(), ("Age", "10"))
        admission = admit(KEY, "GET", [], 200, headers, T0, T0)
        status = forwarded_status(FwdReason.URI_MISS, 200, admission, collapsed=True)
        self.assertEqual(
            status,
            CacheStatus(fwd=FwdReason.URI_MISS, fwd_status=200, stored=True, ttl=50,
                        collapsed=True),
        )

    def test_rfc9211_forwarded_not_stored(self) -> None:
        admission = admit(KEY, "GET", [], 200, [("Cache-Control", "no-store")], T0, T0)
        self.assertEqual(
            status_fields(forwarded_status(FwdReason.URI_MISS, 200, admission)),
            (("Cache-Status", "netlab; fwd=uri-miss; fwd-status=200"),),
        )

    def test_explain_header_opt_in(self) -> None:
        self.assertEqual(
            status_fields(CacheStatus(hit=True, ttl=5), cache_name="edge", explain_header=True),
            (
                ("Cache-Status", "edge; hit; ttl=5"),
                ("X-Netlab-Explain", "Served from the cache; fresh for 5 more s."),
            ),
        )


class ValidatedStatusTests(SynchronousTestCase):
    def test_rfc9211_2_4_validated_response_reports_304(self) -> None:
        admission = admit(KEY, "GET", [], 200, _meta_headers(), T0, T0)
        assert admission.meta is not None
        self.assertEqual(
            status_fields(validated_status(FwdReason.STALE, admission.meta, T0 + 20)),
            (("Cache-Status", "netlab; fwd=stale; fwd-status=304; ttl=40; stored"),),
        )
