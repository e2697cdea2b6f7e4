"""The channel half of replays: record an offered response, answer its head again.

A keep-alive client of a static site sends the same head for the same file again and
again (a browser's revalidations, a download tool, a load balancer's checks, wrk).
When a read of an idle connection is exactly a head for which a plan is kept
(``http/replay.py``) and the plan's check holds, the channel writes the plan's bytes
(with the current date, unless the answer carries a stored one) and stays idle: no
``Request``, no traversal, no header objects.
That is about a third of the CPU of the same answer made by twisted.web's full path
(bench/README.rst). Everything else is parsed by twisted.web as before.

Recording: while an idle connection's read that is not a known head is parsed, it is
the candidate key. If the request it carries is offered for replay (``web/replay.py``)
within that read, before its headers are written, and the head is one the rules allow
(a later pipelined request can never be recorded under it), the channel
writes the head itself (formatted exactly as ``HTTPChannel.writeHeaders`` formats it)
and keeps what is written until the request is done. The plan is kept only if the
offer still stands then, the connection stays open, and the response has explicit
framing.

A proxied GET is recorded the same way, for relays (``http/relayplan.py``,
``relaychannel.py``): the proxy call asks for its key while the read is parsed
(``relay_key``), offers the response once the upstream's head is in (``offer_relay``,
later, outside the read), and the channel keeps the client head written for it, not the
body, in the ``PeerPlans`` stored under that key. The same table holds both kinds.

A replay is counted like the request it stands for: the request log, the access log and
the metrics watcher see it (``LimitedSite.replayed``); the keep-alive deadline starts
again and the connection is filed as the newest idle one, as after any response.

Only public/overridable ``HTTPChannel`` methods are overridden: ``dataReceived`` and
``connectionLost``, and while an offered request is recorded ``writeHeaders``,
``write``, ``writeSequence`` and ``requestDone`` (on the instance, for that request).
"""

from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure
from twisted.web.http_headers import Headers

from twisted_netlab.http.relayplan import (
    ForwardPlan,
    PeerPlans,
    make_response_plan,
    relayable_head,
)
from twisted_netlab.http.replay import (
    MAX_PLAN_BYTES,
    Kept,
    ReplayPlan,
    ReplayTable,
    make_plan,
    replayable_head,
    response_head,
)
from twisted_netlab.web.channelreads import ReadChannel
from twisted_netlab.web.limits import Phase
from twisted_netlab.web.replay import FORBIDDEN, RelayOffer, current_date
from twisted_netlab.web.requestlog import client_host

__all__ = ["ReplayChannel"]

_IDLE = Phase.IDLE


class _Recording:
    """What has been written for the request being recorded."""

    __slots__ = ("body", "head", "head_only", "key", "request", "size", "spoiled")

    def __init__(self, key: bytes, request: Any, head: bytes, head_only: bool) -> None:
        self.key = key
        self.request = request
        self.head = head
        self.head_only = head_only  # a relay's: its plan keeps the head, not the body
        self.body: list[bytes] = []
        self.size = len(head)
        self.spoiled = False

    def add(self, data: bytes) -> None:
        if self.spoiled or self.head_only:
            return
        self.size += len(data)
        if self.size > MAX_PLAN_BYTES:
            self.spoiled = True
            self.body = []
        else:
            self.body.append(data)


