"""Header rules for the reverse proxy, on plain ``(name, value)`` byte pairs.

Lists of pairs, not dicts: repeated headers (``Set-Cookie``, ``Vary``, ``Via``) and
their order survive. Names compare case-insensitively; values are passed through as
bytes except where a rule has to read them. Nothing here knows about Twisted.

Forwarding hygiene, after nginx's defaults:

- a request header whose name holds ``_`` is dropped (nginx ``underscores_in_headers
  off``): many upstreams (CGI, WSGI, PHP) fold ``-`` and ``_`` into one name, so
  ``X_Forwarded_For`` would pose as the ``X-Forwarded-For`` we write;
- client-IP claims (``X-Real-IP``, ``True-Client-IP`` and their CDN cousins) are removed
  unless the peer is a trusted proxy (then they pass as sent): an upstream that logs or
  rate-limits by them must not take a client's word for its own address;
- ``X-Forwarded-Host`` (and the ``host=`` of ``Forwarded``) is only ever a valid
  ``host[:port]`` (``http.host``); anything else is replaced by the mount's upstream
  host, so ``evil.example:1/x?y`` never reaches an upstream that builds URLs from it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from twisted_netlab.errors import ProxyConfigError
from twisted_netlab.http.host import is_valid_host
from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.http.tokens import HOP_BY_HOP, TOKEN_BYTES, split_list_bytes

Pair = tuple[bytes, bytes]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# Set by the proxy itself: incoming copies are dropped unless the peer is trusted.
FORWARDING: frozenset[bytes] = frozenset(
    {b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)

# Claims of "the client's address" that upstreams and frameworks believe: kept only
# when the peer is a trusted proxy.
CLIENT_IP: frozenset[bytes] = frozenset(
    {
        b"x-real-ip",
        b"true-client-ip",
        b"x-client-ip",
        b"x-cluster-client-ip",
        b"cf-connecting-ip",
        b"fastly-client-ip",
    }
)

# The client library frames the body itself; Expect would make the upstream wait.
REQUEST_FRAMING: frozenset[bytes] = frozenset({b"content-length", b"expect", b"host"})


def connection_tokens(pairs: Iterable[Pair]) -> frozenset[bytes]:
    """Header names listed in ``Connection`` (lower-cased): hop-by-hop for this hop."""
    names: set[bytes] = set()
    for name, value in pairs:
        if name.lower() == b"connection":
            names.update(t.lower() for t in split_list_bytes(value))
    return frozenset(names)


def strip_hop_by_hop(pairs: Sequence[Pair], extra: Iterable[bytes] = ()) -> list[Pair]:
    """Drop hop-by-hop headers, those named in ``Connection`` and ``extra`` names.

    The proxy uses it on forwarded 1xx heads; the grouped fast paths below do the same
    for final responses.
    """
    drop = HOP_BY_HOP | connection_tokens(pairs) | {e.lower() for e in extra}
    return [(n, v) for n, v in pairs if n.lower() not in drop]


@dataclass(frozen=True)
class TrustedProxies:
    """Peers whose ``X-Forwarded-*``/``Forwarded`` headers we extend instead of drop."""

    networks: tuple[Network, ...] = ()

    def __contains__(self, host: object) -> bool:
        if not self.networks or not isinstance(host, str):
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in net for net in self.networks)


def parse_trusted(values: Iterable[str]) -> TrustedProxies:
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ProxyConfigError(f"invalid trusted proxy {value!r}: {exc}") from exc
    return TrustedProxies(tuple(networks))


def _forwarded_element(peer: bytes, host: bytes | None, scheme: bytes) -> bytes:
    node = b"[" + peer + b"]" if b":" in peer else peer
    element = b"for=" + _quoted(node)
    if host:
        element += b";host=" + _quoted(host)
    return element + b";proto=" + scheme


def _quoted(value: bytes) -> bytes:
    if TOKEN_BYTES.fullmatch(value):
        return value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def forwarded_host(value: bytes, upstream_host: bytes) -> bytes:
    """``value`` when it is a valid ``host[:port]``, else the mount's upstream host."""
    return value if is_valid_host(value) else upstream_host


