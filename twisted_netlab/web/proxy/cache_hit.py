"""The plain fresh hit answered at render, without a ``CachingCall``.

Why a separate path: most cached traffic is a GET of a fresh entry with a small body
and no conditionals or Range. Such a request needs the lookup (the same pure
``decision.lookup`` every request gets), the stored head (``cache_head``: relayed once
per entry) and one write; the call object, its upstream state and the body producer
are work it does not need. Anything else (a miss, stale, revalidation, the client's own
If-* or Range, HEAD, a body above one chunk, an entry evicted since the lookup) returns
the lookup's answer and ``CachingCall`` takes the request with that plan, so every
rule stays in one place and this path only ever answers a subset of what it would.
"""

from __future__ import annotations

from typing import Any

from twisted_netlab.http.cache.decision import Hit, Lookup, lookup
from twisted_netlab.http.msgframing import BodyKind, Framing
from twisted_netlab.web.proxy.cache import ProxyCache
from twisted_netlab.web.proxy.cache_body import CHUNK
from twisted_netlab.web.proxy.cache_head import add_status, send_stored_head
from twisted_netlab.web.proxy.role import CallHost

__all__ = ["serve_hit"]


def serve_hit(resource: CallHost, cache: ProxyCache, request: Any, key: str) -> Lookup | None:
    """Answer a plain fresh GET hit; None when answered, else the plan for a call.

    Returns None without a plan only after finishing the request. The caller hands a
    returned plan to ``CachingCall(plan=...)``, which would have made the same lookup.
    """
    pairs: list[tuple[str, str]] = []
    plain = True  # no If-* and no Range: the hit is the whole stored 200
    for name, values in request.requestHeaders.getAllRawHeaders():
        low = name.lower()
        if low[:3] == b"if-" or low == b"range":
            plain = False
        text = name.decode("latin-1")
        for value in values:
            pairs.append((text, value.decode("latin-1")))
    plan = lookup("GET", tuple(pairs), cache.now(), cache.store.entries(key))
    if not plain or not isinstance(plan, Hit):
        return plan
    entry = plan.entry
    reader = cache.store.open(entry.ident)
    if reader is None:
        return plan  # evicted since the lookup: the call forwards
    length = reader.length
    if length > CHUNK:
        reader.close()
        return plan  # a body under flow control: the call's producer
    cache.count("hit")
    send_stored_head(
        cache.heads, resource, request, entry.meta.status, plan.headers,
        Framing(BodyKind.LENGTH, length),
    )
    add_status(cache.heads, resource, request, plan.status, cache.config.explain)
    for chunk in reader.chunks(CHUNK):
        request.write(chunk)
    reader.close()
    request.finish()
    return None
