"""A raw HTTP exchange for tests: exact request bytes out, the whole answer back.

treq and hyperlink normalise request targets (dot segments, percent-encoding, header
values), which would hide exactly what traversal, injection and routing tests check.
Send ``Connection: close`` so the server ends the answer by closing.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure


class Collect(Protocol):
    """Write ``request`` on connect; ``done`` fires with every byte received."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.data = b""
        self.done: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.done.callback(self.data)


async def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` to 127.0.0.1:``port`` and return the answer once it closes."""
    proto = Collect(request)
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), proto)
    return await proto.done
