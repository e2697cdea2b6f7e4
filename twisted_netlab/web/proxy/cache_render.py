"""The cached mount's render: PURGE is answered here, everything else by a ``CachingCall``.

PURGE drops every stored variant of one URL. It is taken from loopback and from
``--trusted-proxy`` peers only (405 for anyone else): a purge from the open internet
would let anybody empty the cache and send the load to the origin.
"""

from __future__ import annotations

from typing import Any

from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.server import NOT_DONE_YET

from twisted_netlab.web.proxy.cache import ProxyCache, purge_allowed
from twisted_netlab.web.proxy.cache_call import CachingCall
from twisted_netlab.web.proxy.cache_hit import serve_hit
from twisted_netlab.web.refusal import refuse

__all__ = ["render_cached"]

# The Allow of a refused PURGE: what the mount forwards.
_ALLOW_PURGE_REFUSED = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


def render_cached(
    resource: Any, cache: ProxyCache, request: IRequest, target: bytes
) -> bytes | int:
    """The cached mount's render: PURGE, or a ``CachingCall``."""
    key = cache.key_for(resource.mount, target)
    plan = None
    if key is not None:
        if request.method == b"PURGE":
            return _purge(resource, cache, request, key)
        if request.method == b"GET":
            plan = serve_hit(resource, cache, request, key)
            if plan is None:
                return NOT_DONE_YET  # answered from the store
    CachingCall(resource, request, target, cache, key, plan=plan).start()
    return NOT_DONE_YET


def _purge(resource: Any, cache: ProxyCache, request: Any, key: str) -> bytes:
    peer = str(getattr(request.getClientAddress(), "host", ""))
    if not purge_allowed(peer, resource.settings.trusted):
        request.setHeader(b"allow", _ALLOW_PURGE_REFUSED)
        return refuse(
            request, http.NOT_ALLOWED, "PURGE is taken from loopback and trusted proxies only"
        )
    removed = cache.purge(key)
    if not removed:
        return refuse(request, http.NOT_FOUND, f"nothing stored for {key}")
    body = f"purged {removed} stored response(s) for {key}\n".encode("utf-8", "replace")
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return body
