"""The plain fresh hit answered at render, without a ``CachingCall``.

Why a separate path: most cached traffic is a GET of a fresh entry with a small body
and no conditionals or Range. Such a request needs the lookup (the same pure
``decision.lookup`` every request gets), the stored head (``cache_head``: relayed once
per entry) and one write; the call object, its upstream state and the body producer
are work it does not need. Anything else (a miss, stale, revalidation, the client's own
If-* or Range, HEAD, a body above one chunk, an entry evicted since the lookup) returns
the lookup's answer and ``CachingCall`` takes the request with that plan, so every
rule stays in one place and this path only ever answers a subset of what it would.

Repeated hits of one entry go further (``HitPlan``): a request that carries none of
the fields ``lookup`` or the stored answer read (``_PLAN_BLIND``: If-*, Range,
Cache-Control, Pragma) for an entry that is its key's only one and has no Vary gets an
answer from ``lookup`` that depends on the clock alone, through the entry's current
age. So the head that answer sends (relayed fields, Content-Length, ``Age``,
``Cache-Status``) is kept and replayed for as long as neither the whole-second ``Age``
nor the ``ttl`` it carries can change: at most one second. The plan is tied to the
very ``Stored`` object the store lists for the key; a 304 refresh, a purge, an
invalidation, an eviction or a new variant each replace or remove that object, and the
next request finds the plan stale and asks ``lookup`` again. A plan is made on the
second looked-up hit of a slot within a second (``HitPlans.hot``): making one costs
about a lookup, wasted on an entry hit less often than its plans last.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.web.http import NO_BODY_CODES

from twisted_netlab.http.cache.age import current_age
from twisted_netlab.http.cache.decision import Hit, Lookup, lookup
from twisted_netlab.http.msgframing import BodyKind, Framing
from twisted_netlab.web.proxy.cache import ProxyCache
from twisted_netlab.web.proxy.cache_body import CHUNK
from twisted_netlab.web.proxy.cache_head import HitPlan, Slot, add_status, send_stored_head
from twisted_netlab.web.proxy.role import CallHost
from twisted_netlab.web.replay import offer_replay

__all__ = ["replay_hit", "serve_hit"]

# Request fields (canonical, as ``Headers.getAllRawHeaders`` names them) that the lookup
# or the stored answer read, besides the Vary-nominated ones: a request with any of
# them is answered by ``lookup`` itself every time. Any name starting "If-" too.
_PLAN_BLIND = frozenset({b"Cache-Control", b"Pragma", b"Range"})

# Float times near 1.7e9 carry about 2.4e-7 s of rounding: end a plan this much early.
_MARGIN = 1e-6


def replay_hit(resource: CallHost, cache: ProxyCache, request: Any) -> bool:
    """Answer a GET from the plan made for its mount, target and TLS; False when there
    is none that holds (the render goes on: ``plan``, then ``render_cached``).

    Called before the mount works out the upstream target: a plan exists only for a
    target that was served as a hit, and what the mount makes of a GET's target
    (refused or not, which upstream URL) depends on nothing else.
    """
    if request.method != b"GET":
        return False
    for name, _ in request.requestHeaders.getAllRawHeaders():
        if name in _PLAN_BLIND or name[:3] == b"If-":
            return False
    secure = resource.cookie_rules is not None and bool(request.isSecure())
    plan = cache.hit_plans.get((resource, request.uri, secure))
    if plan is None:
        return False
    now = cache.now()
    if not plan.holds_at(now):
        return False
    body = cache.store.sole_body(plan.key, plan.stored)
    if body is None:
        return False
    cache.count("hit")
    _offer(cache, (resource, request.uri, secure), plan, request)
    request.setResponseCode(plan.code)
    # No Content-Type that nobody chose: twisted.web would add text/html.
    request.defaultContentType = None
    headers = request.responseHeaders
    set_raw = headers.setRawHeaders
    for name, values in plan.sets:
        set_raw(name, values)
    for name, value in plan.adds:
        headers.addRawHeader(name, value)
    request.write(body)
    request.finish()
    return True


def _offer(cache: ProxyCache, slot: Slot, plan: HitPlan, request: Any) -> None:
    """Offer this answer for replay by the channel (``web/replay.py``) for as long as
    ``replay_hit`` would send these very bytes: the same plan for the slot, the clock
    within its window (the ``Age`` it carries unchanged) and its body still the entry's
    only one (which marks the entry recently used, as a hit does). Each replay counts as
    the hit it is. A stored ``Date`` replaces twisted.web's and is replayed as it is;
    without one, the answer carries the server's, made current on each replay."""
    plans = cache.hit_plans
    dated = not any(name == b"date" for name, _ in plan.sets)
    store = cache.store

    def check() -> bool:
        return (
            plans.get(slot) is plan
            and plan.holds_at(cache.now())
            and store.sole_body(plan.key, plan.stored) is not None
        )

    offer_replay(request, check, dated=dated, replayed=lambda: cache.count("hit"))


