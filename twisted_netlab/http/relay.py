"""The response relay rule in one pass over the fields as received.

``http.headers.relay_response_headers`` takes fields grouped by name; the proxy
receives a response head as a list of ``(name, value)`` pairs and relays one per
request, so grouping, the hop-by-hop test and the ``Connection`` scan share one walk
here (``relay_response_pairs``), with the kind of each field name remembered per
spelling. tests/test_proxy_rules.py checks it against the readable reference rule with
hypothesis. Pure: no Twisted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted_netlab.http.headers import (
    CookieRewrite,
    Pair,
    named_extra,
    rewrite_set_cookie,
)
from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.http.tokens import HOP_BY_HOP

__all__ = ["relay_response_pairs"]

_MEMO_SIZE = 1024

# What the one-pass relay below does with each field name, remembered per spelling
# (an upstream sends the same few dozen names on every response): the lower-cased
# name and its kind. Bounded like the other memo tables.
_KEEP, _DROP, _CONNECTION, _CORS = 0, 1, 2, 3
# Set aside while grouping: the hop-by-hop fields and Content-Length (framing is the
# proxy's own to state).
_RELAY_DROP: frozenset[bytes] = HOP_BY_HOP | {b"content-length"}
_CORS_PREFIX = b"access-control-"
_relay_memo: BoundedMemo[bytes, tuple[bytes, int]] = BoundedMemo(_MEMO_SIZE)


def _relay_kind(name: bytes) -> tuple[bytes, int]:
    low = name.lower()
    if low == b"connection":
        kind = _CONNECTION
    elif low in _RELAY_DROP:
        kind = _DROP
    elif low.startswith(_CORS_PREFIX):
        kind = _CORS
    else:
        kind = _KEEP
    return _relay_memo.remember(name, (low, kind))


def relay_response_pairs(
    pairs: Iterable[Pair],
    *,
    via: bytes,
    rewrite_location: Callable[[str], str] | None = None,
    cookies: CookieRewrite | None = None,
    drop_cors: bool = False,
) -> list[tuple[bytes, list[bytes]]]:
    """``relay_response_headers`` straight from the fields as received, in one pass.

    Equal to grouping ``pairs`` by lower-cased name (first appearance first), dropping
    Content-Length and calling ``relay_response_headers`` with the ``Connection``
    values: the proxy runs this once per response, so the grouping, the hop-by-hop
    test and the ``Connection`` scan share one walk over the head. Names come out
    lower-cased (``Headers`` gives them their canonical case).
    """
    grouped: dict[bytes, list[bytes]] = {}
    connection: list[bytes] | None = None
    known = _relay_memo.get
    for name, value in pairs:
        entry = known(name)
        low, kind = _relay_kind(name) if entry is None else entry
        if kind:
            if kind == _CONNECTION:
                if connection is None:
                    connection = [value]
                else:
                    connection.append(value)
                continue
            if kind == _DROP or drop_cors:
                continue
        values = grouped.get(low)
        if values is None:
            grouped[low] = [value]
        else:
            values.append(value)
    if connection is not None:
        for name in named_extra(connection):
            grouped.pop(name, None)
    if rewrite_location is not None:
        for name in (b"location", b"content-location"):
            values = grouped.get(name)
            if values is not None:
                grouped[name] = [
                    rewrite_location(v.decode("latin-1")).encode("latin-1") for v in values
                ]
    if cookies is not None:
        values = grouped.get(b"set-cookie")
        if values is not None:
            grouped[b"set-cookie"] = [rewrite_set_cookie(v, cookies) for v in values]
    values = grouped.get(b"via")
    if values is None:
        grouped[b"via"] = [via]
    else:
        values.append(via)
    return list(grouped.items())
