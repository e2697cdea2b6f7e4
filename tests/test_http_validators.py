"""ETags and HTTP dates: construction, parsing (lenient, never raising), comparison."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.validators import (
    ETag,
    http_date,
    make_etag,
    parse_etag_list,
    parse_http_date,
    strong_match,
    weak_match,
)


class ETagTests(SynchronousTestCase):
    def test_str(self) -> None:
        self.assertEqual(str(ETag("abc")), '"abc"')
        self.assertEqual(str(ETag("abc", weak=True)), 'W/"abc"')
        self.assertEqual(str(ETag("")), '""')

    def test_rejects_quote_space_control(self) -> None:
        for bad in ['a"b', "a b", "a\r\nb", "a\x00", "\x7f"]:
            with self.assertRaises(ValueError, msg=bad):
                ETag(bad)

    def test_make_etag_layout(self) -> None:
        tag = make_etag(255, 0x1234, 7)
        self.assertEqual(str(tag), '"ff-1234-7"')
        self.assertFalse(tag.weak)

    def test_make_etag_distinct_per_encoding(self) -> None:
        tags = {str(make_etag(10, 20, 30, enc)) for enc in (None, "gzip", "br", "zstd")}
        self.assertEqual(
            tags, {'"a-14-1e"', '"a-14-1e-gzip"', '"a-14-1e-br"', '"a-14-1e-zstd"'}
        )
        self.assertEqual(make_etag(10, 20, 30, "identity"), make_etag(10, 20, 30))
        self.assertEqual(make_etag(10, 20, 30, "GZIP"), make_etag(10, 20, 30, "gzip"))

    def test_make_etag_bad_encoding(self) -> None:
        with self.assertRaises(ValueError):
            make_etag(1, 2, 3, 'gz"ip')

    def test_make_etag_changes_with_identity(self) -> None:
        base = make_etag(10, 20, 30)
        self.assertNotEqual(base, make_etag(11, 20, 30))
        self.assertNotEqual(base, make_etag(10, 21, 30))
        self.assertNotEqual(base, make_etag(10, 20, 31))


class ParseETagListTests(SynchronousTestCase):
    def test_star(self) -> None:
        self.assertEqual(parse_etag_list("*"), "*")
        self.assertEqual(parse_etag_list("  * "), "*")

    def test_list_with_whitespace(self) -> None:
        self.assertEqual(
            parse_etag_list(' "a" ,W/"b",\t"c"  '),
            [ETag("a"), ETag("b", weak=True), ETag("c")],
        )

    def test_comma_inside_tag(self) -> None:
        self.assertEqual(parse_etag_list('"a,b", "c"'), [ETag("a,b"), ETag("c")])

    def test_empty_elements(self) -> None:
        self.assertEqual(parse_etag_list(',, "a" ,,'), [ETag("a")])
        self.assertEqual(parse_etag_list(""), [])

    def test_malformed_entries_skipped(self) -> None:
        self.assertEqual(
            parse_etag_list('abc, "ok", w/"lower", "unterminated'), [ETag("ok")]
        )
        self.assertEqual(parse_etag_list('"a" junk, "b"'), [ETag("b")])
        self.assertEqual(parse_etag_list('"a""b", "c"'), [ETag("c")])
        self.assertEqual(parse_etag_list('"a b", "c"'), [ETag("c")])

    def test_star_inside_list_is_not_star(self) -> None:
        self.assertEqual(parse_etag_list('*, "a"'), [ETag("a")])

    @settings(max_examples=200)
    @given(st.text())
    def test_never_raises(self, value: str) -> None:
        result = parse_etag_list(value)
        self.assertTrue(result == "*" or isinstance(result, list))

    @settings(max_examples=200)
    @given(
        st.lists(
            st.tuples(
                st.text(alphabet=st.characters(min_codepoint=0x23, max_codepoint=0x7E)),
                st.booleans(),
            ),
            max_size=6,
        )
    )
    def test_round_trip(self, items: list[tuple[str, bool]]) -> None:
        tags = [ETag(opaque, weak) for opaque, weak in items]
        self.assertEqual(parse_etag_list(", ".join(str(t) for t in tags)), tags)


class CompareTests(SynchronousTestCase):
    # The table of RFC 9110 8.8.3.2.
    def test_rfc_table(self) -> None:
        w1, w2, s1 = ETag("1", weak=True), ETag("2", weak=True), ETag("1")
        self.assertFalse(strong_match(w1, w1))
        self.assertFalse(weak_match(w1, w2))
        self.assertFalse(strong_match(w1, w2))
        self.assertTrue(weak_match(w1, w1))
        self.assertFalse(strong_match(w1, s1))
        self.assertTrue(weak_match(w1, s1))
        self.assertTrue(strong_match(s1, s1))
        self.assertTrue(weak_match(s1, s1))


class DateTests(SynchronousTestCase):
    def test_format(self) -> None:
        self.assertEqual(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT")
        self.assertEqual(http_date(784111777.9), "Sun, 06 Nov 1994 08:49:37 GMT")

    def test_parse_three_formats(self) -> None:
        for value in (
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "  Sun, 06 Nov 1994 08:49:37 GMT ",
        ):
            self.assertEqual(parse_http_date(value), 784111777.0, value)

    def test_parse_garbage(self) -> None:
        for value in ("", "garbage", "Sun, 06 Nov 99999 08:49:37 GMT", "0", "-1", "\x00"):
            self.assertIsNone(parse_http_date(value), value)

    def test_unformattable_is_none(self) -> None:
        # Parses, but the offset moves it past year 9999: http_date could not echo it.
        self.assertIsNone(parse_http_date("Fri, 31 Dec 9999 23:59:59 -2359"))

    def test_lenient_forms(self) -> None:
        self.assertEqual(parse_http_date("Sun, 06 Nov 1994 08:49:37"), 784111777.0)
        self.assertEqual(parse_http_date("Sun, 06 Nov 1994 09:49:37 +0100"), 784111777.0)

    @settings(max_examples=200)
    @given(
        st.integers(0, 10000),
        st.integers(0, 32),
        st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
        st.integers(0, 61),
        st.sampled_from(["GMT", "UTC", "+2359", "-2359", "", "XYZ"]),
    )
    def test_date_like_never_unformattable(
        self, year: int, day: int, month: str, second: int, zone: str
    ) -> None:
        value = f"Fri, {day:02d} {month} {year} 23:59:{second:02d} {zone}"
        result = parse_http_date(value)
        if result is not None:
            self.assertEqual(parse_http_date(http_date(result)), float(int(result)))

    @settings(max_examples=200)
    @given(st.integers(min_value=0, max_value=253402300799))
    def test_round_trip(self, ts: int) -> None:
        self.assertEqual(parse_http_date(http_date(ts)), float(ts))

    @settings(max_examples=200)
    @given(st.text())
    def test_parse_never_raises(self, value: str) -> None:
        result = parse_http_date(value)
        self.assertTrue(result is None or isinstance(result, float))
