"""HTTP/1.1 through ``LimitedChannel``, HTTP/2 through Twisted's own connection.

``LimitedSite`` replaces Twisted's per-connection protocol with ``LimitedChannel`` so
that no HTTP/1.1 client can hold a connection for ever. Twisted's HTTP/2 support lives
in the protocol that ``Site`` builds by default (it switches to an ``H2Connection``
when TLS negotiated ``h2`` by ALPN), and there is no public way to put our channel
inside it. So each connection starts as ``LimitedChannel`` (whose deadline also bounds
a TLS handshake that never finishes), and on the first bytes, when ALPN's answer is
known, an ``h2`` connection is handed to a plain ``Site`` protocol built through the
public ``Site.buildProtocol``. Everything else stays with the limited channel.

What HTTP/2 gets instead of our limits: Twisted's ``H2Connection`` idle timeout and
HTTP/2 flow control; it is counted by neither the connection cap nor the drain (the
README's Limits section says so).
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IProtocol, ITransport
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

__all__ = ["NegotiatingProtocol"]


class NegotiatingProtocol(Protocol):
    """Forward a connection to ``http1`` unless ALPN chose ``h2``.

    ``detach_http1`` undoes what ``http1.makeConnection`` registered (deadlines,
    tracking, the transport's producer); ``build_h2`` makes the HTTP/2-capable protocol.
    """

    def __init__(
        self,
        http1: IProtocol,
        detach_http1: Callable[[], None],
        build_h2: Callable[[], IProtocol | None],
    ) -> None:
        self.inner: IProtocol = http1
        self._detach_http1 = detach_http1
        self._build_h2 = build_h2
        self._decided = False

    def makeConnection(self, transport: ITransport) -> None:
        self.transport = transport
        self.connected = 1
        self.inner.makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        if not self._decided:
            self._decided = True
            if getattr(self.transport, "negotiatedProtocol", None) == b"h2":
                h2 = self._build_h2()
                if h2 is not None and self.transport is not None:
                    self._detach_http1()
                    self.inner = h2
                    h2.makeConnection(self.transport)
            # Decided for good: later reads go straight to the chosen protocol (the
            # transport looks ``dataReceived`` up on each read), not through this
            # method, which would add a call to every request on the connection.
            self.dataReceived = self.inner.dataReceived  # type: ignore[method-assign]
        self.inner.dataReceived(data)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.connected = 0
        self.inner.connectionLost(reason)
