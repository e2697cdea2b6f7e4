"""In-memory per-request cost of the reverse proxy, no sockets: µs/request, best of 5.

    python bench/proxy_hot.py [ours|ours-full|probe|probe-site|floor] [N] [--prof] [-v]
        [--unique]

(``--prof``: cProfile of N requests; SORT=cumulative ROWS=60 change the listing.
``--once``: N requests untimed, for an instruction count that a busy machine does not
skew: ``python bench/proxy_hot.py --icount ours`` runs it under valgrind twice.)

``ours``: the netlab-web site with ``--proxy /p=http://127.0.0.1:9`` (built as
``twistd netlab-web`` builds it). The client side is a ``StringTransport`` fed a
keep-alive ``GET /p/1k`` (what wrk sends); the upstream side is the proxy's own pooled
connection on a ``StringTransport`` (injected through the pool's ``endpoint_for``):
once the request head is written upstream, the harness feeds the connection a canned
1 KiB keep-alive response (nginx's header set), in its own call, as a socket would.
So one request is the proxy's two reactor events (client bytes in, upstream bytes in)
without the reactor or the kernel.

After the first request, ``ours`` relays each one from its plan (``web/relaychannel.py``:
no twisted.web ``Request``); ``ours-full`` is the same site with ``--no-replay``, every
request through twisted.web's full path. ``--unique``: the upstream adds a header of
its own to each response (``X-Request-Id``), so no answer can be relayed from a plan:
what a relay that always falls back costs, against ``ours-full``.

``probe``: the same exchange through a minimal proxy (a twisted.web resource handing
the request to one keep-alive upstream connection parsed by ``httptools``), the
issue's yardstick: what a proxy needs at least on this server stack.
``probe-site``: the probe's resource in netlab's ``LimitedSite``.
``floor``: a quiet ``Site`` whose resource returns 1 KiB of constant bytes.

Timed in this thread's CPU time (``time.thread_time``), so a shared machine adds
less noise; still compare runs made in the same minute.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

sys.path.insert(0, str(os.path.dirname(os.path.abspath(__file__))))

from inprocess import ONE_K, QuietSite, floor_site, icount

UPSTREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: nginx/1.24.0\r\n"
    b"Date: Sun, 29 Nov 2026 22:00:00 GMT\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Length: 1024\r\n"
    b"Last-Modified: Sun, 29 Nov 2026 21:00:00 GMT\r\n"
    b"Connection: keep-alive\r\n"
    b'ETag: "6789abcd-400"\r\n'
    b"Accept-Ranges: bytes\r\n"
    b"\r\n" + ONE_K
)
CLIENT_REQUEST = b"GET /p/1k HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


class Upstream:
    """The upstream end: connections made on StringTransports, answered on demand."""

    def __init__(self) -> None:
        self.protocols: list[tuple[Any, StringTransport]] = []

    def endpoint_for(self, origin: object) -> Any:
        upstream = self

        class Endpoint:
            def connect(self, factory: Any) -> defer.Deferred[Any]:
                proto = factory.buildProtocol(None)
                transport = StringTransport()
                proto.makeConnection(transport)
                upstream.protocols.append((proto, transport))
                return defer.succeed(proto)

        return Endpoint()

    unique = False  # ``--unique``: each response carries a header of its own
    count = 0

    def answer(self) -> None:
        response = UPSTREAM_RESPONSE
        if self.unique:
            self.count += 1
            response = response.replace(b"\r\n\r\n", b"\r\nX-Request-Id: %08d\r\n\r\n"
                                        % self.count, 1)
        for proto, transport in self.protocols:
            if transport.value().endswith(b"\r\n\r\n"):
                transport.clear()
                proto.dataReceived(response)


def ours(upstream: Upstream, *extra: str) -> Site:
    from twisted_netlab.web.site import build_site
    from twisted_netlab.web.tap import Options as WebOptions

    d = "/tmp/proxy_hot_www"
    os.makedirs(d, exist_ok=True)
    options = WebOptions()
    options.parseOptions(["--path", d, "--proxy", "/p=http://127.0.0.1:9", *extra])
    site = build_site(options.web_config, reactor)
    for pool in site.upstream_pools:
        pool.endpoint_for = upstream.endpoint_for
    return site




def probe(upstream: Upstream) -> Site:
    """The issue's minimal proxy: pooled keep-alive connections parsed by httptools."""
    import httptools
    from twisted.internet.protocol import Protocol

    class Conn(Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpResponseParser(self)
            self.request: Any = None
            self.headers: list[tuple[bytes, bytes]] = []

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name, value))

        def on_headers_complete(self) -> None:
            request = self.request
            request.setResponseCode(self.parser.get_status_code())
            set_raw = request.responseHeaders.setRawHeaders
            for name, value in self.headers:
                low = name.lower()
                if low not in (b"connection", b"content-length", b"keep-alive"):
                    set_raw(name, [value])
            self.headers = []

        def on_body(self, data: bytes) -> None:
            self.request.write(data)

        def on_message_complete(self) -> None:
            request, self.request = self.request, None
            idle.append(self)
            request.finish()

        def dataReceived(self, data: bytes) -> None:
            self.parser.feed_data(data)

    idle: list[Conn] = []
    endpoint = upstream.endpoint_for(None)

    class Factory:
        def buildProtocol(self, addr: object) -> Conn:
            return Conn()

    class Proxy(Resource):
        isLeaf = True

        def render(self, request: Any) -> Any:
            head = (
                b"GET /1k HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Forwarded-For: "
                + request.getClientAddress().host.encode()
                + b"\r\n\r\n"
            )

            def go(conn: Conn) -> None:
                conn.request = request
                conn.transport.write(head)  # type: ignore[union-attr]

            if idle:
                go(idle.pop())
            else:
                endpoint.connect(Factory()).addCallback(go)
            return NOT_DONE_YET

    return QuietSite(Proxy())


