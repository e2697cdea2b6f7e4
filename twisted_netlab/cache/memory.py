"""An in-memory store: LRU, bounded in bytes (bodies plus metadata estimate).

Limits, all in bytes: ``max_bytes`` for committed entries; ``max_entry_bytes`` for one
body (a bigger response streams to the client uncached); ``max_pending_bytes`` for all
writes in progress together, so many concurrent cold misses cannot exceed memory either.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from twisted_netlab.cache.index import EntryIndex
from twisted_netlab.cache.store import meta_size
from twisted_netlab.http.cache.entry import EntryMeta, Stored

__all__ = ["MemoryReader", "MemoryStore", "MemoryWriter"]

# A body up to this size is joined into one chunk when committed (one copy per store,
# against one write per chunk on every hit).
_JOIN_BELOW = 65536


@dataclass
class _Entry:
    stored: Stored
    chunks: tuple[bytes, ...]
    length: int

    @property
    def charge(self) -> int:
        return self.length + meta_size(self.stored.meta)


class MemoryReader:
    """Chunks of a committed body; holds references, so eviction mid-read is harmless."""

    def __init__(self, chunks: tuple[bytes, ...], length: int) -> None:
        self._chunks = chunks
        self.length = length

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        if size <= 0:
            raise ValueError("chunk size must be positive")
        for chunk in self._chunks:
            for start in range(0, len(chunk), size):
                yield chunk[start : start + size]

    def close(self) -> None:
        self._chunks = ()


class MemoryWriter:
    def __init__(self, store: MemoryStore, meta: EntryMeta, generation: int) -> None:
        self._store = store
        self._meta = meta
        self._generation = generation
        self._chunks: list[bytes] = []
        self._length = 0
        self._open = True

    def append(self, chunk: bytes) -> bool:
        if not self._open:
            return False
        if self._store._reserve(len(chunk), self._length):
            self._chunks.append(bytes(chunk))
            self._length += len(chunk)
            return True
        self.abort()
        return False

    def commit(self) -> Stored | None:
        if not self._open:
            return None
        self._open = False
        self._store._release(self._length)
        chunks, self._chunks = tuple(self._chunks), []
        if len(chunks) > 1 and self._length <= _JOIN_BELOW:
            chunks = (b"".join(chunks),)  # a small body in one piece: see ``whole``
        return self._store._commit(self._meta, chunks, self._length, self._generation)

    def drain(self) -> list[bytes]:
        """Discard the write and hand back its chunks (to spill them elsewhere)."""
        chunks = self._chunks
        self.abort()
        return chunks

    def abort(self) -> None:
        if self._open:
            self._open = False
            self._store._release(self._length)
            self._chunks = []


class MemoryStore:
    def __init__(
        self,
        max_bytes: int,
        *,
        max_entry_bytes: int | None = None,
        max_pending_bytes: int | None = None,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 4 if max_entry_bytes is None else max_entry_bytes
        self.max_pending_bytes = max_bytes if max_pending_bytes is None else max_pending_bytes
        self._index: EntryIndex[_Entry] = EntryIndex()
        self._pending = 0

    @property
    def size(self) -> int:
        return self._index.size

    @property
    def pending(self) -> int:
        return self._pending

    def __len__(self) -> int:
        return len(self._index)

    def entries(self, key: str) -> list[Stored]:
        return self._index.entries(key)

    def begin(self, meta: EntryMeta) -> MemoryWriter:
        return MemoryWriter(self, meta, self._index.generation(meta.key))

    def open(self, ident: str) -> MemoryReader | None:
        entry = self._index.get(ident)
        if entry is None:
            return None
        self._index.touch(ident)
        return MemoryReader(entry.chunks, entry.length)

    def sole_body(self, key: str, stored: Stored) -> bytes | None:
        """The body of ``stored`` if it is still ``key``'s only entry here and held in
        one piece (marked recently used, as ``open`` marks it); else None. The proxy's
        repeated-hit path (``cache_hit``) writes it with one call, without a reader."""
        entry = self._index.sole(key)
        if entry is None or entry.stored is not stored or len(entry.chunks) > 1:
            return None
        self._index.touch(stored.ident)
        return entry.chunks[0] if entry.chunks else b""

    def update(self, stored: Stored) -> bool:
        entry = self._index.get(stored.ident)
        if entry is None or entry.stored.meta.key != stored.meta.key:
            return False
        self._index.restamp(entry, stored)
        self._evict()
        return True

    def remove(self, ident: str) -> None:
        if self._index.pop(ident) is None:
            return

    def invalidate(self, key: str) -> int:
        idents = self._index.bump(key)
        for ident in idents:
            self.remove(ident)
        return len(idents)

    def clear(self) -> None:
        for key in self._index.primary_keys():
            self.invalidate(key)

    # Writer callbacks.

    def _reserve(self, extra: int, current: int) -> bool:
        if current + extra > self.max_entry_bytes:
            return False
        if self._pending + extra > self.max_pending_bytes:
            return False
        self._pending += extra
        return True

    def _release(self, amount: int) -> None:
        self._pending -= amount

    def _commit(
        self, meta: EntryMeta, chunks: tuple[bytes, ...], length: int, generation: int
    ) -> Stored | None:
        if generation != self._index.generation(meta.key):
            return None
        stored = Stored(secrets.token_hex(16), meta)
        entry = _Entry(stored, chunks, length)
        if entry.charge > self.max_bytes:
            return None
        for old in self.entries(meta.key):
            if old.meta.vary == meta.vary:
                self.remove(old.ident)
        self._index.insert(entry)
        self._evict()
        return stored

    def _evict(self) -> None:
        while self._index.size > self.max_bytes and len(self._index):
            self.remove(self._index.oldest())
