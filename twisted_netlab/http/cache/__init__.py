"""RFC 9111 shared-cache rules, pure: no Twisted, no I/O, no clock reads.

Developer note (issue 13, phase 1): these rules and the stores in
``twisted_netlab.cache`` are not wired into the proxy yet, so there is no user-facing
``--proxy-cache`` option. The proxy package calls exactly two functions from
``decision.py``: ``lookup`` before going upstream and ``admit`` when an upstream
response head arrives (plus ``freshen`` for a 304 and ``stale_on_error`` when the
upstream fails). Every time is a POSIX float passed in by the caller; every header list
is a sequence of ``(name, value)`` text pairs (latin-1 decoded bytes, see
``fields.decode_pairs``) so repeated fields and their order survive.
"""
