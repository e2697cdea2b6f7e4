"""How an HTTP/1.1 response message ends (RFC 9112 6.3), decided from its head alone.

A client must know, once the head is in, whether a body follows and how it is
delimited; getting it wrong desynchronises a keep-alive connection (the next response
is read from the middle of this body) or lets an upstream smuggle a response. The
parser (llhttp, through ``httptools``) applies its own framing; this rule is the one
the adapter trusts, because the parser cannot know that the request was HEAD and
accepts things a proxy must refuse (``Transfer-Encoding: gzip`` read to the close,
status 600, ``HTTP/2.0`` in an HTTP/1 stream). Pure: plain values in, a decision or a
typed error out.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from twisted_netlab.errors import NetlabError
from twisted_netlab.http.memo import BoundedMemo

Pair = tuple[bytes, bytes]


class FramingError(NetlabError):
    """An upstream response that cannot be relayed safely; ``reason`` is short and fit
    for an error page (the connection it arrived on must not be reused)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BodyKind(enum.Enum):
    INTERIM = "interim"  # a 1xx: another head follows, never a body
    NO_BODY = "no-body"  # HEAD, 204, 304: the message ends with its head
    LENGTH = "content-length"
    CHUNKED = "chunked"
    CLOSE = "close-delimited"  # the body ends when the upstream closes


@dataclass(frozen=True, slots=True)
class Framing:
    """``length``: the body length for LENGTH; for NO_BODY the Content-Length the head
    announced (a HEAD answer's), else None. ``keep_alive``: the connection may carry
    another request once this message is complete."""

    kind: BodyKind
    length: int | None = None
    keep_alive: bool = True


_VERSIONS = frozenset({b"1.0", b"1.1"})


def _tokens(values: Iterable[bytes]) -> list[bytes]:
    return [t.strip().lower() for v in values for t in v.split(b",") if t.strip()]


def parse_content_length(values: list[bytes]) -> int | None:
    """The one length all Content-Length values agree on; None when absent.

    RFC 9110 8.6 lets a recipient accept a repeated identical value (``5, 5``); any
    other disagreement or a non-digit is an error.
    """
    if not values:
        return None
    if len(values) == 1:
        # The usual case, one plain value: no token split (same checks as below).
        only = values[0].strip(b" \t")
        if only.isdigit() and only.isascii():
            return int(only)
    found = set(_tokens(values))
    if len(found) > 1:
        raise FramingError("conflicting Content-Length")
    value = found.pop() if found else b""
    if not value.isdigit() or not value.isascii():
        raise FramingError("invalid Content-Length")
    return int(value)


def keep_alive(version: bytes, connection: Sequence[bytes]) -> bool:
    """Whether the connection persists (RFC 9112 9.3): 1.1 unless ``close``; 1.0 only
    with ``keep-alive``."""
    if not connection:
        return version == b"1.1"
    if len(connection) == 1:  # the usual one plain token (no list to split)
        only = connection[0].strip(b" \t").lower()
        if only == b"keep-alive":
            return True
        if only == b"close":
            return False
    tokens = _tokens(connection)
    if b"close" in tokens:
        return False
    return version == b"1.1" or b"keep-alive" in tokens


def response_framing(
    method: bytes, status: int, version: bytes, headers: Iterable[Pair]
) -> Framing:
    """RFC 9112 6.3 for a response to ``method``; raise ``FramingError`` when unsafe.

    Refused: a version other than 1.0/1.1, a status outside 100-599, 101 (we never ask
    for an upgrade), a Transfer-Encoding other than exactly ``chunked`` (nginx: "upstream
    sent unknown Transfer-Encoding"), Transfer-Encoding together with Content-Length
    (a smuggling signature, 6.3 point 3), and conflicting or invalid Content-Length.
    """
    lengths: list[bytes] = []
    codings: list[bytes] = []
    connection: list[bytes] = []
    for name, value in headers:
        low = name.lower()
        if low == b"content-length":
            lengths.append(value)
        elif low == b"transfer-encoding":
            codings.append(value)
        elif low == b"connection":
            connection.append(value)
    return framing_of(method, status, version, lengths, codings, connection)


