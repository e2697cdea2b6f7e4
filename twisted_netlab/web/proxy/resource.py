"""The twisted.web resource for one proxy mount, and the mounts built from options.

Everything that does not depend on the request (the upstream origin, the forwarding
rules, cookie rules, ``Via`` values) is computed once here; each request becomes a
``ProxyCall``. An upload's call starts earlier, when its head is in (``open_upload``,
from the site's body opener); ``render`` then attaches to it. Both go through ``plan``,
so the same request is refused or forwarded the same way whenever it is judged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IReactorTime
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from twisted_netlab.http.headers import CookieRewrite, ForwardRules, via_value
from twisted_netlab.http.proxymount import ProxyMethodError, ProxyMount, ProxyPathError
from twisted_netlab.http.relayplan import ForwardPlan
from twisted_netlab.upstream.client import UpstreamClient
from twisted_netlab.upstream.message import Origin
from twisted_netlab.web.channel import LimitedRequest
from twisted_netlab.web.config import ProxyConfig, ProxySettings
from twisted_netlab.web.mounts import split_prefix
from twisted_netlab.web.proxy.cache import ProxyCache
from twisted_netlab.web.proxy.cache_call import CachingCall
from twisted_netlab.web.proxy.cache_hit import replay_hit
from twisted_netlab.web.proxy.cache_render import render_cached
from twisted_netlab.web.proxy.call import ProxyCall
from twisted_netlab.web.proxy.direct import DirectCall
from twisted_netlab.web.proxy.settings import ProxyClient
from twisted_netlab.web.proxy.upload import BodyChannel, UploadSink
from twisted_netlab.web.refusal import refuse

if TYPE_CHECKING:
    from twisted_netlab.web.relaychannel import RelayChannel

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

    def plan(self, method: bytes, uri: bytes) -> bytes | Refused:
        """The upstream target for ``method uri``, or why it is refused."""
        if method == b"CONNECT":
            return Refused(http.NOT_ALLOWED, "CONNECT is not proxied", allow=True)
        try:
            self.mount.check_method(method)
        except ProxyMethodError as exc:
            return Refused(exc.status, str(exc), allow=True)
        # A fragment never goes on the wire.
        uri = uri.partition(b"#")[0]
        path, sep, query = uri.partition(b"?")
        try:
            target = self.mount.upstream_path(path, query if sep else None)
        except ProxyPathError as exc:
            return Refused(exc.status, str(exc))
        if not _VALID_TARGET.match(target):
            # twisted.web lets DEL and similar through; they must not reach the upstream.
            return Refused(http.BAD_REQUEST, "invalid character in the request target")
        return target

    def open_upload(
        self,
        request: Request,
        channel: BodyChannel,
        method: bytes,
        uri: bytes,
        version: bytes,
        length: int | None,
    ) -> UploadSink | None:
        """Start the call for a request whose body is still to come; None when ``plan``
        refuses it (twisted.web spools the body and ``render`` answers the refusal).

        twisted.web answers ``Expect: 100-continue`` itself once the head is in; here
        the header is taken off the request so that it does not, and the call forwards
        the expectation upstream: the client hears the upstream's 100 or final answer.
        """
        target = self.plan(method, uri)
        if isinstance(target, Refused):
            return None
        headers = request.requestHeaders
        expect = headers.getRawHeaders(b"expect")
        if expect is not None:
            headers.removeHeader(b"expect")
        continue_wanted = version == b"HTTP/1.1" and _wants_continue(expect or ())
        sink = UploadSink(channel, length, expect_continue=continue_wanted)
        request.content = sink
        if self.cache is not None:
            key = self.cache.key_for(self.mount, target)
            CachingCall(
                self, request, target, self.cache, key, method=method, version=version
            ).start()
        else:
            ProxyCall(self, request, target, method=method, version=version).start()
        return sink

    def relay(
        self, channel: RelayChannel, plan: ForwardPlan, data: bytes, started: float
    ) -> DirectCall:
        """A relay of the GET ``data`` from ``plan`` (``relaychannel``, ``direct``)."""
        return DirectCall(self, channel, plan, data, started)

    def render(self, request: IRequest) -> bytes | int:
        content = getattr(request, "content", None)
        if isinstance(content, UploadSink):
            call = content.call
            if isinstance(call, ProxyCall) and call.resource is self:
                call.attach()
                return NOT_DONE_YET
        channel = getattr(request, "channel", None)
        direct = getattr(channel, "adopting", None)
        if isinstance(direct, DirectCall) and direct.host is self and direct.exchange:
            # A relay from a plan fell back (``direct``): its request is already upstream.
            channel.adopting = None  # type: ignore[union-attr]
            target = self.plan(request.method, request.uri)
            if not isinstance(target, Refused):
                call = ProxyCall(self, request, target)
                if isinstance(request, LimitedRequest):
                    request.started = direct.started
                call.adopt(direct.exchange)
                direct.taker = call
                return NOT_DONE_YET
        if self.cache is not None and replay_hit(self, self.cache, request):
            return NOT_DONE_YET  # a fresh hit of a target already served (cache_hit)
        target = self.plan(request.method, request.uri)
        if isinstance(target, Refused):
            if target.allow:
                request.setHeader(b"allow", _ALLOW)
            return refuse(request, target.status, target.message)
        if self.cache is not None:
            return render_cached(self, self.cache, request, target)
        ProxyCall(self, request, target).start()
        return NOT_DONE_YET


@dataclass(frozen=True, slots=True)
class Refused:
    """Why ``plan`` does not forward a request; ``allow``: the answer names ``_ALLOW``."""

    status: int
    message: str
    allow: bool = False


def _wants_continue(values: Sequence[bytes]) -> bool:
    return any(
        token.strip().lower() == b"100-continue" for value in values for token in value.split(b",")
    )


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
