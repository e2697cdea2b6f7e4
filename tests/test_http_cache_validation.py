"""RFC 9111 4.3 validation, 4.1 Vary, 4.4 invalidation, RFC 5861 windows, RFC 9211."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from typing import ClassVar

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.cache_status import CacheStatus, FwdReason, explain, serialise
from twisted_netlab.http.cache.directives import (
    RequestDirectives,
    parse_request_directives,
    parse_response_directives,
)
from twisted_netlab.http.cache.invalidation import invalidated_uris, same_origin
from twisted_netlab.http.cache.validation import (
    Candidate,
    conditional_headers,
    merge_304,
    select_for_304,
    strip_no_cache_fields,
    within_stale_if_error,
    within_stale_while_revalidate,
)
from twisted_netlab.http.cache.vary import matches, normalise, secondary_key, vary_names

LM = "Sun, 06 Nov 1994 08:49:37 GMT"


class ConditionalTests(SynchronousTestCase):
    def test_rfc9111_4_3_1_etag_and_last_modified(self) -> None:
        stored = [("ETag", '"v1"'), ("Last-Modified", LM)]
        self.assertEqual(
            conditional_headers([stored]),
            (("If-None-Match", '"v1"'), ("If-Modified-Since", LM)),
        )

    def test_rfc9111_4_3_1_all_variant_etags_one_request(self) -> None:
        got = conditional_headers([[("ETag", '"a"'), ("Last-Modified", LM)], [("ETag", 'W/"b"')]])
        self.assertEqual(got, (("If-None-Match", '"a", W/"b"'),))

    def test_no_validators_no_conditional(self) -> None:
        self.assertEqual(conditional_headers([[("Last-Modified", "garbage")]]), ())


class Select304Tests(SynchronousTestCase):
    candidates: ClassVar[list[Candidate]] = [
        Candidate("a", (("ETag", '"x"'),), 10.0),
        Candidate("b", (("ETag", 'W/"y"'), ("Last-Modified", LM)), 20.0),
        Candidate("c", (("ETag", 'W/"y"'),), 30.0),
    ]

    def test_rfc9111_4_3_4_strong_validator_selects_all_matching(self) -> None:
        self.assertEqual(select_for_304(self.candidates, [("ETag", '"x"')]), ["a"])
        self.assertEqual(select_for_304(self.candidates, [("ETag", '"y"')]), [])

    def test_rfc9111_4_3_4_weak_validator_selects_most_recent(self) -> None:
        self.assertEqual(select_for_304(self.candidates, [("ETag", 'W/"y"')]), ["c"])

    def test_rfc9111_4_3_4_last_modified_selects(self) -> None:
        self.assertEqual(select_for_304(self.candidates, [("Last-Modified", LM)]), ["b"])

    def test_rfc9111_4_3_4_no_validators_single_bare_entry(self) -> None:
        bare = [Candidate("only", (("Content-Type", "text/plain"),), 1.0)]
        self.assertEqual(select_for_304(bare, []), ["only"])
        self.assertEqual(select_for_304(self.candidates, []), [])
        self.assertEqual(select_for_304([self.candidates[0]], []), [])

    def test_rfc9111_4_3_4_validatorless_304_to_our_conditional_selects_its_one_candidate(
        self,
    ) -> None:
        # We asked If-None-Match: "x" for candidate a; the 304 repeats no ETag.
        self.assertEqual(select_for_304([self.candidates[0]], [], ours=True), ["a"])
        self.assertEqual(
            select_for_304([self.candidates[0]], [("Date", "x")], ours=True), ["a"]
        )
        # Several candidates' tags in one If-None-Match: a bare 304 cannot say which.
        self.assertEqual(select_for_304(self.candidates, [], ours=True), [])
        # A validator in the 304 still has to match.
        self.assertEqual(select_for_304([self.candidates[0]], [("ETag", '"z"')], ours=True), [])


class Merge304Tests(SynchronousTestCase):
    def test_rfc9111_3_2_fields_replaced_except_framing(self) -> None:
        stored = (
            ("Content-Type", "text/plain"),
            ("Content-Length", "5"),
            ("Cache-Control", "max-age=1"),
            ("X-A", "1"),
            ("X-A", "2"),
        )
        update = (
            ("Cache-Control", "max-age=99"),
            ("Content-Length", "0"),
            ("X-A", "3"),
            ("Connection", "x-hop"),
            ("X-Hop", "no"),
            ("Age", "4"),
            ("X-New", "yes"),
        )
        self.assertEqual(
            merge_304(stored, update),
            (
                ("Content-Type", "text/plain"),
                ("Content-Length", "5"),
                ("Cache-Control", "max-age=99"),
                ("X-A", "3"),
                ("X-New", "yes"),
            ),
        )

    def test_rfc9111_5_2_2_4_no_cache_fields_stripped_when_served(self) -> None:
        directives = parse_response_directives(['no-cache="Set-Cookie"'])
        self.assertEqual(
            strip_no_cache_fields((("set-cookie", "a=1"), ("X", "y")), directives),
            (("X", "y"),),
        )


class StaleWindowTests(SynchronousTestCase):
    def test_rfc5861_3_stale_while_revalidate_window(self) -> None:
        directives = parse_response_directives(["max-age=1, stale-while-revalidate=10"])
        self.assertTrue(within_stale_while_revalidate(10, directives))
        self.assertFalse(within_stale_while_revalidate(10.5, directives))
        self.assertFalse(within_stale_while_revalidate(0, directives))

    def test_rfc5861_4_stale_if_error_response_or_request(self) -> None:
        directives = parse_response_directives(["max-age=1, stale-if-error=10"])
        self.assertTrue(within_stale_if_error(10, directives, RequestDirectives()))
        self.assertFalse(within_stale_if_error(11, directives, RequestDirectives()))
        wider = parse_request_directives(["stale-if-error=20"])
        self.assertTrue(within_stale_if_error(20, directives, wider))
        none = parse_response_directives(["max-age=1"])
        self.assertTrue(within_stale_if_error(5, none, wider))
        self.assertFalse(within_stale_if_error(5, none, RequestDirectives()))

    def test_rfc9111_4_2_4_must_revalidate_closes_stale_windows(self) -> None:
        directives = parse_response_directives(
            ["max-age=1, must-revalidate, stale-if-error=10, stale-while-revalidate=10"]
        )
        self.assertFalse(within_stale_if_error(1, directives, RequestDirectives()))
        self.assertFalse(within_stale_while_revalidate(1, directives))


class VaryTests(SynchronousTestCase):
    def test_rfc9111_4_1_names_lowercased_sorted(self) -> None:
        self.assertEqual(vary_names([("Vary", "Accept-Encoding, Cookie"), ("vary", "accept")]),
                         ("accept", "accept-encoding", "cookie"))
        self.assertEqual(vary_names([("Vary", "Cookie, *")]), "*")

    def test_rfc9111_4_1_normalised_combined_and_trimmed(self) -> None:
        request = [("Accept-Encoding", " GZIP ,  br"), ("accept-encoding", "zstd ")]
        self.assertEqual(normalise("accept-encoding", request), "gzip, br, zstd")

    def test_rfc9111_4_1_case_kept_where_significant(self) -> None:
        self.assertEqual(normalise("cookie", [("Cookie", "Sid=A")]), "Sid=A")
        key = secondary_key(("cookie",), [("Cookie", "Sid=A")])
        self.assertFalse(matches(key, [("Cookie", "sid=a")]))
        self.assertTrue(matches(key, [("Cookie", "Sid=A")]))

    def test_rfc9111_4_1_absent_matches_only_absent(self) -> None:
        key = secondary_key(("accept-language",), [])
        self.assertEqual(key, (("accept-language", None),))
        self.assertTrue(matches(key, []))
        self.assertFalse(matches(key, [("Accept-Language", "")]))

    def test_rfc9111_4_1_vary_star_never_matches(self) -> None:
        self.assertIsNone(secondary_key("*", []))
        self.assertFalse(matches(None, []))


class InvalidationTests(SynchronousTestCase):
    target = "http://example.com/a/b"

    def test_rfc9111_4_4_unsafe_success_invalidates_target_and_locations(self) -> None:
        headers = [("Location", "/c"), ("Content-Location", "http://EXAMPLE.com:80/d#frag")]
        self.assertEqual(
            invalidated_uris("POST", 201, self.target, headers),
            [self.target, "http://example.com/c", "http://EXAMPLE.com:80/d"],
        )

    def test_rfc9111_4_4_other_origin_not_invalidated(self) -> None:
        headers = [("Location", "http://evil.example/a/b"), ("Content-Location", "https://example.com/x")]
        self.assertEqual(invalidated_uris("DELETE", 204, self.target, headers), [self.target])

    def test_rfc9111_4_4_safe_method_or_error_invalidates_nothing(self) -> None:
        self.assertEqual(invalidated_uris("GET", 200, self.target, []), [])
        self.assertEqual(invalidated_uris("POST", 500, self.target, []), [])
        self.assertEqual(invalidated_uris("PUT", 302, self.target, []), [self.target])

    def test_same_origin_rules(self) -> None:
        self.assertTrue(same_origin("https://h/", "https://H:443/x"))
        self.assertFalse(same_origin("http://h/", "http://h:8080/"))
        self.assertFalse(same_origin("/relative", "/relative"))
        self.assertFalse(same_origin("http://h:bad/", "http://h/"))


class CacheStatusTests(SynchronousTestCase):
    def test_rfc9211_hit_with_ttl(self) -> None:
        self.assertEqual(serialise(CacheStatus(hit=True, ttl=376)), "netlab; hit; ttl=376")

    def test_rfc9211_fwd_stored_and_strings(self) -> None:
        status = CacheStatus(
            fwd=FwdReason.URI_MISS, fwd_status=200, stored=True, key='a"b\\', detail="x\x01y"
        )
        self.assertEqual(
            serialise(status, "my cache"),
            '"my cache"; fwd=uri-miss; fwd-status=200; stored; key="a\\"b\\\\"; detail="xy"',
        )

    def test_rfc9211_hit_and_fwd_exclusive(self) -> None:
        with self.assertRaises(ValueError):
            CacheStatus(hit=True, fwd=FwdReason.STALE)

    def test_explain_sentences(self) -> None:
        self.assertEqual(explain(CacheStatus(hit=True, ttl=30)),
                         "Served from the cache; fresh for 30 more s.")
        self.assertEqual(explain(CacheStatus(hit=True, ttl=-5, detail="max-stale")),
                         "Served from the cache, stale by 5 s; (max-stale).")
        self.assertEqual(
            explain(CacheStatus(fwd=FwdReason.VARY_MISS, fwd_status=200, stored=True,
                                collapsed=True)),
            "Forwarded upstream: responses were stored for this URL, but none for these "
            "request headers (Vary); the upstream answered 200; shared with concurrent "
            "identical requests; the response was stored.",
        )
        self.assertEqual(explain(CacheStatus()), "Not handled by the cache.")
