"""The bytes of an interim (1xx) response head, for a proxy forwarding one.

RFC 9110 15.2: a proxy MUST forward 1xx responses (103 Early Hints lets a browser
preload while the upstream still works). twisted.web has no API for them, so the
adapter writes these bytes itself; the rule for what they contain lives here. Pure.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable

from twisted_netlab.errors import NetlabError

Pair = tuple[bytes, bytes]

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_BAD_REASON = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class InterimError(NetlabError):
    """A status that is not a forwardable 1xx, or a head that would split."""


def interim_head(status: int, reason: bytes, headers: Iterable[Pair]) -> bytes:
    """``HTTP/1.1 103 Early Hints`` + headers + CRLF. 101 is never forwarded (an
    upgrade is not an interim response); the reason defaults to the standard phrase."""
    if not 100 <= status <= 199 or status == 101:
        raise InterimError(f"not a forwardable interim status: {status}")
    if not reason or _BAD_REASON.search(reason):
        try:
            reason = http.HTTPStatus(status).phrase.encode("ascii")
        except ValueError:
            reason = b"Informational"
    lines = [b"HTTP/1.1 %d " % status, reason, b"\r\n"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise InterimError(f"invalid interim header {name[:40]!r}")
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)
