"""Graceful stop: finish in-flight work within a deadline, then let the process exit.

twistd stops the application during the reactor's "before shutdown" phase and waits
for a Deferred returned by ``stopService``. ``DrainService`` returns one that fires
when every drainable (a site, later the echo server) has closed its connections or
cut them at its deadline. The listening ports are stopped by their own services in
the same phase, so nothing new is accepted meanwhile.

A second SIGTERM/SIGINT during the drain cuts everything at once: the first signal
means "stop politely", the second "stop now" (as with nginx's QUIT then TERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger


class Drainable(Protocol):
    def start_drain(self, timeout: float | None = None) -> Deferred[None]:
        """Stop taking work; fire when the last connection is gone."""

    def cut_all(self) -> None:
        """Abort every connection now."""


class DrainService(Service):
    """Drains ``drainables`` when the application stops."""

    _log = Logger()

    def __init__(self, drainables: Sequence[Drainable], reactor: IReactorFromThreads) -> None:
        self.drainables = list(drainables)
        self.reactor = reactor
        self._previous: dict[int, Any] = {}
        self._stopping = False

    def stopService(self) -> Deferred[Any]:
        super().stopService()  # type: ignore[no-untyped-call]
        self._stopping = True
        self._log.info("graceful stop: draining {n} service(s); a second signal stops at once",
                      n=len(self.drainables))
        self._install_second_signal()
        done: Deferred[Any] = DeferredList([d.start_drain() for d in self.drainables])
        done.addBoth(self._restore_signals)
        return done

    def cut_now(self) -> None:
        """What a second signal does: abort all remaining connections."""
        self._log.warn("second stop signal: cutting every remaining connection")
        for drainable in self.drainables:
            drainable.cut_all()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.reactor.callFromThread(self.cut_now)

    def _install_second_signal(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _restore_signals(self, result: object) -> object:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        return result
