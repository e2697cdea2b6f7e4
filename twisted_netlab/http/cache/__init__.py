"""RFC 9111 shared-cache rules, pure: no Twisted, no I/O, no clock reads.

Developer note (issue 13, phase 1): these rules and the stores in
``twisted_netlab.cache`` are not wired into the proxy yet, so there is no user-facing
``--proxy-cache`` option. The proxy package will call, per request:

- ``entry.primary_key(upstream URI)`` and ``store.entries(key)``;
- ``decision.lookup(method, request headers, now, entries)`` ->
  Hit / Stale / Revalidate / Forward / GatewayTimeout;
- on an upstream response head: ``decision.admit(...)`` (store or not, invalidations),
  then ``store.begin(meta)`` and ``append`` each body chunk as it goes to the client,
  ``commit`` at the end, ``abort`` on failure;
- a 304 -> ``decision.freshen``; a HEAD 200 -> ``head.freshen_from_head``; an upstream
  failure -> ``decision.stale_on_error``;
- when answering: ``serve.client_conditional`` (the client's own validators) and
  ``serve.status_fields`` (Cache-Status, opt-in explanation).

Every time is a POSIX float passed in by the caller; every header list is a sequence
of ``(name, value)`` text pairs (latin-1 decoded bytes, see ``fields.decode_pairs``) so
repeated fields and their order survive.
"""
