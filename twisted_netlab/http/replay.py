"""Replaying a recorded response for a byte-identical request head: the rules.

A static file's answer to a given request head depends on nothing but that head, the
file's version and the clock's second (the ``Date`` field). nginx answers such requests
without its generic request machinery; twisted.web pays the same ~35 us for each of
them (a ``Request`` object, URL parsing, resource traversal, header objects, formatting).
So the channel keeps, per exact head, the bytes the full path wrote last time
(``ReplayPlan``), and a resource that knows its answer is a function of the head and of
a version it can check cheaply offers to let it be replayed (``web/replay.py``).

Only what cannot go wrong is replayed:

- **Exact bytes as the key.** Not a parsed or normalised head: every field, the
  ``User-Agent`` and cookies included, is part of the key, so whatever a resource reads
  from the head, a replay answers the same head. A client sending another value of any
  field gets the full path (and a plan of its own).
- **Heads without side effects outside the response** (``replayable_head``): one whole
  ``GET``/``HEAD`` ``HTTP/1.1`` head, CRLF line ends only, no field that frames a body
  (``Content-Length``, ``Transfer-Encoding``), asks for an interim response
  (``Expect``) or another protocol (``Upgrade``), nor asks to close (``Connection``
  is allowed only when the full path kept the connection open: the channel checks).
- **Successful responses with explicit framing** (``make_plan``): 200, 206 or 304 (an
  error is made again each time), no ``Transfer-Encoding``, and a body exactly as long
  as its ``Content-Length`` (a ``HEAD`` or a 304 has none).
- **Bounded** (``ReplayTable``): plans of at most ``MAX_PLAN_BYTES``, at most
  ``MAX_PLANS`` of them and ``MAX_TABLE_BYTES`` in all; when full the table is emptied at
  once (as ``memo.BoundedMemo``): a client cycling distinct heads gets the full path,
  never an unbounded table.

The ``Date`` field is the one part that changes: a plan keeps the bytes before and after
its value, and the channel puts the current second's date between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

__all__ = [
    "MAX_PLANS",
    "MAX_PLAN_BYTES",
    "MAX_TABLE_BYTES",
    "REPLAYED_CODES",
    "Kept",
    "ReplayPlan",
    "ReplayTable",
    "field_value",
    "make_plan",
    "replayable_head",
    "response_head",
]

MAX_PLAN_BYTES = 256 * 1024
MAX_PLANS = 4096
MAX_TABLE_BYTES = 16 * 1024 * 1024

# Fields that make a head's handling more than "compute one response" (lowercased,
# as they start a line of the lowercased head).
_SIDE_EFFECT_FIELDS = (
    b"\r\ncontent-length:", b"\r\ntransfer-encoding:", b"\r\nexpect:", b"\r\nupgrade:",
    b"\r\ncontent-length ", b"\r\ntransfer-encoding ", b"\r\nexpect ", b"\r\nupgrade ",
)
_DATE = b"\r\nDate: "  # as twisted.web writes it (``Headers`` canonical form)
_NO_BODY_CODES = frozenset({204, 304})
# What is worth replaying: the answers of a found file. An error (a 500 from a bug after
# the offer, say) must be made again each time, never frozen into a plan.
REPLAYED_CODES = frozenset({200, 206, 304})


def replayable_head(head: bytes) -> bool:
    """Whether a response to ``head`` (one read's bytes) may be recorded for replay."""
    end = head.find(b"\r\n\r\n")
    if end < 0 or end != len(head) - 4:
        return False  # not exactly one whole head (a body or a pipelined head follows)
    if head.count(b"\n") != head.count(b"\r\n") or head.count(b"\r") != head.count(b"\r\n"):
        return False  # a bare LF or CR: leave the odd ones to the full parser
    line_end = head.find(b"\r\n")
    method, _, rest = head[:line_end].partition(b" ")
    if method not in (b"GET", b"HEAD") or not rest.endswith(b" HTTP/1.1"):
        return False
    lower = head.lower()
    return not any(field in lower for field in _SIDE_EFFECT_FIELDS)


def field_value(head: bytes, name: bytes) -> bytes | None:
    """The last value of field ``name`` (lowercase) in ``head``, stripped as twisted.web
    strips it; None when absent. For the logs of a replayed request."""
    found = None
    for line in head.split(b"\r\n")[1:]:
        field, colon, value = line.partition(b":")
        if colon and field.lower() == name:
            found = value.strip(b" \t")
    return found


class ReplayPlan:
    """What to write for a head again: the recorded bytes with the current date.

    ``check()`` says whether the version the response was made from is still current
    (the resource's offer); ``code``, ``sent`` (body bytes), ``method``, ``target``
    and ``version`` are for the logs and metrics, which a replayed request feeds as a
    full one does.
    """

    __slots__ = ("_date", "_end", "_start", "check", "code", "log_text", "method", "path",
                 "replayed", "sent", "size", "target", "version", "whole")

    def __init__(
        self, whole: bytes, date_span: tuple[int, int] | None, code: int, sent: int,
        check: Callable[[], bool], method: bytes, target: bytes, version: bytes,
        replayed: Callable[[], None] | None = None,
    ) -> None:
        self.whole = whole  # the response as last written (its date may be old)
        self._start, self._end = date_span if date_span is not None else (-1, -1)
        self._date = whole[self._start : self._end] if date_span is not None else b""
        self.code = code
        self.sent = sent
        self.check = check
        self.replayed = replayed  # told of each replay (the resource's own counting)
        self.method = method
        self.target = target
        self.version = version  # the request's, as sent (the access log's)
        self.path = target.partition(b"?")[0]
        self.size = len(whole)
        self.log_text: str | None = None  # the request log's part for it, made once

    def response(self, date: bytes) -> bytes:
        """The bytes to write, dated ``date`` (an IMF-fixdate).

        Re-dated once per date: the caller passes the same ``date`` object for a whole
        second, so the same bytes object is written again meanwhile (no copy of the
        body per request; the transport writes a lone bytes object as it is).
        """
        if date is not self._date and self._start >= 0:
            start, end = self._start, self._end
            self.whole = self.whole[:start] + date + self.whole[end:]
            self._end = start + len(date)
            self._date = date
        return self.whole


def response_head(
    version: bytes, code: bytes, reason: bytes,
    fields: Iterable[tuple[bytes, Sequence[bytes]]],
) -> bytes:
    """A response head as ``HTTPChannel.writeHeaders`` writes it (status line, each
    value on a line of its own, blank line), as one bytes object to record."""
    parts = [version, b" ", code, b" ", reason, b"\r\n"]
    for name, values in fields:
        for value in values:
            parts.extend((name, b": ", value, b"\r\n"))
    parts.append(b"\r\n")
    return b"".join(parts)


def _content_length(head: bytes) -> int | None:
    value = field_value(head, b"content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def make_plan(
    request_head: bytes, response_head: bytes, body: bytes, code: int, sent: int,
    check: Callable[[], bool], *, dated: bool = True,
    replayed: Callable[[], None] | None = None,
) -> ReplayPlan | None:
    """The plan for a recorded response, or None when it is not one to replay.

    ``response_head`` and ``body`` are the bytes written for the request (status line
    to blank line, then the body); ``code`` and ``sent`` as the request counted them.
    ``dated``: the response's ``Date`` is the server's own, to be made current on each
    replay (False: a stored response's date, replayed as it is).
    """
    if code not in REPLAYED_CODES:
        return None
    if len(response_head) + len(body) > MAX_PLAN_BYTES or not response_head.endswith(b"\r\n\r\n"):
        return None
    lower = response_head.lower()
    if b"\r\ntransfer-encoding:" in lower or b"\r\nconnection: close" in lower:
        return None
    method, _, rest = request_head[: request_head.find(b"\r\n")].partition(b" ")
    target, _, version = rest.rpartition(b" ")
    length = _content_length(response_head)
    has_body = body or (method != b"HEAD" and code not in _NO_BODY_CODES)
    if has_body and (length is None or length != len(body)):
        return None
    start = response_head.find(_DATE) if dated else -1
    span = None
    if start >= 0:
        start += len(_DATE)
        span = (start, response_head.find(b"\r\n", start))
    return ReplayPlan(
        response_head + body, span, code, sent, check, method, target, version, replayed
    )


class Kept(Protocol):
    """What a table keeps: a ``ReplayPlan``, or a proxy's ``relayplan.ForwardPlan``."""

    size: int


class ReplayTable(dict[bytes, Kept]):
    """Plans by exact request head, bounded in count and bytes (see the module text).

    A channel's one lookup per idle read finds either kind of plan: a static answer to
    replay (``ReplayPlan``) or a proxied GET to relay (``relayplan.ForwardPlan``)."""

    __slots__ = ("bytes", "max_bytes", "max_plans")

    def __init__(self, max_plans: int = MAX_PLANS, max_bytes: int = MAX_TABLE_BYTES) -> None:
        super().__init__()
        self.max_plans = max_plans
        self.max_bytes = max_bytes
        self.bytes = 0

    def store(self, head: bytes, plan: Kept) -> None:
        """Keep ``plan`` for ``head``, emptying the table first if it would overflow."""
        size = plan.size + len(head)
        old = self.pop(head, None)
        if old is not None:
            self.bytes -= old.size + len(head)
        if len(self) >= self.max_plans or self.bytes + size > self.max_bytes:
            self.clear()
            self.bytes = 0
        if size <= self.max_bytes:
            self[head] = plan
            self.bytes += size

    def forget(self, head: bytes) -> None:
        """Drop the plan for ``head`` (its check failed: the version changed)."""
        old = self.pop(head, None)
        if old is not None:
            self.bytes -= old.size + len(head)
