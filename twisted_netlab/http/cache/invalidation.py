"""Invalidation after unsafe methods (RFC 9111 4.4).

A non-error (2xx or 3xx) response to an unsafe method invalidates the target URI, and
the URIs in Location and Content-Location when they share the target's origin (a
different origin must not be able to evict our entries for another site: a denial of
service vector the RFC calls out).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from twisted_netlab.http.cache.fields import Fields, field_values

__all__ = ["SAFE_METHODS", "invalidated_uris", "same_origin"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(uri: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, -1)


def same_origin(a: str, b: str) -> bool:
    """RFC 6454 origin equality of two absolute URIs (scheme, host, port)."""
    origin = _origin(a)
    return origin is not None and origin == _origin(b)


def invalidated_uris(
    method: str, status: int, target_uri: str, response_headers: Fields
) -> list[str]:
    """Absolute URIs to invalidate, target first; empty when nothing is invalidated.

    ``target_uri`` is the absolute URI the cache keys the request on; relative
    Location / Content-Location references resolve against it.
    """
    if method.upper() in SAFE_METHODS or not 200 <= status < 400:
        return []
    uris = [target_uri]
    for name in ("location", "content-location"):
        values = field_values(response_headers, name)
        if len(values) != 1:
            continue
        try:
            resolved = urljoin(target_uri, values[0].strip())
        except ValueError:
            continue
        resolved = resolved.split("#", 1)[0]
        if same_origin(target_uri, resolved) and resolved not in uris:
            uris.append(resolved)
    return uris
