"""The echo as one service: its listening ports plus a graceful stop.

On SIGTERM/SIGINT twistd stops the application's services and waits for the Deferred
each ``stopService`` returns before the reactor stops.  ``EchoService`` uses that: it
first stops every listener (no new connections), then drains the factory (idle
connections closed at once, frames in flight finished and echoed, the rest cut after
``drain_timeout``), so a stop loses no reply that was already owed.

A second signal cuts the drain short: the service joins the process-wide
``StopSignals`` (``twisted_netlab.drain``, shared with the web site's drain and the
lame-duck wait) for as long as it stops, with the factory's ``cut_all``.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

from twisted_netlab.drain import PROCESS_STOP, StopSignals
from twisted_netlab.tcp.factory import DrainResult, EchoFactory

__all__ = ["EchoService"]


class EchoService(MultiService):
    """Parent of the listener services of one ``EchoFactory``."""

    def __init__(
        self,
        factory: EchoFactory,
        listeners: Iterable[IService],
        reactor: IReactorFromThreads | None = None,
        signals: StopSignals | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.factory = factory
        self.drained: DrainResult | None = None
        self._reactor = reactor
        self._signals = PROCESS_STOP if signals is None else signals
        for listener in listeners:
            listener.setServiceParent(self)

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor as installed  # twistd's, installed by now

            reactor = installed  # type: ignore[assignment]
        assert reactor is not None
        cut = self.factory.cut_all
        self._signals.join(cut, reactor)  # before the first "stopping" log line
        try:
            await super().stopService()  # type: ignore[no-untyped-call]  # stop accepting first
            await self.factory.start_drain()
        finally:
            self._signals.leave(cut)
        self.drained = self.factory.last_drain
