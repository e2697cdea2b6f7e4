"""Relaying a proxied GET again without twisted.web's request machinery: the rules.

A reverse proxy answering a keep-alive client's repeated GET does the same work each
time: the same client head becomes the same upstream request head (the forwarding rules
are a function of the head, the client's address and the connection's kind), and the
same upstream response head, but for its ``Date``, becomes the same client response
head (the relay rules, Location and cookie rewriting, CORS and every other layer are
functions of the two heads). Only the upstream's ``Date`` and the body change. So, as
replays do for static answers (``replay.py``), the channel keeps what the full path
did, keyed by the exact client head (``ForwardPlan``: the upstream request's bytes),
and under it, keyed by the upstream head's memo key (``upstream/headmemo.py``: its
bytes with the Date value taken out), the client response head the full path wrote
(``ResponsePlan``, with a slot for the date).

A relay from a plan is exact by construction: both keys are the whole of what the full
path's output depends on, and anything not covered (a head never seen, an interim
response, an error, a body not whole in one read, a pipelined request, another client
address) goes to the full path, which records anew. What is kept is bounded: a
head's plans (``PeerPlans``: one ``ForwardPlan`` per client address, at most
``MAX_PEERS``) live in the channel's replay table (bounded in count and bytes), and a
``ForwardPlan`` holds at most ``MAX_RESPONSES`` response plans, each a head of at most
``MAX_HEAD`` bytes. An upstream whose heads never repeat makes each try fall back, so a
plan backs off (``ForwardPlan.missed``): its next requests take the full path untried.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FIRST_BACKOFF",
    "MAX_BACKOFF",
    "MAX_HEAD",
    "MAX_PEERS",
    "MAX_RESPONSES",
    "ForwardPlan",
    "PeerPlans",
    "ResponsePlan",
    "make_response_plan",
    "relayable_head",
]

MAX_HEAD = 4096  # the largest client response head kept (the upstream memo's bound too)
MAX_RESPONSES = 8  # response heads kept per request head (emptied when full)
MAX_PEERS = 16  # client addresses with a plan for the same head (emptied when full)
# After a relay falls back, the next ``backoff`` requests for its head take the full
# path without trying (doubling from FIRST_BACKOFF to MAX_BACKOFF while they keep failing).
FIRST_BACKOFF = 8
MAX_BACKOFF = 1024
_DATE = b"\r\nDate: "  # as twisted.web writes it (``Headers`` canonical form)


def relayable_head(head: bytes) -> bool:
    """Whether a proxied request with this exact head (one read's bytes, already
    accepted by ``replay.replayable_head``) may be relayed from a plan: GET only (a
    HEAD's answer is read by the upstream client head by head, never whole)."""
    return head.startswith(b"GET ")


class ResponsePlan:
    """The client response head for one upstream head, with a slot for its date.

    ``upstream_dated``: the date is the upstream's (relayed as it came), else the
    server's own (the upstream sent none; twisted.web added the current one).
    ``code``, ``sent`` and the request fields are for the logs and metrics, which a
    relayed request feeds as a full one does (``sent``: the body's length).
    """

    __slots__ = ("_date", "_head", "_prefix", "_suffix", "code", "log_text", "method",
                 "path", "sent", "size", "target", "upstream_dated", "version")

    def __init__(
        self, prefix: bytes, suffix: bytes, upstream_dated: bool, code: int, sent: int,
        method: bytes, target: bytes, version: bytes,
    ) -> None:
        self._prefix = prefix
        self._suffix = suffix
        self._date = b""
        self._head = b""
        self.upstream_dated = upstream_dated
        self.code = code
        self.sent = sent
        self.method = method
        self.target = target
        self.version = version
        self.path = target.partition(b"?")[0]
        self.size = len(prefix) + len(suffix) + 29
        self.log_text: str | None = None  # the request log's part for it, made once

    def head(self, date: bytes) -> bytes:
        """The head dated ``date``; the same bytes object while the date is the same."""
        if date != self._date:
            self._head = b"".join((self._prefix, date, self._suffix))
            self._date = date
        return self._head


def make_response_plan(
    request_head: bytes, response_head: bytes, upstream_date: bytes | None,
    current_date: bytes, code: int, length: int,
) -> ResponsePlan | None:
    """The plan for ``response_head`` (as written to the client for ``request_head``),
    or None when its date cannot be placed for certain.

    The head must have exactly one ``Date`` line, holding ``upstream_date`` (the
    upstream's, relayed) or, when the upstream sent none, ``current_date`` (the one
    twisted.web wrote); explicit ``Content-Length`` framing equal to ``length``; and no
    ``Connection: close`` (the full path closed: nothing to relay again).
    """
    if len(response_head) > MAX_HEAD or not response_head.endswith(b"\r\n\r\n"):
        return None
    lower = response_head.lower()
    if b"\r\ntransfer-encoding:" in lower or b"\r\nconnection:" in lower:
        return None
    if _length(lower) != length:
        return None
    start = response_head.find(_DATE)
    if start < 0 or response_head.find(_DATE, start + 1) >= 0:
        return None
    start += len(_DATE)
    end = response_head.find(b"\r\n", start)
    date = response_head[start:end]
    if date != (current_date if upstream_date is None else upstream_date):
        return None
    method, _, rest = request_head[: request_head.find(b"\r\n")].partition(b" ")
    target, _, version = rest.rpartition(b" ")
    return ResponsePlan(
        response_head[:start], response_head[end:], upstream_date is not None, code,
        length, method, target, version,
    )


def _length(lower_head: bytes) -> int | None:
    """The one Content-Length value of a lowercased head (None: none, or several)."""
    name = b"\r\ncontent-length: "
    start = lower_head.find(name)
    if start < 0 or lower_head.find(name, start + 1) >= 0:
        return None
    start += len(name)
    value = lower_head[start : lower_head.find(b"\r\n", start)]
    return int(value) if value.isdigit() else None


class ForwardPlan:
    """What the full path sent upstream for one exact client head, and the client
    heads it wrote for the upstream heads seen since (``responses``, by memo key).

    ``peer``: the client address the forwarded fields name (X-Forwarded-For): a relay
    is made for a connection from that address only. ``relay``: what makes a relay
    (the proxy mount's, opaque here), ``upstream_head``: the request head's bytes.
    """

    __slots__ = ("backoff", "path", "peer", "relay", "request", "responses", "size", "skip",
                 "upstream_head")

    def __init__(
        self, key: bytes, peer: str, relay: Any, request: Any, upstream_head: bytes
    ) -> None:
        # The client's path, for the metrics (``key``'s request target, no query).
        target = key[key.find(b" ") + 1 : key.find(b"\r\n")].rpartition(b" ")[0]
        self.path = target.partition(b"?")[0]
        self.peer = peer
        self.relay = relay
        self.request = request  # the ``UpstreamRequest`` to send (its ``head`` set)
        self.upstream_head = upstream_head
        self.responses: dict[bytes, ResponsePlan] = {}
        # What the replay table counts: the heads kept. It changes only in ``add``,
        # which the channel calls while the plan is out of the table (``forget``,
        # ``add``, ``store``), so the table's count stays exact.
        self.size = len(upstream_head)
        # An upstream that answers each request with a head of its own (a request id,
        # a fresh cookie) can never be relayed: each try would cost a relay and a
        # fall-back on top of the full path. So after a fall-back, ``skip`` requests
        # take the full path untried and unrecorded (``missed``/``answered``).
        self.skip = 0
        self.backoff = 0

    def missed(self) -> None:
        """A relay from this plan fell back: back off, twice as long each time."""
        self.backoff = min(MAX_BACKOFF, max(FIRST_BACKOFF, self.backoff * 2))
        self.skip = self.backoff

    def answered(self) -> None:
        """A relay from this plan was answered: try every request again."""
        self.backoff = 0

    def add(self, key: bytes, plan: ResponsePlan) -> None:
        """Keep ``plan`` for the upstream head ``key``, emptying the set when full."""
        responses = self.responses
        old = responses.pop(key, None)
        if old is not None:
            self.size -= old.size + len(key)
        elif len(responses) >= MAX_RESPONSES:
            responses.clear()
            self.size = len(self.upstream_head)
        responses[key] = plan
        self.size += plan.size + len(key)


class PeerPlans(dict[str, ForwardPlan]):
    """The ``ForwardPlan``s of one exact client head, by client address: their
    forwarded fields differ, so each address has its own (at most ``MAX_PEERS``,
    emptied when full). What the replay table keeps under the head; ``size`` is the
    sum of theirs, made anew by ``put`` (called while it is out of the table)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def put(self, plan: ForwardPlan) -> None:
        """Keep ``plan`` for its address (replacing any other) and recount the size."""
        if plan.peer not in self and len(self) >= MAX_PEERS:
            self.clear()
        self[plan.peer] = plan
        self.size = sum(p.size for p in self.values())
