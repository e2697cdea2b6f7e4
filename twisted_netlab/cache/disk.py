"""A disk store: bodies in files, survives a restart, bounded in bytes.

Layout in ``directory``: ``<ident>.body`` and ``<ident>.meta`` (JSON: the EntryMeta and
the body length) per entry, and ``tmp/`` for writes in progress. Every file appears by
``os.replace`` of a complete temporary file, body first, metadata last, so an entry is
visible exactly when its metadata file exists, and a crash leaves either a whole entry
or debris. At start-up the debris is removed: ``tmp/`` is emptied, bodies without
metadata are deleted, metadata that does not parse or whose body is missing or of the
wrong length is deleted with its body. Nothing on disk is trusted beyond that check.

The store does blocking file I/O; a body is written chunk by chunk as it streams and
read back the same way (or as a file object for a producer). ``fsync`` is opt-in: the
cache can always refetch, so losing the last entries in a power cut costs only misses.

LRU order survives a restart approximately (metadata mtime is touched on use).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from twisted_netlab.cache.index import EntryIndex
from twisted_netlab.cache.store import meta_size
from twisted_netlab.http.cache.entry import EntryMeta, Stored

__all__ = ["DiskReader", "DiskStore", "DiskWriter"]

_IDENT = re.compile(r"[0-9a-f]{32}")
_MAX_META_BYTES = 1 << 20


@dataclass
class _Entry:
    stored: Stored
    length: int

    @property
    def charge(self) -> int:
        return self.length + meta_size(self.stored.meta)


class DiskReader:
    """A committed body as an open file; unlinking it later does not disturb the read."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file = file
        self.length = length

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        if size <= 0:
            raise ValueError("chunk size must be positive")
        try:
            while chunk := self.file.read(size):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self.file.close()


