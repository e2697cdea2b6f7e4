"""The Cache-Status field (RFC 9211) and a plain-English explanation of it.

One member per cache; ours is always the last one appended (the RFC orders members
from the origin outwards). The cache name is an sf-token when it can be, else an
sf-string; ``detail`` and ``key`` are sf-strings (quotes and backslashes escaped,
anything outside printable ASCII dropped, since sf-string cannot carry it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["CacheStatus", "FwdReason", "explain", "serialise"]

_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class FwdReason(Enum):
    """RFC 9211 2.2 fwd values."""

    BYPASS = "bypass"
    METHOD = "method"
    URI_MISS = "uri-miss"
    VARY_MISS = "vary-miss"
    MISS = "miss"
    REQUEST = "request"
    STALE = "stale"
    PARTIAL = "partial"


@dataclass(frozen=True)
class CacheStatus:
    """One Cache-Status member; ``hit`` and ``fwd`` are mutually exclusive."""

    hit: bool = False
    fwd: FwdReason | None = None
    fwd_status: int | None = None
    ttl: int | None = None
    stored: bool = False
    collapsed: bool = False
    key: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.hit and self.fwd is not None:
            raise ValueError("Cache-Status cannot be both hit and fwd")


def _sf_string(text: str) -> str:
    clean = _UNPRINTABLE.sub("", text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialise(status: CacheStatus, cache_name: str = "netlab") -> str:
    """The member text, e.g. ``netlab; hit; ttl=376`` or ``netlab; fwd=uri-miss; stored``."""
    name = cache_name if _SF_TOKEN.fullmatch(cache_name) else _sf_string(cache_name)
    parts = [name]
    if status.hit:
        parts.append("hit")
    if status.fwd is not None:
        parts.append(f"fwd={status.fwd.value}")
    if status.fwd_status is not None:
        parts.append(f"fwd-status={status.fwd_status}")
    if status.ttl is not None:
        parts.append(f"ttl={status.ttl}")
    if status.stored:
        parts.append("stored")
    if status.collapsed:
        parts.append("collapsed")
    if status.key is not None:
        parts.append(f"key={_sf_string(status.key)}")
    if status.detail is not None:
        parts.append(f"detail={_sf_string(status.detail)}")
    return "; ".join(parts)


_FWD_WORDS = {
    FwdReason.BYPASS: "the cache was configured to bypass this request",
    FwdReason.METHOD: "the request method is not answered from the cache",
    FwdReason.URI_MISS: "nothing was stored for this URL",
    FwdReason.VARY_MISS: (
        "responses were stored for this URL, but none for these request headers (Vary)"
    ),
    FwdReason.MISS: "the cache had nothing usable",
    FwdReason.REQUEST: "the request asked to bypass or revalidate the cache",
    FwdReason.STALE: "the stored response was stale and had to be revalidated",
    FwdReason.PARTIAL: "only part of the response was stored",
}


def explain(status: CacheStatus) -> str:
    """One sentence for the ``--explain`` header, e.g. for a hit with ttl=30."""
    words: list[str] = []
    if status.hit:
        if status.ttl is not None and status.ttl < 0:
            words.append(f"Served from the cache, stale by {-status.ttl} s")
        else:
            words.append("Served from the cache")
    elif status.fwd is not None:
        words.append("Forwarded upstream: " + _FWD_WORDS[status.fwd])
    else:
        words.append("Not handled by the cache")
    if status.fwd_status is not None:
        words.append(f"the upstream answered {status.fwd_status}")
    if status.collapsed:
        words.append("shared with concurrent identical requests")
    if status.stored:
        words.append("the response was stored")
    if status.ttl is not None and status.ttl >= 0:
        words.append(f"fresh for {status.ttl} more s")
    if status.detail:
        words.append(f"({_UNPRINTABLE.sub('', status.detail)})")
    return "; ".join(words) + "."
