"""RFC 9111 5.3 / RFC 9110 5.6.7: Expires is read as a strict HTTP-date."""

from __future__ import annotations

import calendar

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.dates import parse_http_date_strict
from twisted_netlab.http.cache.directives import parse_response_directives
from twisted_netlab.http.cache.freshness import FreshnessSource, freshness_lifetime

T2050 = float(calendar.timegm((2050, 8, 18, 2, 1, 18, 0, 0, 0)))
NOW = float(calendar.timegm((2026, 11, 29, 0, 0, 0, 0, 0, 0)))


class StrictDateTests(SynchronousTestCase):
    def test_rfc9110_5_6_7_three_forms(self) -> None:
        self.assertEqual(parse_http_date_strict("Thu, 18 Aug 2050 02:01:18 GMT", 2026), T2050)
        self.assertEqual(parse_http_date_strict("Thursday, 18-Aug-50 02:01:18 GMT", 2026), T2050)
        self.assertEqual(parse_http_date_strict("Thu Aug 18 02:01:18 2050", 2026), T2050)
        self.assertEqual(
            parse_http_date_strict("Mon Aug  8 02:01:18 2050", 2026), T2050 - 10 * 86400
        )
        self.assertEqual(parse_http_date_strict(" Thu, 18 Aug 2050 02:01:18 GMT\t", 2026), T2050)

    def test_rfc9110_5_6_7_names_any_case(self) -> None:
        self.assertEqual(parse_http_date_strict("THU, 18 AUG 2050 02:01:18 gMT", 2026), T2050)

    def test_rfc9110_5_6_7_rfc850_year_not_more_than_50_years_ahead(self) -> None:
        self.assertEqual(
            parse_http_date_strict("Sunday, 06-Nov-94 08:49:37 GMT", 2026),
            float(calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0))),
        )
        self.assertEqual(
            parse_http_date_strict("Thursday, 18-Aug-76 02:01:18 GMT", 2026),
            float(calendar.timegm((2076, 8, 18, 2, 1, 18, 0, 0, 0))),
        )
        self.assertEqual(
            parse_http_date_strict("Thursday, 18-Aug-77 02:01:18 GMT", 2026),
            float(calendar.timegm((1977, 8, 18, 2, 1, 18, 0, 0, 0))),
        )

    def test_rfc9111_5_3_invalid_forms(self) -> None:
        for value in (
            "0",
            "",
            "Thu, 18 Aug 2050 02:01:18 UTC",
            "Thu, 18 Aug 2050 02:01:18 AEST",
            "Thu, 18 Aug 50 02:01:18 GMT",
            "Thu 18 Aug 2050 02:01:18 GMT",
            "Thu, 18  Aug  2050 02:01:18 GMT",
            "Thu, 18-Aug-2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02.01.18 GMT",
            "Thu, 18 Aug 2050 2:01:18 GMT",
            "Thu, 31 Feb 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 24:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18 +0000",
        ):
            self.assertIsNone(parse_http_date_strict(value, 2026), value)


class ExpiresFreshnessTests(SynchronousTestCase):
    def lifetime(self, expires: str) -> tuple[float, FreshnessSource]:
        found = freshness_lifetime(
            200, [("Expires", expires)], parse_response_directives([]), NOW
        )
        return found.lifetime, found.source

    def test_rfc9111_5_3_valid_expires_gives_lifetime(self) -> None:
        self.assertEqual(
            self.lifetime("Thu, 18 Aug 2050 02:01:18 GMT"), (T2050 - NOW, FreshnessSource.EXPIRES)
        )

    def test_rfc9111_5_3_invalid_expires_is_already_expired(self) -> None:
        invalid = (0.0, FreshnessSource.INVALID)
        self.assertEqual(self.lifetime("Thu, 18 Aug 2050 02:01:18 UTC"), invalid)
        self.assertEqual(self.lifetime("Thu, 18 Aug 50 02:01:18 GMT"), invalid)
