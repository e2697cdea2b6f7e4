"""How to reach an upstream: ``HostnameEndpoint``, wrapped in TLS for https.

``wrapClientTLS`` builds a ``TLSMemoryBIOFactory`` per connection, and that factory is
noisy: every TLS upstream connection would log "Starting factory ..." and "Stopping
factory ...". This wrapper is ``wrapClientTLS`` with a quiet factory, through the same
public pieces (``TLSMemoryBIOFactory`` and the wrapped protocol it exposes).
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from zope.interface import implementer

from twisted_netlab.upstream.message import Origin

TLSPolicy = Callable[[str], IOpenSSLClientConnectionCreator]


def default_tls(host: str) -> IOpenSSLClientConnectionCreator:
    """Verify the upstream's certificate against the platform's trust store."""
    from twisted.internet.ssl import optionsForClientTLS

    return optionsForClientTLS(host)


@implementer(IStreamClientEndpoint)
class QuietTLSEndpoint:
    def __init__(
        self, endpoint: IStreamClientEndpoint, creator: IOpenSSLClientConnectionCreator
    ) -> None:
        self._endpoint = endpoint
        self._creator = creator

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        factory = TLSMemoryBIOFactory(self._creator, True, protocolFactory)
        factory.noisy = False
        d: Deferred[IProtocol] = self._endpoint.connect(factory)

        def unwrap(protocol: IProtocol) -> IProtocol:
            assert isinstance(protocol, TLSMemoryBIOProtocol)
            wrapped: IProtocol = protocol.wrappedProtocol
            return wrapped

        return d.addCallback(unwrap)


def endpoint_factory(
    reactor: object, connect_timeout: float, tls: TLSPolicy = default_tls
) -> Callable[[Origin], IStreamClientEndpoint]:
    """``origin -> endpoint``, built once per origin by the pool."""

    def endpoint_for(origin: Origin) -> IStreamClientEndpoint:
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            reactor, origin.host, origin.port, timeout=connect_timeout
        )
        if origin.scheme == "https":
            endpoint = QuietTLSEndpoint(endpoint, tls(origin.host))
        return endpoint

    return endpoint_for
