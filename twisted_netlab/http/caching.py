"""Freshness policy: which ``Cache-Control`` (and HTTP/1.0 ``Expires``) a file gets.

Defaults favour correctness over hit rates: everything revalidates (``no-cache``, which
with our strong ETags costs a cheap 304) unless its name proves that its content never
changes under that name. A file name carrying a content hash (``app.3f9a2c1d.js``)
does: it gets a year and ``immutable``. HTML never does, even with a hash-like name: it is
the entry point that names the hashed assets, so it must always revalidate.

The fingerprint rule (``is_fingerprinted``) looks at the file name without its last
extension, split on ``.`` and ``-``; a segment is a fingerprint when it is 8 to 128
characters long and either

- hexadecimal in one case (``3f9a2c1d``, ``3F9A2C1D``), containing both digits and
  letters, with at least three letter/digit runs (webpack, Parcel, Next.js), or
- ``[A-Za-z0-9_]`` containing digits and letters, at least three letter/digit runs and
  no run of four lowercase letters (base32/base64url hashes of Vite/Rollup/esbuild:
  ``BXz3k9aQ``, ``5VNEQL3T``).

So ``20240101.log`` (digits only), ``jquery-3.7.1.min.js`` (short segments),
``release2024.zip`` and ``sha256sums.txt`` (words with a number) are *not* fingerprinted.
A real hash that happens to look like a word is missed, which only costs revalidation:
the rule errs on the safe side, because marking a mutable file immutable is the one
mistake no client can recover from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twisted_netlab.http.tokens import split_list
from twisted_netlab.http.validators import http_date

__all__ = ["CachePolicy", "cache_control", "expires_header", "is_fingerprinted", "max_age_of"]

_SEGMENT_SPLIT = re.compile(r"[.-]")
_HEX = re.compile(r"[0-9a-f]{8,128}|[0-9A-F]{8,128}")
_BASE = re.compile(r"[A-Za-z0-9_]{8,128}")
_RUNS = re.compile(r"[A-Za-z]+|[0-9]+")
_WORD = re.compile(r"[a-z]{4}")
_MAX_AGE = re.compile(r'^\s*max-age\s*=\s*(?:([0-9]+)|"([0-9]+)")\s*$', re.IGNORECASE)
# RFC 9111 1.2.2: larger delta-seconds count as 2**31.
_DELTA_CAP = 2**31
# An Expires further out than this tells an HTTP/1.0 cache nothing more (RFC 2616 even
# advised at most a year), and absurd max-age values would overflow date formatting.
_MAX_EXPIRES_DELTA = 10 * 365 * 24 * 3600


@dataclass(frozen=True)
class CachePolicy:
    """``max_age`` for unfingerprinted non-HTML files; ``dev`` forces revalidation."""

    max_age: int = 0
    dev: bool = False
    immutable_max_age: int = 31536000

    def __post_init__(self) -> None:
        if self.max_age < 0 or self.immutable_max_age < 0:
            raise ValueError("max-age values must be >= 0")


def _is_fingerprint_segment(segment: str) -> bool:
    if not 8 <= len(segment) <= 128:
        return False
    alnum = segment.replace("_", "")
    runs = _RUNS.findall(alnum)
    if len(runs) < 3:  # needs letters and digits interleaved
        return False
    if _HEX.fullmatch(segment) is not None:
        return True
    return _BASE.fullmatch(segment) is not None and _WORD.search(segment) is None


def is_fingerprinted(filename: str) -> bool:
    """Whether the file name carries a content hash (see the module docstring)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, _ext = name.rpartition(".")
    if not dot:
        stem = name
    if not stem:
        return False
    return any(_is_fingerprint_segment(s) for s in _SEGMENT_SPLIT.split(stem))


def _is_html(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml")


def cache_control(policy: CachePolicy, filename: str, content_type: str) -> str:
    if policy.dev:
        return "no-cache"
    if _is_html(content_type):
        return "no-cache"
    if is_fingerprinted(filename):
        return f"public, max-age={policy.immutable_max_age}, immutable"
    if policy.max_age > 0:
        return f"public, max-age={policy.max_age}"
    return "no-cache"


def max_age_of(cache_control: str) -> int | None:
    """The ``max-age`` directive's value, or None when absent or malformed."""
    for directive in split_list(cache_control):
        match = _MAX_AGE.match(directive)
        if match is not None:
            digits = (match.group(1) or match.group(2)).lstrip("0") or "0"
            # RFC 9111 1.2.2: delta-seconds beyond 2**31 count as 2**31.
            return _DELTA_CAP if len(digits) > 10 else min(int(digits), _DELTA_CAP)
    return None


def expires_header(now: float, cache_control: str) -> str:
    """``Expires`` matching ``cache_control`` for HTTP/1.0 caches.

    ``no-cache``/``no-store``/no max-age -> ``now`` (already stale: HTTP/1.0 caches then
    revalidate or do not store); otherwise ``now + max-age``.
    """
    directives = {d.split("=", 1)[0].strip().lower() for d in split_list(cache_control)}
    age = max_age_of(cache_control)
    if "no-cache" in directives or "no-store" in directives or not age:
        return http_date(now)
    return http_date(now + min(age, _MAX_EXPIRES_DELTA))
