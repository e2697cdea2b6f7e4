"""Stores for the proxy cache: bodies kept as chunks, never whole for large responses.

``memory.MemoryStore`` (LRU, bounded in bytes), ``disk.DiskStore`` (bodies on disk,
survives a restart, bounded in bytes), ``tiered.TieredStore`` (memory first, spilling
to disk above a size threshold) and ``collapse.Collapser`` (request-collapsing
bookkeeping). All share the ``store.CacheStore`` interface; the RFC 9111 rules that
decide what goes in live in ``twisted_netlab.http.cache``. Not wired into the proxy yet
(developer note: see ``twisted_netlab.http.cache``).
"""
