"""File-system helpers for the static resource: stat identity, symlink policy, byte cache.

``stat_key`` is what identifies one version of a file: the static resource keeps the
per-version facts (``filefacts``) in a bounded table and revalidates them with one
``os.stat`` per request, so a change of ``(st_mtime_ns, st_size, st_ino)`` rebuilds
them and a file replaced on disk is never served stale. Small files and compressed
bodies live in one byte-bounded LRU (``ByteLRU``) keyed by the version's ETag, so a
stale body can never be found under a new ETag.

Symlink policy (``deny`` | ``inside`` | ``follow``) is applied by ``Resolver`` to every
lookup: request paths, ``index.html``, compression sidecars and listing entries.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections import OrderedDict
from collections.abc import Hashable
from enum import Enum

from twisted_netlab.errors import PathError

__all__ = [
    "ByteLRU",
    "Resolver",
    "StatKey",
    "SymlinkEscapeError",
    "SymlinkPolicy",
    "same_version",
    "stat_key",
]

StatKey = tuple[int, int, int]


def stat_key(st: os.stat_result) -> StatKey:
    """What identifies one version of a file: mtime (ns), size, inode."""
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def same_version(path: str, key: StatKey) -> bool:
    """Whether ``path`` still is the version ``key`` names (False once it is gone)."""
    try:
        return stat_key(os.stat(path)) == key
    except OSError:
        return False


class SymlinkPolicy(Enum):
    DENY = "deny"
    INSIDE = "inside"
    FOLLOW = "follow"


class SymlinkEscapeError(PathError):
    """A path whose symlinks the policy refuses; answered as if absent (404)."""

    status = 404


class Resolver:
    """Map safe names under the root to a real path allowed by the symlink policy."""

    def __init__(self, root: str, policy: SymlinkPolicy) -> None:
        self.root = os.path.realpath(root)
        self.policy = policy
        self._prefix = self.root.rstrip(os.sep) + os.sep

    def join(self, names: tuple[str, ...]) -> str:
        return os.path.join(self.root, *names) if names else self.root

    def resolve(self, names: tuple[str, ...]) -> str:
        """The path to open, or ``SymlinkEscapeError``. A missing path resolves too
        (opening it then fails with FileNotFoundError)."""
        return self.check(self.join(names))

    def check(self, candidate: str) -> str:
        if self.policy is SymlinkPolicy.FOLLOW:
            return candidate
        real = os.path.realpath(candidate)
        if self.policy is SymlinkPolicy.DENY:
            if real != candidate:
                raise SymlinkEscapeError("symlinks are not served (--symlinks deny)")
            return real
        if not self._inside(real):
            raise SymlinkEscapeError("symlink target is outside the served root")
        return real

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self._prefix)

    def child(self, directory: str, name: str) -> str | None:
        """``directory/name`` if the policy allows it, else None (for index/sidecars)."""
        try:
            return self.check(os.path.join(directory, name))
        except SymlinkEscapeError:
            return None

    def listable(self, entry: os.DirEntry[str]) -> bool:
        """May this directory entry appear in a listing (and be followed)?"""
        if not entry.is_symlink():
            return True
        if self.policy is SymlinkPolicy.DENY:
            return False
        if self.policy is SymlinkPolicy.FOLLOW:
            return True
        return self._inside(os.path.realpath(entry.path))


def is_directory(st: os.stat_result) -> bool:
    return stat_module.S_ISDIR(st.st_mode)


def is_regular(st: os.stat_result) -> bool:
    return stat_module.S_ISREG(st.st_mode)


class ByteLRU:
    """A least-recently-used map of bytes with a total size budget."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.total = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: bytes) -> bool:
        """Store ``value`` unless it alone exceeds the budget; evict the oldest."""
        size = len(value)
        if size > self.capacity:
            return False
        old = self._items.pop(key, None)
        if old is not None:
            self.total -= len(old)
        self._items[key] = value
        self.total += size
        while self.total > self.capacity:
            _key, evicted = self._items.popitem(last=False)
            self.total -= len(evicted)
        return True

    def __len__(self) -> int:
        return len(self._items)
