"""Background revalidation (RFC 5861 stale-while-revalidate): nobody waits for it.

The client already has the stale response; this handler sends the conditional request
upstream and updates the store with whatever comes back: a 304 freshens the stored
entry (RFC 9111 4.3.4), a storable response replaces it, anything else leaves it to age
out. One refresh per key at a time (``ProxyCache.refreshing``).
"""

from __future__ import annotations

from twisted.logger import Logger

from twisted_netlab.cache.store import BodyWriter
from twisted_netlab.http.cache.decision import admit, freshen
from twisted_netlab.http.cache.entry import Stored
from twisted_netlab.http.cache.fields import Fields, decode_pairs
from twisted_netlab.upstream.errors import UpstreamError
from twisted_netlab.upstream.message import ResponseHead
from twisted_netlab.web.proxy.cache import ProxyCache

__all__ = ["Refresh"]

log = Logger()


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
