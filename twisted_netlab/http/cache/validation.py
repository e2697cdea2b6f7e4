"""Validation: conditional requests, 304 merging, stale windows (RFC 9111 4.3, RFC 5861).

- ``conditional_headers``: the stored validators sent upstream (4.3.1). Every stored
  variant's ETag goes into one If-None-Match so one round trip can select any of them;
  If-Modified-Since is sent only for a single candidate (a date cannot say which).
- ``select_for_304``: which stored response a 304 refers to (4.3.4): strong ETag match,
  else weak ETag / Last-Modified match (the most recent), else the single stored
  response when neither side has validators, or when the 304 answers a conditional the
  cache built from that one response's validators (origins often omit ETag on a 304).
- ``merge_304``: the stored header section updated by a 304 (3.2): every field in the
  304 replaces the stored field of that name, except fields describing the message
  (hop-by-hop, framing, Age) and those the stored body depends on (Content-Length,
  Content-Encoding, Content-Range).
- ``strip_no_cache_fields``: ``no-cache="Set-Cookie"`` lets a shared cache reuse the
  response, but those fields must not be sent without revalidation (5.2.2.4).
- ``within_stale_while_revalidate`` / ``within_stale_if_error``: RFC 5861 windows,
  never open when the response forbids stale service (RFC 9111 4.2.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted_netlab.http.cache.directives import RequestDirectives, ResponseDirectives
from twisted_netlab.http.cache.fields import Fields, field_values, split_list, without_fields
from twisted_netlab.http.cache.freshness import single_date
from twisted_netlab.http.tokens import HOP_BY_HOP
from twisted_netlab.http.validators import ETag, parse_etag_list, strong_match, weak_match

__all__ = [
    "NOT_STORED",
    "NOT_UPDATED_BY_304",
    "Candidate",
    "conditional_headers",
    "merge_304",
    "select_for_304",
    "strip_no_cache_fields",
    "within_stale_if_error",
    "within_stale_while_revalidate",
]

# Never stored (RFC 9111 3.1: hop-by-hop, from the one list in http/tokens; Age is
# recomputed when served). Lower-case text names, as the cache rules compare them.
NOT_STORED: frozenset[str] = frozenset(name.decode("ascii") for name in HOP_BY_HOP) | {"age"}

# A 304 updates the stored header fields except these (RFC 9111 4.3.4): the ones never
# stored, plus the ones describing the stored body's bytes, which a 304 has none of.
NOT_UPDATED_BY_304: frozenset[str] = NOT_STORED | {
    "content-length",
    "content-encoding",
    "content-range",
}


def _etag(headers: Fields) -> ETag | None:
    values = field_values(headers, "etag")
    if len(values) != 1:
        return None
    tags = parse_etag_list(values[0])
    if tags == "*" or len(tags) != 1:
        return None
    return tags[0]


def conditional_headers(stored: Sequence[Fields]) -> tuple[tuple[str, str], ...]:
    """If-None-Match / If-Modified-Since to validate these stored responses."""
    tags: list[str] = []
    for headers in stored:
        tag = _etag(headers)
        if tag is not None and str(tag) not in tags:
            tags.append(str(tag))
    result: list[tuple[str, str]] = []
    if tags:
        result.append(("If-None-Match", ", ".join(tags)))
    if len(stored) == 1:
        modified, valid = single_date(stored[0], "last-modified")
        if modified is not None and valid:
            result.append(("If-Modified-Since", field_values(stored[0], "last-modified")[0]))
    return tuple(result)


@dataclass(frozen=True)
class Candidate:
    """A stored response a 304 might refer to; ``ident`` is the store's entry id."""

    ident: str
    headers: Fields
    response_time: float


def select_for_304(
    candidates: Sequence[Candidate], response_headers: Fields, ours: bool = False
) -> list[str]:
    """Ids of the stored responses a 304 updates (RFC 9111 4.3.4).

    ``ours``: the 304 answers a conditional request the cache built from exactly these
    candidates' validators (4.3.1), not one the client wrote. A 304 without validators
    then still identifies a single candidate: the only representation it can confirm is
    the one whose validators were asked about. RFC 9110 15.4.5 wants the origin to
    repeat the ETag, but many do not, and refusing such a 304 would mean a full
    refetch each time. With several candidates it cannot say which, so none.
    """
    new_tag = _etag(response_headers)
    if new_tag is not None and not new_tag.weak:
        return [
            c.ident
            for c in candidates
            if (tag := _etag(c.headers)) is not None and strong_match(tag, new_tag)
        ]
    matching: list[Candidate] = []
    if new_tag is not None:
        matching = [
            c
            for c in candidates
            if (tag := _etag(c.headers)) is not None and weak_match(tag, new_tag)
        ]
    else:
        new_modified, valid = single_date(response_headers, "last-modified")
        if new_modified is not None and valid:
            matching = [
                c for c in candidates if single_date(c.headers, "last-modified")[0] == new_modified
            ]
        else:
            bare = [
                c
                for c in candidates
                if not field_values(c.headers, "etag")
                and not field_values(c.headers, "last-modified")
            ]
            if len(candidates) == 1 and (bare or ours):
                return [candidates[0].ident]
            return []
    if not matching:
        return []
    latest = max(matching, key=lambda c: c.response_time)
    return [latest.ident]


def merge_304(stored: Fields, response_headers: Fields) -> tuple[tuple[str, str], ...]:
    """The stored header section updated with a 304's fields (RFC 9111 3.2, 4.3.4)."""
    connection = {
        name.lower() for name in split_list(field_values(response_headers, "connection"))
    }
    excluded = NOT_UPDATED_BY_304 | connection
    updates = [(name, value) for name, value in response_headers if name.lower() not in excluded]
    replaced = {name.lower() for name, _ in updates}
    kept = [(name, value) for name, value in stored if name.lower() not in replaced]
    return tuple(kept + updates)


def strip_no_cache_fields(
    headers: Fields, response: ResponseDirectives
) -> tuple[tuple[str, str], ...]:
    """Headers to send from a stored response served without revalidation."""
    return without_fields(headers, response.no_cache_fields)


def within_stale_while_revalidate(staleness: float, response: ResponseDirectives) -> bool:
    """RFC 5861 3: serve stale while a background revalidation runs."""
    window = response.stale_while_revalidate
    return window is not None and not response.forbids_stale and 0 < staleness <= window


def within_stale_if_error(
    staleness: float, response: ResponseDirectives, request: RequestDirectives
) -> bool:
    """RFC 5861 4: serve stale when the upstream fails (error, 500/502/503/504).

    The request's stale-if-error also opens the window (RFC 5861 4 allows both);
    the larger window wins, but never against must-revalidate and friends.
    """
    if response.forbids_stale:
        return False
    windows = [w for w in (response.stale_if_error, request.stale_if_error) if w is not None]
    return bool(windows) and staleness <= max(windows)
