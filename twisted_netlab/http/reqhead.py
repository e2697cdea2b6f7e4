"""An HTTP/1.1 request head as bytes, refusing anything that could split it.

The proxy forwards names and values that came from a client: a CR, LF or NUL in a
value, or a name that is not a token, would let a client inject a second header or a
second request into the upstream connection (request smuggling). Twisted's parser
already folds CR/LF out of values; this check does not depend on that. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from twisted_netlab.errors import NetlabError

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")

# Names and methods already checked: a proxy sends the same few dozen over and over.
_GOOD_NAMES: set[bytes] = set()
_GOOD_METHODS: set[bytes] = set()
_GOOD_MAX = 4096

# Methods whose empty body is still announced (``Content-Length: 0``), as browsers and
# Twisted's own client do: RFC 9110 8.6 "when the method defines a meaning for content".
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})

# The framing fields are this module's to write; a caller's copies are dropped.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
_FRAMING_LENGTHS = frozenset(len(name) for name in _FRAMING)


class RequestHeadError(NetlabError):
    """A method, target, header name or value that must not go on the wire."""


def _check_token(value: bytes, good: set[bytes], what: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise RequestHeadError(f"invalid {what} {value[:40]!r}")
    if len(good) >= _GOOD_MAX:
        good.clear()
    good.add(value)


def request_head(
    method: bytes,
    target: bytes,
    headers: Mapping[bytes, Sequence[bytes]],
    body_length: int | None,
    has_body: bool,
) -> bytes:
    """``METHOD target HTTP/1.1`` + headers + framing + CRLF.

    ``headers`` must not carry Content-Length or Transfer-Encoding (dropped here if
    they do): the framing is this function's, from ``body_length`` (None and
    ``has_body``: chunked).
    """
    if method not in _GOOD_METHODS:
        _check_token(method, _GOOD_METHODS, "method")
    if not _TARGET.fullmatch(target):
        raise RequestHeadError("invalid request target")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    good = _GOOD_NAMES
    for name, values in headers.items():
        if name not in good:
            _check_token(name, good, "header name")
        if len(name) in _FRAMING_LENGTHS and name.lower() in _FRAMING:
            continue
        for value in values:
            lines += (name, b": ", value, b"\r\n")
    # Lines so far: the request line and four pieces per field line.
    ends = 1 + (len(lines) - 4) // 4
    if has_body:
        ends += 1
        if body_length is None:
            lines.append(b"Transfer-Encoding: chunked\r\n")
        else:
            lines.append(b"Content-Length: %d\r\n" % body_length)
    elif method in _BODY_METHODS:
        ends += 1
        lines.append(b"Content-Length: 0\r\n")
    lines.append(b"\r\n")
    ends += 1
    head = b"".join(lines)
    # Method, target and names are tokens or visible ASCII, so every CR and LF in the
    # head is one we wrote, one pair per line, unless a value carries one: counting
    # them checks all the values in two scans. NUL nowhere.
    if head.count(b"\n") != ends or head.count(b"\r") != ends or b"\x00" in head:
        raise RequestHeadError("invalid character in a header value")
    return head


def chunk(data: bytes) -> list[bytes]:
    """One chunk of a chunked body, as pieces for ``writeSequence``."""
    return [b"%x\r\n" % len(data), data, b"\r\n"]


LAST_CHUNK = b"0\r\n\r\n"
