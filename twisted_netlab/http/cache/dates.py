"""Strict HTTP-date parsing for Expires (RFC 9110 5.6.7, RFC 9111 5.3).

RFC 9111 5.3: "A cache recipient MUST interpret invalid date formats ... as
representing a time in the past (i.e., already expired)". So the cache must tell a
valid HTTP-date from a merely parseable one: ``email.utils`` (behind
``validators.parse_http_date``, which the conditional-request code keeps using) reads
"Thu, 18 Aug 2050 02:01:18 UTC", two-digit years, missing commas or a one-digit hour
as dates, and a response carrying such an Expires would be kept fresh for decades.

Only the three forms of RFC 9110 5.6.7 are accepted: IMF-fixdate, the obsolete
RFC 850 form and asctime. Names are matched without regard to case (a robustness
choice: "THU, 18 AUG 2050 ... gMT" means one thing only); every other deviation
(zone other than GMT, extra spaces, wrong separators, wrong digit counts) is invalid.
"""

from __future__ import annotations

import calendar
import re

__all__ = ["parse_http_date_strict"]

_MONTHS = {m.lower(): n for n, m in enumerate(calendar.month_abbr) if m}
_DAYS = "mon|tue|wed|thu|fri|sat|sun"
_DAYS_LONG = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTH = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_TIME = r"(\d\d):(\d\d):(\d\d)"

_IMF = re.compile(rf"(?:{_DAYS}), (\d\d) ({_MONTH}) (\d{{4}}) {_TIME} gmt", re.IGNORECASE)
_RFC850 = re.compile(rf"(?:{_DAYS_LONG}), (\d\d)-({_MONTH})-(\d\d) {_TIME} gmt", re.IGNORECASE)
_ASCTIME = re.compile(rf"(?:{_DAYS}) ({_MONTH}) (\d\d| \d) {_TIME} (\d{{4}})", re.IGNORECASE)


def _timestamp(
    year: int, month: str, day: int, hour: int, minute: int, second: int
) -> float | None:
    mon = _MONTHS[month.lower()]
    if not 1 <= day <= calendar.monthrange(year, mon)[1]:
        return None
    # RFC 9110 5.6.7 allows second 60 (a leap second); it is read as the next instant.
    if hour > 23 or minute > 59 or second > 60:
        return None
    return float(calendar.timegm((year, mon, day, hour, minute, second, 0, 0, 0)))


def parse_http_date_strict(value: str, now_year: int) -> float | None:
    """The HTTP-date ``value`` as a POSIX timestamp, or None if it is not one.

    ``now_year`` places an RFC 850 two-digit year: one that would be more than 50
    years in the future is the most recent past year with those digits (5.6.7).
    Surrounding whitespace (OWS) is ignored; nothing else is.
    """
    text = value.strip(" \t")
    if match := _IMF.fullmatch(text):
        day, month, year, hh, mm, ss = match.groups()
        return _timestamp(int(year), month, int(day), int(hh), int(mm), int(ss))
    if match := _RFC850.fullmatch(text):
        day, month, yy, hh, mm, ss = match.groups()
        year = now_year - now_year % 100 + int(yy)
        if year > now_year + 50:
            year -= 100
        return _timestamp(year, month, int(day), int(hh), int(mm), int(ss))
    if match := _ASCTIME.fullmatch(text):
        month, day, hh, mm, ss, year = match.groups()
        return _timestamp(int(year), month, int(day), int(hh), int(mm), int(ss))
    return None
