"""The site that counts its connections: cap, eviction, per-address cap and drain.

At the cap, the oldest connection that is idle or still sending its head is closed so
that the newcomer is served (a slowloris cannot lock real clients out); when every
connection is doing real work the newcomer gets an honest 503 and is closed. The
decisions are ``limits.admit``; this module only applies them.

Draining (``start_drain``) is the web half of a graceful stop: idle keep-alive
connections are closed at once, busy ones finish their response and are then closed
(``persistent = False``), and whatever is left at ``drain_timeout`` is cut.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IProtocol,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import IResource
from twisted.web.server import Request

from twisted_netlab.http.relayplan import ResponsePlan
from twisted_netlab.http.replay import MAX_TABLE_BYTES, ReplayPlan, ReplayTable
from twisted_netlab.web.accesslog import NetlabSite
from twisted_netlab.web.bodystream import BodyStream
from twisted_netlab.web.channel import LimitedChannel, LimitedRequest
from twisted_netlab.web.channelreads import ReadChannel
from twisted_netlab.web.limits import (
    Admission,
    AdmissionDecision,
    ConnectionView,
    LimitsConfig,
    Phase,
    PrefixBodyRule,
    admit,
    drain_summary,
)
from twisted_netlab.web.negotiation import NegotiatingProtocol
from twisted_netlab.web.plainresponse import plain_response
from twisted_netlab.web.replay import ReplayWatcher

_ACCEPT = AdmissionDecision(Admission.ACCEPT)

# Enum members as module constants: ``Phase.IDLE`` is a descriptor lookup on the enum
# class (about 0.1 µs on CPython 3.11), and these are read several times per request.
_IDLE, _HEAD, _BODY, _BUSY, _REFUSED = (
    Phase.IDLE, Phase.HEAD, Phase.BODY, Phase.BUSY, Phase.REFUSED)


# The streaming hook: called when a request head is in (``request.channel.method`` /
# ``.target`` / ``.version`` hold its request line); returns where the body goes as it
# arrives, or None to let twisted.web spool it. See ``web/proxy/opener.py``.
BodyOpener = Callable[[Request, int | None], BodyStream | None]


class Refusal(Protocol):
    """Answers 503 to a connection the site cannot take, then closes it.

    The client has usually sent its request already: closing with those bytes unread
    would reset the connection and could destroy the 503, so the write side is closed
    first and what arrives is dropped for at most ``linger`` seconds.
    """

    def __init__(self, message: str, clock: IReactorTime, linger: float = 1.0) -> None:
        self.message = message
        self.clock = clock
        self.linger = linger
        self._abort: IDelayedCall | None = None

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.write(plain_response(503, self.message, ((b"Retry-After", b"5"),)))
        if ITCPTransport.providedBy(transport):
            transport.loseWriteConnection()
            self._abort = self.clock.callLater(self.linger, transport.abortConnection)
        else:
            transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        """Dropped: the answer is already on its way."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = None


def _host(addr: IAddress | None) -> str:
    return str(getattr(addr, "host", "") or "")


