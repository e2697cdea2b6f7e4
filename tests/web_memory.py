"""An HTTP/1.1 exchange with a whole netlab-web site in memory (no socket, no reactor).

Exact request bytes in, exact response bytes out: for paths that HTTP clients would
normalise before sending. Works for answers written synchronously (small static files
served from memory, refusals, tools).
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.server import Site

PEER = IPv4Address("TCP", "127.0.0.1", 40000)
HOST = IPv4Address("TCP", "127.0.0.1", 8080)


def exchange(site: Site, request: bytes, peer: IPv4Address = PEER) -> bytes:
    """Feed ``request`` to a fresh connection of ``site``; return what it wrote."""
    site.timeOut = None  # no idle timer on the global reactor
    protocol = site.buildProtocol(peer)
    assert protocol is not None
    transport = StringTransport(hostAddress=HOST, peerAddress=peer)
    protocol.makeConnection(transport)
    protocol.dataReceived(request)
    written: bytes = transport.value()
    protocol.connectionLost(Failure(ConnectionError("test over")))
    return written


def get(site: Site, target: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    head = b"".join(h + b"\r\n" for h in headers)
    return exchange(
        site, method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + head
        + b"Connection: close\r\n\r\n"
    )


def status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def header(raw: bytes, name: bytes) -> list[bytes]:
    head = raw.partition(b"\r\n\r\n")[0]
    out = []
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            out.append(value.strip())
    return out


def body(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[2]
