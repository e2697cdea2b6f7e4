"""The head fields a stored answer sends, worked out once per stored header section.

Why: every hit of one entry relays the same stored fields through the same rules
(``call.relay_fields``: hop-by-hop and Connection-named fields, Via, Location
rewriting, dev cookie rewriting, CORS dropping) for the same mount, and only ``Age``,
``Content-Length`` and ``Cache-Status`` change from one request to the next. Relaying
them again per hit was most of the cost of a small cached answer; so the relayed list is
kept, keyed by exactly what it is a function of (the fields, the mount and whether the
client connection is TLS, which picks the dev cookie rule). Nothing is skipped: a hit
gets what relaying the fields gives, worked out on the first hit instead of every one.

``HitPlan``: the whole head of one entry's fresh hit (relayed fields, framing, Age and
Cache-Status), replayed by ``cache_hit`` for at most a second; ``HitPlans`` holds them.

Every memo is bounded: when full it is emptied (a flood of distinct entries costs a
re-computation, never memory).
"""

from __future__ import annotations

from typing import Any

from twisted_netlab.http.cache.cache_status import CacheStatus
from twisted_netlab.http.cache.entry import Stored
from twisted_netlab.http.cache.fields import encode_pairs
from twisted_netlab.http.cache.serve import EXPLAIN_HEADER, status_fields
from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.http.msgframing import Framing
from twisted_netlab.web.proxy.call import Relayed, relay_fields, send_head
from twisted_netlab.web.proxy.role import CallHost

__all__ = [
    "HeadMemo", "HitPlan", "HitPlans", "Slot", "StatusLine", "add_status", "send_stored_head",
]

Pairs = tuple[tuple[str, str], ...]
# One status field line: name, value, and whether it replaces an earlier one.
StatusLine = tuple[bytes, bytes, bool]

_LIMIT = 1024
_STORED_VERSION = b"1.1"  # the version a stored answer is relayed as (its Via names it)


class HeadMemo:
    """Relayed stored fields per (fields, mount, TLS) and status lines per status."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._relayed: BoundedMemo[tuple[Pairs, Any, bool], Relayed] = BoundedMemo(limit)
        self._status: BoundedMemo[tuple[CacheStatus, str, bool], tuple[StatusLine, ...]] = (
            BoundedMemo(limit)
        )

    def relayed(self, resource: CallHost, fields: Pairs, secure: bool) -> Relayed:
        """``relay_fields`` of ``fields`` for ``resource``; the caller must not change it."""
        key = (fields, resource, secure)
        relayed = self._relayed.get(key)
        if relayed is None:
            relayed = self._relayed.remember(
                key, relay_fields(resource, encode_pairs(fields), _STORED_VERSION, secure)
            )
        return relayed

    def status_lines(
        self, status: CacheStatus, cache_name: str, explain: bool
    ) -> tuple[StatusLine, ...]:
        """Our ``Cache-Status`` member (and ``X-Netlab-Explain``), encoded."""
        key = (status, cache_name, explain)
        lines = self._status.get(key)
        if lines is None:
            lines = tuple(
                (
                    name.encode("ascii"),
                    value.encode("latin-1", "replace"),
                    name == EXPLAIN_HEADER,
                )
                for name, value in status_fields(
                    status, cache_name=cache_name, explain_header=explain
                )
            )
            self._status.remember(key, lines)
        return lines


class HitPlan:
    """One entry's fresh-hit answer, valid while ``since <= now < until`` and while
    ``stored`` is the only entry the store lists for ``key`` (``cache_hit``).

    (Also at ``now == since`` exactly: a clock standing still never changes the answer.)
    ``sets`` are the fields to set in order, ``adds`` the ones to append (our
    Cache-Status member after any upstream one).
    """

    __slots__ = ("adds", "code", "key", "sets", "since", "stored", "until")

    def __init__(
        self,
        stored: Stored,
        key: str,
        since: float,
        until: float,
        code: int,
        sets: list[tuple[bytes, list[bytes]]],
        adds: list[tuple[bytes, bytes]],
    ) -> None:
        self.stored = stored
        self.key = key
        self.since = since
        self.until = until
        self.code = code
        self.sets = sets
        self.adds = adds

    def holds_at(self, now: float) -> bool:
        """Whether the clock is within the plan's window (see the class text)."""
        return self.since <= now and (now < self.until or now == self.since)


Slot = tuple[object, bytes, bool]  # (mount resource, request target as sent, TLS)

# A plan is made for a slot hit twice within this many seconds: an entry hit less often
# would pay for a plan (about as much as a lookup) that ends before its next hit.
_HOT = 1.0


class HitPlans:
    """The plans per slot, and when each slot last had a looked-up hit; both bounded."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._plans: BoundedMemo[Slot, HitPlan] = BoundedMemo(limit)
        self._seen: BoundedMemo[Slot, float] = BoundedMemo(limit)

    def get(self, slot: Slot) -> HitPlan | None:
        return self._plans.get(slot)

    def hot(self, slot: Slot, now: float) -> bool:
        """Note a looked-up hit of ``slot`` at ``now``; is a plan worth making? Yes when
        its last plan ended, or its last looked-up hit came, less than ``_HOT`` ago."""
        plan = self._plans.get(slot)
        if plan is not None and now - plan.until < _HOT:
            return True
        seen = self._seen
        last = seen.get(slot)
        seen.remember(slot, now)
        return last is not None and now - last < _HOT

    def put(self, slot: Slot, plan: HitPlan) -> None:
        self._plans.remember(slot, plan)

    def __len__(self) -> int:
        return len(self._plans)


def send_stored_head(
    heads: HeadMemo,
    resource: CallHost,
    request: Any,
    code: int,
    headers: Pairs,
    framing: Framing,
) -> None:
    """A stored answer's head: its relayed fields (once per entry when ``headers`` end
    with the per-request ``Age``, as ``served_headers`` makes them), then that Age."""
    # TLS or not picks the dev cookie rule, and nothing else in the relay.
    secure = resource.cookie_rules is not None and bool(request.isSecure())
    if headers and headers[-1][0] == "Age":
        relayed = heads.relayed(resource, headers[:-1], secure)
        send_head(request, code, b"", relayed, framing)
        age = headers[-1][1].encode("latin-1")
        request.responseHeaders.setRawHeaders(b"Age", [age])
    else:
        relayed = relay_fields(resource, encode_pairs(headers), _STORED_VERSION, secure)
        send_head(request, code, b"", relayed, framing)


def add_status(
    heads: HeadMemo, resource: CallHost, request: Any, status: CacheStatus, explain: bool
) -> None:
    """Our ``Cache-Status`` member after any the upstream sent (RFC 9211 2)."""
    headers = request.responseHeaders
    for name, value, replace_earlier in heads.status_lines(
        status, resource.settings.pseudonym, explain
    ):
        if replace_earlier:
            headers.setRawHeaders(name, [value])
        else:
            headers.addRawHeader(name, value)
