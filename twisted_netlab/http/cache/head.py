"""Freshening stored GET responses from a HEAD response (RFC 9111 4.3.5).

``lookup`` forwards a HEAD that cannot be answered fresh; when the upstream answers
200, ``freshen_from_head`` updates every stored GET response that could have been
chosen for that request (its Vary matches) whose validators and Content-Length agree
with the HEAD response, and lists the others as outdated (the RFC says "consider
stale"; we drop them, which is the same to a client and frees the space).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted_netlab.http.cache.age import age_inputs
from twisted_netlab.http.cache.decision import CacheConfig
from twisted_netlab.http.cache.directives import parse_response_directives
from twisted_netlab.http.cache.entry import EntryMeta, Stored
from twisted_netlab.http.cache.fields import Fields, field_values
from twisted_netlab.http.cache.freshness import freshness_lifetime
from twisted_netlab.http.cache.targeted import directive_values
from twisted_netlab.http.cache.validation import merge_304
from twisted_netlab.http.cache.vary import matches

__all__ = ["HeadFreshening", "freshen_from_head"]


@dataclass(frozen=True)
class HeadFreshening:
    updated: tuple[Stored, ...]
    outdated: tuple[str, ...]


def _agrees(stored: Fields, head: Fields, name: str) -> bool:
    received = field_values(head, name)
    return not received or received == field_values(stored, name)


def freshen_from_head(
    candidates: Sequence[Stored],
    request_headers: Fields,
    status: int,
    head_headers: Fields,
    request_time: float,
    response_time: float,
    config: CacheConfig | None = None,
) -> HeadFreshening:
    """Apply a HEAD response to the stored GET responses for the same key."""
    if status != 200:
        return HeadFreshening((), ())
    config = config or CacheConfig()
    updated: list[Stored] = []
    outdated: list[str] = []
    for stored in candidates:
        if not matches(stored.meta.vary, request_headers):
            continue
        if not all(
            _agrees(stored.meta.headers, head_headers, name)
            for name in ("etag", "last-modified", "content-length")
        ):
            outdated.append(stored.ident)
            continue
        headers = merge_304(stored.meta.headers, head_headers)
        response = parse_response_directives(directive_values(headers))
        if response.no_store or response.private:
            outdated.append(stored.ident)
            continue
        age = age_inputs(head_headers, request_time, response_time)
        freshness = freshness_lifetime(
            stored.meta.status, headers, response, age.date_value, config.heuristic
        )
        meta = EntryMeta(
            stored.meta.key, stored.meta.status, headers, stored.meta.vary, age, freshness.lifetime
        )
        updated.append(Stored(stored.ident, meta))
    return HeadFreshening(tuple(updated), tuple(outdated))
