"""RFC 9111 5.2 Cache-Control parsing, 5.1 Age and 4.2.3 age calculation."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.age import AgeInputs, corrected_initial_age, current_age, parse_age
from twisted_netlab.http.cache.directives import (
    DELTA_CAP,
    RequestDirectives,
    ResponseDirectives,
    parse_delta,
    parse_request_directives,
    parse_response_directives,
)
from twisted_netlab.http.cache.fields import decode_pairs, encode_pairs, split_list


class SplitListTests(SynchronousTestCase):
    def test_rfc9110_5_6_1_commas_inside_quotes_do_not_split(self) -> None:
        self.assertEqual(
            split_list(['no-cache="a, b", max-age=5', " , public"]),
            ['no-cache="a, b"', "max-age=5", "public"],
        )

    def test_rfc9110_5_6_1_escaped_quote_inside_quotes(self) -> None:
        self.assertEqual(split_list(['a="x\\", y", b']), ['a="x\\", y"', "b"])

    def test_unterminated_quote_runs_to_end_of_line(self) -> None:
        self.assertEqual(split_list(['a="x, y', "b"]), ['a="x, y', "b"])

    def test_pairs_round_trip_latin1(self) -> None:
        pairs = [(b"X-A", b"\xff\x00ok")]
        self.assertEqual(encode_pairs(decode_pairs(pairs)), pairs)


class ResponseDirectiveTests(SynchronousTestCase):
    def test_rfc9111_5_2_flags_case_insensitive(self) -> None:
        parsed = parse_response_directives(
            ["No-Store, PUBLIC", "must-revalidate, proxy-revalidate, must-understand"]
        )
        self.assertEqual(
            (parsed.no_store, parsed.public, parsed.must_revalidate, parsed.proxy_revalidate),
            (True, True, True, True),
        )
        self.assertTrue(parsed.must_understand)

    def test_rfc9111_5_2_2_1_max_age_and_s_maxage(self) -> None:
        parsed = parse_response_directives(["max-age=60, s-maxage=120"])
        self.assertEqual((parsed.max_age, parsed.s_maxage), (60, 120))
        self.assertEqual(parsed.invalid, frozenset())

    def test_rfc9111_5_2_2_1_quoted_max_age_accepted(self) -> None:
        self.assertEqual(parse_response_directives(['max-age="30"']).max_age, 30)

    def test_rfc9111_1_2_2_delta_seconds_capped(self) -> None:
        self.assertEqual(parse_response_directives(["max-age=99999999999999"]).max_age, DELTA_CAP)
        self.assertEqual(parse_delta("2147483648"), 2**31)

    def test_rfc9111_4_2_1_invalid_max_age_is_stale(self) -> None:
        for bad in ["max-age=abc", "max-age=-1", "max-age=1.5", "max-age=", "max-age"]:
            parsed = parse_response_directives([bad])
            self.assertIsNone(parsed.max_age, bad)
            self.assertTrue(parsed.freshness_invalid, bad)

    def test_rfc9111_4_2_1_conflicting_duplicate_max_age_is_stale(self) -> None:
        parsed = parse_response_directives(["max-age=10", "max-age=20"])
        self.assertIsNone(parsed.max_age)
        self.assertTrue(parsed.freshness_invalid)

    def test_rfc9111_4_2_1_agreeing_duplicate_max_age_is_kept(self) -> None:
        parsed = parse_response_directives(["max-age=10, max-age=10"])
        self.assertEqual(parsed.max_age, 10)
        self.assertFalse(parsed.freshness_invalid)

    def test_rfc9111_5_2_2_4_no_cache_with_field_names(self) -> None:
        parsed = parse_response_directives(['no-cache="Set-Cookie, X-Foo"'])
        self.assertFalse(parsed.no_cache)
        self.assertEqual(parsed.no_cache_fields, frozenset({"set-cookie", "x-foo"}))

    def test_rfc9111_4_2_1_unqualified_no_cache_wins_over_qualified(self) -> None:
        parsed = parse_response_directives(['no-cache="Set-Cookie"', "no-cache"])
        self.assertTrue(parsed.no_cache)
        self.assertEqual(parsed.no_cache_fields, frozenset())

    def test_rfc9111_5_2_2_7_private_with_field_names(self) -> None:
        parsed = parse_response_directives(['private="X-User"'])
        self.assertFalse(parsed.private)
        self.assertEqual(parsed.private_fields, frozenset({"x-user"}))
        self.assertTrue(parse_response_directives(["private"]).private)

    def test_empty_field_list_is_unqualified(self) -> None:
        self.assertTrue(parse_response_directives(['no-cache=""']).no_cache)

    def test_rfc9111_5_2_3_extensions_kept_unknown_ignored(self) -> None:
        parsed = parse_response_directives(['community="UCI", foo'])
        self.assertEqual(parsed.extensions, (("community", "UCI"), ("foo", None)))
        self.assertEqual(parsed, ResponseDirectives(extensions=parsed.extensions))

    def test_rfc5861_stale_directives(self) -> None:
        parsed = parse_response_directives(["stale-while-revalidate=30, stale-if-error=600"])
        self.assertEqual((parsed.stale_while_revalidate, parsed.stale_if_error), (30, 600))
        bad = parse_response_directives(["stale-if-error=1, stale-if-error=2"])
        self.assertIsNone(bad.stale_if_error)
        self.assertFalse(bad.freshness_invalid)

    def test_rfc9111_4_2_4_s_maxage_forbids_stale(self) -> None:
        self.assertTrue(parse_response_directives(["s-maxage=5"]).forbids_stale)
        self.assertFalse(parse_response_directives(["max-age=5"]).forbids_stale)

    def test_non_token_names_skipped(self) -> None:
        parsed = parse_response_directives(["max age=5, (x)=1, public"])
        self.assertEqual(parsed, ResponseDirectives(public=True))

    @given(st.lists(st.text(max_size=40), max_size=4))
    def test_parsing_never_raises(self, lines: list[str]) -> None:
        self.assertIsInstance(parse_response_directives(lines), ResponseDirectives)
        self.assertIsInstance(parse_request_directives(lines, lines), RequestDirectives)


class RequestDirectiveTests(SynchronousTestCase):
    def test_rfc9111_5_2_1_values(self) -> None:
        parsed = parse_request_directives(
            ["max-age=5, max-stale=10, min-fresh=3, no-cache, no-store, only-if-cached"]
        )
        self.assertEqual(
            parsed,
            RequestDirectives(
                max_age=5,
                max_stale=10,
                min_fresh=3,
                no_cache=True,
                no_store=True,
                only_if_cached=True,
            ),
        )

    def test_rfc9111_5_2_1_2_max_stale_without_value(self) -> None:
        parsed = parse_request_directives(["max-stale"])
        self.assertTrue(parsed.max_stale_any)
        self.assertIsNone(parsed.max_stale)

    def test_rfc9111_5_2_1_2_max_stale_value_restricts_bare(self) -> None:
        parsed = parse_request_directives(["max-stale, max-stale=7"])
        self.assertEqual((parsed.max_stale_any, parsed.max_stale), (False, 7))

    def test_rfc9111_5_2_1_2_invalid_max_stale_grants_nothing(self) -> None:
        parsed = parse_request_directives(["max-stale=x"])
        self.assertEqual((parsed.max_stale_any, parsed.max_stale), (False, None))

    def test_rfc9111_5_2_1_1_invalid_max_age_means_zero(self) -> None:
        self.assertEqual(parse_request_directives(["max-age=soon"]).max_age, 0)

    def test_duplicates_resolve_most_restrictive(self) -> None:
        parsed = parse_request_directives(["max-age=50, max-age=5", "min-fresh=1, min-fresh=9"])
        self.assertEqual((parsed.max_age, parsed.min_fresh), (5, 9))

    def test_rfc9111_5_4_pragma_no_cache_without_cache_control(self) -> None:
        self.assertTrue(parse_request_directives([], ["no-cache"]).no_cache)
        self.assertFalse(parse_request_directives(["max-age=5"], ["no-cache"]).no_cache)
        self.assertEqual(parse_request_directives([], ["x-foo"]), RequestDirectives())


class AgeTests(SynchronousTestCase):
    def test_rfc9111_5_1_age_first_member_and_invalid_ignored(self) -> None:
        self.assertEqual(parse_age(["30, 40"]), 30)
        self.assertEqual(parse_age(["7"]), 7)
        self.assertIsNone(parse_age(["-3"]))
        self.assertIsNone(parse_age(["abc"]))
        self.assertIsNone(parse_age([]))

    def test_rfc9111_4_2_3_upstream_age_plus_response_delay(self) -> None:
        inputs = AgeInputs(date_value=1000.0, age_value=100, request_time=1000.0,
                           response_time=1002.0)
        # apparent_age = 2, corrected_age_value = 100 + 2 = 102.
        self.assertEqual(corrected_initial_age(inputs), 102.0)
        self.assertEqual(current_age(inputs, 1012.0), 112.0)

    def test_rfc9111_4_2_3_apparent_age_wins_when_larger(self) -> None:
        inputs = AgeInputs(date_value=900.0, age_value=10, request_time=999.0,
                           response_time=1000.0)
        self.assertEqual(corrected_initial_age(inputs), 100.0)

    def test_rfc9111_4_2_3_apparent_age_clamped_for_future_date(self) -> None:
        inputs = AgeInputs(date_value=2000.0, age_value=0, request_time=1000.0,
                           response_time=1000.0)
        self.assertEqual(current_age(inputs, 1000.0), 0.0)

    def test_clock_stepping_back_never_negative(self) -> None:
        inputs = AgeInputs(date_value=1000.0, age_value=0, request_time=1000.0,
                           response_time=1000.0)
        self.assertEqual(current_age(inputs, 500.0), 0.0)
