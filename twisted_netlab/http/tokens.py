"""HTTP's shared lexical rules: tokens, comma-separated lists, hop-by-hop fields.

One home for each, because several cores use them (CORS, content coding, the response
setter, proxy forwarding) and copies drift: a token regex that forgets ``-`` or a
hop-by-hop list without ``Proxy-Connection`` is a bug in one place only. Pure: no I/O,
no Twisted. Text and byte forms are both provided because the proxy works on raw bytes
and the other cores on decoded text.
"""

from __future__ import annotations

import re

__all__ = [
    "CONNECTION_FIELDS",
    "HOP_BY_HOP",
    "TOKEN",
    "TOKEN_BYTES",
    "is_token",
    "split_list",
    "split_list_bytes",
]

# RFC 9110 5.6.2: token = 1*tchar.
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
TOKEN = re.compile(f"[{_TCHAR}]+")
TOKEN_BYTES = re.compile(f"[{_TCHAR}]+".encode("ascii"))

# Fields that describe this connection or the message framing on it: never copied to
# another hop, never set by an application (RFC 9110 7.6.1 plus the de-facto
# Keep-Alive and Proxy-Connection). Lower-case names.
CONNECTION_FIELDS: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# Everything a proxy drops between hops: the connection fields and the proxy's own
# authentication exchange.
HOP_BY_HOP: frozenset[bytes] = CONNECTION_FIELDS | {
    b"proxy-authenticate",
    b"proxy-authorization",
}


def is_token(text: str) -> bool:
    """Whether ``text`` is exactly one RFC 9110 token."""
    return TOKEN.fullmatch(text) is not None


def split_list(value: str) -> list[str]:
    """``"a, b,,c "`` -> ``["a", "b", "c"]``: a #list's elements, empty ones dropped
    (RFC 9110 5.6.1 tells recipients to ignore them)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def split_list_bytes(value: bytes) -> list[bytes]:
    """``split_list`` for raw field values."""
    return [item.strip() for item in value.split(b",") if item.strip()]
