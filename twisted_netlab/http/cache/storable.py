"""What a SHARED cache may store (RFC 9111 3, 3.5, 5.2.2; RFC 9110 15.1).

One function, ``may_store``, answering yes/no with a reason and, for a yes, the fields
that must be left out of the stored copy (``private="Set-Cookie"`` style qualified
directives, or ``Set-Cookie`` under the STRIP policy).

Choices stricter than the RFC, each because a shared cache must never hand one user's
answer to another or serve something it cannot reproduce exactly:

- only GET responses are stored (HEAD is answered from a stored GET; a HEAD response
  only freshens, see ``validation``);
- 206 and any ``Content-Range`` are refused (we do not assemble partial content);
- ``Vary: *`` is refused: it can never be reused (RFC 9111 4.1), so storing it only
  evicts useful entries;
- ``Set-Cookie`` refuses storage by default (``SetCookiePolicy.REFUSE``); ``STRIP``
  stores the response without it, ``STORE`` keeps it (the RFC's own default, opt-in
  because it replays one user's cookie to everybody).
- a response to a request carrying ``Cookie`` is stored only when it says ``public``
  or ``s-maxage`` or varies on Cookie (``StorePolicy.cookie_requests`` lifts this):
  origins that personalise on a session cookie but forget ``private`` are common, and
  Varnish's default makes the same choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from twisted_netlab.http.cache.directives import RequestDirectives, ResponseDirectives
from twisted_netlab.http.cache.fields import Fields, field_values, has_field, split_list
from twisted_netlab.http.cache.freshness import HEURISTIC_STATUSES

__all__ = [
    "UNDERSTOOD_STATUSES",
    "SetCookiePolicy",
    "StorePolicy",
    "StoreVerdict",
    "may_store",
]

# Status codes whose semantics this cache implements well enough to store them
# (RFC 9111 3: must-understand only allows storing these; 206 deliberately absent).
UNDERSTOOD_STATUSES = frozenset(
    {200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501}
)
STORABLE_METHODS = frozenset({"GET"})


class SetCookiePolicy(Enum):
    REFUSE = "refuse"
    STRIP = "strip"
    STORE = "store"


@dataclass(frozen=True)
class StorePolicy:
    set_cookie: SetCookiePolicy = SetCookiePolicy.REFUSE
    cookie_requests: bool = False


@dataclass(frozen=True)
class StoreVerdict:
    store: bool
    reason: str
    omit_fields: frozenset[str] = frozenset()


def _no(reason: str) -> StoreVerdict:
    return StoreVerdict(False, reason)


def may_store(
    method: str,
    status: int,
    request_headers: Fields,
    request: RequestDirectives,
    response_headers: Fields,
    response: ResponseDirectives,
    policy: StorePolicy = StorePolicy(),
) -> StoreVerdict:
    """RFC 9111 3 for a shared cache, in the RFC's order, plus our stricter choices."""
    if method.upper() not in STORABLE_METHODS:
        return _no(f"method {method} is not stored")
    if status < 200:
        return _no("status is not final")
    if status == 206 or has_field(response_headers, "content-range"):
        return _no("partial content is not stored")
    if status == 304:
        return _no("a 304 only freshens a stored response")
    understood = status in UNDERSTOOD_STATUSES
    if response.must_understand and not understood:
        return _no(f"must-understand with status {status} this cache does not understand")
    # must-understand on an understood status overrides no-store (RFC 9111 5.2.2.3).
    if response.no_store and not (response.must_understand and understood):
        return _no("response no-store")
    if request.no_store:
        return _no("request no-store")
    if response.private:
        return _no("response private")
    if has_field(request_headers, "authorization") and not (
        response.public or response.s_maxage is not None or response.must_revalidate
    ):
        return _no("request carried Authorization without public, s-maxage or must-revalidate")
    varies = {name.lower() for name in split_list(field_values(response_headers, "vary"))}
    if "*" in varies:
        return _no("Vary: * can never be reused")
    if (
        has_field(request_headers, "cookie")
        and not policy.cookie_requests
        and not (response.public or response.s_maxage is not None or "cookie" in varies)
    ):
        return _no("request carried Cookie without public, s-maxage or Vary: Cookie")
    explicit = (
        response.public
        or response.max_age is not None
        or response.s_maxage is not None
        or has_field(response_headers, "expires")
    )
    if not explicit and status not in HEURISTIC_STATUSES:
        return _no(f"status {status} without explicit freshness")
    omit = set(response.private_fields)
    if has_field(response_headers, "set-cookie"):
        if policy.set_cookie is SetCookiePolicy.REFUSE:
            return _no("response sets a cookie (policy: refuse)")
        if policy.set_cookie is SetCookiePolicy.STRIP:
            omit.add("set-cookie")
    return StoreVerdict(True, "storable", frozenset(omit))