def via_value(version: bytes, pseudonym: str) -> bytes:
    """``Via`` entry for one hop: ``1.1 netlab``."""
    return version + b" " + pseudonym.encode("ascii")


@dataclass(frozen=True)
class CookieRewrite:
    """Dev-mode ``Set-Cookie`` rewriting so a browser on the proxy's origin keeps it."""

    map_path: Callable[[str], str | None]  # upstream path -> client path, None outside
    prefix: str  # the mount prefix, used when the upstream path is outside the mount
    secure_client: bool  # False on plain http: Secure (and SameSite=None) must go


def rewrite_set_cookie(value: bytes, rule: CookieRewrite) -> bytes:
    """Drop ``Domain``; re-prefix ``Path``; on http drop ``Secure`` and ``SameSite=None``."""
    first, *attrs = value.split(b";")
    out = [first.strip()]
    for attr in attrs:
        key, _, raw = attr.strip().partition(b"=")
        low = key.strip().lower()
        if low == b"domain" or not low:
            continue
        if low == b"path":
            path = raw.strip().decode("latin-1")
            mapped = rule.map_path(path) if path.startswith("/") else None
            attr = b"Path=" + (mapped or rule.prefix).encode("latin-1")
        elif not rule.secure_client and (
            low == b"secure" or (low == b"samesite" and raw.strip().lower() == b"none")
        ):
            continue
        out.append(attr.strip())
    return b"; ".join(out)


# -- grouped fast paths ----------------------------------------------------------------
#
# The proxy adapter holds headers the way Twisted's ``Headers`` keeps them: one entry per
# name (names unique case-insensitively), each with its list of values. These two take
# and return that shape, so a proxied request costs one pass over its headers and no
# intermediate pair lists. Their results equal the pair-based reference rules in
# tests/header_reference.py grouped by name (tests/test_proxy_rules.py checks that with
# hypothesis).

Grouped = Mapping[bytes, Sequence[bytes]]

_REQUEST_DROP: frozenset[bytes] = HOP_BY_HOP | REQUEST_FRAMING | FORWARDING


@dataclass(frozen=True)
class ForwardRules:
    """The request direction's per-mount constants, fixed at startup."""

    trusted: TrustedProxies
    upstream_host: bytes
    preserve_host: bool = False
    pseudonym: str = "netlab"


def _tokens(values: Iterable[bytes]) -> set[bytes]:
    return {t.lower() for v in values for t in split_list_bytes(v)}


# Small memo tables for values that repeat on every request (``Connection:
# keep-alive`` from an upstream, the Forwarded element of a client); cleared when full
# so a stream of distinct values cannot grow them.
_MEMO_SIZE = 1024
_named_memo: BoundedMemo[tuple[bytes, ...], frozenset[bytes]] = BoundedMemo(_MEMO_SIZE)
_element_memo: BoundedMemo[tuple[bytes, bytes | None, bytes], bytes] = BoundedMemo(_MEMO_SIZE)
_via_memo: BoundedMemo[tuple[bytes, str], bytes] = BoundedMemo(_MEMO_SIZE)
# Keys made of a peer's field values are kept only up to this many bytes: the usual
# values are short, and long ones (up to the head limit) would make the table large.
_MEMO_VALUE_MAX = 300


def named_extra(values: Sequence[bytes]) -> frozenset[bytes]:
    """Names listed in ``Connection`` beyond the fixed hop-by-hop set."""
    key = tuple(values)
    named = _named_memo.get(key)
    if named is None:
        named = frozenset(_tokens(values) - HOP_BY_HOP)
        if sum(map(len, key)) <= _MEMO_VALUE_MAX:
            _named_memo.remember(key, named)
    return named


def _element(peer: bytes, host: bytes | None, scheme: bytes) -> bytes:
    key = (peer, host, scheme)
    element = _element_memo.get(key)
    if element is None:
        element = _forwarded_element(peer, host, scheme)
        if len(host or b"") <= _MEMO_VALUE_MAX:
            _element_memo.remember(key, element)
    return element


