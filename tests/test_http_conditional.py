"""RFC 9110 13.2.2 precedence: a conformance matrix plus targeted cases."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.conditional import Decision, Outcome, evaluate
from twisted_netlab.http.validators import ETag, http_date

ETAG = ETag("abc")
OTHER = '"zzz"'
LM = 784111777.25  # Last-Modified; sent as Sun, 06 Nov 1994 08:49:37 GMT
LM_DATE = http_date(LM)
BEFORE = http_date(LM - 10)
AFTER = http_date(LM + 10)

P, N, F = Outcome.PROCEED, Outcome.NOT_MODIFIED, Outcome.PRECONDITION_FAILED


def decide(method: str = "GET", **headers: Any) -> Decision:
    return evaluate(method=method, etag=ETAG, last_modified=LM, **headers)


# (method, headers, expected outcome, expected honor_range)
MATRIX: list[tuple[str, dict[str, Any], Outcome, bool]] = [
    ("GET", {}, P, False),
    ("GET", {"has_range": True}, P, True),
    ("HEAD", {"has_range": True}, P, False),
    ("POST", {"has_range": True}, P, False),
    # Step 1: If-Match (strong).
    ("GET", {"if_match": '"abc"'}, P, False),
    ("GET", {"if_match": "*"}, P, False),
    ("GET", {"if_match": '"x", "abc"'}, P, False),
    ("GET", {"if_match": OTHER}, F, False),
    ("GET", {"if_match": 'W/"abc"'}, F, False),
    ("GET", {"if_match": "garbage"}, F, False),
    ("PUT", {"if_match": OTHER}, F, False),
    ("GET", {"if_match": "  "}, P, False),  # empty value = absent
    # Step 1 beats everything else.
    ("GET", {"if_match": OTHER, "if_none_match": OTHER}, F, False),
    ("GET", {"if_match": OTHER, "if_modified_since": AFTER}, F, False),
    ("GET", {"if_match": OTHER, "if_none_match": '"abc"'}, F, False),
    # Step 2: If-Unmodified-Since, only without If-Match.
    ("GET", {"if_unmodified_since": LM_DATE}, P, False),
    ("GET", {"if_unmodified_since": AFTER}, P, False),
    ("GET", {"if_unmodified_since": BEFORE}, F, False),
    ("GET", {"if_unmodified_since": "not a date"}, P, False),
    ("GET", {"if_match": '"abc"', "if_unmodified_since": BEFORE}, P, False),
    ("GET", {"if_match": "*", "if_unmodified_since": BEFORE}, P, False),
    ("GET", {"if_unmodified_since": BEFORE, "if_none_match": '"abc"'}, F, False),
    # Step 3: If-None-Match (weak comparison).
    ("GET", {"if_none_match": '"abc"'}, N, False),
    ("HEAD", {"if_none_match": '"abc"'}, N, False),
    ("GET", {"if_none_match": 'W/"abc"'}, N, False),
    ("GET", {"if_none_match": '"x", W/"abc"'}, N, False),
    ("GET", {"if_none_match": "*"}, N, False),
    ("GET", {"if_none_match": OTHER}, P, False),
    ("GET", {"if_none_match": "garbage"}, P, False),
    ("POST", {"if_none_match": '"abc"'}, F, False),
    ("PUT", {"if_none_match": "*"}, F, False),
    ("DELETE", {"if_none_match": OTHER}, P, False),
    ("GET", {"if_none_match": '"abc"', "has_range": True}, N, False),
    # Step 4: If-Modified-Since only without If-None-Match, GET/HEAD only.
    ("GET", {"if_modified_since": LM_DATE}, N, False),
    ("GET", {"if_modified_since": AFTER}, N, False),
    ("HEAD", {"if_modified_since": AFTER}, N, False),
    ("GET", {"if_modified_since": BEFORE}, P, False),
    ("GET", {"if_modified_since": "yesterday"}, P, False),
    ("POST", {"if_modified_since": AFTER}, P, False),
    ("GET", {"if_none_match": OTHER, "if_modified_since": AFTER}, P, False),
    ("GET", {"if_none_match": "garbage", "if_modified_since": AFTER}, P, False),
    ("GET", {"if_none_match": '"abc"', "if_modified_since": BEFORE}, N, False),
    ("GET", {"if_modified_since": AFTER, "has_range": True}, N, False),
    ("GET", {"if_modified_since": BEFORE, "has_range": True}, P, True),
    # Step 5: If-Range.
    ("GET", {"has_range": True, "if_range": '"abc"'}, P, True),
    ("GET", {"has_range": True, "if_range": OTHER}, P, False),
    ("GET", {"has_range": True, "if_range": 'W/"abc"'}, P, False),
    ("GET", {"has_range": True, "if_range": '"abc", "x"'}, P, False),
    ("GET", {"has_range": True, "if_range": "*"}, P, False),
    ("GET", {"has_range": True, "if_range": LM_DATE}, P, True),
    ("GET", {"has_range": True, "if_range": AFTER}, P, False),
    ("GET", {"has_range": True, "if_range": BEFORE}, P, False),
    ("GET", {"has_range": True, "if_range": "bogus"}, P, False),
    ("GET", {"has_range": True, "if_range": ""}, P, True),  # empty = absent
    ("GET", {"if_range": '"abc"'}, P, False),  # If-Range without Range
    ("HEAD", {"has_range": True, "if_range": '"abc"'}, P, False),
    ("GET", {"has_range": True, "if_range": '"abc"', "if_match": '"abc"'}, P, True),
    ("GET", {"has_range": True, "if_range": '"abc"', "if_none_match": OTHER}, P, True),
]


class MatrixTests(SynchronousTestCase):
    def test_matrix(self) -> None:
        failures = []
        for method, headers, outcome, honor in MATRIX:
            decision = decide(method, **headers)
            if (decision.outcome, decision.honor_range) != (outcome, honor):
                failures.append((method, headers, decision))
            self.assertTrue(decision.reason, (method, headers))
        self.assertEqual(failures, [])

    def test_status(self) -> None:
        self.assertEqual(decide(if_none_match='"abc"').status, 304)
        self.assertEqual(decide(if_match=OTHER).status, 412)
        self.assertIsNone(decide().status)

    def test_method_case_insensitive(self) -> None:
        self.assertEqual(decide("get", if_none_match='"abc"').outcome, N)


class ReasonTests(SynchronousTestCase):
    def test_names_the_rule(self) -> None:
        self.assertEqual(decide(if_none_match='"abc"').reason, 'If-None-Match matched "abc"')
        self.assertIn("If-Match", decide(if_match=OTHER).reason)
        self.assertIn("If-Unmodified-Since", decide(if_unmodified_since=BEFORE).reason)
        self.assertIn("If-Modified-Since", decide(if_modified_since=AFTER).reason)
        self.assertIn("If-Range", decide(has_range=True, if_range=OTHER).reason)

    def test_no_raw_client_text(self) -> None:
        # Only validated tags and re-formatted dates are echoed.
        d = decide(if_match="evil\x01stuff")
        self.assertNotIn("evil", d.reason)
        d = decide(has_range=True, if_range="Sunday, 06-Nov-94 08:49:37 GMT")
        self.assertIn(LM_DATE, d.reason)
        self.assertTrue(d.honor_range)

    @settings(max_examples=200)
    @given(
        st.sampled_from(["GET", "HEAD", "POST"]),
        st.one_of(st.none(), st.text()),
        st.one_of(st.none(), st.text()),
        st.one_of(st.none(), st.text()),
        st.one_of(st.none(), st.text()),
        st.one_of(st.none(), st.text()),
        st.booleans(),
    )
    def test_any_input_is_decided(
        self,
        method: str,
        im: str | None,
        inm: str | None,
        ims: str | None,
        ius: str | None,
        ir: str | None,
        has_range: bool,
    ) -> None:
        d = decide(
            method,
            if_match=im,
            if_none_match=inm,
            if_modified_since=ims,
            if_unmodified_since=ius,
            if_range=ir,
            has_range=has_range,
        )
        self.assertIsInstance(d.outcome, Outcome)
        self.assertFalse(any(c in d.reason for c in "\r\n\x00"))
        d.reason.encode("latin-1")  # fits a header when the adapter decoded latin-1
        if d.honor_range:
            self.assertEqual((d.outcome, method, has_range), (P, "GET", True))


class EdgeTests(SynchronousTestCase):
    def test_second_granularity(self) -> None:
        # LM has a fractional part; a date equal to the sent (truncated) second is "same".
        self.assertEqual(decide(if_modified_since=http_date(int(LM))).outcome, N)
        self.assertEqual(decide(if_modified_since=http_date(int(LM) - 1)).outcome, P)
        self.assertEqual(decide(if_unmodified_since=http_date(int(LM))).outcome, P)

    def test_no_last_modified(self) -> None:
        d = evaluate(method="GET", etag=ETAG, last_modified=None, if_modified_since=AFTER)
        self.assertEqual(d.outcome, P)
        d = evaluate(method="GET", etag=ETAG, last_modified=None, if_unmodified_since=BEFORE)
        self.assertEqual(d.outcome, P)
        d = evaluate(
            method="GET", etag=ETAG, last_modified=None, has_range=True, if_range=LM_DATE
        )
        self.assertFalse(d.honor_range)

    def test_no_etag(self) -> None:
        d = evaluate(method="GET", etag=None, last_modified=LM, if_match='"abc"')
        self.assertEqual(d.outcome, F)
        d = evaluate(method="GET", etag=None, last_modified=LM, if_match="*")
        self.assertEqual(d.outcome, P)
        d = evaluate(method="GET", etag=None, last_modified=LM, if_none_match='"abc"')
        self.assertEqual(d.outcome, P)
        d = evaluate(
            method="GET", etag=None, last_modified=LM, has_range=True, if_range='"abc"'
        )
        self.assertFalse(d.honor_range)

    def test_weak_current_etag(self) -> None:
        weak = ETag("abc", weak=True)
        d = evaluate(method="GET", etag=weak, last_modified=LM, if_match='"abc"')
        self.assertEqual(d.outcome, F)
        d = evaluate(method="GET", etag=weak, last_modified=LM, if_none_match='"abc"')
        self.assertEqual(d.outcome, N)
        d = evaluate(method="GET", etag=weak, last_modified=LM, has_range=True, if_range='"abc"')
        self.assertFalse(d.honor_range)

    def test_not_exists(self) -> None:
        d = evaluate(method="PUT", etag=None, last_modified=None, exists=False, if_match="*")
        self.assertEqual(d.outcome, F)
        d = evaluate(
            method="PUT", etag=None, last_modified=None, exists=False, if_none_match="*"
        )
        self.assertEqual(d.outcome, P)

    def test_extreme_dates_do_not_crash(self) -> None:
        for value in ["Fri, 31 Dec 9999 23:59:59 -2359", "Fri, 31 Dec 9999 23:59:59 GMT"]:
            d = decide(
                if_modified_since=value, if_unmodified_since=value, has_range=True, if_range=value
            )
            self.assertEqual(d.outcome, N if "GMT" in value else P)

    def test_future_if_modified_since_ignored_with_now(self) -> None:
        now = LM + 100
        future = http_date(now + 3600)
        self.assertEqual(decide(if_modified_since=future).outcome, N)
        self.assertEqual(decide(if_modified_since=future, now=now).outcome, P)
        self.assertEqual(decide(if_modified_since=AFTER, now=now).outcome, N)

    def test_if_range_date_needs_strong_last_modified(self) -> None:
        self.assertTrue(decide(has_range=True, if_range=LM_DATE, now=LM + 5).honor_range)
        self.assertFalse(decide(has_range=True, if_range=LM_DATE, now=LM + 0.5).honor_range)


_tags = st.lists(st.sampled_from(['"abc"', 'W/"abc"', '"zzz"', "*", "junk"]), max_size=3).map(
    ", ".join
)
_tags1 = st.lists(
    st.sampled_from(['"abc"', 'W/"abc"', '"zzz"', "*", "junk"]), min_size=1, max_size=3
).map(", ".join)
_dates = st.sampled_from([LM_DATE, BEFORE, AFTER, "garbage"])


class PrecedencePropertyTests(SynchronousTestCase):
    """Metamorphic checks: a lower-precedence header never changes a decision it must not."""

    @settings(max_examples=200)
    @given(st.sampled_from(["GET", "HEAD", "PUT"]), _tags1, _dates, _dates, _tags)
    def test_if_unmodified_since_ignored_with_if_match(
        self, method: str, im: str, ius: str, ims: str, inm: str
    ) -> None:
        with_ius = decide(
            method, if_match=im, if_unmodified_since=ius, if_none_match=inm, if_modified_since=ims
        )
        without = decide(method, if_match=im, if_none_match=inm, if_modified_since=ims)
        self.assertEqual(with_ius, without)

    @settings(max_examples=200)
    @given(st.sampled_from(["GET", "HEAD", "PUT"]), _tags1, _dates, _tags)
    def test_if_modified_since_ignored_with_if_none_match(
        self, method: str, inm: str, ims: str, im: str
    ) -> None:
        self.assertEqual(
            decide(method, if_none_match=inm, if_modified_since=ims, if_match=im),
            decide(method, if_none_match=inm, if_match=im),
        )

    @settings(max_examples=200)
    @given(_tags, _dates, _tags, _dates, st.one_of(st.none(), _tags, _dates))
    def test_failed_if_match_wins(
        self, inm: str, ims: str, extra: str, ius: str, ir: str | None
    ) -> None:
        d = decide(
            if_match='"zzz"',
            if_none_match=inm,
            if_modified_since=ims,
            if_unmodified_since=ius,
            if_range=ir,
            has_range=True,
        )
        self.assertEqual(d.outcome, F)
        self.assertFalse(d.honor_range)

    @settings(max_examples=200)
    @given(st.one_of(st.none(), _tags, _dates))
    def test_if_range_only_affects_range(self, ir: str | None) -> None:
        d = decide(if_range=ir, has_range=False)
        self.assertEqual((d.outcome, d.honor_range), (P, False))
