"""A push producer that works in bursts, one burst per reactor turn.

A body that is ready at once (a spooled upload, a stored cache entry) could be written
in one loop, but that would hold the reactor for as long as the body takes and fill the
transport's buffer regardless of the peer. ``BurstPump`` does at most ``burst`` steps,
then yields to the reactor (``callLater(0)``) and goes on; the consumer's
``pauseProducing`` stops it between two steps and ``resumeProducing`` restarts it.
Subclasses say what one step is (``_step``); the pause/resume/stop bookkeeping and the
one pending reactor call are here once.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from zope.interface import implementer

__all__ = ["BurstPump"]


@implementer(IPushProducer)
class BurstPump:
    """Runs ``_step`` up to ``burst`` times per reactor turn while not paused or stopped."""

    def __init__(self, reactor: IReactorTime, burst: int) -> None:
        self._reactor = reactor
        self._burst = burst
        self._paused = False
        self._stopped = False
        self._call: IDelayedCall | None = None

    def _step(self) -> bool:
        """One unit of work; False when there is nothing more to do now (a step that
        ends the body sets ``_stopped`` itself)."""
        raise NotImplementedError

    def _pump(self) -> None:
        self._call = None
        for _ in range(self._burst):
            if self._paused or self._stopped:
                return
            if not self._step():
                return
        self._schedule()

    def _schedule(self) -> None:
        if self._call is None and not self._paused and not self._stopped:
            self._call = self._reactor.callLater(0, self._pump)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self._stopped = True
        if self._call is not None:
            self._call.cancel()
            self._call = None
