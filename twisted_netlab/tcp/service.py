"""The echo as one service: its listening ports plus a graceful stop.

On SIGTERM/SIGINT twistd stops the application's services and waits for the Deferred
each ``stopService`` returns before the reactor stops.  ``EchoService`` uses that: it
first stops every listener (no new connections), then drains the factory (idle
connections closed at once, frames in flight finished and echoed, the rest cut after
``drain_timeout``), so a stop loses no reply that was already owed.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred

from twisted_netlab.tcp.factory import DrainResult, EchoFactory

__all__ = ["EchoService"]


class EchoService(MultiService):
    """Parent of the listener services of one ``EchoFactory``."""

    def __init__(self, factory: EchoFactory, listeners: Iterable[IService]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.factory = factory
        self.drained: DrainResult | None = None
        for listener in listeners:
            listener.setServiceParent(self)

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        await super().stopService()  # type: ignore[no-untyped-call]  # stop accepting first
        self.drained = await self.factory.drain()