class ReplayChannel(ReadChannel):
    """A ``ReadChannel`` that replays offered responses (see the module text)."""

    __slots__ = ("_rec", "_rec_key", "_rec_offer_key", "_rec_request", "relaying", "replays")
    # The site's table for this connection's kind (plain or TLS), or None: no replays.
    replays: ReplayTable | None
    # While an idle read that was not a known head is parsed: that read, the candidate
    # key (a request it carries, answered within the read, may be offered for replay).
    _rec_key: bytes | None
    _rec_request: Any  # the offered request, until its headers are written
    _rec_offer_key: bytes | None  # the head it is recorded under, until then too
    _rec: _Recording | None
    # A proxied GET being relayed from a plan (``relaychannel.RelayChannel``), or None.
    relaying: Any

    def __init__(self) -> None:
        super().__init__()
        self.replays = None
        self._rec_key = None
        self._rec_request = None
        self._rec_offer_key = None
        self._rec = None
        self.relaying = None

    def _bind(self) -> None:
        super()._bind()
        self.replays = self.host.replay_table(self.isSecure())  # type: ignore[no-untyped-call]

    def dataReceived(self, data: bytes) -> None:
        replays = self.replays
        if (
            replays is not None
            and self.phase is _IDLE
            and self._fed == self._parsed  # nothing of a next head is waiting
            and not self._reading
        ):
            plan = replays.get(data)
            if plan is not None:
                host = self.host
                watcher = host.replay_watcher
                if (
                    host.draining
                    or not self.persistent
                    or (watcher is not None and not watcher.may_replay())
                ):
                    pass  # the full path (it closes or marks the connection)
                elif type(plan) is not ReplayPlan:  # a proxied GET's (``relaychannel``)
                    if self._relay_from(plan, data):
                        return
                elif plan.check():
                    size = len(data)
                    self._fed += size
                    self._parsed += size
                    started = self.clock()
                    transport: Any = self.transport
                    transport.write(plan.response(current_date()))
                    if plan.replayed is not None:
                        plan.replayed()
                    host.replayed(self, plan, data, started)
                    self._end_of_read()  # the keep-alive wait starts again, filed anew
                    return
                else:  # the version changed: the full path answers, and records anew
                    replays.forget(data)
            self._parse_candidate(data)
            return
        relay = self.relaying
        if relay is not None:
            # A pipelined request (or junk) during a relay (``relaychannel``): the
            # full path takes the relay over first, and orders what follows.
            relay.fall_back()
        ReadChannel.dataReceived(self, data)

    def _parse_candidate(self, data: bytes) -> None:
        """Parse an idle read that was not replayed: a request it carries may be
        offered for replay while it is parsed (``replay_offered``), or, proxied, may
        ask for it as its key (``relay_key``)."""
        self._rec_key = data
        try:
            ReadChannel.dataReceived(self, data)
        finally:
            self._rec_key = None

    def _relay_from(self, plan: Kept, data: bytes) -> bool:
        """Relay the GET ``data`` from ``plan`` (``relaychannel``); False: the full path."""
        return False

    # -- recording --------------------------------------------------------------------
    # Only an offered request pays for it: ``replay_offered`` puts the recording
    # versions of ``writeHeaders`` (then ``write``, ``writeSequence``, ``requestDone``)
    # on the instance, and they take themselves off again (as ``ReadChannel`` does
    # with ``lineReceived``); every other request calls HTTPChannel's own.

    def replay_offered(self, request: Any) -> None:
        """``request`` was offered for replay (``web/replay.offer_replay``); a proxied
        request's offer (``offer_relay``) names the key it had (``relay_key``)."""
        offer = getattr(request, "replay_offer", None)
        key = offer.key if type(offer) is RelayOffer else self._rec_key
        if key is not None and self._rec_request is None and self._rec is None:
            self._rec_request = request
            self._rec_offer_key = key
            self.writeHeaders = self._record_headers  # type: ignore[method-assign]

    def relay_key(self, request: Any) -> bytes | None:
        """The exact head ``request`` came in (the read being parsed), when a proxied
        response to it may later be offered for relaying (``http/relayplan.py``)."""
        key = self._rec_key
        requests = self.requests
        replays = self.replays
        if (
            key is None
            or replays is None
            or not requests
            or requests[0] is not request
            or not relayable_head(key)
        ):
            return None
        plans = replays.get(key)
        if type(plans) is PeerPlans:  # its head passed ``replayable_head`` already
            plan = plans.get(client_host(self))
            if plan is not None and plan.skip:
                return None  # backing off: nothing is learnt meanwhile either
            return key
        return key if replayable_head(key) else None

    def _record_headers(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:
        del self.writeHeaders
        request, self._rec_request = self._rec_request, None
        key, self._rec_offer_key = self._rec_offer_key, None
        requests = self.requests
        offer = getattr(request, "replay_offer", None)
        if (
            key is not None
            and requests
            and requests[0] is request
            and offer is not None
            and offer is not FORBIDDEN
            and isinstance(headers, Headers)
            and replayable_head(key)
        ):
            head = response_head(version, code, reason, headers.getAllRawHeaders())
            self._rec = _Recording(key, request, head, type(offer) is RelayOffer)
            self.write = self._record_write  # type: ignore[method-assign]
            self.writeSequence = self._record_sequence  # type: ignore[method-assign]
            self.requestDone = self._recorded_done  # type: ignore[method-assign]
            transport: Any = self.transport
            transport.write(head)
            return
        self.writeHeaders(version, code, reason, headers)  # type: ignore[no-untyped-call]

    def _record_write(self, data: bytes) -> None:
        rec = self._rec
        if rec is not None:
            rec.add(data)
        transport: Any = self.transport
        transport.write(data)

    def _record_sequence(self, iovec: list[bytes]) -> None:
        rec = self._rec
        if rec is not None:  # chunked: no explicit framing, nothing to replay or relay
            rec.spoiled = True
        transport: Any = self.transport
        transport.writeSequence(iovec)

    def _recorded_done(self, request: Any) -> None:
        rec = self._stop_recording()
        if rec is not None:
            self._keep(rec, request)
        self.requestDone(request)

    def _stop_recording(self) -> _Recording | None:
        rec, self._rec = self._rec, None
        self._rec_request = self._rec_offer_key = None
        own = self.__dict__
        for name in ("writeHeaders", "write", "writeSequence", "requestDone"):
            own.pop(name, None)
        return rec

    def _keep(self, rec: _Recording, request: Any) -> None:
        offer = getattr(request, "replay_offer", None)
        replays = self.replays
        if (
            rec.request is not request
            or rec.spoiled
            or offer is None
            or offer is FORBIDDEN
            or replays is None
            or not self.persistent
            or self.host.draining
        ):
            return
        if type(offer) is RelayOffer:
            self._keep_relay(rec, request, offer, replays)
            return
        plan = make_plan(
            rec.key, rec.head, b"".join(rec.body), request.code, request.sentLength,
            offer.check, dated=offer.dated, replayed=offer.replayed,
        )
        if plan is not None:
            replays.store(rec.key, plan)

    def _keep_relay(
        self, rec: _Recording, request: Any, offer: RelayOffer, replays: ReplayTable
    ) -> None:
        """Keep the client head written for a proxied GET under its upstream head, in
        the ``ForwardPlan`` for its request head (made or renewed here)."""
        upstream = offer.request
        if upstream.head is None or request.sentLength != offer.length or rec.spoiled:
            return  # the body was not relayed whole: nothing that can be relayed again
        plan = make_response_plan(
            rec.key, rec.head, offer.upstream_date, current_date(), request.code, offer.length
        )
        if plan is None:
            return
        key = rec.key
        plans = replays.get(key)
        if type(plans) is PeerPlans:
            replays.forget(key)  # out of the table while its size changes
        else:
            plans = PeerPlans()
        forward = plans.get(offer.peer)
        if (
            forward is None
            or forward.relay is not offer.relay
            or forward.upstream_head != upstream.head
        ):
            forward = ForwardPlan(key, offer.peer, offer.relay, upstream, upstream.head)
        forward.add(offer.memo_key, plan)
        plans.put(forward)
        replays.store(key, plans)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._stop_recording()
        self._rec_key = None
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
