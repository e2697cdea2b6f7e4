"""Freshness lifetime (RFC 9111 4.2.1, 4.2.2) for a shared cache.

Order: ``s-maxage`` > ``max-age`` > ``Expires - Date`` > heuristic. Invalid freshness
information makes the response stale (lifetime 0), never fresher: an invalid or
duplicated Expires, or invalid/conflicting max-age (see ``directives``).

The heuristic (10 % of the time since Last-Modified, capped) applies only when the
response has no explicit freshness and either its status is heuristically cacheable
(RFC 9110 15.1) or it says ``public`` (RFC 9111 4.2.2). The cap is a parameter: one
day by default, as many caches use, because a file unchanged for a year may still
change tomorrow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from twisted_netlab.http.cache.dates import parse_http_date_strict
from twisted_netlab.http.cache.directives import ResponseDirectives
from twisted_netlab.http.cache.fields import Fields, field_values
from twisted_netlab.http.validators import parse_http_date

__all__ = [
    "HEURISTIC_STATUSES",
    "Freshness",
    "FreshnessSource",
    "HeuristicPolicy",
    "freshness_lifetime",
    "single_date",
]

# RFC 9110 15.1: status codes "heuristically cacheable" by default.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})


class FreshnessSource(Enum):
    S_MAXAGE = "s-maxage"
    MAX_AGE = "max-age"
    EXPIRES = "expires"
    HEURISTIC = "heuristic"
    INVALID = "invalid"
    NONE = "none"


@dataclass(frozen=True)
class Freshness:
    lifetime: float
    source: FreshnessSource

    @property
    def explicit(self) -> bool:
        return self.source in (
            FreshnessSource.S_MAXAGE,
            FreshnessSource.MAX_AGE,
            FreshnessSource.EXPIRES,
        )


@dataclass(frozen=True)
class HeuristicPolicy:
    fraction: float = 0.1
    cap: float = 86400.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0 or self.cap < 0:
            raise ValueError("heuristic fraction must be in [0, 1] and cap >= 0")


def single_date(
    fields: Fields, name: str, strict_at: float | None = None
) -> tuple[float | None, bool]:
    """``(timestamp or None, valid)`` of a singleton date field.

    ``valid`` is False when the field is present but unparsable or repeated with
    different values (RFC 9111 4.2.1 says to treat such freshness as stale).
    ``strict_at`` (a timestamp, e.g. the response's Date): only the HTTP-date forms
    count as parsable (``dates``; the timestamp places RFC 850 two-digit years).
    Expires is read so, as RFC 9111 5.3 makes an invalid Expires "already expired".
    """
    values = field_values(fields, name)
    if not values:
        return None, True
    if strict_at is not None:
        year = time.gmtime(max(0.0, strict_at)).tm_year
        parsed = {parse_http_date_strict(value, year) for value in values}
    else:
        parsed = {parse_http_date(value) for value in values}
    if len(parsed) != 1 or None in parsed:
        return None, False
    return parsed.pop(), True


def freshness_lifetime(
    status: int,
    headers: Fields,
    directives: ResponseDirectives,
    date_value: float,
    heuristic: HeuristicPolicy = HeuristicPolicy(),
) -> Freshness:
    """The freshness lifetime in seconds for a shared cache.

    ``date_value`` is the Date the age calculation uses (the receive time when the
    response had no valid Date), so Expires and Last-Modified are measured on the
    origin's clock, as 4.2.1 intends.
    """
    if directives.s_maxage is not None:
        return Freshness(float(directives.s_maxage), FreshnessSource.S_MAXAGE)
    if directives.freshness_invalid:
        return Freshness(0.0, FreshnessSource.INVALID)
    if directives.max_age is not None:
        return Freshness(float(directives.max_age), FreshnessSource.MAX_AGE)
    expires, expires_valid = single_date(headers, "expires", strict_at=date_value)
    if not expires_valid:
        return Freshness(0.0, FreshnessSource.INVALID)
    if expires is not None:
        return Freshness(max(0.0, expires - date_value), FreshnessSource.EXPIRES)
    if status not in HEURISTIC_STATUSES and not directives.public:
        return Freshness(0.0, FreshnessSource.NONE)
    last_modified, lm_valid = single_date(headers, "last-modified")
    if last_modified is None or not lm_valid or last_modified > date_value:
        return Freshness(0.0, FreshnessSource.NONE)
    lifetime = min(heuristic.cap, heuristic.fraction * (date_value - last_modified))
    return Freshness(lifetime, FreshnessSource.HEURISTIC)
