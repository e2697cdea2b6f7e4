"""May a stored response be reused for this request? (RFC 9111 4.2, 4.2.4, 5.2.1)

The answer depends on the response's current age and freshness lifetime, what the
request asks (``max-age``, ``min-fresh``, ``max-stale``, ``no-cache``) and what the
response forbids (``no-cache``, ``must-revalidate``, ``proxy-revalidate``,
``s-maxage``). ``only-if-cached`` is applied by the decision core, which turns every
"go upstream" into a 504.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from twisted_netlab.http.cache.directives import RequestDirectives, ResponseDirectives

__all__ = ["Reuse", "ReuseKind", "evaluate_reuse"]


class ReuseKind(Enum):
    FRESH = "fresh"
    STALE_OK = "stale-ok"
    VALIDATE = "validate"


@dataclass(frozen=True)
class Reuse:
    kind: ReuseKind
    reason: str
    staleness: float = 0.0
    by_request: bool = False


_FRESH = Reuse(ReuseKind.FRESH, "fresh")  # the common answer; frozen, so shared


def evaluate_reuse(
    age: float, lifetime: float, request: RequestDirectives, response: ResponseDirectives
) -> Reuse:
    """Fresh enough to serve, stale but allowed by max-stale, or revalidate (and why)."""
    staleness = max(0.0, age - lifetime)
    if response.no_cache:
        return Reuse(ReuseKind.VALIDATE, "response no-cache", staleness)
    if request.no_cache:
        return Reuse(ReuseKind.VALIDATE, "request no-cache", staleness, by_request=True)
    if request.max_age is not None and age > request.max_age:
        return Reuse(
            ReuseKind.VALIDATE,
            f"older than request max-age={request.max_age}",
            staleness,
            by_request=True,
        )
    if lifetime > age:
        if request.min_fresh is not None and lifetime - age < request.min_fresh:
            return Reuse(
                ReuseKind.VALIDATE,
                f"fresh for less than min-fresh={request.min_fresh}",
                by_request=True,
            )
        return _FRESH
    if response.forbids_stale:
        return Reuse(
            ReuseKind.VALIDATE, "stale and the response forbids serving it stale", staleness
        )
    if request.max_stale_any:
        return Reuse(ReuseKind.STALE_OK, "stale, request allows any max-stale", staleness)
    if request.max_stale is not None and staleness <= request.max_stale:
        return Reuse(
            ReuseKind.STALE_OK, f"stale within request max-stale={request.max_stale}", staleness
        )
    return Reuse(ReuseKind.VALIDATE, "stale", staleness)
