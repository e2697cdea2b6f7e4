"""The channel half of relays: a proxied GET answered without a twisted.web ``Request``.

When an idle connection's read is exactly a head for which a ``ForwardPlan`` is kept
(``http/relayplan.py``; recorded by ``replaychannel`` from the full path) and it comes
from the address the plan's forwarded fields name, the channel hands it to the plan's
relay (the proxy mount's, ``web/proxy/direct.py``), which sends the recorded upstream
request. While the relay is in flight the connection is BUSY (no read deadline: the
upstream client's timeouts run, as for any proxied request). The relay then either

- answers: the upstream's head has a response plan and its whole message came in one
  read; the channel writes the plan's head with the upstream's date and the body, logs
  and counts the request (``ChannelHost.replayed``) and goes back to IDLE; or
- falls back (``fall_back``): anything else (a head without a plan, an interim
  response, an error or timeout, the client sending more bytes). The channel then
  parses the head through the full path as if it had just arrived, and the proxy
  resource, rendering it, takes over the exchange in flight (``adopting``) instead of
  starting another: no request is sent twice, and what the client gets is what the
  full path makes of what the upstream said. If the full path does not reach the proxy
  (a layer above answers otherwise), the exchange is cancelled.

A client that goes away while a relay is in flight cancels the exchange, and the
request is counted as aborted, as the full path counts it.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.python.failure import Failure

from twisted_netlab.http.relayplan import ForwardPlan, PeerPlans, ResponsePlan
from twisted_netlab.http.replay import Kept
from twisted_netlab.web.limits import Phase
from twisted_netlab.web.replaychannel import ReplayChannel
from twisted_netlab.web.requestlog import client_host

__all__ = ["Relay", "RelayChannel"]

_IDLE, _BUSY = Phase.IDLE, Phase.BUSY


class Relay(Protocol):
    """One proxied GET relayed from a plan (``web/proxy/direct.DirectCall``)."""

    data: bytes  # the client's head
    started: float
    plan: ForwardPlan
    label: str | None  # the metrics' (``ReplayWatcher.relay_started``) while in flight

    def start(self) -> None:
        """Send the request upstream (the channel has filed itself as relaying)."""

    def fall_back(self) -> None:
        """Hand the request to the full path now (the client sent more bytes)."""

    def client_lost(self) -> None:
        """The client went away: cancel the exchange."""


class RelayChannel(ReplayChannel):
    """A ``ReplayChannel`` that relays proxied GETs from plans (see the module text)."""

    __slots__ = ("adopting",)
    # The relay in flight on this connection (``ReplayChannel.relaying``: a read while
    # it is in flight makes it fall back there), or None.
    relaying: Relay | None
    # While a relay falls back: it, for the proxy resource to take its exchange over.
    adopting: Relay | None

    def __init__(self) -> None:
        super().__init__()
        self.adopting = None

    def _relay_from(self, plans: Kept, data: bytes) -> bool:
        assert type(plans) is PeerPlans
        plan = plans.get(client_host(self))
        if plan is None:
            return False  # a plan's forwarded fields name another client
        if plan.skip:
            plan.skip -= 1  # backing off (``ForwardPlan.missed``)
            return False
        size = len(data)
        self._fed += size
        self._parsed += size
        relay: Relay = plan.relay.relay(self, plan, data, self.clock())
        watcher = self.host.replay_watcher
        if watcher is not None:
            relay.label = watcher.relay_started(plan.path)
        self.relaying = relay
        self.phase = _BUSY
        relay.start()
        if self.relaying is relay:  # still in flight (not answered nor fallen back)
            self._end_of_read()  # filed BUSY
        return True

    # -- from the relay ------------------------------------------------------------

    def relay_answered(self, relay: Relay, response: bytes, plan: ResponsePlan) -> None:
        """Write ``response`` (head and body) for ``relay``; the request is done."""
        if self.relaying is not relay:
            return
        self.relaying = None
        transport: Any = self.transport
        transport.write(response)
        label, relay.label = relay.label, None
        if relay.plan.backoff:
            relay.plan.answered()
        self.host.relayed(self, plan, relay.data, relay.started, label)
        if self.host.draining or not self.persistent:
            self.loseConnection()  # type: ignore[no-untyped-call]
            return
        self._enter(_IDLE, self.limits.keepalive_timeout)

    def relay_fell_back(self, relay: Relay, missed: bool) -> None:
        """Parse ``relay``'s head through the full path, which may adopt the relay
        (``adopting``: the proxy resource clears it when it takes the exchange over).
        ``missed``: the upstream's answer was not one a plan could relay (the plan
        backs off); False when the client made it fall back (it sent more bytes)."""
        if self.relaying is not relay:
            return
        self.relaying = None
        self._relay_ended(relay, counted=False)  # the full path counts it from now on
        self.adopting = relay
        self.phase = _IDLE  # as before the head arrived (the filing follows the parse)
        try:
            self._parse_candidate(relay.data)  # recorded as any full path (a new head)
        finally:
            self.adopting = None
            if missed:
                relay.plan.missed()

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        relay, self.relaying = self.relaying, None
        if relay is not None:
            relay.client_lost()
            self._relay_ended(relay, counted=True)  # an aborted request
        super().connectionLost(reason)

    def _relay_ended(self, relay: Relay, *, counted: bool) -> None:
        """Tell the metrics a relay is no longer in flight without an answer."""
        label, relay.label = relay.label, None
        watcher = self.host.replay_watcher
        if label is not None and watcher is not None:
            watcher.relay_ended(label, None, 0, counted)
