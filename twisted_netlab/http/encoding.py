"""Content-coding negotiation (RFC 9110 12.5.3) and what is worth compressing.

``choose_encoding`` ranks the server's available codings by the client's q-value, ties
broken by server preference. ``identity`` is acceptable unless excluded (``identity;q=0``
or ``*;q=0`` without an explicit identity); when not listed it ranks below every coding
the client listed with q > 0, so ``Accept-Encoding: gzip;q=0.5`` still gets gzip.
No header at all means any coding is acceptable, but clients that send none are usually
tools that would not decode, so identity is chosen then (when available).

``None`` means nothing acceptable: the adapter may answer 406 or, as most servers do
(RFC 9110 12.5.3 allows it), send identity anyway. We recommend identity with
``Vary: Accept-Encoding``, since refusing a file over its coding helps no one.

Parsing is lenient: unknown parameters are ignored, an unparsable q drops that entry,
q is clamped to [0, 1], duplicated codings keep their highest q, ``x-gzip`` counts as
``gzip`` (RFC 9110 8.4.1.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from twisted_netlab.http.tokens import TOKEN

__all__ = ["SIDECARS", "choose_encoding", "is_compressible", "parse_accept_encoding"]

SIDECARS: dict[str, str] = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}

_ALIASES = {"x-gzip": "gzip", "x-compress": "compress"}
# Implicit identity: acceptable, but below any coding listed with q > 0 (min q is 0.001).
_IMPLICIT_IDENTITY_Q = 0.0005


def parse_accept_encoding(value: str | None) -> dict[str, float]:
    prefs: dict[str, float] = {}
    if value is None:
        return prefs
    for item in value.split(","):
        coding, *params = (part.strip(" \t") for part in item.split(";"))
        coding = coding.lower()
        if not coding or TOKEN.fullmatch(coding) is None:
            continue
        coding = _ALIASES.get(coding, coding)
        q = 1.0
        valid = True
        for param in params:
            name, eq, raw = param.partition("=")
            if name.strip(" \t").lower() != "q":
                continue
            try:
                q = float(raw.strip(" \t").strip('"')) if eq else math.nan
            except ValueError:
                valid = False
                break
            if not math.isfinite(q):
                valid = False
                break
            q = min(max(q, 0.0), 1.0)
        if valid:
            prefs[coding] = max(q, prefs.get(coding, -1.0))
    return prefs


def _quality(coding: str, prefs: dict[str, float]) -> float:
    if coding in prefs:
        return prefs[coding]
    if coding == "identity":
        if prefs.get("*") == 0.0:
            return 0.0
        return _IMPLICIT_IDENTITY_Q
    return prefs.get("*", 0.0)


def choose_encoding(accept_encoding: str | None, available: Sequence[str]) -> str | None:
    """The best coding from ``available`` (server order), or None when none is acceptable."""
    codings = [c.lower() for c in available]
    if accept_encoding is None:
        if "identity" in codings:
            return "identity"
        return codings[0] if codings else None
    prefs = parse_accept_encoding(accept_encoding)
    best: str | None = None
    best_q = 0.0
    for coding in codings:
        q = _quality(coding, prefs)
        if q > best_q:
            best, best_q = coding, q
    return best


_COMPRESSIBLE_APPLICATION = frozenset(
    {
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/json",
        "application/ld+json",
        "application/manifest+json",
        "application/xml",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/wasm",
        "application/x-sh",
        "application/x-tar",
        "application/sql",
        "application/graphql",
        "application/x-ndjson",
        "application/vnd.ms-fontobject",
        "application/x-font-ttf",
        "application/x-font-opentype",
        "application/postscript",
        "application/rtf",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
    }
)
_COMPRESSIBLE_OTHER = frozenset(
    {
        "image/svg+xml",
        "image/x-icon",
        "image/vnd.microsoft.icon",
        "image/bmp",
        "font/ttf",
        "font/otf",
        "font/collection",
    }
)


def is_compressible(content_type: str) -> bool:
    """Whether compressing this type pays off (not for already-compressed formats)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith("text/"):
        return True
    if media in _COMPRESSIBLE_APPLICATION or media in _COMPRESSIBLE_OTHER:
        return True
    return media.startswith("application/") and media.endswith(("+json", "+xml"))
