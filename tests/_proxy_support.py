"""A recording upstream, the proxy under test and clients, all on 127.0.0.1 port 0.

Shared by the proxy test modules (the leading underscore keeps test collectors away).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import treq
from treq.client import HTTPClient
from twisted.internet import defer, reactor, task
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.trial.unittest import TestCase
from twisted.web import pages
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface import implementer

from twisted_netlab.http.headers import TrustedProxies
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.proxy import (
    ProxyClient,
    ProxySettings,
    make_proxy_mounts,
)
from twisted_netlab.web.site import MountRoot, NetlabSite

NO_TRUSTED_PROXIES = TrustedProxies()


class Recorded:
    def __init__(self, request: Any) -> None:
        self.method: bytes = request.method
        self.uri: bytes = request.uri
        self.pairs = [
            (n.lower(), v)
            for n, vs in request.requestHeaders.getAllRawHeaders()
            for v in vs
        ]
        request.content.seek(0)
        self.body: bytes = request.content.read()

    def header(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.pairs if n == name.lower()]


class RecordingResource(Resource):
    """Any path, any method: record the request, answer with fixed or given headers."""

    isLeaf = True

    def __init__(self, log: list[Recorded]) -> None:
        super().__init__()
        self.log = log
        self.reply_headers: list[tuple[bytes, bytes]] = []
        self.reply_code = 200
        self.reply_body = b"upstream says hi\n"

    def render(self, request: Any) -> bytes:
        self.log.append(Recorded(request))
        request.setResponseCode(self.reply_code)
        for name, value in self.reply_headers:
            request.responseHeaders.addRawHeader(name, value)
        return b"" if request.method == b"HEAD" else self.reply_body


@implementer(IPushProducer)
class _CountingProducer:
    """Writes ``total`` bytes in 64 KiB chunks as fast as the socket lets it."""

    chunk = b"x" * 65536

    def __init__(self, request: Any, total: int, owner: BigBody) -> None:
        self.request = request
        self.remaining = total
        self.owner = owner
        self.paused = False
        self.stopped = False
        self._call: Any = None

    def start(self) -> None:
        self.request.registerProducer(self, True)
        self._schedule()

    def _schedule(self) -> None:
        if self._call is None and not self.paused and not self.stopped:
            self._call = reactor.callLater(0, self._pump)

    def _pump(self) -> None:
        self._call = None
        for _ in range(16):
            if self.paused or self.stopped or self.remaining <= 0:
                break
            data = self.chunk[: min(len(self.chunk), self.remaining)]
            self.remaining -= len(data)
            self.owner.produced += len(data)
            self.request.write(data)
        if self.remaining <= 0 and not self.stopped:
            self.stopped = True
            self.request.unregisterProducer()
            self.request.finish()
            return
        self._schedule()

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self.stopped = True
        if self._call is not None:
            self._call.cancel()
            self._call = None


class BigBody(Resource):
    """A large body through a push producer; counts what it produced and disconnects."""

    isLeaf = True

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.produced = 0
        self.lost: defer.Deferred[None] = defer.Deferred()
        self.producer: _CountingProducer | None = None

    def render_GET(self, request: Any) -> int:
        request.setHeader(b"content-type", b"application/octet-stream")
        request.setHeader(b"content-length", b"%d" % self.total)
        self.producer = _CountingProducer(request, self.total, self)

        def gone(failure: Any) -> None:
            if self.producer is not None:
                self.producer.stopProducing()
            if not self.lost.called:
                self.lost.callback(None)

        request.notifyFinish().addErrback(gone)
        self.producer.start()
        return NOT_DONE_YET


class Held(Resource):
    """Answers only when the test says so (``release``); records client disconnects."""

    isLeaf = True

    def __init__(self, head: Callable[[Any], None] | None = None) -> None:
        super().__init__()
        self.requests: list[Any] = []
        self.arrived: defer.Deferred[Any] = defer.Deferred()
        self.lost: defer.Deferred[None] = defer.Deferred()
        self.head = head

    def render(self, request: Any) -> int:
        self.requests.append(request)

        def gone(failure: Any) -> None:
            if not self.lost.called:
                self.lost.callback(None)

        request.notifyFinish().addErrback(gone)
        if self.head is not None:
            self.head(request)
        if not self.arrived.called:
            self.arrived.callback(request)
        return NOT_DONE_YET


class CountingSite(Site):
    """Counts accepted connections (keep-alive reuse is one connection)."""

    connections = 0

    def buildProtocol(self, addr: Any) -> Any:
        self.connections += 1
        return super().buildProtocol(addr)


class RawClient(Protocol):
    """A raw TCP HTTP client: sends bytes, collects everything, can stop reading."""

    def __init__(self, request: bytes, pause_after: int | None = None) -> None:
        self.request = request
        self.pause_after = pause_after
        self.data = bytearray()  # += on bytes would be quadratic for big bodies
        self.ready: defer.Deferred[None] = defer.Deferred()
        self.closed: defer.Deferred[Any] = defer.Deferred()
        self.reason: Any = None  # why the connection ended, once it has
        self.paused = False

    def connectionMade(self) -> None:
        self.transport.write(self.request)
        self.ready.callback(None)

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if self.pause_after is not None and len(self.data) >= self.pause_after and not self.paused:
            self.paused = True
            self.transport.pauseProducing()

    def connectionLost(self, reason: Any) -> None:
        self.reason = reason
        self.closed.callback(None)


class ProxyTestCase(TestCase):
    """An upstream site and a proxy site on loopback, torn down cleanly."""

    timeout = 20

    def setUp(self) -> None:
        self.recorded: list[Recorded] = []
        self.upstream_root = Resource()
        self.recorder = RecordingResource(self.recorded)
        self.upstream_root.putChild(b"rec", self.recorder)
        self.upstream_site = CountingSite(self.upstream_root)
        self.upstream_port = reactor.listenTCP(0, self.upstream_site, interface="127.0.0.1")
        self.addCleanup(self.upstream_port.stopListening)
        self.upstream_url = f"http://127.0.0.1:{self.upstream_port.getHost().port}"
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(self.pool.closeCachedConnections)
        self.http = HTTPClient(Agent(reactor, pool=self.pool))

    def start_proxy(
        self,
        mounts: list[ProxyMount],
        *,
        trusted: TrustedProxies = NO_TRUSTED_PROXIES,
        cors_managed: bool = False,
        **settings: Any,
    ) -> str:
        self.settings = ProxySettings(trusted=trusted, **settings)
        client = ProxyClient(reactor, self.settings)
        self.proxy_client = client
        self.addCleanup(client.close)
        root = MountRoot(pages.notFound(), make_proxy_mounts(
            mounts, self.settings, client, reactor, cors_managed=cors_managed
        ))
        self.proxy_site = NetlabSite(root)
        port = reactor.listenTCP(0, self.proxy_site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.proxy_port = port.getHost().port
        return f"http://127.0.0.1:{self.proxy_port}"

    def mount(self, prefix: str = "/api", path: str = "/rec", **kw: Any) -> ProxyMount:
        return ProxyMount(prefix, self.upstream_url + path, **kw)

    async def raw(self, request: bytes, pause_after: int | None = None) -> RawClient:
        client = RawClient(request, pause_after)
        factory = ClientFactory.forProtocol(lambda: client)
        connector = reactor.connectTCP("127.0.0.1", self.proxy_port, factory)
        self.addCleanup(connector.disconnect)
        await client.ready
        return client

    async def content(self, response: Any) -> bytes:
        return await treq.content(response)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll (bounded) until ``predicate()``; fail the test if it never holds."""
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("condition not reached in time")
