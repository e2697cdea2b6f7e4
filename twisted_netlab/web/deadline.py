"""A connection's deadline on one reactor timer that is rarely touched.

A keep-alive connection gets a new deadline after every request (``keepalive_timeout``
from the end of the response), and a body upload after every read. Resetting the
reactor timer each time costs a clock read and a timer update per request; instead the
deadline is a number (``at``) and the timer is only moved when the deadline comes
*earlier* than the timer fires. A timer that fires before a deadline that has moved
later schedules itself again for the rest. So a busy keep-alive connection touches its
timer once per ``keepalive_timeout``, not once per request, and the connection still
closes at its deadline exactly.

A leaf: the channel (``channel.py``) decides which deadline applies when.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall

__all__ = ["EARLY", "LazyDeadline"]

#: A timer that fires less than this before the deadline counts as on time: the rest,
#: scheduled again, could come back a rounding error short.
EARLY = 1e-4

Schedule = Callable[[float, Callable[[], None]], IDelayedCall]


class LazyDeadline:
    """A moving deadline: ``expired`` is called once it passes (after ``arm``).

    ``schedule(delay, call)`` and ``clock()`` are the reactor's ``callLater`` and
    ``seconds``.
    """

    __slots__ = ("_clock", "_expired", "_schedule", "_timer", "_timer_at", "at")

    def __init__(
        self, schedule: Schedule, clock: Callable[[], float], expired: Callable[[], None]
    ) -> None:
        self._schedule = schedule
        self._clock = clock
        self._expired = expired
        self._timer: IDelayedCall | None = None  # None whenever no timer is pending
        self._timer_at = 0.0  # when ``_timer`` fires
        self.at = 0.0  # the deadline (reactor seconds)

    @property
    def pending(self) -> bool:
        """Is a deadline armed (and neither passed nor cancelled)?"""
        return self._timer is not None

    def arm(self, now: float, timeout: float) -> None:
        """The deadline is now ``timeout`` seconds after ``now`` (the reactor's time)."""
        at = self.at = now + timeout
        timer = self._timer
        if timer is None:
            self._timer = self._schedule(timeout, self._fire)
            self._timer_at = at
        elif at < self._timer_at:  # earlier than the timer: move the timer
            timer.reset(timeout)
            self._timer_at = at
        # later: the timer fires early and schedules the rest (``_fire``)

    def cancel(self) -> None:
        """No deadline until the next ``arm``."""
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _fire(self) -> None:
        rest = self.at - self._clock()
        if rest > EARLY:
            self._timer = self._schedule(rest, self._fire)
            self._timer_at = self.at
            return
        self._timer = None
        self._expired()
