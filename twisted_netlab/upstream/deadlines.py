"""One periodic sweep over everything with a deadline, instead of a timer per call.

Under load many exchanges are in flight and their timers almost never fire; arming and
cancelling a ``callLater`` for each costs more than checking them all once per tick.
A deadline fires up to one tick late. The sweep runs only while something is
registered, so an idle client (or a finished test) has no pending timer.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class HasDeadline(Protocol):
    def check_deadline(self, now: float) -> None: ...


class Deadlines:
    def __init__(self, reactor: IReactorTime) -> None:
        self._reactor = reactor
        self._calls: set[HasDeadline] = set()
        self._timer: IDelayedCall | None = None
        self._tick = 1.0

    def add(self, call: HasDeadline, tick: float) -> None:
        """Watch ``call``; the sweep period becomes at most ``tick`` seconds."""
        self._calls.add(call)
        if tick < self._tick:
            self._tick = tick
        if self._timer is None:
            self._timer = self._reactor.callLater(self._tick, self._sweep)

    def discard(self, call: HasDeadline) -> None:
        calls = self._calls
        calls.discard(call)
        if not calls and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self._timer = None
        now = self._reactor.seconds()
        for call in list(self._calls):
            call.check_deadline(now)
        if self._calls and self._timer is None:
            self._timer = self._reactor.callLater(self._tick, self._sweep)

    def close(self) -> None:
        self._calls.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
