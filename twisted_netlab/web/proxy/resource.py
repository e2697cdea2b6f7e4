"""The twisted.web resource for one proxy mount, and the mounts built from options.

Everything that does not depend on the request (the upstream origin, the forwarding
rules, cookie rules, ``Via`` values) is computed once here; each request becomes a
``ProxyCall``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET

from twisted_netlab.http.headers import CookieRewrite, ForwardRules, via_value
from twisted_netlab.http.proxymount import ProxyMethodError, ProxyMount, ProxyPathError
from twisted_netlab.upstream.client import UpstreamClient
from twisted_netlab.upstream.message import Origin
from twisted_netlab.web.config import ProxyConfig, ProxySettings
from twisted_netlab.web.mounts import split_prefix
from twisted_netlab.web.proxy.cache import ProxyCache
from twisted_netlab.web.proxy.cache_render import render_cached
from twisted_netlab.web.proxy.call import ProxyCall
from twisted_netlab.web.proxy.settings import ProxyClient
from twisted_netlab.web.refusal import refuse

# What goes on the wire as a request target (visible ASCII, no space).
_VALID_TARGET = re.compile(rb"\A[\x21-\x7e]+\Z")


class ProxyResource(Resource):
    """Forward every request under one mount to its upstream."""

    isLeaf = True

    def __init__(
        self,
        mount: ProxyMount,
        client: UpstreamClient,
        settings: ProxySettings,
        reactor: IReactorTime,
        *,
        drop_cors: bool = False,
        cache: ProxyCache | None = None,
    ) -> None:
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.cache = cache  # the shared proxy cache (--proxy-cache), None when off
        # drop_cors: the site's CORS layer owns Access-Control-*; the upstream's go.
        self.drop_cors = drop_cors
        self.mount = mount
        self.client = client
        self.settings = settings
        self.reactor = reactor
        self.origin = Origin(mount.scheme, mount.host, mount.port)
        self.forward_rules = ForwardRules(
            settings.trusted, mount.host_header, mount.preserve_host, settings.pseudonym
        )
        self.cookie_rules: dict[bool, CookieRewrite] | None = None
        if settings.dev:
            self.cookie_rules = {
                secure: CookieRewrite(mount.client_path, mount.prefix, secure)
                for secure in (False, True)
            }
        self._via: dict[bytes, bytes] = {}

    def via_for(self, version: bytes) -> bytes:
        via = self._via.get(version)
        if via is None:
            via = self._via[version] = via_value(version, self.settings.pseudonym)
        return via

    def render(self, request: IRequest) -> bytes | int:
        if request.method == b"CONNECT":
            request.setHeader(b"allow", _ALLOW)
            return refuse(request, http.NOT_ALLOWED, "CONNECT is not proxied")
        try:
            self.mount.check_method(request.method)
        except ProxyMethodError as exc:
            request.setHeader(b"allow", _ALLOW)
            return refuse(request, exc.status, str(exc))
        # A fragment never goes on the wire.
        uri = request.uri.partition(b"#")[0]
        path, sep, query = uri.partition(b"?")
        try:
            target = self.mount.upstream_path(path, query if sep else None)
        except ProxyPathError as exc:
            return refuse(request, exc.status, str(exc))
        if not _VALID_TARGET.match(target):
            # twisted.web lets DEL and similar through; they must not reach the upstream.
            return refuse(request, http.BAD_REQUEST, "invalid character in the request target")
        if self.cache is not None:
            return render_cached(self, self.cache, request, target)
        ProxyCall(self, request, target).start()
        return NOT_DONE_YET


# What a 405 names as allowed: the methods the proxy forwards (the upstream may refuse some).
_ALLOW = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


def make_proxy_mounts(
    mounts: Sequence[ProxyMount],
    settings: ProxySettings,
    client: UpstreamClient,
    reactor: IReactorTime,
    *,
    cors_managed: bool = False,
    cache: ProxyCache | None = None,
) -> list[tuple[list[bytes], IResource]]:
    return [
        (
            split_prefix(m.prefix),
            ProxyResource(m, client, settings, reactor, drop_cors=cors_managed, cache=cache),
        )
        for m in mounts
    ]


def build_proxy_mounts(
    config: ProxyConfig, reactor: Any, *, cors_managed: bool = False
) -> list[tuple[list[bytes], IResource]]:
    """The proxy mounts ``config`` declares, sharing one client and its pools.

    ``cors_managed``: the site wraps the root in its CORS layer, so the upstream's own
    ``Access-Control-*`` headers are dropped rather than doubled.
    """
    if not config.mounts:
        return []
    client = ProxyClient(reactor, config.settings)
    reactor.addSystemEventTrigger("before", "shutdown", client.close)
    cache = ProxyCache(config.cache, reactor) if config.cache.enabled else None
    return make_proxy_mounts(
        config.mounts, config.settings, client, reactor, cors_managed=cors_managed, cache=cache
    )
