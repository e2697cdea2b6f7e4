"""Helpers for the moment the proxy answers: client conditionals and status fields.

- ``client_conditional``: RFC 9111 4.3.2. A client's own If-None-Match /
  If-Modified-Since is evaluated against the stored response the cache is about to
  serve (fresh, stale-allowed or just validated) using the same RFC 9110 13.2.2 rules
  as the static side (``http.conditional.evaluate``), so a browser revalidating a
  cached page gets a 304 from us without an upstream round trip. The client's
  conditionals are never forwarded with ours: ``Revalidate.conditional`` replaces them.
- ``forwarded_status``: the Cache-Status member for a response that went upstream.
- ``status_fields``: our ``Cache-Status`` member (appended as a new field line after
  any the upstream sent, RFC 9211 2: members run from the origin outwards) and, when
  ``explain`` is on, the project's ``X-Netlab-Explain`` header with the sentence from
  ``cache_status.explain``.
"""

from __future__ import annotations

from twisted_netlab.http.cache.age import corrected_initial_age, current_age
from twisted_netlab.http.cache.cache_status import CacheStatus, FwdReason, explain, serialise
from twisted_netlab.http.cache.decision import Admission
from twisted_netlab.http.cache.entry import EntryMeta
from twisted_netlab.http.cache.fields import Fields, field_values
from twisted_netlab.http.cache.freshness import single_date
from twisted_netlab.http.conditional import Decision, evaluate
from twisted_netlab.http.validators import parse_etag_list

__all__ = [
    "EXPLAIN_HEADER",
    "client_conditional",
    "forwarded_status",
    "status_fields",
    "validated_status",
]

EXPLAIN_HEADER = "X-Netlab-Explain"


def _one(headers: Fields, name: str) -> str | None:
    values = field_values(headers, name)
    return ", ".join(values) if values else None


def client_conditional(
    method: str, request_headers: Fields, meta: EntryMeta, now: float
) -> Decision:
    """The client's preconditions against a stored response (304 / 412 / proceed)."""
    etag_values = field_values(meta.headers, "etag")
    etag = None
    if len(etag_values) == 1:
        tags = parse_etag_list(etag_values[0])
        if tags != "*" and len(tags) == 1:
            etag = tags[0]
    last_modified, valid = single_date(meta.headers, "last-modified")
    return evaluate(
        method=method,
        etag=etag,
        last_modified=last_modified if valid else None,
        if_match=_one(request_headers, "if-match"),
        if_none_match=_one(request_headers, "if-none-match"),
        if_modified_since=_one(request_headers, "if-modified-since"),
        if_unmodified_since=_one(request_headers, "if-unmodified-since"),
        if_range=_one(request_headers, "if-range"),
        has_range=bool(field_values(request_headers, "range")),
        now=now,
    )


def forwarded_status(
    fwd: FwdReason, upstream_status: int, admission: Admission, *, collapsed: bool = False
) -> CacheStatus:
    """``fwd=...; fwd-status=...; stored; ttl=...`` for a response from upstream."""
    ttl = None
    if admission.meta is not None:
        ttl = int(admission.meta.lifetime - corrected_initial_age(admission.meta.age))
    return CacheStatus(
        fwd=fwd,
        fwd_status=upstream_status,
        stored=admission.store,
        ttl=ttl,
        collapsed=collapsed,
    )


def validated_status(fwd: FwdReason, meta: EntryMeta, now: float) -> CacheStatus:
    """A stored response served after a 304 from upstream (RFC 9211 2.2 ``fwd-status``)."""
    ttl = int(meta.lifetime - current_age(meta.age, now))
    return CacheStatus(fwd=fwd, fwd_status=304, ttl=ttl, stored=True)


def status_fields(
    status: CacheStatus, *, cache_name: str = "netlab", explain_header: bool = False
) -> tuple[tuple[str, str], ...]:
    """Header pairs to append to the response (RFC 9211, plus the opt-in explanation)."""
    fields = [("Cache-Status", serialise(status, cache_name))]
    if explain_header:
        fields.append((EXPLAIN_HEADER, explain(status)))
    return tuple(fields)