def serve_hit(resource: CallHost, cache: ProxyCache, request: Any, key: str) -> Lookup | None:
    """Answer a plain fresh GET hit; None when answered, else the plan for a call.

    Returns None without a plan only after finishing the request. The caller hands a
    returned plan to ``CachingCall(plan=...)``, which would have made the same lookup.
    """
    pairs: list[tuple[str, str]] = []
    plain = plannable = True  # plain: no If-* and no Range (the hit is the whole 200)
    for name, values in request.requestHeaders.getAllRawHeaders():
        if name[:3] == b"If-" or name == b"Range":
            plain = plannable = False
        elif name in _PLAN_BLIND:
            plannable = False
        text = name.decode("latin-1")
        for value in values:
            pairs.append((text, value.decode("latin-1")))
    now = cache.now()
    entries = cache.store.entries(key)
    answer = lookup("GET", tuple(pairs), now, entries)
    if not plain or not isinstance(answer, Hit):
        return answer
    entry = answer.entry
    reader = cache.store.open(entry.ident)
    if reader is None:
        return answer  # evicted since the lookup: the call forwards
    length = reader.length
    if length > CHUNK:
        reader.close()
        return answer  # a body under flow control: the call's producer
    cache.count("hit")
    send_stored_head(
        cache.heads, resource, request, entry.meta.status, answer.headers,
        Framing(BodyKind.LENGTH, length),
    )
    add_status(cache.heads, resource, request, answer.status, cache.config.explain)
    if plannable and len(entries) == 1 and not entry.meta.vary:
        secure = resource.cookie_rules is not None and bool(request.isSecure())
        slot = (resource, request.uri, secure)
        if cache.hit_plans.hot(slot, now):
            _remember(cache, slot, key, answer, now, request)
    for chunk in reader.chunks(CHUNK):
        request.write(chunk)
    reader.close()
    request.finish()
    return None


def _remember(
    cache: ProxyCache, slot: Slot, key: str, answer: Hit, now: float, request: Any
) -> None:
    """Keep the head just sent for ``answer`` as the plan for the next hits of its entry.

    The relayed fields are the memo ``send_stored_head`` just used; our framing and Age
    are read back from the response, as it set them, so a replay sends exactly this
    head. Not kept: a Vary (merged with the site's own per request) or a body the memory
    store does not hold in one piece.
    """
    stored = answer.entry
    meta = stored.meta
    fields = answer.headers
    if not fields or fields[-1][0] != "Age" or meta.status in NO_BODY_CODES:
        return  # (a Hit's fields end with its Age: ``decision.served_headers``)
    if cache.store.sole_body(key, stored) is None:
        return
    age = current_age(meta.age, now)
    left = meta.lifetime - age  # > 0: the answer is a fresh hit
    age_next = math.floor(age) + 1 - age  # until the whole-second Age changes
    ttl_next = left - math.floor(left)  # until the ttl changes (0: only at ``now``)
    until = now + min(age_next, ttl_next) - _MARGIN
    resource: Any = slot[0]
    relayed = cache.heads.relayed(resource, fields[:-1], slot[2])
    sets = list(relayed)  # (shared lists, never changed: ``setRawHeaders`` copies them)
    for name, _ in sets:
        if name == b"vary":
            return
    headers = request.responseHeaders
    for name in (b"content-length", b"age"):  # ours alone: relaying drops the upstream's
        values = headers.getRawHeaders(name)
        if values is not None:
            sets.append((name, list(values)))
    adds: list[tuple[bytes, bytes]] = []
    lines = cache.heads.status_lines(
        answer.status, resource.settings.pseudonym, cache.config.explain
    )
    for name, value, replace_earlier in lines:
        if replace_earlier:
            sets.append((name, [value]))
        else:
            adds.append((name, value))
    cache.hit_plans.put(slot, HitPlan(stored, key, now, until, meta.status, sets, adds))