class LimitedSite(NetlabSite):
    """``NetlabSite`` with ``LimitedChannel`` connections, a cap and a drain."""

    # HTTP/1.1 connections; an ALPN "h2" connection is handed to Twisted's HTTP/2 support
    # by ``negotiation.NegotiatingProtocol``.
    protocol = LimitedChannel  # type: ignore[assignment]
    _h2_site: NetlabSite | None = None
    requestFactory = LimitedRequest
    _log = Logger()

    def __init__(
        self,
        resource: IResource,
        limits: LimitsConfig,
        body_rule: PrefixBodyRule,
        *,
        reactor: IReactorTime,
        body_opener: BodyOpener | None = None,
        replay_bytes: int | None = MAX_TABLE_BYTES,
        **kwargs: Any,
    ) -> None:
        """``replay_bytes``: the byte budget of each replay table (None: no replays)."""
        super().__init__(resource, reactor=reactor, **kwargs)
        self.limits = limits
        self.body_rule = body_rule
        self.body_opener = body_opener
        self.draining = False
        self.channels: dict[int, LimitedChannel] = {}
        self.hosts: dict[int, str] = {}  # each channel's peer address, taken at accept
        # The eviction index: idle and head-phase channels, each dict in the order they
        # entered that phase (so its first entry is the oldest), overall and, with a
        # per-address cap only, per address with the live count per address. Admission
        # at the cap reads first entries only. Each channel holds the dicts it is filed
        # in (``ReadChannel.filed``/``own_filed``): moving it is a delete and an insert.
        self._idle: dict[int, ReadChannel] = {}
        self._head: dict[int, ReadChannel] = {}
        self._host_idle: dict[str, dict[int, ReadChannel]] = {}
        self._host_head: dict[str, dict[int, ReadChannel]] = {}
        self._host_count: dict[str, int] = {}
        self.evicted = 0
        self.refused = 0
        self._drain: Deferred[None] | None = None
        self._drain_timer: IDelayedCall | None = None
        self._drain_busy: set[int] = set()
        self._drain_counts = {"drained": 0, "cut": 0, "idle": 0}
        self.upstream_pools: list[Any] = []  # the proxy's pools, for /metrics (build_site)
        self.proxy_caches: list[Any] = []  # the shared proxy cache, for /metrics (build_site)
        # Replays (web/replaychannel.py): a table per connection kind, since a response
        # may differ over TLS; the watcher (metrics) counts replays and may stop them.
        self.replays: dict[bool, ReplayTable] = {} if replay_bytes is None else {
            secure: ReplayTable(max_bytes=replay_bytes) for secure in (False, True)
        }
        self.replay_watcher: ReplayWatcher | None = None

    # -- ChannelHost ------------------------------------------------------------------

    def seconds(self) -> float:
        return self.reactor.seconds()

    def body_limit(self, method: bytes, target: bytes) -> int:
        return min(self.body_rule.body_limit(method, target), self.limits.max_body)

    def open_body(self, request: Request, length: int | None) -> BodyStream | None:
        return None if self.body_opener is None else self.body_opener(request, length)

    def replay_table(self, secure: bool) -> ReplayTable | None:
        return self.replays.get(secure)

    def replayed(
        self, channel: ReadChannel, plan: ReplayPlan, head: bytes, started: float
    ) -> None:
        if self.request_log is not None or self._access_log is not None:
            self.log_replayed(channel, plan, head, started)
        watcher = self.replay_watcher
        if watcher is not None:
            watcher.replayed(plan.path, plan.code, plan.sent)

    def relayed(
        self, channel: ReadChannel, plan: ResponsePlan, head: bytes, started: float,
        label: str | None,
    ) -> None:
        if self.request_log is not None or self._access_log is not None:
            self.log_replayed(channel, plan, head, started)
        watcher = self.replay_watcher
        if watcher is not None and label is not None:
            watcher.relay_ended(label, plan.code, plan.sent, True)

    def channel_phase(self, channel: ReadChannel) -> None:
        key = channel.index_key
        if not key:  # no longer tracked (evicted, cut, detached)
            return
        # File it last in the index of its phase (idle, head, or none): the oldest
        # evictable connection stays the first entry. Inlined: once per request.
        phase = channel.phase
        filed = channel.filed
        if filed is not None:
            del filed[key]
        if phase is _IDLE:
            filed = self._idle
        elif phase is _HEAD:
            filed = self._head
        else:
            filed = None
        if filed is not None:
            filed[key] = channel
        channel.filed = filed
        own_idle = channel.own_idle
        if own_idle is not None:  # per-address cap on: the same for its address
            own = channel.own_filed
            if own is not None:
                del own[key]
            if phase is _IDLE:
                own = own_idle
            elif phase is _HEAD:
                own = channel.own_head
            else:
                own = None
            if own is not None:
                own[key] = channel
            channel.own_filed = own

    def channel_closed(self, channel: ReadChannel) -> None:
        key = id(channel)
        self._untrack(key)
        if key in self._drain_busy:
            self._drain_busy.discard(key)
            self._drain_counts["drained"] += 1
        self._maybe_drained()

    # -- admission --------------------------------------------------------------------

    def _track(self, channel: LimitedChannel, host: str) -> None:
        key = id(channel)
        self.channels[key] = channel
        self.hosts[key] = host
        channel.index_key = key
        if self.limits.max_connections_per_ip:
            self._host_count[host] = self._host_count.get(host, 0) + 1
            channel.own_idle = self._host_idle.setdefault(host, {})
            channel.own_head = self._host_head.setdefault(host, {})
        self.channel_phase(channel)

    def _untrack(self, key: int) -> LimitedChannel | None:
        channel = self.channels.pop(key, None)
        host = self.hosts.pop(key, None)
        if channel is None:
            return None
        channel.index_key = 0
        if channel.filed is not None:
            del channel.filed[key]
            channel.filed = None
        if channel.own_filed is not None:
            del channel.own_filed[key]
            channel.own_filed = None
        if channel.own_idle is not None and host is not None:
            channel.own_idle = channel.own_head = None
            left = self._host_count[host] - 1
            if left:
                self._host_count[host] = left
            else:  # the address's last connection: forget the address
                del self._host_count[host], self._host_idle[host], self._host_head[host]
        return channel

    def _first_views(
        self, idle: dict[int, ReadChannel] | None, head: dict[int, ReadChannel] | None
    ) -> list[ConnectionView]:
        """The oldest idle and the oldest head connection of an index (0 to 2 views)."""
        views = []
        for ordered in (idle, head):
            if ordered:
                key, ch = next(iter(ordered.items()))
                views.append(ConnectionView(key, self.hosts[key], ch.phase, ch.phase_since))
        return views

    def views(self) -> list[ConnectionView]:
        """Every connection as the eviction rule sees it (for diagnostics and tests)."""
        hosts = self.hosts
        return [
            ConnectionView(key, hosts.get(key, ""), ch.phase, ch.phase_since)
            for key, ch in self.channels.items()
        ]

    def buildProtocol(self, addr: IAddress | None) -> Any:
        if self.draining:
            self.refused += 1
            return Refusal("the server is shutting down", self.reactor)
        host = _host(addr)
        cap, per_ip = self.limits.connection_cap, self.limits.max_connections_per_ip
        if not per_ip and len(self.channels) < cap:
            decision = _ACCEPT  # below the cap: no need to look at every connection
        else:
            own_count = self._host_count.get(host, 0) if per_ip else 0
            decision = admit(
                len(self.channels), cap, self._first_views(self._idle, self._head),
                own_count=own_count, per_ip_cap=per_ip,
                own_oldest=self._first_views(
                    self._host_idle.get(host), self._host_head.get(host)
                ) if per_ip and own_count >= per_ip else (),
            )
        if decision.verdict is Admission.REFUSE:
            self.refused += 1
            self._log.warn("refusing a connection from {host}: {reason}", host=host,
                          reason=decision.reason)
            return Refusal(decision.reason, self.reactor)
        if decision.verdict is Admission.EVICT and decision.victim is not None:
            victim = self._untrack(decision.victim)
            if victim is not None:  # admit only names tracked connections
                self.evicted += 1
                self._log.info("{reason}: closing a {phase} connection to serve {host}",
                              reason=decision.reason, phase=victim.phase.value, host=host)
                victim.close_now(abort=True)
        channel = super().buildProtocol(addr)  # type: ignore[no-untyped-call]
        # Idle from accept on (connectionMade enters IDLE again and refiles it).
        channel.phase_since = self.reactor.seconds()
        self._track(channel, host)
        if b"h2" not in self.acceptableProtocols():  # type: ignore[no-untyped-call]
            return channel
        return NegotiatingProtocol(channel, channel.detach, lambda: self._build_h2(addr))

    def _build_h2(self, addr: IAddress | None) -> IProtocol | None:
        """A protocol from a plain ``NetlabSite`` sharing our resource and log.

        Made per connection so that it serves ``self.resource`` as it is now (metrics
        wrap it after the site is built).
        """
        if self.draining:
            return None
        companion = self._h2_site
        if companion is None or companion.resource is not self.resource:
            companion = self._h2_site = NetlabSite(
                self.resource, access_log=self._access_log, reactor=self.reactor,
                request_log=self.request_log,
            )
        built: IProtocol | None = companion.buildProtocol(addr)  # type: ignore[no-untyped-call]
        return built

    # -- drain ------------------------------------------------------------------------

    def start_drain(self, timeout: float | None = None) -> Deferred[None]:
        """Stop serving new work; fire once every connection is gone (or cut)."""
        if self._drain is not None:
            return self._drain
        self.draining = True
        self._drain = Deferred()
        for key, channel in list(self.channels.items()):
            if channel.phase is _IDLE:
                self._drain_counts["idle"] += 1
                channel.close_now(abort=False)
            else:
                self._drain_busy.add(key)
                channel.persistent = False
        delay = self.limits.drain_timeout if timeout is None else timeout
        self._drain_timer = self.reactor.callLater(delay, self.cut_all)
        self._maybe_drained()
        return self._drain

    def cut_all(self) -> None:
        """The drain deadline (or a second signal): abort whatever is still open."""
        if self._drain_timer is not None and self._drain_timer.active():
            self._drain_timer.cancel()
        self._drain_timer = None
        for key, channel in list(self.channels.items()):
            self._drain_busy.discard(key)
            self._drain_counts["cut"] += 1
            self._untrack(key)
            channel.close_now(abort=True)
        self._maybe_drained(force=True)

    def _maybe_drained(self, force: bool = False) -> None:
        if self._drain is None or self._drain.called or (self.channels and not force):
            return
        if self._drain_timer is not None and self._drain_timer.active():
            self._drain_timer.cancel()
        counts = self._drain_counts
        summary = drain_summary(counts["drained"], counts["cut"], counts["idle"])
        self._log.info("{summary}", summary=summary)
        self._drain.callback(None)

    @property
    def drain_counts(self) -> dict[str, int]:
        return dict(self._drain_counts)


def body_rule_for(
    proxy_prefixes: list[list[bytes]], tools_prefixes: list[list[bytes]], limits: LimitsConfig
) -> PrefixBodyRule:
    """Proxy mounts take bodies up to max_body, the tools up to tools_max_body."""
    return PrefixBodyRule(tuple(
        [(tuple(p), limits.max_body) for p in proxy_prefixes]
        + [(tuple(p), limits.tools_max_body) for p in tools_prefixes]
    ))
