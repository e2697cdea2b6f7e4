"""The proxy's shared cache: one store, one collapser and the counters every mount shares.

Why one object for all mounts: two mounts on the same upstream URL reach the same
resource, so they share entries (the key is the upstream URI, RFC 9111 2), and one
byte budget bounds the whole process. The RFC rules are pure in
``twisted_netlab.http.cache``; the stores in ``twisted_netlab.cache``; this module holds
the state and the small decisions that need it (the key of a request, who may PURGE);
``cache_call.CachingCall`` runs one request against it.

Disk I/O (``--proxy-cache-dir``) runs on the reactor thread in bounded pieces: a body is
written chunk by chunk as the upstream delivers it (at most one read's worth, 64 KiB) and
read back 64 KiB per write to the client under flow control; a commit is two
``os.replace`` calls and a small JSON write. No call blocks for more than one chunk.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from twisted_netlab.cache.collapse import Collapser
from twisted_netlab.cache.disk import DiskStore
from twisted_netlab.cache.memory import MemoryStore
from twisted_netlab.cache.tiered import TieredStore
from twisted_netlab.http.cache.decision import CacheConfig
from twisted_netlab.http.cache.entry import Stored, primary_key
from twisted_netlab.http.headers import TrustedProxies
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.config import ProxyCacheConfig
from twisted_netlab.web.proxy.cache_head import HeadMemo, HitPlans

__all__ = ["ProxyCache", "purge_allowed"]

log = Logger()

_KEY_MEMO = 4096
_NO_KEY = "\0"  # never a key: primary_key always returns an absolute URI


def purge_allowed(peer: str, trusted: TrustedProxies) -> bool:
    """PURGE is taken from loopback and from ``--trusted-proxy`` peers only."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or peer in trusted


class ProxyCache:
    """State shared by every cached proxy mount.

    ``outcomes`` counts responses by their Cache-Status outcome (``hit``, ``stale``,
    ``miss``, ``revalidated``, ``bypass``...): the numbers a metrics exporter reads.
    """

    def __init__(
        self,
        config: ProxyCacheConfig,
        reactor: IReactorTime,
        *,
        rules: CacheConfig | None = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self.rules = rules if rules is not None else CacheConfig()
        memory = MemoryStore(config.memory_bytes)
        disk = None
        if config.directory is not None:
            disk = DiskStore(config.directory, config.disk_bytes)
            if disk.discarded_at_load:
                log.warn(
                    "proxy cache {dir}: discarded {n} damaged entries at start-up",
                    dir=config.directory,
                    n=disk.discarded_at_load,
                )
            if config.purge_all:
                disk.clear()
        self.store = TieredStore(memory, disk, spill_threshold=config.disk_threshold)
        self.collapser: Collapser[Stored | None] = Collapser()
        self.refreshing: set[str] = set()
        self.outcomes: Counter[str] = Counter()
        self.on_outcome: Callable[[str], object] | None = None
        self._keys: dict[bytes, str | None] = {}
        self.heads = HeadMemo()  # stored answers' relayed fields, worked out once
        self.hit_plans = HitPlans()  # whole fresh-hit heads, replayed (cache_hit)

    def now(self) -> float:
        return self.reactor.seconds()

    def key_for(self, mount: ProxyMount, target: bytes) -> str | None:
        """The primary key of a request, or None when this mount is not cached.

        A mount that sends the client's Host upstream (``preserve_host``) is not cached:
        one upstream URL may then be many resources (virtual hosts), and the key holds
        only the upstream URL.
        """
        if not mount.cache or mount.preserve_host:
            return None
        uri = mount.origin_bytes + target
        key = self._keys.get(uri, _NO_KEY)
        if key is _NO_KEY:
            try:
                key = primary_key(uri.decode("latin-1"))
            except ValueError:
                key = None
            if len(self._keys) >= _KEY_MEMO:
                self._keys.clear()  # bounded: a flood of distinct URLs costs a re-parse
            self._keys[uri] = key
        return key

    @property
    def max_entry_bytes(self) -> int:
        """The largest body any tier takes (a longer announced body is not even begun)."""
        store = self.store
        disk = store.disk.max_entry_bytes if store.disk is not None else 0
        return max(store.memory.max_entry_bytes, disk)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def purge(self, key: str) -> int:
        """Drop every stored variant of ``key`` (and any write in progress)."""
        removed = self.store.invalidate(key)
        self.count("purge")
        return removed

    def describe(self) -> dict[str, Any]:
        """Size and counters, for logs and tests."""
        return {"bytes": self.store.size, **self.outcomes}
