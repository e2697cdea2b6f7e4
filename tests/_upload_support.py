# mypy: disallow-untyped-calls=False
"""Streaming uploads through the whole netlab-web site, on real loopback sockets.

``UploadUpstream`` is a raw HTTP/1.1 upstream that records *when* body bytes arrive
(Deferreds fired on events, never timers): its first body byte, its whole body, its
connection's end. ``UploadProxy`` is ``build_site`` with one proxy mount to it, on
port 0, whose channels report pauses and losses; ``RawClient`` sends bytes when told.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.channel import LimitedChannel
from twisted_netlab.web.config import ProxyConfig
from twisted_netlab.web.limits import LimitsConfig
from twisted_netlab.web.mounts import MountRoot
from twisted_netlab.web.proxy.resource import ProxyResource
from twisted_netlab.web.site import build_site

from .config_support import web_config

reactor: Any = _reactor

WAIT = 20  # seconds: the bound on every wait (loaded machine), never a sleep


def bounded(d: Deferred[Any]) -> Deferred[Any]:
    return d.addTimeout(WAIT, reactor)


class _Waiters:
    """One-shot events by name, each a Deferred made on demand."""

    def __init__(self) -> None:
        self._events: dict[str, Deferred[None]] = {}

    def get(self, name: str) -> Deferred[None]:
        d = self._events.get(name)
        if d is None:
            d = self._events[name] = Deferred()
        return d

    def fire(self, name: str) -> None:
        d = self.get(name)
        if not d.called:
            d.callback(None)

    def fired(self, name: str) -> bool:
        return name in self._events and self._events[name].called


class _UpstreamProtocol(Protocol):
    def __init__(self, owner: UploadUpstream) -> None:
        self.owner = owner
        self.buffer = b""
        self.left: int | None = None  # body bytes still due (Content-Length)
        self.in_body = False
        self.gone: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.owner.protocols.append(self)

    def dataReceived(self, data: bytes) -> None:
        owner = self.owner
        if not self.in_body:
            self.buffer += data
            if b"\r\n\r\n" not in self.buffer:
                return
            head, _, data = self.buffer.partition(b"\r\n\r\n")
            self.buffer = b""
            owner.heads.append(head)
            owner.events.fire("head")
            self.in_body = True
            self.left = _content_length(head)
            expect = b"\r\nexpect: 100-continue" in head.lower()
            if owner.mode == "reject":
                self._reply(b"417 Expectation Failed", b"no uploads here\n", close=True)
                return
            if owner.mode == "continue" and expect:
                self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not data:
            return
        if owner.received == 0:
            owner.events.fire("first byte")
            if owner.pause_after_first_byte and self.transport is not None:
                self.transport.pauseProducing()  # type: ignore[attr-defined]
                owner.paused_transport = self.transport
        owner.received += len(data)
        if owner.mode == "early":
            self._reply(b"413 Payload Too Large", b"too big for me\n", close=True)
            return
        if self.left is not None:
            self.left -= len(data)
            if self.left <= 0:
                owner.events.fire("body")
                self._reply(b"200 OK", b"got %d\n" % owner.received, close=False)

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def _reply(self, status: bytes, body: bytes, close: bool) -> None:
        extra = b"Connection: close\r\n" if close else b""
        self._write(
            b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)
        )
        self.in_body = False
        if close:
            assert self.transport is not None
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.owner.protocols.remove(self)
        self.owner.events.fire("lost")
        self.gone.callback(None)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


class UploadUpstream(Factory):
    """``mode``: ``"plain"`` (answers once the body is in, ignores Expect),
    ``"continue"`` (answers Expect with 100 first), ``"reject"`` (417 at the head) or
    ``"early"`` (413 at the first body byte, then closes)."""

    noisy = False

    def __init__(self, mode: str = "plain") -> None:
        self.mode = mode
        self.heads: list[bytes] = []
        self.received = 0
        self.events = _Waiters()
        self.protocols: list[_UpstreamProtocol] = []
        self.pause_after_first_byte = False
        self.paused_transport: Any = None

    def buildProtocol(self, addr: object) -> _UpstreamProtocol:
        return _UpstreamProtocol(self)


class TrackedChannel(LimitedChannel):
    """Reports when it pauses the client for a streaming body, and when it is gone."""

    def connectionMade(self) -> None:
        self.gone: Deferred[None] = Deferred()
        super().connectionMade()

    def pause_body_reads(self) -> None:
        super().pause_body_reads()
        self.site.events.fire("client paused")  # type: ignore[attr-defined]

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        super().connectionLost(reason)
        self.gone.callback(None)


class RawClient(Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed: Deferred[None] = Deferred()
        self._want: list[tuple[bytes, Deferred[None]]] = []

    @property
    def data(self) -> bytes:
        return bytes(self.buffer)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def received(self, marker: bytes) -> Deferred[None]:
        """Fires once ``marker`` has arrived (bounded)."""
        d: Deferred[None] = Deferred()
        if marker in self.buffer:
            d.callback(None)
        else:
            self._want.append((marker, d))
        return bounded(d)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        keep = []
        for marker, d in self._want:
            if marker in self.buffer:
                d.callback(None)
            else:
                keep.append((marker, d))
        self._want = keep

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed.callback(None)


class UploadProxy:
    """netlab-web (``build_site``) with ``/up/`` proxied to ``upstream``, on port 0."""

    def __init__(self, test: Any, upstream: UploadUpstream, limits: LimitsConfig | None = None,
                 tmp: str = ".") -> None:
        self.upstream = upstream
        self.upstream_port = reactor.listenTCP(0, upstream, interface="127.0.0.1")
        up = self.upstream_port.getHost().port
        mount = ProxyMount("/up/", f"http://127.0.0.1:{up}")
        config = web_config(
            tmp, proxy=ProxyConfig((mount,)), limits=limits or LimitsConfig(max_connections=64)
        )
        self.site = build_site(config, reactor)
        self.site.protocol = TrackedChannel
        self.site.events = _Waiters()  # type: ignore[attr-defined]
        router = self.site.resource
        assert isinstance(router, MountRoot)
        proxy = router.mounts[0][1]
        assert isinstance(proxy, ProxyResource)
        self.proxy = proxy
        # IP-literal upstream: a plain TCP endpoint. HostnameEndpoint's staggered-attempt
        # LoopingCall can outlive a successful connect by up to 0.3 s, which trial
        # reports as a dirty reactor at the end of a fast test.
        proxy.client.pool.endpoint_for = lambda origin: TCP4ClientEndpoint(
            reactor, origin.host, origin.port
        )
        self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        self.port_number: int = self.port.getHost().port
        self.clients: list[RawClient] = []
        test.addCleanup(self._close)

    @property
    def events(self) -> _Waiters:
        events: _Waiters = self.site.events  # type: ignore[attr-defined]
        return events

    async def connect(self) -> RawClient:
        client = RawClient()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port_number)
        await bounded(connectProtocol(endpoint, client))
        self.clients.append(client)
        return client

    async def _close(self) -> None:
        for client in self.clients:
            if client.transport is not None and not client.closed.called:
                client.transport.abortConnection()  # type: ignore[attr-defined]
                await bounded(client.closed)
        for channel in list(self.site.channels.values()):
            assert isinstance(channel, TrackedChannel)
            channel.close_now(abort=True)
            await bounded(channel.gone)
        for protocol in list(self.upstream.protocols):
            assert protocol.transport is not None
            protocol.transport.abortConnection()  # type: ignore[attr-defined]
            await bounded(protocol.gone)
        await bounded(self.proxy.client.close())
        await self.port.stopListening()
        await self.upstream_port.stopListening()

