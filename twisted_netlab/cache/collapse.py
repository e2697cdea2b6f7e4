"""Request collapsing bookkeeping: one upstream request per cold key (pure, no reactor).

The first miss for a key becomes the LEADER and goes upstream; later ones become
FOLLOWERS and wait for ``release(key, outcome)``, which hands every waiter the outcome
(for the proxy: the stored entry, or None when the response was not storable, in which
case each follower goes upstream itself). Waiting is bounded twice: at most
``max_waiters`` per key (the rest BYPASS and go upstream at once), and the adapter
arms a timer per follower and calls ``leave`` when it fires; a follower that left is
never notified, and goes upstream itself.

Commit note for the wiring: after the leader's response commits, the entry may still
not fit the follower's Vary; followers must run ``lookup`` again, not reuse blindly.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["Collapser", "Role"]

T = TypeVar("T")


class Role(Enum):
    LEADER = "leader"
    FOLLOWER = "follower"
    BYPASS = "bypass"


class Collapser(Generic[T]):
    def __init__(self, max_waiters: int = 1000) -> None:
        if max_waiters < 0:
            raise ValueError("max_waiters must be >= 0")
        self.max_waiters = max_waiters
        self._waiting: dict[str, list[Callable[[T], None]]] = {}

    def join(self, key: str, notify: Callable[[T], None]) -> Role:
        """Register a miss; ``notify`` is kept only for a FOLLOWER."""
        waiters = self._waiting.get(key)
        if waiters is None:
            self._waiting[key] = []
            return Role.LEADER
        if len(waiters) >= self.max_waiters:
            return Role.BYPASS
        waiters.append(notify)
        return Role.FOLLOWER

    def leave(self, key: str, notify: Callable[[T], None]) -> bool:
        """A follower gave up (its wait timed out); True if it was still waiting."""
        waiters = self._waiting.get(key)
        if waiters is None:
            return False
        for index, waiter in enumerate(waiters):
            if waiter == notify:  # == so a re-fetched bound method matches
                del waiters[index]
                return True
        return False

    def release(self, key: str, outcome: T) -> int:
        """The leader finished: notify every follower once, in order; how many."""
        waiters = self._waiting.pop(key, [])
        failure: Exception | None = None
        for notify in waiters:
            try:
                notify(outcome)
            except Exception as exc:
                # One broken waiter must not strand the others: notify all, then raise.
                failure = failure or exc
        if failure is not None:
            raise failure
        return len(waiters)

    def waiting(self, key: str) -> int:
        return len(self._waiting.get(key, ()))

    def in_flight(self, key: str) -> bool:
        return key in self._waiting
