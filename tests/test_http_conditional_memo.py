"""The memoised parsers behind ``evaluate`` and the step-4 helper the static fast path
shares with it: same answers as the plain parsers, bounded memory."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http import conditional
from twisted_netlab.http.conditional import (
    Outcome,
    evaluate,
    not_modified_since,
    parsed_date,
)
from twisted_netlab.http.validators import ETag, http_date, parse_etag_list, parse_http_date

LM = 784111777.25  # Sun, 06 Nov 1994 08:49:37 GMT (and a quarter)
NOW = LM + 3600


class ParsedDateTests(SynchronousTestCase):
    def test_same_answers_as_the_parser_twice(self) -> None:
        for value in (
            http_date(LM),
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "yesterday",
            "",
        ):
            expected = parse_http_date(value)
            self.assertEqual(parsed_date(value), expected, value)
            self.assertEqual(parsed_date(value), expected, value)  # from the memo

    @settings(max_examples=300)
    @given(st.text(max_size=40))
    def test_any_text(self, value: str) -> None:
        self.assertEqual(parsed_date(value), parse_http_date(value))
        self.assertEqual(parsed_date(value), parse_http_date(value))

    def test_memo_is_bounded(self) -> None:
        for n in range(3 * conditional._MEMO_ENTRIES):
            parsed_date(http_date(LM + n))
        self.assertLessEqual(len(conditional._dates), conditional._MEMO_ENTRIES)

    def test_long_values_are_not_kept(self) -> None:
        value = http_date(LM) + " " * (conditional._MEMO_LENGTH + 1)
        self.assertEqual(parsed_date(value), LM // 1)
        self.assertNotIn(value, conditional._dates)


class TagListMemoTests(SynchronousTestCase):
    def test_same_lists_and_bounded(self) -> None:
        for n in range(3 * conditional._MEMO_ENTRIES):
            value = f'"t{n}", W/"u{n}"'
            self.assertEqual(conditional._parsed_tags(value), parse_etag_list(value))
        self.assertLessEqual(len(conditional._tag_lists), conditional._MEMO_ENTRIES)
        self.assertEqual(conditional._parsed_tags("*"), "*")
        self.assertEqual(conditional._parsed_tags("garbage"), [])
        self.assertEqual(conditional._parsed_tags("garbage"), [])  # an empty list, memoised

    def test_repeated_evaluations_agree(self) -> None:
        etag = ETag("abc")
        for _ in range(3):
            matched = evaluate(method="GET", etag=etag, last_modified=LM, if_none_match='"x","abc"')
            self.assertEqual(matched.outcome, Outcome.NOT_MODIFIED)
            failed = evaluate(method="GET", etag=etag, last_modified=LM, if_match='"x"')
            self.assertEqual(failed.outcome, Outcome.PRECONDITION_FAILED)


class NotModifiedSinceTests(SynchronousTestCase):
    def test_step_four(self) -> None:
        # Whole seconds: the same second as Last-Modified, or later, is "not modified".
        self.assertEqual(not_modified_since(http_date(LM), LM, NOW), LM // 1)
        self.assertEqual(not_modified_since(http_date(LM + 10), LM, NOW), LM // 1 + 10)
        self.assertIsNone(not_modified_since(http_date(LM - 1), LM, NOW))
        # A date after now cannot be ours: ignored (the full response).
        self.assertIsNone(not_modified_since(http_date(NOW + 60), LM, NOW))
        self.assertEqual(not_modified_since(http_date(NOW + 60), LM, None), NOW // 1 + 60)
        # Not a date, empty, blank: ignored.
        self.assertIsNone(not_modified_since("yesterday", LM, NOW))
        self.assertIsNone(not_modified_since("", LM, NOW))
        self.assertIsNone(not_modified_since("   ", LM, NOW))
        self.assertEqual(not_modified_since(f"  {http_date(LM)} ", LM, NOW), LM // 1)

    @settings(max_examples=300)
    @given(st.one_of(st.text(max_size=40), st.integers(0, 2**31).map(http_date)))
    def test_agrees_with_evaluate(self, value: str) -> None:
        date = not_modified_since(value, LM, NOW)
        decision = evaluate(
            method="GET", etag=ETag("abc"), last_modified=LM, if_modified_since=value, now=NOW
        )
        self.assertEqual(decision.outcome is Outcome.NOT_MODIFIED, date is not None)
