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
_BAD_VALUE = re.compile(rb"[\x00\r\n]")

# Names already checked: a proxy sends the same few dozen names over and over.
_GOOD_NAMES: set[bytes] = set()
_GOOD_NAMES_MAX = 4096

# Methods whose empty body is still announced (``Content-Length: 0``), as browsers and
# Twisted's own client do: RFC 9110 8.6 "when the method defines a meaning for content".
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})


class RequestHeadError(NetlabError):
    """A method, target, header name or value that must not go on the wire."""


def _check_name(name: bytes) -> None:
    if name in _GOOD_NAMES:
        return
    if not _TOKEN.fullmatch(name):
        raise RequestHeadError(f"invalid header name {name[:40]!r}")
    if len(_GOOD_NAMES) >= _GOOD_NAMES_MAX:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(name)


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
    if not _TOKEN.fullmatch(method):
        raise RequestHeadError("invalid method")
    if not _TARGET.fullmatch(target):
        raise RequestHeadError("invalid request target")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, values in headers.items():
        _check_name(name)
        low = name.lower()
        if low == b"content-length" or low == b"transfer-encoding":
            continue
        for value in values:
            lines += (name, b": ", value, b"\r\n")
    if has_body:
        if body_length is None:
            lines.append(b"Transfer-Encoding: chunked\r\n")
        else:
            lines.append(b"Content-Length: %d\r\n" % body_length)
    elif method in _BODY_METHODS:
        lines.append(b"Content-Length: 0\r\n")
    lines.append(b"\r\n")
    head = b"".join(lines)
    # One scan of the values instead of one per value: the only CR/LF allowed are the
    # line ends we wrote, and NUL nowhere.
    values_only = b"".join(v for vs in headers.values() for v in vs)
    if _BAD_VALUE.search(values_only):
        raise RequestHeadError("invalid character in a header value")
    return head


def chunk(data: bytes) -> list[bytes]:
    """One chunk of a chunked body, as pieces for ``writeSequence``."""
    return [b"%x\r\n" % len(data), data, b"\r\n"]


LAST_CHUNK = b"0\r\n\r\n"
