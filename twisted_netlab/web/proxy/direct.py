"""A proxied GET relayed from a plan: the exchange's handler while no ``Request`` exists.

``web/relaychannel.py`` starts one when a client head matches a ``ForwardPlan``
(``http/relayplan.py``); this sends the plan's recorded upstream request through the
mount's pooled client (its deadlines, stale-connection retry and error typing are the
same as for any exchange) and looks at what comes back:

- a final head that came whole with its body in one read (``ResponseHead.whole``) and
  for which a ``ResponsePlan`` is kept (by its memo key): the plan's client head, dated
  as the upstream dated this answer (or now, if it sent no Date), and the body are
  written by the channel in one piece; the request is done;
- anything else (an interim head, an unknown or partial head, a failure, the client
  sending more): the channel parses the head through the full path, and the mount's
  ``ProxyResource.render`` takes this exchange over (``adopt``) with a ``ProxyCall``,
  which is told of the event that made the relay fall back and hears the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted_netlab.http.msgframing import BodyKind
from twisted_netlab.http.relayplan import ForwardPlan, ResponsePlan
from twisted_netlab.upstream.errors import UpstreamError
from twisted_netlab.upstream.exchange import Exchange
from twisted_netlab.upstream.message import ResponseHandler, ResponseHead
from twisted_netlab.web.proxy.role import CallHost
from twisted_netlab.web.replay import current_date

if TYPE_CHECKING:
    from twisted_netlab.web.relaychannel import RelayChannel

__all__ = ["DirectCall"]

_LENGTH, _NO_BODY = BodyKind.LENGTH, BodyKind.NO_BODY


class DirectCall:
    """One relay from a plan (see the module text); ``RelayChannel``'s ``Relay``."""

    __slots__ = ("_body", "_head", "_response", "channel", "data", "exchange", "host",
                 "label", "plan", "started", "taker")

    def __init__(
        self, host: CallHost, channel: RelayChannel, plan: ForwardPlan, data: bytes,
        started: float,
    ) -> None:
        self.host = host  # the mount's ProxyResource
        self.channel = channel
        self.plan = plan
        self.data = data
        self.started = started
        self.label: str | None = None  # the metrics' label while in flight (the channel's)
        self.exchange: Exchange | None = None
        self.taker: ResponseHandler | None = None  # the ProxyCall that took over
        self._response: ResponsePlan | None = None
        self._head = b""
        self._body: bytes | None = None

    def start(self) -> None:
        host = self.host
        exchange = self.exchange = host.client.exchange(host.origin, self.plan.request, self)
        exchange.start()

    # -- ResponseHandler --------------------------------------------------------------

    def interim_received(self, head: ResponseHead) -> None:
        self._fall_back(lambda taker: taker.interim_received(head), missed=True)

    def head_received(self, head: ResponseHead) -> None:
        key = head.memo_key
        if head.whole and key is not None:
            plan = self.plan.responses.get(key)
            if plan is not None:
                kind = head.framing.kind
                date = head.memo_date
                if (kind is _LENGTH or kind is _NO_BODY) and plan.upstream_dated == (
                    date is not None
                ):
                    self._response = plan
                    self._head = plan.head(current_date() if date is None else date)
                    return
        self._fall_back(lambda taker: taker.head_received(head), missed=True)

    def body_received(self, data: bytes) -> None:
        # Only after a planned head: its whole body is in the same read (``whole``).
        self._body = data if self._body is None else self._body + data

    def response_done(self) -> None:
        plan = self._response
        if plan is None:  # pragma: no cover - a planned head always comes first
            return
        body = self._body
        self.channel.relay_answered(self, self._head if body is None else self._head + body, plan)

    def exchange_failed(self, error: UpstreamError) -> None:
        self._fall_back(lambda taker: taker.exchange_failed(error), missed=True)

    # -- from the channel ---------------------------------------------------------------

    def fall_back(self) -> None:
        self._fall_back(None, missed=False)

    def client_lost(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.cancel()

    def _fall_back(
        self, event: Callable[[ResponseHandler], None] | None, *, missed: bool
    ) -> None:
        """The full path takes the request over; ``event`` is what made it (told to the
        ``ProxyCall`` that adopts the exchange); ``missed``: the upstream's doing."""
        self.channel.relay_fell_back(self, missed)
        taker = self.taker
        if taker is None:  # the full path answered without the proxy: drop the exchange
            if self.exchange is not None:
                self.exchange.cancel()
            return
        if event is not None:
            event(taker)
