"""The decision core the proxy calls: pure, one call per event of a request.

- ``lookup``: before going upstream. Answers ``Hit`` (serve fresh), ``Stale`` (serve
  stale: max-stale, or stale-while-revalidate with a background revalidation),
  ``Revalidate`` (go upstream with these conditional headers), ``Forward`` (miss, with
  its RFC 9211 reason) or ``GatewayTimeout`` (only-if-cached could not be satisfied).
- ``admit``: when the upstream response head arrives. Store or not (with the reason),
  the ``EntryMeta`` to store, and the URIs an unsafe method invalidates.
- ``freshen``: a 304 arrived for a ``Revalidate``: the updated metadata of each stored
  response it selects (empty: nothing matched; forward the request unconditionally).
- ``stale_on_error``: the upstream failed (no connection, or 500/502/503/504): may the
  stale entry be served (RFC 5861 stale-if-error)?
- ``served_headers``: the header section to send from a stored entry (Age set,
  no-cache fields removed unless just validated).

Everything takes ``now`` and times as floats; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from twisted_netlab.http.cache.age import age_inputs, current_age
from twisted_netlab.http.cache.cache_status import CacheStatus, FwdReason
from twisted_netlab.http.cache.directives import (
    RequestDirectives,
    ResponseDirectives,
    parse_request_directives,
    parse_response_directives,
)
from twisted_netlab.http.cache.entry import EntryMeta, Stored, primary_key
from twisted_netlab.http.cache.fields import Fields, field_values, split_list, without_fields
from twisted_netlab.http.cache.freshness import HeuristicPolicy, freshness_lifetime
from twisted_netlab.http.cache.invalidation import invalidated_uris
from twisted_netlab.http.cache.request import ReuseKind, evaluate_reuse
from twisted_netlab.http.cache.storable import StorePolicy, may_store
from twisted_netlab.http.cache.targeted import directive_values
from twisted_netlab.http.cache.validation import (
    NOT_STORED,
    Candidate,
    conditional_headers,
    merge_304,
    select_for_304,
    within_stale_if_error,
    within_stale_while_revalidate,
)
from twisted_netlab.http.cache.vary import matches, secondary_key, vary_names

__all__ = [
    "Admission",
    "CacheConfig",
    "Forward",
    "GatewayTimeout",
    "Hit",
    "Lookup",
    "Revalidate",
    "Stale",
    "admit",
    "freshen",
    "lookup",
    "served_headers",
    "stale_on_error",
]

_ERROR_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class CacheConfig:
    heuristic: HeuristicPolicy = field(default_factory=HeuristicPolicy)
    store: StorePolicy = field(default_factory=StorePolicy)


@dataclass(frozen=True)
class Hit:
    """Serve ``entry`` fresh; send ``headers`` (HEAD: no body) with ``status``."""

    entry: Stored
    headers: tuple[tuple[str, str], ...]
    status: CacheStatus


@dataclass(frozen=True)
class Stale:
    """Serve ``entry`` stale; if ``revalidate`` is non-empty, also send those
    conditional headers upstream in the background and ``freshen`` / ``admit`` with
    the answer (stale-while-revalidate)."""

    entry: Stored
    headers: tuple[tuple[str, str], ...]
    status: CacheStatus
    reason: str
    background: bool
    revalidate: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Revalidate:
    """Go upstream adding ``conditional`` (replacing the client's own conditionals).

    A 304 -> ``freshen(candidates, ...)``, ``store.update`` each result and serve it
    (``serve.validated_status``); if ``freshen`` selects nothing, repeat the request
    without our conditionals. Any other response -> ``admit``; when it is not stored,
    remove the candidates (they are outdated). A failure or 5xx ->
    ``stale_on_error(candidates[0], ...)``, else relay the error (or 504).
    """

    candidates: tuple[Stored, ...]
    conditional: tuple[tuple[str, str], ...]
    fwd: FwdReason
    reason: str


@dataclass(frozen=True)
class Forward:
    """Nothing usable stored: go upstream unchanged, then ``admit`` the response."""

    fwd: FwdReason
    reason: str


@dataclass(frozen=True)
class GatewayTimeout:
    """only-if-cached and nothing servable: answer 504 (RFC 9111 5.2.1.7)."""

    status: CacheStatus
    reason: str


Lookup = Hit | Stale | Revalidate | Forward | GatewayTimeout


def _response_directives(meta: EntryMeta) -> ResponseDirectives:
    return meta.directives


def _request_directives(headers: Fields) -> RequestDirectives:
    cache_control: list[str] = []
    pragma: list[str] = []
    for name, value in headers:  # one pass: this runs for every lookup
        low = name.lower()
        if low == "cache-control":
            cache_control.append(value)
        elif low == "pragma":
            pragma.append(value)
    if not cache_control and not pragma:
        return _NO_REQUEST_DIRECTIVES  # the common request: nothing asked (frozen, shared)
    return parse_request_directives(cache_control, pragma)


_NO_REQUEST_DIRECTIVES = parse_request_directives((), ())


def served_headers(
    meta: EntryMeta, now: float, *, validated: bool = False
) -> tuple[tuple[str, str], ...]:
    """The stored header section to send, with ``Age`` (RFC 9111 5.1) set.

    Fields named by ``no-cache="..."`` are removed unless the entry was ``validated``
    just now (RFC 9111 5.2.2.4).
    """
    age = int(current_age(meta.age, now))
    if validated:
        return (*without_fields(meta.headers, ("age",)), ("Age", str(age)))
    return (*meta.served_fields, ("Age", str(age)))


def _received(stored: Stored) -> float:
    return stored.meta.age.response_time


@lru_cache(maxsize=256)
def _hit_status(ttl: int) -> CacheStatus:
    """``hit; ttl=...``: a frozen value, made once per ttl (each hit needs one)."""
    return CacheStatus(hit=True, ttl=ttl)


def _ttl(meta: EntryMeta, now: float) -> int:
    return int(meta.lifetime - current_age(meta.age, now))


def lookup(
    method: str, request_headers: Fields, now: float, entries: Sequence[Stored]
) -> Lookup:
    """What to do with a request whose primary key has these stored ``entries``."""
    method = method.upper()
    request = _request_directives(request_headers)
    if method not in ("GET", "HEAD"):
        return Forward(FwdReason.METHOD, f"{method} is not answered from the cache")
    usable = [s for s in entries if matches(s.meta.vary, request_headers)]
    if not usable:
        fwd = FwdReason.VARY_MISS if entries else FwdReason.URI_MISS
        reason = "no stored response matches the Vary request headers" if entries else "not stored"
        if request.only_if_cached:
            return GatewayTimeout(CacheStatus(fwd=fwd, detail="only-if-cached"), reason)
        return Forward(fwd, reason)
    chosen = usable[0] if len(usable) == 1 else max(usable, key=_received)
    meta = chosen.meta
    response = _response_directives(meta)
    age = current_age(meta.age, now)
    reuse = evaluate_reuse(age, meta.lifetime, request, response)
    ttl = int(meta.lifetime - age)  # _ttl(meta, now), with the age already worked out
    if reuse.kind is ReuseKind.FRESH:
        return Hit(chosen, served_headers(meta, now), _hit_status(ttl))
    if reuse.kind is ReuseKind.STALE_OK:
        return Stale(
            chosen,
            served_headers(meta, now),
            CacheStatus(hit=True, ttl=ttl, detail="max-stale"),
            reuse.reason,
            background=False,
        )
    request_forced = reuse.by_request
    conditional = conditional_headers([meta.headers])
    if (
        not request_forced
        and method == "GET"
        and within_stale_while_revalidate(reuse.staleness, response)
    ):
        return Stale(
            chosen,
            served_headers(meta, now),
            CacheStatus(hit=True, ttl=ttl, detail="stale-while-revalidate"),
            "stale within stale-while-revalidate",
            background=True,
            revalidate=conditional,
        )
    fwd = FwdReason.REQUEST if request_forced else FwdReason.STALE
    if request.only_if_cached:
        return GatewayTimeout(CacheStatus(fwd=fwd, detail="only-if-cached"), reuse.reason)
    if method == "HEAD":
        # Forward the HEAD as is; its 200 can still freshen us (head.freshen_from_head).
        return Forward(fwd, reuse.reason)
    return Revalidate((chosen,), conditional, fwd, reuse.reason)


@dataclass(frozen=True)
class Admission:
    """``admit``'s answer: store ``meta`` (when ``store``) and invalidate ``invalidate``."""

    store: bool
    reason: str
    meta: EntryMeta | None
    invalidate: tuple[str, ...] = ()


def _keys(uris: Sequence[str]) -> list[str]:
    keys: list[str] = []
    for uri in uris:
        try:
            keys.append(primary_key(uri))
        except ValueError:
            continue
    return keys


def _stored_headers(response_headers: Fields, omit: frozenset[str]) -> tuple[tuple[str, str], ...]:
    connection = {n.lower() for n in split_list(field_values(response_headers, "connection"))}
    return without_fields(response_headers, NOT_STORED | connection | omit)


def admit(
    key: str,
    method: str,
    request_headers: Fields,
    status: int,
    response_headers: Fields,
    request_time: float,
    response_time: float,
    config: CacheConfig = CacheConfig(),
) -> Admission:
    """Decide storage for an upstream response to a request keyed ``key``.

    ``key`` is ``entry.primary_key(target URI)``; unsafe methods that succeed also list
    the keys to invalidate (RFC 9111 4.4), computed from the same URI.
    """
    invalidate = tuple(
        dict.fromkeys(_keys(invalidated_uris(method, status, key, response_headers)))
    )
    request = _request_directives(request_headers)
    response = parse_response_directives(directive_values(response_headers))
    verdict = may_store(
        method, status, request_headers, request, response_headers, response, config.store
    )
    if not verdict.store:
        return Admission(False, verdict.reason, None, invalidate)
    names = vary_names(response_headers)
    vary = secondary_key(names, request_headers)
    if vary is None:
        return Admission(False, "Vary: * can never be reused", None, invalidate)
    age = age_inputs(response_headers, request_time, response_time)
    freshness = freshness_lifetime(
        status, response_headers, response, age.date_value, config.heuristic
    )
    headers = _stored_headers(response_headers, verdict.omit_fields)
    has_validator = bool(field_values(headers, "etag") or field_values(headers, "last-modified"))
    stale_allowed = (
        response.stale_if_error is not None or response.stale_while_revalidate is not None
    )
    if response.no_cache and not has_validator:
        return Admission(
            False, "no-cache without a validator: every reuse would be a full fetch", None,
            invalidate,
        )
    if freshness.lifetime <= 0 and not has_validator and not stale_allowed:
        return Admission(False, "stale on arrival and no validator to revalidate it", None,
                         invalidate)
    meta = EntryMeta(key, status, headers, vary, age, freshness.lifetime)
    return Admission(True, f"stored ({freshness.source.value})", meta, invalidate)


def freshen(
    candidates: Sequence[Stored],
    response_headers: Fields,
    request_time: float,
    response_time: float,
    config: CacheConfig = CacheConfig(),
) -> list[Stored]:
    """Apply a 304 to the stored responses it selects (RFC 9111 4.3.4).

    The 304 answers our own revalidation of ``candidates`` (their validators, not the
    client's, were sent: ``with_validators``), hence ``select_for_304(..., ours=True)``.

    Returns the updated entries (same ids) for the store to replace. If a merged
    response now says ``no-store`` it is left out: the caller should drop that entry.
    """
    chosen = set(
        select_for_304(
            [Candidate(s.ident, s.meta.headers, s.meta.age.response_time) for s in candidates],
            response_headers,
            ours=True,
        )
    )
    updated: list[Stored] = []
    for stored in candidates:
        if stored.ident not in chosen:
            continue
        headers = merge_304(stored.meta.headers, response_headers)
        response = parse_response_directives(directive_values(headers))
        if response.no_store or response.private:
            continue
        age = age_inputs(response_headers, request_time, response_time)
        freshness = freshness_lifetime(
            stored.meta.status, headers, response, age.date_value, config.heuristic
        )
        meta = EntryMeta(
            stored.meta.key, stored.meta.status, headers, stored.meta.vary, age,
            freshness.lifetime,
        )
        updated.append(Stored(stored.ident, meta))
    return updated


def stale_on_error(
    entry: Stored, request_headers: Fields, now: float, upstream_status: int | None
) -> Stale | None:
    """Serve ``entry`` stale because the upstream failed? (RFC 5861 4).

    ``upstream_status`` is None when no response arrived at all; a response that is not
    500/502/503/504 is not an error in RFC 5861's sense and is relayed instead.
    """
    if upstream_status is not None and upstream_status not in _ERROR_STATUSES:
        return None
    meta = entry.meta
    staleness = max(0.0, current_age(meta.age, now) - meta.lifetime)
    response = _response_directives(meta)
    if not within_stale_if_error(staleness, response, _request_directives(request_headers)):
        return None
    return Stale(
        entry,
        served_headers(meta, now),
        CacheStatus(hit=True, ttl=_ttl(meta, now), detail="stale-if-error"),
        "upstream failed; stale within stale-if-error",
        background=False,
    )
