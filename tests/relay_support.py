"""In-memory proxying for the relay tests: a netlab-web site with a proxy mount whose
upstream connections are ``StringTransport``s the test answers byte by byte."""

from __future__ import annotations

import time
from typing import Any

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from tests.config_support import web_options
from twisted_netlab.web.connections import LimitedSite
from twisted_netlab.web.site import build_site

UPSTREAM_DATE = b"Sun, 29 Nov 2026 22:00:00 GMT"


def upstream_response(
    body: bytes = b"hello relay\n", *, date: bytes | None = UPSTREAM_DATE,
    etag: bytes = b'"v1"', status: bytes = b"200 OK", extra: bytes = b"",
) -> bytes:
    """A keep-alive upstream answer as nginx writes it (``date`` None: no Date)."""
    head = [b"HTTP/1.1 " + status, b"Server: nginx/1.24.0"]
    if date is not None:
        head.append(b"Date: " + date)
    head += [
        b"Content-Type: text/plain",
        b"Content-Length: %d" % len(body),
        b"Connection: keep-alive",
        b"ETag: " + etag,
    ]
    return b"\r\n".join(head) + b"\r\n" + extra + b"\r\n" + body


class Upstream:
    """The upstream end: each connection the proxy makes is a ``StringTransport``."""

    def __init__(self) -> None:
        self.connections: list[tuple[Any, StringTransport]] = []
        self.requests: list[bytes] = []  # every request head, in the order sent

    def endpoint_for(self, origin: object) -> Any:
        upstream = self

        class Endpoint:
            def connect(self, factory: Any) -> defer.Deferred[Any]:
                proto = factory.buildProtocol(None)
                transport = StringTransport()
                proto.makeConnection(transport)
                upstream.connections.append((proto, transport))
                return defer.succeed(proto)

        return Endpoint()

    def waiting(self) -> tuple[Any, StringTransport]:
        """The one connection holding an unanswered request (its head is taken)."""
        found = [(p, t) for p, t in self.connections if t.value() and not t.disconnecting]
        assert len(found) == 1, f"{len(found)} connections wait for an answer"
        proto, transport = found[0]
        self.requests.append(transport.value())
        transport.clear()
        return proto, transport

    def answer(self, *pieces: bytes) -> None:
        """Answer the waiting request, each piece its own read."""
        proto, _ = self.waiting()
        for piece in pieces:
            proto.dataReceived(piece)


def proxy_site(*argv: str, clock: MemoryReactorClock | None = None) -> tuple[LimitedSite, Upstream]:
    """``netlab-web --proxy /p=... ARGV`` on a fake clock, with an in-memory upstream."""
    if clock is None:
        clock = MemoryReactorClock()
        clock.advance(time.time())
    options = web_options("--path", ".", "--proxy", "/p=http://127.0.0.1:9", *argv)
    site = build_site(options.web_config, clock)
    upstream = Upstream()
    for pool in site.upstream_pools:
        pool.endpoint_for = upstream.endpoint_for
    return site, upstream


def lose(protocol: Any, transport: StringTransport) -> None:
    if not transport.disconnected:
        transport.disconnected = True
        protocol.connectionLost(Failure(ConnectionDone()))
