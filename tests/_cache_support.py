"""A scripted origin and a caching proxy in front of it, both on 127.0.0.1 port 0.

The origin counts every request it answers (the number the cache tests assert on) and
answers per path with a function the test installs, so each test states exactly what
the upstream says. Shared by the proxy cache test modules.
"""

# mypy: disallow-untyped-calls=False
# (twisted.web's Resource and trial's helpers are untyped.)
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, reactor
from twisted.web import pages
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from tests._proxy_support import ProxyTestCase
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.config import ProxyCacheConfig, ProxySettings
from twisted_netlab.web.proxy import ProxyClient, make_proxy_mounts
from twisted_netlab.web.proxy.cache import ProxyCache
from twisted_netlab.web.site import MountRoot, NetlabSite

Handler = Callable[[Any], bytes | int]


class Seen:
    """One request as the origin saw it."""

    def __init__(self, request: Any) -> None:
        self.method: bytes = request.method
        self.path: bytes = request.uri
        self.headers = {
            name.lower(): b", ".join(values)
            for name, values in request.requestHeaders.getAllRawHeaders()
        }


class ScriptedOrigin(Resource):
    """Answers each path with the handler installed for it; records every request."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Seen] = []
        self.routes: dict[bytes, Handler] = {}
        self.arrived: defer.Deferred[None] | None = None

    def route(self, path: bytes, handler: Handler) -> None:
        self.routes[path] = handler

    def count(self, path: bytes | None = None, method: bytes | None = None) -> int:
        return sum(
            1
            for s in self.seen
            if (path is None or s.path == path) and (method is None or s.method == method)
        )

    def render(self, request: Any) -> bytes | int:
        self.seen.append(Seen(request))
        arrived, self.arrived = self.arrived, None
        if arrived is not None:
            arrived.callback(None)
        handler = self.routes.get(request.path)
        if handler is None:
            request.setResponseCode(404)
            return b"no route\n"
        return handler(request)


def fixed(
    body: bytes, *headers: tuple[bytes, bytes], status: int = 200
) -> Handler:
    """A handler answering ``status``, ``headers`` and ``body`` every time."""

    def handle(request: Any) -> bytes:
        request.setResponseCode(status)
        for name, value in headers:
            request.responseHeaders.addRawHeader(name, value)
        return b"" if request.method == b"HEAD" else body

    return handle


class HeldReply:
    """A handler that answers only when the test calls ``release``."""

    def __init__(self, body: bytes, *headers: tuple[bytes, bytes]) -> None:
        self.body = body
        self.headers = headers
        self.waiting: list[Any] = []

    def __call__(self, request: Any) -> int:
        self.waiting.append(request)
        return NOT_DONE_YET

    def release(self) -> None:
        waiting, self.waiting = self.waiting, []
        for request in waiting:
            for name, value in self.headers:
                request.responseHeaders.addRawHeader(name, value)
            request.setHeader(b"content-length", b"%d" % len(self.body))
            request.write(self.body)
            request.finish()


class CacheTestCase(ProxyTestCase):
    """``ProxyTestCase`` with a scripted origin at ``/o`` and a caching proxy at ``/c``."""

    def setUp(self) -> None:
        super().setUp()
        self.origin = ScriptedOrigin()
        self.upstream_root.putChild(b"o", self.origin)

    def start_cached(
        self,
        config: ProxyCacheConfig | None = None,
        *,
        mount: ProxyMount | None = None,
        **settings: Any,
    ) -> str:
        """The proxy with a cache (``config``, default: on, 1 MiB); returns its URL."""
        if config is None:
            config = ProxyCacheConfig(enabled=True, memory_bytes=1 << 20)
        if mount is None:
            mount = ProxyMount("/c", self.upstream_url + "/o")
        self.settings = ProxySettings(**settings)
        client = ProxyClient(reactor, self.settings)
        self.addCleanup(client.close)
        self.proxy_client = client
        self.cache = ProxyCache(config, reactor)
        root = MountRoot(
            pages.notFound(),
            make_proxy_mounts([mount], self.settings, client, reactor, cache=self.cache),
        )
        self.proxy_site = NetlabSite(root)
        tcp: Any = reactor  # NetlabSite is a ServerFactory; the stubs cannot tell
        port = tcp.listenTCP(0, self.proxy_site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.proxy_port = port.getHost().port
        self.proxy_url = f"http://127.0.0.1:{self.proxy_port}"
        return self.proxy_url

    async def get(
        self, path: str, headers: dict[bytes, list[bytes]] | None = None, method: str = "GET"
    ) -> tuple[Any, bytes]:
        response = await self.http.request(
            method, self.proxy_url + path, headers=Headers(headers or {})
        )
        return response, await self.content(response)


def header(response: Any, name: bytes) -> list[bytes]:
    return list(response.headers.getRawHeaders(name, []))


def cache_status(response: Any) -> str:
    """Our Cache-Status member (the last one)."""
    values = header(response, b"cache-status")
    return values[-1].decode("latin-1") if values else ""