def forward_request_headers(
    raw: Grouped, peer: str, scheme: str, version: bytes, rules: ForwardRules
) -> dict[bytes, list[bytes]]:
    """``request_headers`` for grouped headers; the client's Host is read from ``raw``.

    Output names keep the input's spelling; ours are canonical (``X-Forwarded-For``).
    """
    is_trusted = bool(rules.trusted.networks) and peer in rules.trusted
    host: bytes | None = None
    named: set[bytes] | None = None
    incoming: dict[bytes, list[bytes]] = {}
    out: dict[bytes, list[bytes]] = {b"Host": []}  # first on the wire; filled below
    via_name = b"Via"
    for name, values in raw.items():
        low = name.lower()
        if low in _REQUEST_DROP:
            if low == b"host":
                if values:
                    host = values[-1]
            elif low == b"connection":
                named = _tokens(values) if named is None else named | _tokens(values)
            elif is_trusted and low in FORWARDING:
                incoming.setdefault(low, []).extend(values)
            continue
        if b"_" in name or (low in CLIENT_IP and not is_trusted):
            continue
        if low == b"via":
            via_name = name
        out[name] = list(values)
    if named:
        for name in [n for n in out if n != b"Host" and n.lower() in named]:
            del out[name]
    valid = host if host and is_valid_host(host) else None
    out[b"Host"].append(valid if rules.preserve_host and valid else rules.upstream_host)
    # What X-Forwarded-Host and Forwarded's host= say: never an invalid value.
    host = (valid or rules.upstream_host) if host else None
    peer_b = peer.encode("ascii")
    scheme_b = scheme.encode("ascii")
    if incoming:
        xff = incoming.get(b"x-forwarded-for")
        out[b"X-Forwarded-For"] = [b", ".join([*xff, peer_b]) if xff else peer_b]
        out[b"X-Forwarded-Proto"] = [incoming.get(b"x-forwarded-proto", [scheme_b])[0]]
        fhost = incoming.get(b"x-forwarded-host") or ([host] if host else None)
        if fhost:
            out[b"X-Forwarded-Host"] = [forwarded_host(fhost[0], rules.upstream_host)]
        element = _element(peer_b, host, scheme_b)
        fwd = incoming.get(b"forwarded")
        out[b"Forwarded"] = [b", ".join([*fwd, element]) if fwd else element]
    else:
        out[b"X-Forwarded-For"] = [peer_b]
        out[b"X-Forwarded-Proto"] = [scheme_b]
        if host:
            out[b"X-Forwarded-Host"] = [host]
        out[b"Forwarded"] = [_element(peer_b, host, scheme_b)]
    via = _via_memo.get((version, rules.pseudonym))
    if via is None:
        via = _via_memo.remember((version, rules.pseudonym), via_value(version, rules.pseudonym))
    if via_name in out:
        out[via_name].append(via)
    else:
        out[via_name] = [via]
    return out


def relay_response_headers(
    raw: Grouped,
    connection: Sequence[bytes] = (),
    *,
    via: bytes,
    rewrite_location: Callable[[str], str] | None = None,
    cookies: CookieRewrite | None = None,
    drop_cors: bool = False,
) -> list[tuple[bytes, list[bytes]]]:
    """``response_headers`` for grouped headers.

    ``connection``: the upstream's ``Connection`` values (Twisted's client keeps them
    out of the response headers); ``via``: our ``Via`` entry, appended to the upstream's.
    """
    named = named_extra(connection) if connection else None
    out: list[tuple[bytes, list[bytes]]] = []
    via_seen = False
    for name, values in raw.items():
        low = name.lower()
        if (
            low in HOP_BY_HOP
            or (named and low in named)
            or (drop_cors and low.startswith(b"access-control-"))
        ):
            continue
        if rewrite_location is not None and (
            low == b"location" or low == b"content-location"
        ):
            kept = [rewrite_location(v.decode("latin-1")).encode("latin-1") for v in values]
        elif cookies is not None and low == b"set-cookie":
            kept = [rewrite_set_cookie(v, cookies) for v in values]
        elif low == b"via":
            kept = [*values, via]
            via_seen = True
        else:
            kept = list(values)
        out.append((name, kept))
    if not via_seen:
        out.append((b"Via", [via]))
    return out
