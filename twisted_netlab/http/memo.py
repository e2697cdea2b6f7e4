"""A bounded memo table: answers worth remembering on a hot path, never unbounded.

Many pure rules here are asked the same few questions on every request (the same
``If-Modified-Since`` from every client of a file, ``Connection: keep-alive`` from an
upstream, the same Range). Their answers are kept in a ``BoundedMemo``: reads are plain
dict reads (``get``, ``in``) at C speed, and ``remember`` is the one way in. When the
table holds ``limit`` entries it forgets all of them at once: a stream of distinct
values from a hostile peer can neither grow it nor make each request pay for an
eviction policy (the usual values come back after one miss each).
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["BoundedMemo"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(dict[K, V]):
    """A dict of at most ``limit`` entries, emptied when full (see the module text)."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError("a memo must hold at least one entry")
        self.limit = limit

    def remember(self, key: K, value: V) -> V:
        """Keep ``value`` for ``key`` (emptying the table first if it is full); return it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
