"""Graceful stop: finish in-flight work within a deadline, then let the process exit.

twistd stops the application during the reactor's "before shutdown" phase and waits
for a Deferred returned by ``stopService``. ``DrainService`` returns one that fires
when every drainable (a site, the echo factory) has closed its connections or cut them
at its deadline. The listening ports are stopped by their own services in the same
phase, so nothing new is accepted meanwhile.

A second SIGTERM/SIGINT during the stop cuts everything at once: the first signal
means "stop politely", the second "stop now" (as with nginx's QUIT then TERM).

Why one process-wide ``StopSignals`` (``PROCESS_STOP``) rather than a handler per
service: a signal disposition belongs to the process, not to a service.  With one
handler per service, the combined ``netlab`` plugin (web and echo in one process) had
two drains each replacing the other's handler, so a second signal cut only one of them;
and the echo's drain had none at all (Twisted's own handler only logged "reactor not
running").  Every stop phase that can be hurried (the lame-duck wait, the web drain,
the echo drain) *joins* ``PROCESS_STOP`` with a "now" callback while it runs; the
handler is installed while anyone is joined and the previous one restored after.
A second signal that arrives before a phase has joined (during the lame-duck wait,
say) is remembered: a phase joining later is hurried at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger

__all__ = ["PROCESS_STOP", "DrainService", "Drainable", "StopSignals"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drainable(Protocol):
    def start_drain(self, timeout: float | None = None) -> Deferred[None]:
        """Stop taking work; fire when the last connection is gone."""

    def cut_all(self) -> None:
        """Abort every connection now."""


class StopSignals:
    """While a stop is under way, SIGTERM/SIGINT mean "now" for every joined phase."""

    _log = Logger()

    def __init__(self) -> None:
        self._joined: list[tuple[Callable[[], object], IReactorFromThreads]] = []
        self._previous: dict[int, Any] = {}
        self.hurried = False

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def join(self, now: Callable[[], object], reactor: IReactorFromThreads) -> None:
        """Call ``now`` (in the reactor thread) on the next stop signal, until ``leave``.

        Join *before* starting the work ``now`` cuts short, and log "stopping" after:
        a signal is handled by whichever handler is installed when it arrives.  ``now``
        always runs in a later reactor turn than the signal (``callFromThread``), so the
        caller finishes starting its work first.  If a signal already hurried the stop
        (during the lame-duck wait, say), ``now`` is scheduled at once.
        """
        self._joined.append((now, reactor))
        self._install()
        if self.hurried:
            reactor.callFromThread(now)

    def leave(self, now: Callable[[], object]) -> None:
        self._joined = [(f, r) for f, r in self._joined if f != now]  # bound methods: ==
        if not self._joined:
            self._restore()
            self.hurried = False

    def hurry(self) -> None:
        """What a second signal does (also callable directly, e.g. from a test)."""
        first = not self.hurried
        self.hurried = True
        if first:
            self._log.warn("second stop signal: cutting every remaining connection")
        for now, _ in list(self._joined):
            now()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Runs between two bytecodes of the main thread: hand over to the reactor.
        if self._joined:
            self._joined[-1][1].callFromThread(self.hurry)

    def _install(self) -> None:
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


PROCESS_STOP = StopSignals()
"""The one instance per process: what every stop phase joins by default."""


class DrainService(Service):
    """Drains ``drainables`` when the application stops."""

    _log = Logger()

    def __init__(
        self,
        drainables: Sequence[Drainable],
        reactor: IReactorFromThreads,
        signals: StopSignals | None = None,
    ) -> None:
        self.drainables = list(drainables)
        self.reactor = reactor
        self.signals = PROCESS_STOP if signals is None else signals

    def stopService(self) -> Deferred[Any]:
        super().stopService()  # type: ignore[no-untyped-call]
        self.signals.join(self.cut_now, self.reactor)
        self._log.info("graceful stop: draining {n} service(s); a second signal stops at once",
                      n=len(self.drainables))
        done: Deferred[Any] = DeferredList([d.start_drain() for d in self.drainables])
        done.addBoth(self._leave)
        return done

    def cut_now(self) -> None:
        """What a second signal does: abort all remaining connections."""
        for drainable in self.drainables:
            drainable.cut_all()

    def _leave(self, result: object) -> object:
        self.signals.leave(self.cut_now)
        return result
