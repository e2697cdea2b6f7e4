"""Memory first, disk for big bodies: the store the proxy wiring will normally use.

A write starts in memory; when its body grows past ``spill_threshold`` (and a disk
store is configured) the chunks so far move to a disk writer and the rest streams
there. So small hot entries cost no file I/O, large ones cost no memory beyond one
chunk, and only large ones survive a restart (the issue asks exactly that).
"""

from __future__ import annotations

from twisted_netlab.cache.disk import DiskReader, DiskStore, DiskWriter
from twisted_netlab.cache.memory import MemoryReader, MemoryStore, MemoryWriter
from twisted_netlab.http.cache.entry import EntryMeta, Stored

__all__ = ["TieredStore", "TieredWriter"]


class TieredWriter:
    def __init__(self, store: TieredStore, meta: EntryMeta) -> None:
        self._store = store
        self._meta = meta
        self._memory: MemoryWriter | None = store.memory.begin(meta)
        self._disk: DiskWriter | None = None
        self._length = 0
        self._discarded = False

    def append(self, chunk: bytes) -> bool:
        if self._discarded:
            return False
        self._length += len(chunk)
        disk = self._store.disk
        if self._memory is not None and disk is not None and (
            self._length > self._store.spill_threshold
        ):
            self._disk = disk.begin(self._meta)
            for earlier in self._memory.drain():
                if not self._disk.append(earlier):
                    return self._discard()
            self._memory = None
        writer = self._memory if self._memory is not None else self._disk
        if writer is None or not writer.append(chunk):
            return self._discard()
        return True

    def _discard(self) -> bool:
        self.abort()
        self._discarded = True
        return False

    def commit(self) -> Stored | None:
        writer = self._memory if self._memory is not None else self._disk
        self._memory = self._disk = None
        if writer is None or self._discarded:
            return None
        return writer.commit()

    def abort(self) -> None:
        for writer in (self._memory, self._disk):
            if writer is not None:
                writer.abort()
        self._memory = self._disk = None
        self._discarded = True


class TieredStore:
    def __init__(
        self, memory: MemoryStore, disk: DiskStore | None = None, *, spill_threshold: int = 1 << 20
    ) -> None:
        if spill_threshold < 0:
            raise ValueError("spill_threshold must be >= 0")
        self.memory = memory
        self.disk = disk
        # A body the memory store would refuse goes to disk whatever the threshold says.
        self.spill_threshold = min(spill_threshold, memory.max_entry_bytes)

    @property
    def size(self) -> int:
        return self.memory.size + (self.disk.size if self.disk is not None else 0)

    def entries(self, key: str) -> list[Stored]:
        found = self.memory.entries(key)
        if self.disk is not None:
            found += self.disk.entries(key)
        return found

    def sole_body(self, key: str, stored: Stored) -> bytes | None:
        """``stored``'s body when it is ``key``'s only entry in either tier and held in
        memory in one piece (see ``MemoryStore.sole_body``); else None."""
        body = self.memory.sole_body(key, stored)
        if body is not None and self.disk is not None and self.disk.holds(key):
            return None
        return body

    def begin(self, meta: EntryMeta) -> TieredWriter:
        return TieredWriter(self, meta)

    def open(self, ident: str) -> MemoryReader | DiskReader | None:
        reader = self.memory.open(ident)
        if reader is None and self.disk is not None:
            return self.disk.open(ident)
        return reader

    def update(self, stored: Stored) -> bool:
        if self.memory.update(stored):
            return True
        return self.disk is not None and self.disk.update(stored)

    def remove(self, ident: str) -> None:
        self.memory.remove(ident)
        if self.disk is not None:
            self.disk.remove(ident)

    def invalidate(self, key: str) -> int:
        count = self.memory.invalidate(key)
        if self.disk is not None:
            count += self.disk.invalidate(key)
        return count

    def clear(self) -> None:
        self.memory.clear()
        if self.disk is not None:
            self.disk.clear()
