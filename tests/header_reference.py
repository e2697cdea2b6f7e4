"""Pair-based reference header rules for the proxy, kept with the tests.

The proxy runs the grouped fast paths in ``twisted_netlab.http.headers``
(``forward_request_headers``, ``relay_response_headers``); these slower, obviously
ordered versions on ``(name, value)`` pairs state the same rules plainly, and
tests/test_proxy_rules.py checks with hypothesis that both agree. They live here because
nothing in the package uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twisted_netlab.http.headers import (
    CLIENT_IP,
    FORWARDING,
    REQUEST_FRAMING,
    CookieRewrite,
    Pair,
    TrustedProxies,
    _forwarded_element,
    forwarded_host,
    rewrite_set_cookie,
    strip_hop_by_hop,
    via_value,
)
from twisted_netlab.http.host import is_valid_host


@dataclass(frozen=True)
class ClientHop:
    """What the proxy knows about the hop it received a request on."""

    peer: str  # the immediate peer's IP address
    scheme: str  # "http" or "https" as seen by the proxy
    host: bytes | None  # the Host the client asked for
    version: bytes = b"1.1"  # the client's HTTP version, for Via


def forwarded_element(hop: ClientHop) -> bytes:
    """One RFC 7239 element: ``for=...;host=...;proto=...``."""
    return _forwarded_element(
        hop.peer.encode("ascii", "replace"), hop.host, hop.scheme.encode("ascii")
    )


def request_headers(
    pairs: Sequence[Pair],
    hop: ClientHop,
    *,
    trusted: TrustedProxies,
    upstream_host: bytes,
    preserve_host: bool = False,
    pseudonym: str = "netlab",
) -> list[Pair]:
    """Headers to send upstream for a client request carrying ``pairs``.

    Hop-by-hop and framing headers are dropped; forwarding headers are extended when the
    peer is trusted and replaced otherwise; ``Via`` gets our hop; ``Host`` is the
    upstream's unless ``preserve_host``.
    """
    is_trusted = hop.peer in trusted
    drop = REQUEST_FRAMING | FORWARDING if is_trusted else REQUEST_FRAMING | FORWARDING | CLIENT_IP
    kept = [(n, v) for n, v in strip_hop_by_hop(pairs, drop) if b"_" not in n]
    client_host = hop.host if hop.host and is_valid_host(hop.host) else None
    host = client_host if preserve_host and client_host else upstream_host
    out: list[Pair] = [(b"Host", host), *kept]

    incoming: dict[bytes, list[bytes]] = {}
    if is_trusted:
        for name, value in pairs:
            low = name.lower()
            if low in FORWARDING:
                incoming.setdefault(low, []).append(value)

    xff = b", ".join([*incoming.get(b"x-forwarded-for", []), hop.peer.encode("ascii")])
    out.append((b"X-Forwarded-For", xff))
    proto = incoming.get(b"x-forwarded-proto", [hop.scheme.encode("ascii")])[0]
    out.append((b"X-Forwarded-Proto", proto))
    fhost = incoming.get(b"x-forwarded-host", [hop.host] if hop.host else [])
    if fhost:
        out.append((b"X-Forwarded-Host", forwarded_host(fhost[0], upstream_host)))
    element = _forwarded_element(
        hop.peer.encode("ascii", "replace"),
        forwarded_host(hop.host, upstream_host) if hop.host else None,
        hop.scheme.encode("ascii"),
    )
    forwarded = b", ".join([*incoming.get(b"forwarded", []), element])
    out.append((b"Forwarded", forwarded))
    out.append((b"Via", via_value(hop.version, pseudonym)))
    return out


def response_headers(
    pairs: Sequence[Pair],
    *,
    version: bytes,
    pseudonym: str = "netlab",
    rewrite_location: Callable[[str], str] | None = None,
    cookies: CookieRewrite | None = None,
    drop_cors: bool = False,
) -> list[Pair]:
    """Headers to send the client for an upstream response carrying ``pairs``.

    ``drop_cors``: another layer (the CORS wrapper) owns ``Access-Control-*``, so the
    upstream's copies are dropped rather than doubled.
    """
    out: list[Pair] = []
    for name, value in strip_hop_by_hop(pairs):
        low = name.lower()
        if drop_cors and low.startswith(b"access-control-"):
            continue
        if rewrite_location is not None and low in (b"location", b"content-location"):
            value = rewrite_location(value.decode("latin-1")).encode("latin-1")
        elif cookies is not None and low == b"set-cookie":
            value = rewrite_set_cookie(value, cookies)
        out.append((name, value))
    out.append((b"Via", via_value(version, pseudonym)))
    return out