def probe_site(upstream: Upstream) -> Site:
    """The probe's resource in netlab's own ``LimitedSite`` (default limits): what the
    hardened channel layer adds to the probe, so ``ours - probe-site`` is the proxy's
    own cost."""
    from twisted_netlab.web.connections import LimitedSite, body_rule_for
    from twisted_netlab.web.limits import LimitsConfig

    limits = LimitsConfig()
    resource = probe(upstream).resource
    return LimitedSite(resource, limits, body_rule_for([], [], limits), reactor=reactor)


def ours_full(upstream: Upstream) -> Site:
    """``ours`` with ``--no-replay``: every request through twisted.web's full path."""
    return ours(upstream, "--no-replay")


def floor(upstream: Upstream) -> Site:
    return floor_site()


def main() -> None:
    if "--icount" in sys.argv:
        kind = next(a for a in sys.argv[1:] if not a.startswith("-"))
        extra = [a for a in sys.argv[1:] if a == "--unique"]
        print(f"{kind}: {icount(__file__, kind, extra) / 1000:.1f} k instructions/request")
        return
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    kind = args[0] if args else "ours"
    n = int(args[1]) if len(args) > 1 else 20000
    upstream = Upstream()
    upstream.unique = "--unique" in sys.argv
    site = {
        "ours": ours, "ours-full": ours_full, "probe": probe, "probe-site": probe_site,
        "floor": floor,
    }[kind](upstream)
    addr = IPv4Address("TCP", "127.0.0.1", 5555)
    proto = site.buildProtocol(addr)
    transport = StringTransport(peerAddress=addr)
    proto.makeConnection(transport)
    request = CLIENT_REQUEST if kind != "floor" else b"GET /1k HTTP/1.1\r\nHost: x\r\n\r\n"

    def once() -> None:
        proto.dataReceived(request)
        upstream.answer()

    once()
    first = transport.value()
    transport.clear()
    if "-v" in sys.argv:
        print(first.decode("latin-1").split("\r\n\r\n")[0], "\n---", file=sys.stderr)
    status = first.split(b" ", 2)[1].decode()
    length = len(first)

    def run(count: int) -> None:
        for _ in range(count):
            proto.dataReceived(request)
            upstream.answer()
            transport.clear()

    run(2000)
    # Every response of the loop must be the first one again (same length, 200; with
    # ``--unique`` the header of its own is as long each time).
    proto.dataReceived(request)
    upstream.answer()
    assert len(transport.value()) == length and status == "200", (status, transport.value())
    transport.clear()
    if "--once" in sys.argv:
        # N requests, untimed: for an instruction counter (valgrind), run it with two
        # N and divide the difference.
        run(n)
        return
    if "--prof" in sys.argv:
        profile = cProfile.Profile()
        profile.enable()
        run(n)
        profile.disable()
        stats = pstats.Stats(profile).sort_stats(os.environ.get("SORT", "tottime"))
        stats.print_stats(int(os.environ.get("ROWS", "45")))
        return
    # CPU time of this thread: on a shared machine, time spent descheduled is not ours.
    best = 1e9
    for _ in range(5):
        t = time.thread_time()
        run(n)
        best = min(best, (time.thread_time() - t) / n)
    print(f"{kind}: {best * 1e6:.2f} us/request  status {status}  {length} bytes")


if __name__ == "__main__":
    main()
