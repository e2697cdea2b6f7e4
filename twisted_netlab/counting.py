# ProtocolWrapper is untyped: calling into it is the point of this adapter.
# mypy: disable-error-code="no-untyped-call"
"""Connection counting around any protocol factory.

Why a ``WrappingFactory``: it counts connections for the web and the TCP service alike
without touching their protocols.  Two details a plain ``ProtocolWrapper`` gets wrong
and these classes keep: the wrapper declares ``IHalfCloseableProtocol`` exactly when
the wrapped protocol does (the echo answers after the peer's FIN; without the interface
the transport would call ``connectionLost`` at once), and the factory forwards
``acceptableProtocols`` (ALPN: ``h2`` must still be offered when this wrapper sits
between TLS and the ``Site``).

Echo frames are not counted here: the echo's own decoder counts the frames it
validates, and ``/metrics`` reads that count when scraped (``NetlabMetrics.watch_echo``),
instead of decoding every reply a second time on its way out.
"""

from __future__ import annotations

from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IProtocolFactory,
    IProtocolNegotiationFactory,
    ITransport,
)
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import alsoProvides, implementer

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


@implementer(IProtocolNegotiationFactory)
class CountingFactory(WrappingFactory):
    """Counts connections of ``wrapped`` as ``service`` in ``metrics``."""

    protocol: type[CountingProtocol] = CountingProtocol

    def __init__(
        self,
        wrapped: IProtocolFactory,
        metrics: NetlabMetrics,
        service: str,
    ) -> None:
        super().__init__(wrapped)
        self.metrics = metrics
        self.service = service

    def acceptableProtocols(self) -> list[bytes]:
        inner = IProtocolNegotiationFactory(self.wrappedFactory, None)
        return list(inner.acceptableProtocols()) if inner is not None else []
