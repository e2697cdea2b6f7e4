# ProtocolWrapper is untyped: calling into it is the point of this adapter.
# mypy: disable-error-code="no-untyped-call"
"""Connection and echo-frame counting around any protocol factory.

Why a ``WrappingFactory``: it counts connections for the web and the TCP service alike
without touching their protocols.  Two details a plain ``ProtocolWrapper`` gets wrong
and these classes keep: the wrapper declares ``IHalfCloseableProtocol`` exactly when
the wrapped protocol does (the echo answers after the peer's FIN; without the interface
the transport would call ``connectionLost`` at once), and the factory forwards
``acceptableProtocols`` (ALPN: ``h2`` must still be offered when this wrapper sits
between TLS and the ``Site``).

Echo frames are counted on the way out with the service's own decoder: every byte the
echo writes is a whole frame (``none`` framing: each echoed chunk counts as one).  It
costs a second decode, paid only when ``--metrics`` is on; a counter inside
``EchoProtocol`` would be cheaper (left to the TCP module's owner).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IProtocolFactory,
    IProtocolNegotiationFactory,
    ITransport,
)
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import alsoProvides, implementer

from twisted_netlab.framing import Decoder
from twisted_netlab.metrics import NetlabMetrics


class CountingProtocol(ProtocolWrapper):
    factory: CountingFactory

    def makeConnection(self, transport: ITransport) -> None:
        super().makeConnection(transport)  # replaces our provided interfaces: add after
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            alsoProvides(self, IHalfCloseableProtocol)

    def connectionMade(self) -> None:
        self.factory.metrics.connection_opened(self.factory.service)
        super().connectionMade()

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.factory.metrics.connection_closed(self.factory.service)
        super().connectionLost(reason)

    # Called only when the wrapped protocol provides IHalfCloseableProtocol (the
    # wrapper is marked to provide it in makeConnection exactly then).
    def readConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).readConnectionLost()

    def writeConnectionLost(self) -> None:
        IHalfCloseableProtocol(self.wrappedProtocol).writeConnectionLost()


class FrameCountingProtocol(CountingProtocol):
    """Also counts the frames the echo writes back."""

    def connectionMade(self) -> None:
        self._decoder = Decoder(self.factory.framing or "none", self.factory.max_frame)
        super().connectionMade()

    def write(self, data: bytes) -> None:
        frames = len(self._decoder.feed(data))
        if frames:
            self.factory.metrics.echo_frames.inc(frames)
        super().write(data)

    def writeSequence(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)


@implementer(IProtocolNegotiationFactory)
class CountingFactory(WrappingFactory):
    """Counts connections of ``wrapped`` as ``service`` in ``metrics``."""

    protocol: type[CountingProtocol] = CountingProtocol

    def __init__(
        self,
        wrapped: IProtocolFactory,
        metrics: NetlabMetrics,
        service: str,
        framing: str | None = None,
        max_frame: int = 0,
    ) -> None:
        super().__init__(wrapped)
        self.metrics = metrics
        self.service = service
        self.framing = framing
        self.max_frame = max_frame
        if framing is not None:
            self.protocol = FrameCountingProtocol

    def acceptableProtocols(self) -> list[bytes]:
        inner = IProtocolNegotiationFactory(self.wrappedFactory, None)
        return list(inner.acceptableProtocols()) if inner is not None else []
