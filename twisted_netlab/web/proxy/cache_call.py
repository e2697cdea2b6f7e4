"""One proxied request with the cache in front: lookup, serve, or forward and fill.

``CachingCall`` is a ``ProxyCall`` (the relay is unchanged) that first asks the pure
decision core (``http.cache.decision.lookup``) and then:

- Hit / Stale: serves the stored entry (``cache_answer.StoredAnswerCall``: whole,
  HEAD, a Range or the client's own conditionals -> 304/412), and for
  stale-while-revalidate starts a background ``cache_refresh.Refresh``;
- Revalidate: forwards with the stored validators instead of the client's; a 304
  freshens the entry and serves it; 5xx or no answer -> stale-if-error when allowed;
- Forward: a GET miss joins the ``Collapser`` (one upstream request per cold key; the
  others wait, bounded, then look up again or go upstream themselves); the response is
  admitted (``decision.admit``) and streams into the store while it is relayed;
- every answer carries our ``Cache-Status`` member (and ``X-Netlab-Explain`` when on);
  an unsafe method that succeeds invalidates its target and same-origin Location.

``cache_render.render_cached`` is the resource's entry point (it also answers PURGE);
a plain fresh GET hit with a small body is answered there by ``cache_hit.serve_hit``
without a call, every other request gets a ``CachingCall`` (with that lookup's plan).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.iweb import IRequest

from twisted_netlab.cache.collapse import Role
from twisted_netlab.cache.store import BodyWriter
from twisted_netlab.http.cache.cache_status import CacheStatus, FwdReason
from twisted_netlab.http.cache.decision import (
    Forward,
    GatewayTimeout,
    Hit,
    Lookup,
    Revalidate,
    Stale,
    admit,
    freshen,
    lookup,
    served_headers,
    stale_on_error,
)
from twisted_netlab.http.cache.entry import Stored
from twisted_netlab.http.cache.fields import decode_pairs
from twisted_netlab.http.cache.head import freshen_from_head
from twisted_netlab.http.cache.serve import (
    forwarded_status,
    validated_status,
)
from twisted_netlab.upstream.errors import UpstreamError
from twisted_netlab.upstream.message import ResponseHead
from twisted_netlab.web.proxy.cache import ProxyCache
from twisted_netlab.web.proxy.cache_answer import StoredAnswerCall
from twisted_netlab.web.proxy.cache_refresh import start_refresh, with_validators

__all__ = ["CachingCall"]

log = Logger()

_UPSTREAM_ERRORS = frozenset({500, 502, 503, 504})


def _request_pairs(request: Any) -> tuple[tuple[str, str], ...]:
    return decode_pairs(
        (name, value)
        for name, values in request.requestHeaders.getAllRawHeaders()
        for value in values
    )


class CachingCall(StoredAnswerCall):
    _writer: BodyWriter | None = None
    _leader = False
    _detached = False  # the store answered; the exchange's remaining events are ignored
    _wait: IDelayedCall | None = None
    _request_time = 0.0

    def __init__(
        self,
        resource: Any,
        request: IRequest,
        target: bytes,
        cache: ProxyCache,
        key: str | None,
        *,
        plan: Lookup | None = None,
        **call_options: Any,
    ) -> None:
        super().__init__(resource, request, target, **call_options)
        self.cache = cache
        self.key = key
        self.plan = plan
        # ``verb``: text for the pure rules (``ProxyCall.method`` may be the wire bytes).
        # (A streamed upload's call starts before twisted.web set ``request.method``.)
        method = call_options.get("method") or self.request.method
        self.verb = method.decode("latin-1")
        self.request_pairs = _request_pairs(self.request)
        self.cache_status = CacheStatus(fwd=FwdReason.BYPASS)

    # -- deciding ----------------------------------------------------------------------

    def start(self) -> None:
        key = self.key
        if key is None:
            self.cache.count("bypass")
            self._forward()
            return
        plan = self.plan
        if plan is None:
            plan = self._lookup(key)
        self._act(key, plan)

    def _lookup(self, key: str) -> Lookup:
        entries = self.cache.store.entries(key)
        return lookup(self.verb, self.request_pairs, self.cache.now(), entries)

    def _act(self, key: str, plan: Lookup) -> None:
        self.plan = plan
        cache = self.cache
        if isinstance(plan, Hit):
            cache.count("hit")
            self._serve(plan.entry, plan.headers, plan.status)
        elif isinstance(plan, Stale):
            cache.count("stale")
            if plan.background:
                start_refresh(self, key, plan)
            self._serve(plan.entry, plan.headers, plan.status)
        elif isinstance(plan, GatewayTimeout):
            cache.count("only-if-cached")
            self.cache_status = plan.status
            self._plain(http.GATEWAY_TIMEOUT, f"only-if-cached, and {plan.reason}")
        elif isinstance(plan, Revalidate):
            cache.count("revalidate")
            self.cache_status = CacheStatus(fwd=plan.fwd)
            self._forward()
        else:
            cache.count("method" if plan.fwd is FwdReason.METHOD else "miss")
            self.cache_status = CacheStatus(fwd=plan.fwd)
            if self.verb != "GET":
                self._forward()
                return
            role = cache.collapser.join(key, self._notified)
            if role is Role.FOLLOWER:
                self._wait = cache.reactor.callLater(cache.config.collapse_wait, self._stop_waiting)
                self.request.notifyFinish().addErrback(self._left_while_waiting)
                return
            self._leader = role is Role.LEADER
            self._forward()

    def _forward(self) -> None:
        self._request_time = self.cache.now()
        super().start()

    def upstream_headers(self, headers: dict[bytes, list[bytes]]) -> dict[bytes, list[bytes]]:
        plan = self.plan
        if not isinstance(plan, Revalidate):
            return headers
        return with_validators(headers, plan.conditional)

    # -- collapsing --------------------------------------------------------------------

    def _notified(self, outcome: Stored | None) -> None:
        """The leader finished: look up again (its entry may not fit our Vary)."""
        if self._wait is not None:
            self._wait.cancel()
            self._wait = None
        if self._client_gone or self._done or self.key is None:
            return
        plan = self._lookup(self.key)
        if isinstance(plan, Hit):
            self.cache.count("collapsed")
            fwd = self.cache_status.fwd or FwdReason.MISS
            status = CacheStatus(
                fwd=fwd, fwd_status=plan.entry.meta.status, ttl=plan.status.ttl, collapsed=True
            )
            self._serve(plan.entry, plan.headers, status)
            return
        self._forward()

    def _stop_waiting(self) -> None:
        self._wait = None
        if self.key is not None:
            self.cache.collapser.leave(self.key, self._notified)
        if not (self._client_gone or self._done):
            self._forward()

    def _left_while_waiting(self, failure: Failure) -> None:
        self._client_gone = True
        if self._wait is not None:
            self._wait.cancel()
            self._wait = None
            if self.key is not None:
                self.cache.collapser.leave(self.key, self._notified)

    def _release(self, stored: Stored | None) -> None:
        if self._leader and self.key is not None:
            self._leader = False
            try:
                self.cache.collapser.release(self.key, stored)
            except Exception:
                # A waiter's failure is its own (each was notified); ours goes on.
                log.failure("proxy cache {key}: a collapsed request failed", key=self.key)

    # -- the upstream's answer ---------------------------------------------------------

    def _holding(self) -> bool:
        """A streamed upload's call holds events until render attaches it (ProxyCall
        replays them through these same methods): cache bookkeeping waits for that."""
        return not getattr(self, "attached", True)

    def head_received(self, head: ResponseHead) -> None:
        if self._holding():
            super().head_received(head)
            return
        if self._detached or self._client_gone or self._done:
            return
        try:
            taken = self._take_head(head)
        except Exception:
            self._bug(Failure())
            return
        if taken:
            return
        super().head_received(head)
        if not self._done:
            self._add_status()

    def _take_head(self, head: ResponseHead) -> bool:
        """Cache bookkeeping for the head; True when the store answers instead."""
        key = self.key
        if key is None:
            return False
        cache = self.cache
        now = cache.now()
        pairs = decode_pairs(head.headers)
        plan = self.plan
        if isinstance(plan, Revalidate):
            if head.status == 304:
                return self._validated(key, plan, pairs, now)
            if head.status in _UPSTREAM_ERRORS and self._stale_on_error(plan, head.status):
                return True
        admission = admit(
            key, self.verb, self.request_pairs, head.status, pairs, self._request_time, now,
            cache.rules,
        )
        for gone in admission.invalidate:
            if cache.store.invalidate(gone):
                cache.count("invalidated")
        if isinstance(plan, Revalidate) and not admission.store and head.status < 500:
            for stored in plan.candidates:
                cache.store.remove(stored.ident)
        if self.verb == "HEAD" and head.status == 200:
            result = freshen_from_head(
                cache.store.entries(key), self.request_pairs, 200, pairs, self._request_time,
                now, cache.rules,
            )
            for stored in result.updated:
                cache.store.update(stored)
            for ident in result.outdated:
                cache.store.remove(ident)
        length = head.framing.length
        if admission.store and length is not None and length > cache.max_entry_bytes:
            admission = replace(admission, store=False, reason="larger than the cache takes")
        fwd = self.cache_status.fwd or FwdReason.MISS
        collapsed = self._leader and cache.collapser.waiting(key) > 0
        self.cache_status = forwarded_status(fwd, head.status, admission, collapsed=collapsed)
        if admission.store and admission.meta is not None:
            self._writer = cache.store.begin(admission.meta)
        else:
            self._release(None)
        return False

    def _validated(self, key: str, plan: Revalidate, pairs: Any, now: float) -> bool:
        cache = self.cache
        updated = freshen(plan.candidates, pairs, self._request_time, now, cache.rules)
        for stored in updated:
            cache.store.update(stored)
        self._detach()
        chosen = next((s for s in updated if s.ident == plan.candidates[0].ident), None)
        if chosen is not None:
            cache.count("validated")
            headers = served_headers(chosen.meta, now, validated=True)
            self._serve(chosen, headers, validated_status(plan.fwd, chosen.meta, now))
            return True
        # The 304 selected nothing we hold (or it said no-store): ask again, unconditionally.
        for stored in plan.candidates:
            cache.store.remove(stored.ident)
        self._done = True
        retry = Forward(plan.fwd, "the 304 matched no stored response")
        CachingCall(self.resource, self.request, self.target, cache, key, plan=retry).start()
        return True

    def _stale_on_error(self, plan: Revalidate, status: int | None) -> bool:
        stale = stale_on_error(plan.candidates[0], self.request_pairs, self.cache.now(), status)
        if stale is None:
            return False
        self.cache.count("stale-if-error")
        self._detach(cancel=True)
        self._serve(stale.entry, stale.headers, stale.status)
        return True

    def body_received(self, data: bytes) -> None:
        if self._holding():
            super().body_received(data)
            return
        if self._detached:
            return
        writer = self._writer
        if writer is not None and not writer.append(data):
            self._writer = None
            self._release(None)
        super().body_received(data)

    def response_done(self) -> None:
        if self._holding():
            super().response_done()
            return
        if self._detached:
            return
        writer, self._writer = self._writer, None
        self._release(writer.commit() if writer is not None else None)
        super().response_done()

    def exchange_failed(self, error: UpstreamError) -> None:
        if self._holding():
            super().exchange_failed(error)
            return
        if self._detached:
            return
        self._drop_write()
        plan = self.plan
        if (
            isinstance(plan, Revalidate)
            and not (self._head_sent or self._client_gone or self._done)
            and self._stale_on_error(plan, None)
        ):
            return
        super().exchange_failed(error)

    def _client_lost(self, failure: Failure) -> None:
        self._drop_write()
        super()._client_lost(failure)

    def _drop_write(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
        self._release(None)

    def _detach(self, *, cancel: bool = False) -> None:
        self._detached = True
        exchange, self.exchange = self.exchange, None
        if cancel and exchange is not None:
            exchange.cancel()

    def _evicted(self) -> None:
        """The entry went between lookup and open: a fresh call goes upstream."""
        self._done = True
        gone = Forward(FwdReason.MISS, "the stored response was evicted")
        call = CachingCall(
            self.resource, self.request, self.target, self.cache, self.key, plan=gone
        )
        call.start()