class DiskWriter:
    def __init__(self, store: DiskStore, meta: EntryMeta, generation: int) -> None:
        self._store = store
        self._meta = meta
        self._generation = generation
        self._ident = secrets.token_hex(16)
        self._temp = store.directory / "tmp" / f"{self._ident}.body"
        self._length = 0
        self._file: BinaryIO | None
        try:
            self._file = open(self._temp, "wb")  # noqa: SIM115
        except OSError:
            # Disk full, directory gone, permissions: the response still streams to
            # the client, it just is not stored (append/commit report that).
            self._file = None

    def append(self, chunk: bytes) -> bool:
        if self._file is None:
            return False
        if self._length + len(chunk) > self._store.max_entry_bytes:
            self.abort()
            return False
        try:
            self._file.write(chunk)
        except OSError:
            self.abort()
            return False
        self._length += len(chunk)
        return True

    def commit(self) -> Stored | None:
        file, self._file = self._file, None
        if file is None:
            return None
        try:
            file.flush()
            if self._store.fsync:
                os.fsync(file.fileno())
        except OSError:
            file.close()
            self._temp.unlink(missing_ok=True)
            return None
        file.close()
        return self._store._commit(
            self._ident, self._temp, self._meta, self._length, self._generation
        )

    def abort(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
            self._temp.unlink(missing_ok=True)


class DiskStore:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int,
        *,
        max_entry_bytes: int | None = None,
        fsync: bool = False,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 4 if max_entry_bytes is None else max_entry_bytes
        self.fsync = fsync
        self._index: EntryIndex[_Entry] = EntryIndex()
        self.discarded_at_load = 0
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        self._load()

    @property
    def size(self) -> int:
        return self._index.size

    def __len__(self) -> int:
        return len(self._index)

    def _paths(self, ident: str) -> tuple[Path, Path]:
        return self.directory / f"{ident}.body", self.directory / f"{ident}.meta"

    def _load(self) -> None:
        # Only names this store could have written are ever deleted: a directory
        # shared by mistake with other files loses nothing but our own debris.
        for temp in (self.directory / "tmp").iterdir():
            if _IDENT.fullmatch(temp.stem) and temp.suffix in (".body", ".meta"):
                temp.unlink(missing_ok=True)
        found: list[tuple[float, str, _Entry]] = []
        metas = set()
        for path in self.directory.iterdir():
            stem, suffix = path.stem, path.suffix
            if suffix == ".meta" and _IDENT.fullmatch(stem):
                metas.add(stem)
        for path in self.directory.iterdir():
            orphan = path.suffix == ".body" and path.stem not in metas
            if orphan and _IDENT.fullmatch(path.stem):
                path.unlink(missing_ok=True)
        for ident in metas:
            body, meta_path = self._paths(ident)
            try:
                entry = self._read_entry(ident, body, meta_path)
                mtime = meta_path.stat().st_mtime
            except (OSError, ValueError):
                self.discarded_at_load += 1
                body.unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
                continue
            found.append((mtime, ident, entry))
        for _mtime, _ident, entry in sorted(found, key=lambda item: (item[0], item[1])):
            self._index.insert(entry)
        self._evict()

    def _read_entry(self, ident: str, body: Path, meta_path: Path) -> _Entry:
        with open(meta_path, "rb") as handle:
            raw = handle.read(_MAX_META_BYTES + 1)
        if len(raw) > _MAX_META_BYTES:
            raise ValueError("metadata file too large")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError("metadata is not JSON") from exc
        if not isinstance(data, dict) or type(data.get("length")) is not int:
            raise ValueError("metadata without a body length")
        meta = EntryMeta.from_json(data.get("meta", {}))
        if body.stat().st_size != data["length"]:
            raise ValueError("body length does not match its metadata")
        return _Entry(Stored(ident, meta), data["length"])

    def _write_meta(self, ident: str, meta: EntryMeta, length: int) -> None:
        temp = self.directory / "tmp" / f"{ident}.meta"
        payload = json.dumps({"meta": meta.to_json(), "length": length}).encode("utf-8")
        with open(temp, "wb") as handle:
            handle.write(payload)
            if self.fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, self._paths(ident)[1])

    def entries(self, key: str) -> list[Stored]:
        return self._index.entries(key)

    def holds(self, key: str) -> bool:
        """Any committed entry for ``key``? (Cheaper than ``entries`` on a hot path.)"""
        return self._index.holds(key)

    def begin(self, meta: EntryMeta) -> DiskWriter:
        return DiskWriter(self, meta, self._index.generation(meta.key))

    def open(self, ident: str) -> DiskReader | None:
        entry = self._index.get(ident)
        if entry is None:
            return None
        body, meta_path = self._paths(ident)
        try:
            file = open(body, "rb")  # noqa: SIM115
        except OSError:
            self.remove(ident)
            return None
        self._index.touch(ident)
        with contextlib.suppress(OSError):
            os.utime(meta_path)
        return DiskReader(file, entry.length)

    def update(self, stored: Stored) -> bool:
        entry = self._index.get(stored.ident)
        if entry is None or entry.stored.meta.key != stored.meta.key:
            return False
        try:
            self._write_meta(stored.ident, stored.meta, entry.length)
        except OSError:
            self.remove(stored.ident)
            return False
        self._index.restamp(entry, stored)
        self._evict()
        return True

    def remove(self, ident: str) -> None:
        if self._index.pop(ident) is None:
            return
        body, meta_path = self._paths(ident)
        # Metadata first: once it is gone the entry is invisible, even after a crash.
        meta_path.unlink(missing_ok=True)
        body.unlink(missing_ok=True)

    def invalidate(self, key: str) -> int:
        idents = self._index.bump(key)
        for ident in idents:
            self.remove(ident)
        return len(idents)

    def clear(self) -> None:
        for key in self._index.primary_keys():
            self.invalidate(key)

    def _commit(
        self, ident: str, temp: Path, meta: EntryMeta, length: int, generation: int
    ) -> Stored | None:
        entry = _Entry(Stored(ident, meta), length)
        if generation != self._index.generation(meta.key) or entry.charge > self.max_bytes:
            temp.unlink(missing_ok=True)
            return None
        body, _ = self._paths(ident)
        try:
            os.replace(temp, body)
            self._write_meta(ident, meta, length)
        except OSError:
            temp.unlink(missing_ok=True)
            body.unlink(missing_ok=True)
            return None
        for old in self.entries(meta.key):
            if old.meta.vary == meta.vary:
                self.remove(old.ident)
        self._index.insert(entry)
        self._evict()
        return entry.stored

    def _evict(self) -> None:
        while self._index.size > self.max_bytes and len(self._index):
            self.remove(self._index.oldest())
