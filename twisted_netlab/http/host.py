"""The Host rule (RFC 9112 3.2) and the one ``host[:port]`` syntax the site accepts.

A server MUST answer 400 to an HTTP/1.1 request without Host, to any request with more
than one Host field line, and to a Host whose value is invalid. Twisted accepts all
three (the last Host wins), so a proxy could forward one Host while a gate judged
another, and a raw Host such as ``evil.example:1/x?y`` would reach the upstream as
``X-Forwarded-Host``. ``check_host_fields`` is asked once per request, site-wide.

What counts as valid here is deliberately narrower than RFC 3986's ``reg-name`` (which
also admits ``!$&'()*+,;=`` and percent-encoding, never seen in a real host name):

- a DNS-style name of letters, digits, ``-`` and ``_`` in dot-separated labels (a final
  dot allowed), at most 253 characters; this covers IPv4 literals too;
- or an IPv6 literal in brackets (no zone identifier);
- optionally ``:`` and a port of 1 to 5 digits, at most 65535.

Pure: no I/O, no Twisted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from twisted_netlab.errors import HTTPRuleError
from twisted_netlab.http.memo import BoundedMemo

__all__ = ["BadHostError", "check_host_fields", "is_valid_host", "split_host"]

_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
_PORT = re.compile(r"[0-9]{1,5}")
MAX_NAME = 253


class BadHostError(HTTPRuleError):
    """A request whose Host field(s) the server must refuse (400)."""

    status = 400


def split_host(value: bytes | str) -> tuple[str, int | None] | None:
    """``b"Example.com:8080"`` -> ``("example.com", 8080)``; ``None`` when invalid."""
    if isinstance(value, bytes):
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    else:
        text = value
    if not text.isascii():
        return None
    port: int | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        literal, rest = text[1:close], text[close + 1 :]
        if "%" in literal:  # a zone identifier means nothing to another host
            return None
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return None
        host = f"[{literal.lower()}]"
    else:
        name, sep, rest_port = text.partition(":")
        if len(name) > MAX_NAME or not _NAME.fullmatch(name):
            return None
        host = name.lower()
        rest = sep + rest_port
    if rest:
        if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]):
            return None
        port = int(rest[1:])
        if port > 65535:
            return None
    return host, port


# Asked on every request with the same few values: remember the answers (cleared when
# full, so a stream of distinct values cannot grow it).
_MEMO_SIZE = 1024
_valid_memo: BoundedMemo[bytes | str, bool] = BoundedMemo(_MEMO_SIZE)
# Longer values are judged every time, never kept: a name is at most 253 characters
# plus a port, and a client cycling long Host values must not fill the table with them.
_MEMO_VALUE_MAX = 300


def is_valid_host(value: bytes | str) -> bool:
    """Whether ``value`` is a ``host[:port]`` by the rules above."""
    known = _valid_memo.get(value)
    if known is None:
        known = split_host(value) is not None
        if len(value) <= _MEMO_VALUE_MAX:
            _valid_memo.remember(value, known)
    return known


def check_host_fields(values: Sequence[bytes] | None, version: bytes) -> bytes | None:
    """The request's one Host value (``None`` for HTTP/1.0 without one) or ``BadHostError``.

    ``values`` are the Host field lines as received; ``version`` is the request's
    ``HTTP/x.y``.
    """
    if not values:
        if version == b"HTTP/1.0":
            return None
        raise BadHostError("an HTTP/1.1 request needs a Host header")
    if len(values) > 1:
        raise BadHostError("more than one Host header")
    if not is_valid_host(values[0]):
        raise BadHostError("the Host header is not a valid host[:port]")
    return values[0]