# Lengths of the three field names the rule reads: a reader that sees each field as it
# is parsed lower-cases only names of these lengths (see ``framing_of``).
FRAMING_NAME_LENGTHS = frozenset({len(b"content-length"), len(b"transfer-encoding"),
                                  len(b"connection")})

# The common framings, shared: a response head is read per request on the proxy's hot
# path and ``Framing`` is immutable. Bounded like any table fed by upstream values.
_MEMO_SIZE = 1024
_CHUNKED = {True: Framing(BodyKind.CHUNKED, None, True),
            False: Framing(BodyKind.CHUNKED, None, False)}
_INTERIM = Framing(BodyKind.INTERIM)
_CLOSE = Framing(BodyKind.CLOSE, None, False)


def framing_of(
    method: bytes,
    status: int,
    version: bytes,
    lengths: list[bytes],
    codings: list[bytes],
    connection: list[bytes],
) -> Framing:
    """``response_framing`` from the values of the three fields it reads, already
    picked out of the head (``Content-Length``, ``Transfer-Encoding``, ``Connection``,
    each in the order received).

    A decision is a function of these values only, and an upstream repeats the same
    few (``200``, ``Content-Length: 1024``, ``Connection: keep-alive``) on every
    response: accepted ones of that usual shape (at most one short value per field)
    are remembered; refusals and anything larger are worked out each time."""
    if len(lengths) > 1 or len(codings) > 1 or len(connection) > 1:
        return _decide(method, status, version, lengths, codings, connection)
    # None for an absent field: an empty value is not an absent one.
    length = lengths[0] if lengths else None
    coding = codings[0] if codings else None
    named = connection[0] if connection else None
    if len(length or b"") + len(coding or b"") + len(named or b"") > _MEMO_VALUES:
        return _decide(method, status, version, lengths, codings, connection)
    key = (method == b"HEAD", status, version, length, coding, named)
    framing = _decision_memo.get(key)
    if framing is None:
        framing = _decide(method, status, version, lengths, codings, connection)
        _decision_memo.remember(key, framing)
    return framing


# Remembered decisions (bounded in count and in the bytes of each key).
_MEMO_VALUES = 64
_decision_memo: BoundedMemo[
    tuple[bool, int, bytes, bytes | None, bytes | None, bytes | None], Framing
] = BoundedMemo(_MEMO_SIZE)


def _decide(
    method: bytes,
    status: int,
    version: bytes,
    lengths: list[bytes],
    codings: list[bytes],
    connection: list[bytes],
) -> Framing:
    if version not in _VERSIONS:
        raise FramingError(f"unsupported HTTP version {version.decode('latin-1')[:8]}")
    if not 100 <= status <= 599:
        raise FramingError(f"invalid status code {status}")
    if status == 101:
        raise FramingError("unexpected 101 Switching Protocols")
    if status < 200:
        return _INTERIM
    persistent = keep_alive(version, connection)
    if method == b"HEAD" or status == 204 or status == 304:
        try:
            announced = parse_content_length(lengths)
        except FramingError:
            announced = None  # nothing is read by it; just do not repeat it
        return Framing(BodyKind.NO_BODY, announced, persistent)
    if codings:
        if lengths:
            raise FramingError("both Transfer-Encoding and Content-Length")
        tokens = _tokens(codings)
        if tokens != [b"chunked"]:
            shown = b", ".join(tokens).decode("latin-1")[:40]
            raise FramingError(f"unsupported Transfer-Encoding: {shown}")
        return _CHUNKED[persistent]
    length = parse_content_length(lengths)
    if length is not None:
        return Framing(BodyKind.LENGTH, length, persistent)
    return _CLOSE
