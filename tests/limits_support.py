# mypy: disallow-untyped-calls=False
"""A LimitedSite on a real loopback socket whose deadlines run on a fake clock.

Connections and bytes are real; time is ``task.Clock``, so a 20 s deadline is tested by
``clock.advance(20)``, not by waiting. To know when the server has seen the client's
bytes (before advancing the clock), the channel subclass reports every read.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET

from twisted_netlab.web.channel import LimitedChannel
from twisted_netlab.web.connections import LimitedSite
from twisted_netlab.web.limits import MIB, LimitsConfig, PrefixBodyRule

TOOLS_RULE = PrefixBodyRule((((b"_netlab",), 10 * MIB),))


class ProbedChannel(LimitedChannel):
    """Reports reads and producer pauses to the site's waiters."""

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        site: ProbedSite = self.site  # type: ignore[attr-defined]
        site.received += len(data)
        site.fire("read")

    def pauseProducing(self) -> None:
        super().pauseProducing()
        site: ProbedSite = self.site  # type: ignore[attr-defined]
        site.fire("paused")

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        super().connectionLost(reason)
        site: ProbedSite = self.site  # type: ignore[attr-defined]
        site.fire("lost")


class ProbedSite(LimitedSite):
    protocol = ProbedChannel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received = 0
        self.waiters: dict[str, list[Deferred[None]]] = {}

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        reactor.callLater(0, self.fire, "accepted")  # after connectionMade
        return protocol

    def fire(self, event: str) -> None:
        for d in self.waiters.pop(event, []):
            d.callback(None)

    def next(self, event: str) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.waiters.setdefault(event, []).append(d)
        return d.addTimeout(10, reactor)


class Client(Protocol):
    """A raw client: write when told, collect everything, ``closed`` on loss."""

    def __init__(self) -> None:
        self.buffer = bytearray()  # not bytes +=: a 48 MiB download would be quadratic
        self.closed: Deferred[bytes] = Deferred()
        self.got: list[Deferred[None]] = []

    @property
    def data(self) -> bytes:
        return bytes(self.buffer)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        got, self.got = self.got, []
        for d in got:
            d.callback(None)

    def next_data(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.got.append(d)
        return d.addTimeout(10, reactor)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed.callback(self.data)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


class Hello(Resource):
    isLeaf = True

    def render(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return b"hello\n"


class Big(Resource):
    """``/big`` answers ``size`` bytes in one write (the transport buffers them)."""

    isLeaf = True

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def render(self, request: Any) -> bytes:
        return b"x" * self.size


class Hang(Resource):
    """Never answers until ``release()``: a busy connection."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Any] = []
        self.arrived: list[Deferred[None]] = []

    def render(self, request: Any) -> int:
        self.pending.append(request)
        arrived, self.arrived = self.arrived, []
        for d in arrived:
            d.callback(None)
        return NOT_DONE_YET

    def next_request(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.arrived.append(d)
        return d.addTimeout(10, reactor)

    def release(self, body: bytes = b"done\n") -> None:
        for request in self.pending:
            request.setHeader(b"content-length", b"%d" % len(body))
            request.write(body)
            request.finish()
        self.pending = []


class LimitsHarness:
    def __init__(self, test: Any, root: IResource, limits: LimitsConfig | None = None,
                 rule: PrefixBodyRule = TOOLS_RULE) -> None:
        self.clock = Clock()
        self.site = ProbedSite(root, limits or LimitsConfig(max_connections=100), rule,
                               reactor=self.clock)
        self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")  # type: ignore[arg-type]
        self.port_number: int = self.port.getHost().port  # type: ignore[attr-defined]
        test.addCleanup(self.port.stopListening)
        self.test = test
        self.clients: list[Client] = []
        test.addCleanup(self._close_clients)
        test.addCleanup(self._close_server_side)

    async def _close_server_side(self) -> None:
        """Connections a real client left lingering (their deadlines run on the fake clock)."""
        while self.site.channels:
            lost = self.site.next("lost")
            next(iter(self.site.channels.values())).close_now(abort=True)
            await lost

    async def _close_clients(self) -> None:
        for client in self.clients:
            if client.transport is not None and not client.closed.called:
                client.transport.abortConnection()  # type: ignore[attr-defined]
                await client.closed

    async def connect(self, first: bytes = b"") -> Client:
        """Connect; with ``first``, wait until the server has read all of it."""
        client = Client()
        accepted = self.site.next("accepted")
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port_number), client)
        self.clients.append(client)
        await accepted
        if first:
            await self.send(client, first)
        return client

    async def send(self, client: Client, data: bytes) -> None:
        target = self.site.received + len(data)
        client.write(data)
        while self.site.received < target:
            await self.site.next("read")

    async def response(self, client: Client, marker: bytes = b"\r\n\r\n") -> bytes:
        while marker not in client.data:
            await client.next_data()
        return client.data
