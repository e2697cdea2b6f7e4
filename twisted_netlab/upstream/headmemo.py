"""Response heads parsed before: the same bytes need not go through llhttp again.

An upstream answers a proxy's repeated requests with the same head again and again
but for its ``Date`` (nginx, a static origin, an API's errors). Parsing one costs the
reader about 2,000 instructions per field in llhttp's Python callbacks, about a ninth
of a proxied request (bench/README.rst, ``proxy_hot``). ``ResponseReader`` keeps what
llhttp and the framing rule made of a head (``HeadPlan``) under the head's exact bytes
with only the ``Date`` value taken out (``memo_key``), and when the same bytes arrive
at the start of a later response (with the whole message: the head and exactly its
Content-Length body, or no body) it hands out that result with the new date instead
of parsing.

Nothing is guessed: a parse is a function of the bytes (and of the request method,
which is part of the key), and the parser is at a message boundary whenever a response
starts. So a hit gives what llhttp would have given. A head whose ``Date`` is not one
IMF-fixdate (29 bytes, as RFC 9110 requires senders to write it) is keyed as it is,
with a different prefix, so a masked and an unmasked head never share a key. Bounded
like the other memos (``memo.BoundedMemo``), and only heads of at most ``MAX_HEAD``
bytes are kept.
"""

from __future__ import annotations

from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.http.msgframing import Framing
from twisted_netlab.upstream.message import Pair, ResponseHead

__all__ = ["MAX_HEAD", "HeadPlan", "head_memo", "memo_key", "plan_for"]

MAX_HEAD = 4096
_DATE = b"\r\nDate: "
_DATE_LENGTH = 29  # "Sun, 06 Nov 1994 08:49:37 GMT"


class HeadPlan:
    """A parsed head without its date: ``date_index`` is where the Date pair goes
    (-1: the key holds the head whole)."""

    __slots__ = ("date_index", "framing", "headers", "reason", "status", "version")

    def __init__(
        self, status: int, reason: bytes, version: bytes, headers: tuple[Pair, ...],
        date_index: int, framing: Framing,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.date_index = date_index
        self.framing = framing

    def head(self, date: bytes | None) -> ResponseHead | None:
        """The head as llhttp would report it with ``date``; None if the date is missing."""
        headers = list(self.headers)
        index = self.date_index
        if index >= 0:
            if date is None:
                return None
            headers[index] = (headers[index][0], date)
        return ResponseHead(self.status, self.reason, self.version, headers, self.framing)


def memo_key(method: bytes, head: bytes) -> tuple[bytes, bytes | None]:
    """The memo key of ``head`` (status line to blank line) for ``method``, and the
    date taken out of it (None: the head is keyed whole)."""
    start = head.find(_DATE)
    if start >= 0:
        start += len(_DATE)
        end = head.find(b"\r\n", start)
        if end - start == _DATE_LENGTH:
            return b"".join((b"D", method, b" ", head[:start], head[end:])), head[start:end]
    return b"".join((b"W", method, b" ", head)), None


def plan_for(head: ResponseHead, date: bytes | None) -> HeadPlan | None:
    """What to keep of ``head`` (just parsed from bytes whose key took ``date`` out);
    None when the date cannot be placed for certain (not exactly one Date field,
    spelled ``Date``, holding the bytes taken out)."""
    index = -1
    if date is not None:
        dates = [i for i, (name, _) in enumerate(head.headers) if name.lower() == b"date"]
        if len(dates) != 1 or head.headers[dates[0]] != (b"Date", date):
            return None
        index = dates[0]
    return HeadPlan(
        head.status, head.reason, head.version, tuple(head.headers), index, head.framing
    )


head_memo: BoundedMemo[bytes, HeadPlan] = BoundedMemo(256)
