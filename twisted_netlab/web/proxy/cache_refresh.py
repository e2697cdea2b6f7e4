"""Background revalidation (RFC 5861 stale-while-revalidate): nobody waits for it.

The client already has the stale response; this handler sends the conditional request
upstream and updates the store with whatever comes back: a 304 freshens the stored
entry (RFC 9111 4.3.4), a storable response replaces it, anything else leaves it to age
out. One refresh per key at a time (``ProxyCache.refreshing``).
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from twisted_netlab.cache.store import BodyWriter
from twisted_netlab.http.cache.decision import Stale, admit, freshen
from twisted_netlab.http.cache.entry import Stored
from twisted_netlab.http.cache.fields import Fields, decode_pairs
from twisted_netlab.http.headers import forward_request_headers
from twisted_netlab.upstream.errors import UpstreamError
from twisted_netlab.upstream.message import ResponseHead, UpstreamRequest
from twisted_netlab.web.proxy.cache import ProxyCache

__all__ = ["Refresh", "start_refresh", "with_validators"]

log = Logger()

# Our validators replace the client's when we revalidate (RFC 9111 4.3.1); the client's
# are then evaluated against the stored response (4.3.2). Range goes too: the answer
# must be a 304 or a whole response, which can be stored.
_REPLACED = frozenset({b"if-none-match", b"if-modified-since", b"range", b"if-range"})


class Refresh:
    """A ``ResponseHandler`` that writes only into the cache."""

    def __init__(
        self, cache: ProxyCache, key: str, candidates: tuple[Stored, ...], request_headers: Fields
    ) -> None:
        self.cache = cache
        self.key = key
        self.candidates = candidates
        self.request_headers = request_headers
        self.request_time = cache.now()
        self._writer: BodyWriter | None = None
        cache.refreshing.add(key)

    def interim_received(self, head: ResponseHead) -> None:
        pass

    def head_received(self, head: ResponseHead) -> None:
        cache = self.cache
        now = cache.now()
        pairs = decode_pairs(head.headers)
        if head.status == 304:
            for stored in freshen(self.candidates, pairs, self.request_time, now, cache.rules):
                cache.store.update(stored)
            cache.count("refreshed")
            return
        admission = admit(
            self.key, "GET", self.request_headers, head.status, pairs, self.request_time, now,
            cache.rules,
        )
        if admission.store and admission.meta is not None:
            self._writer = cache.store.begin(admission.meta)
        elif head.status < 500:
            for stored in self.candidates:
                cache.store.remove(stored.ident)

    def body_received(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.append(data):
            self._writer = None

    def response_done(self) -> None:
        self.cache.refreshing.discard(self.key)
        if self._writer is not None:
            self._writer.commit()
            self._writer = None

    def exchange_failed(self, error: UpstreamError) -> None:
        self.cache.refreshing.discard(self.key)
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        log.info(
            "proxy cache: background revalidation of {key} failed: {reason}",
            key=self.key,
            reason=error.reason,
        )


def start_refresh(call: Any, key: str, plan: Stale) -> None:
    """Send ``plan.revalidate`` upstream for ``call``'s request, in the background.

    ``call`` is the ``CachingCall`` serving the stale entry (its request, resource,
    target and cache); the refresh outlives it and writes only into the store.
    """
    cache = call.cache
    if key in cache.refreshing:
        return
    request = call.request
    resource = call.resource
    headers = forward_request_headers(
        dict(request.requestHeaders.getAllRawHeaders()),
        str(getattr(request.getClientAddress(), "host", "") or "unknown"),
        "https" if request.isSecure() else "http",
        request.clientproto.partition(b"/")[2] or b"1.1",
        resource.forward_rules,
    )
    headers = with_validators(headers, plan.revalidate)
    handler = Refresh(cache, key, (plan.entry,), call.request_pairs)
    upstream = UpstreamRequest(b"GET", call.target, headers, None)
    resource.client.request(resource.origin, upstream, handler)


def with_validators(
    headers: dict[bytes, list[bytes]], conditional: tuple[tuple[str, str], ...]
) -> dict[bytes, list[bytes]]:
    """``headers`` with the client's validators (and Range) replaced by ours."""
    out = {name: values for name, values in headers.items() if name.lower() not in _REPLACED}
    for name, value in conditional:
        out.setdefault(name.encode("latin-1"), []).append(value.encode("latin-1"))
    return out
