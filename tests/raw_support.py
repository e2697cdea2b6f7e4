"""A raw HTTP exchange for tests: exact request bytes out, the whole answer back.

treq and hyperlink normalise request targets (dot segments, percent-encoding, header
values), which would hide exactly what traversal, injection and routing tests check.
Send ``Connection: close`` so the server ends the answer by closing.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure


class Collect(Protocol):
    """Write ``request`` on connect; ``done`` fires with every byte received."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.data = b""
        # Cancelling (the timeout below) aborts the connection.
        self.done: Deferred[bytes] = Deferred(lambda _: self.transport.abortConnection())  # type: ignore[union-attr]

    def connectionMade(self) -> None:
        self.transport.write(self.request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self.done.called:  # not already cancelled by the timeout
            self.done.callback(self.data)


# A server that should close but does not: fail after this long, not trial's 120 s.
RAW_TIMEOUT = 10.0


async def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` to 127.0.0.1:``port`` and return the answer once it closes."""
    proto = Collect(request)
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), proto)
    try:
        return await proto.done.addTimeout(RAW_TIMEOUT, reactor)
    except TimeoutError:
        raise AssertionError(
            f"server did not close within {RAW_TIMEOUT}s; got {proto.data[:200]!r}"
        ) from None


def memory_exchange(factory: IProtocolFactory, request: bytes) -> bytes:
    """``raw_exchange`` in memory: the same bytes through ``factory``'s protocol on a
    ``StringTransport``, for synchronous answers where a socket adds nothing.

    Returns what the server wrote once it asked to close; fails if it did not (a
    ``Connection: close`` request must end with the server closing).
    """
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    assert protocol is not None
    transport = StringTransport(
        hostAddress=IPv4Address("TCP", "127.0.0.1", 8080),
        peerAddress=IPv4Address("TCP", "127.0.0.1", 40000),
    )
    protocol.makeConnection(transport)
    protocol.dataReceived(request)
    if not transport.disconnecting:
        raise AssertionError(f"server did not close; got {transport.value()[:200]!r}")
    protocol.connectionLost(Failure(ConnectionDone()))
    return transport.value()
