"""The interface every cache store offers, and the size estimate they share.

Bodies go in chunk by chunk while they stream to the client (``BodyWriter.append``)
and become visible only at ``commit``; an aborted or oversized write is discarded, so a
reader never sees half a body. Reads are chunk iterators (``BodyReader``), so a 1 GiB
entry costs one chunk of memory at a time.

Invalidation races: a writer remembers the key's *generation* when it starts; an
``invalidate`` bumps it, and a commit from an older generation is dropped. Otherwise a
GET that started before a successful POST could re-store the pre-POST answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from twisted_netlab.http.cache.entry import EntryMeta, Stored

__all__ = ["BodyReader", "BodyWriter", "CacheStore", "meta_size"]

# Rough per-entry bookkeeping cost (dicts, dataclasses) added to the header bytes so
# that a flood of tiny entries cannot exceed the byte budget by hiding in overhead.
ENTRY_OVERHEAD = 512


def meta_size(meta: EntryMeta) -> int:
    """Bytes an entry's metadata is charged for against a store's budget."""
    header_bytes = sum(len(n) + len(v) + 4 for n, v in meta.headers)
    vary_bytes = sum(len(n) + len(v or "") for n, v in meta.vary)
    return ENTRY_OVERHEAD + len(meta.key) + header_bytes + vary_bytes


class BodyWriter(Protocol):
    def append(self, chunk: bytes) -> bool:
        """Add a chunk; False once the write was discarded (too big, store full).

        After False, keep streaming to the client but stop appending: commit will
        return None.
        """

    def commit(self) -> Stored | None:
        """Make the entry visible (replacing the same key and Vary); None if discarded."""

    def abort(self) -> None:
        """Discard everything written (the upstream stream failed or was cut short)."""


class BodyReader(Protocol):
    length: int

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """The body, in order, at most ``size`` bytes per chunk."""

    def close(self) -> None:
        """Release the body (a disk reader closes its file)."""


class CacheStore(Protocol):
    @property
    def size(self) -> int:
        """Bytes currently charged (committed entries)."""

    def entries(self, key: str) -> list[Stored]:
        """Every committed entry for a primary key (Vary variants)."""

    def begin(self, meta: EntryMeta) -> BodyWriter:
        """Start writing a new entry's body."""

    def open(self, ident: str) -> BodyReader | None:
        """A reader for an entry's body (marks it recently used); None if it is gone."""

    def update(self, stored: Stored) -> bool:
        """Replace an entry's metadata (after a 304); False if it is gone."""

    def remove(self, ident: str) -> None: ...

    def invalidate(self, key: str) -> int:
        """Drop every entry for ``key`` and any write in progress; how many were dropped."""

    def clear(self) -> None: ...
