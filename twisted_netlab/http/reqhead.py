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
    lines = [method + b" " + target + b" HTTP/1.1"]
    append = lines.append
    good = _GOOD_NAMES
    for name, values in headers.items():
        if name not in good:
            _check_token(name, good, "header name")
        if len(name) in _FRAMING_LENGTHS and name.lower() in _FRAMING:
            continue
        for value in values:
            append(name + b": " + value)
    if has_body:
        if body_length is None:
            append(b"Transfer-Encoding: chunked")
        else:
            append(b"Content-Length: %d" % body_length)
    elif method in _BODY_METHODS:
        append(b"Content-Length: 0")
    lines += (b"", b"")  # the blank line
    head = b"\r\n".join(lines)
    # Method, target and names are tokens or visible ASCII, so the only CR, LF and NUL
    # bytes in the head are the CRLFs of the joins unless a value carries one:
    # deleting all three and comparing lengths checks every value in one C pass.
    if len(head) - len(head.translate(None, b"\r\n\x00")) != 2 * (len(lines) - 1):
        raise RequestHeadError("invalid character in a header value")
    return head


def chunk(data: bytes) -> list[bytes]:
    """One chunk of a chunked body, as pieces for ``writeSequence``."""
    return [b"%x\r\n" % len(data), data, b"\r\n"]


LAST_CHUNK = b"0\r\n\r\n"
