"""The bookkeeping every store keeps, whatever holds the bodies.

Both stores need the same four things in step: the LRU order of entries, the entries
per primary key (Vary variants), the total bytes charged, and a generation per key
(an ``invalidate`` bumps it, so a write begun before the invalidation cannot commit
afterwards). Keeping them in one class means the disk and memory stores cannot drift
apart in how they count or evict; each store only adds where its bodies live.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

from twisted_netlab.http.cache.entry import Stored

__all__ = ["EntryIndex"]


class _Charged(Protocol):
    stored: Stored

    @property
    def charge(self) -> int: ...


E = TypeVar("E", bound=_Charged)


class EntryIndex(Generic[E]):
    def __init__(self) -> None:
        self._lru: OrderedDict[str, E] = OrderedDict()
        self._by_key: dict[str, set[str]] = {}
        self._generations: dict[str, int] = {}
        self.size = 0

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, ident: str) -> E | None:
        return self._lru.get(ident)

    def touch(self, ident: str) -> None:
        """Mark ``ident`` most recently used."""
        self._lru.move_to_end(ident)

    def oldest(self) -> str:
        return next(iter(self._lru))

    def primary_keys(self) -> list[str]:
        return list(self._by_key)

    def entries(self, key: str) -> list[Stored]:
        return [self._lru[ident].stored for ident in sorted(self._by_key.get(key, ()))]

    def sole(self, key: str) -> E | None:
        """The entry of ``key`` when it has exactly one (the proxy's repeated-hit check)."""
        idents = self._by_key.get(key)
        if idents is None or len(idents) != 1:
            return None
        for ident in idents:
            return self._lru[ident]
        return None  # pragma: no cover (one ident, returned above)

    def holds(self, key: str) -> bool:
        return key in self._by_key

    def generation(self, key: str) -> int:
        return self._generations.get(key, 0)

    def insert(self, entry: E) -> None:
        ident = entry.stored.ident
        self._lru[ident] = entry
        self._by_key.setdefault(entry.stored.meta.key, set()).add(ident)
        self.size += entry.charge

    def restamp(self, entry: E, stored: Stored) -> None:
        """Give ``entry`` new metadata (same key), recharge it and mark it used."""
        self.size -= entry.charge
        entry.stored = stored
        self.size += entry.charge
        self._lru.move_to_end(stored.ident)

    def pop(self, ident: str) -> E | None:
        """Forget ``ident`` (None if unknown); the caller frees what holds its body."""
        entry = self._lru.pop(ident, None)
        if entry is None:
            return None
        self.size -= entry.charge
        key = entry.stored.meta.key
        idents = self._by_key.get(key)
        if idents is not None:
            idents.discard(ident)
            if not idents:
                del self._by_key[key]
        return entry

    def bump(self, key: str) -> list[str]:
        """Start a new generation of ``key``; return its entries' idents to remove."""
        self._generations[key] = self._generations.get(key, 0) + 1
        return list(self._by_key.get(key, ()))
