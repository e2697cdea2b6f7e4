# mypy: disallow-untyped-calls=False
"""``--metrics``: Prometheus instruments, /metrics and /healthz, and the lame-duck stop."""

from __future__ import annotations

import os
from typing import Any

import treq
from prometheus_client import CollectorRegistry
from treq.testing import StubTreq
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import reactor as _reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import Site

from twisted_netlab import tap as combined
from twisted_netlab.counting import CountingFactory
from twisted_netlab.metrics import HealthState, NetlabMetrics, Phase, mount_label, status_class
from twisted_netlab.scale import ScaleConfig, ScaleService, instrument
from twisted_netlab.tcp import tap as tcp
from twisted_netlab.tcp.client import exchange
from twisted_netlab.tcp.config import EchoConfig
from twisted_netlab.tcp.factory import EchoFactory
from twisted_netlab.web import tap as web
from twisted_netlab.web.metrics import InstrumentedRoot, OpsRoot

reactor: Any = _reactor


class Leaf(Resource):
    isLeaf = True

    def render_GET(self, request: IRequest) -> bytes:
        if request.path.endswith(b"/missing"):
            request.setResponseCode(404)
        return b"x" * 10


class RuleTests(SynchronousTestCase):
    def test_status_class(self) -> None:
        self.assertEqual(
            [status_class(c) for c in (101, 200, 206, 304, 404, 503, None, 0, 600)],
            ["1xx", "2xx", "2xx", "3xx", "4xx", "5xx", "aborted", "aborted", "aborted"],
        )

    def test_mount_label_longest_prefix_bounded(self) -> None:
        mounts = ["/api/", "/api/v2/", "/_netlab/"]
        for path, label in [
            (b"/api/x", "/api/"),
            (b"/api/v2/x?q=/api/v3", "/api/v2/"),
            (b"/api", "/api/"),
            (b"/apix/y", "/"),
            (b"/", "/"),
            (b"/_netlab/inspect", "/_netlab/"),
            (b"/anything/a/client/invents", "/"),
        ]:
            self.assertEqual(mount_label(path, mounts), label, path)

    def test_health_moves_forward_only(self) -> None:
        health = HealthState()
        seen: list[Phase] = []
        health.on_change(seen.append)
        self.assertTrue(health.healthy)
        health.begin_drain()
        health.begin_lame_duck()  # too late: draining already
        health.begin_drain()
        self.assertEqual(seen, [Phase.DRAINING])
        self.assertFalse(health.healthy)
        self.assertTrue(health.closing)


class InMemoryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = NetlabMetrics(self.registry, ["/api/"])
        self.health = HealthState()

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def test_requests_counted_by_mount_and_class(self) -> None:
        root = InstrumentedRoot(Leaf(), self.metrics, self.health)
        stub: Any = StubTreq(root)
        for url in ("http://h/a", "http://h/api/b", "http://h/api/missing"):
            response = self.successResultOf(stub.get(url))
            self.assertEqual(self.successResultOf(response.content()), b"x" * 10)
        stub.flush()
        requests = "netlab_http_requests_total"
        self.assertEqual(self.sample(requests, mount="/", status_class="2xx"), 1.0)
        self.assertEqual(self.sample(requests, mount="/api/", status_class="2xx"), 1.0)
        self.assertEqual(self.sample(requests, mount="/api/", status_class="4xx"), 1.0)
        self.assertEqual(self.sample("netlab_http_response_bytes_total", mount="/api/"), 20.0)
        self.assertEqual(self.sample("netlab_http_requests_in_flight", mount="/"), 0.0)
        self.assertEqual(self.sample("netlab_http_requests_in_flight", mount="/api/"), 0.0)
        # The public root does not answer the ops pages unless asked.
        response = self.successResultOf(stub.get("http://h/metrics"))
        self.assertEqual(self.successResultOf(response.content()), b"x" * 10)

    def test_ops_pages(self) -> None:
        stub: Any = StubTreq(OpsRoot(self.metrics, self.health))
        self.metrics.connection_opened("web")
        response = self.successResultOf(stub.get("http://h/metrics"))
        self.assertEqual(response.code, 200)
        self.assertEqual(
            response.headers.getRawHeaders("content-type"),
            ["text/plain; version=1.0.0; charset=utf-8"],
        )
        text = self.successResultOf(response.text())
        self.assertIn('netlab_open_connections{service="web"} 1.0\n', text)
        self.assertIn('netlab_connections_total{service="web"} 1.0\n', text)
        healthz = self.successResultOf(stub.get("http://h/healthz"))
        self.assertEqual(
            (healthz.code, self.successResultOf(healthz.content())), (200, b"ok\n")
        )
        self.health.begin_lame_duck()
        healthz = self.successResultOf(stub.get("http://h/healthz"))
        self.assertEqual(
            (healthz.code, self.successResultOf(healthz.content())), (503, b"lame-duck\n")
        )
        for path in ("/", "/metrics/x", "/static.txt"):
            other = self.successResultOf(stub.get("http://h" + path))
            self.assertEqual(other.code, 404)

    def test_public_ops_and_close_while_lame_duck(self) -> None:
        root = InstrumentedRoot(Leaf(), self.metrics, self.health, public_ops=True)
        stub: Any = StubTreq(root)
        healthz = self.successResultOf(stub.get("http://h/healthz"))
        self.assertEqual(healthz.code, 200)
        self.assertIsNone(healthz.headers.getRawHeaders("connection"))
        self.health.begin_lame_duck()
        # A real HTTP/1.1 channel (the client side would hide Connection from us):
        # the response is whole, says close, and the connection closes after it.
        channel = Site(root).buildProtocol(IPv4Address("TCP", "127.0.0.1", 5))
        assert channel is not None
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /page HTTP/1.1\r\nHost: h\r\n\r\nGET /again HTTP/1.1\r\n")
        head, _, body = transport.value().partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertIn(b"\r\nConnection: close", head)
        self.assertEqual(body, b"x" * 10)
        self.assertTrue(transport.disconnecting)
        channel.connectionLost(Failure(ConnectionDone()))
        healthz = self.successResultOf(stub.get("http://h/healthz"))
        self.assertEqual(healthz.code, 503)


class LameDuckTests(SynchronousTestCase):
    def test_stop_waits_then_drains(self) -> None:
        clock = Clock()
        health = HealthState()
        outer = ScaleService(health, 2.5, clock)
        inner = MultiService()
        inner.setServiceParent(outer)
        outer.startService()
        stopped = outer.stopService()
        self.assertEqual(health.phase, Phase.LAME_DUCK)
        self.assertNoResult(stopped)
        self.assertTrue(inner.running)
        clock.advance(2.4)
        self.assertTrue(inner.running)
        clock.advance(0.1)
        self.successResultOf(stopped)
        self.assertEqual(health.phase, Phase.DRAINING)
        self.assertFalse(inner.running)


class OptionTests(SynchronousTestCase):
    def test_errors(self) -> None:
        for options, argv, words in [
            (web.Options(), ["--metrics", "tcp:nope"], "invalid endpoint 'tcp:nope'"),
            (web.Options(), ["--lame-duck", "soon"],
             "--lame-duck must be a number of seconds, not 'soon'"),
            (web.Options(), ["--lame-duck", "-1"], "--lame-duck must be between 0 and 3600"),
            (tcp.Options(), ["--metrics-public"], "--metrics-public needs a web service"),
        ]:
            exc = self.assertRaises(usage.UsageError, options.parseOptions, argv)
            self.assertIn(words, str(exc))

    def test_off_by_default(self) -> None:
        options = web.Options()
        options.parseOptions(["--path", "."])
        self.assertEqual(
            options["scale"], ScaleConfig(argv=("--path", "."))
        )
        self.assertIsInstance(web.makeService(options), MultiService)
        self.assertNotIsInstance(web.makeService(options), ScaleService)

    def test_combined_wiring(self) -> None:
        options = combined.Options()
        # --tls makes a certificate: in a private data folder, never the user's.
        self.patch(os, "environ", {**os.environ, "XDG_DATA_HOME": os.path.abspath(self.mktemp())})
        argv = ["--path", ".", "--proxy", "/api=http://127.0.0.1:9", "--tls",
                "--metrics", "tcp:0:interface=127.0.0.1", "--lame-duck", "1.5"]
        options.parseOptions(argv)
        self.assertEqual(
            options["scale"],
            ScaleConfig(
                "tcp:0:interface=127.0.0.1", False, 1.5, ("/api",), 1, tuple(argv)
            ),
        )
        outer = combined.makeService(options)
        assert isinstance(outer, ScaleService)
        top, ops = list(outer)
        echo_svc, web_svc, _drain = list(top)
        (tcp_svc,) = list(echo_svc)  # EchoService: the listeners plus the graceful drain
        self.assertIsInstance(tcp_svc.factory, CountingFactory)
        self.assertEqual(tcp_svc.factory.service, "tcp")
        self.assertIsInstance(tcp_svc.factory.wrappedFactory, EchoFactory)
        self.assertEqual(web_svc.factory.service, "web")
        tls_factory = web_svc.factory.wrappedFactory
        self.assertIsInstance(tls_factory, TLSMemoryBIOFactory)
        self.assertIsInstance(tls_factory.wrappedFactory.resource, InstrumentedRoot)
        self.assertIsInstance(ops.factory.resource, OpsRoot)


class LoopbackTests(TestCase):
    """Real sockets: connection counts, echo frames across half-close, text format."""

    timeout = 30

    async def test_web_and_echo_counted(self) -> None:
        registry = CollectorRegistry()
        metrics = NetlabMetrics(registry)
        health = HealthState()
        top = MultiService()
        site = Site(Leaf())
        echo = EchoFactory(reactor, EchoConfig(framing="seed"))
        web_listener = _Listener(site)
        tcp_listener = _Listener(echo)
        web_listener.setServiceParent(top)
        tcp_listener.setServiceParent(top)
        instrument(top, metrics, health, public_ops=False)
        web_port = reactor.listenTCP(0, web_listener.factory, interface="127.0.0.1")
        self.addCleanup(web_port.stopListening)
        tcp_port = reactor.listenTCP(0, tcp_listener.factory, interface="127.0.0.1")
        self.addCleanup(tcp_port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)

        response = await treq.get(
            f"http://127.0.0.1:{web_port.getHost().port}/x", pool=pool, reactor=reactor
        )
        self.assertEqual(await response.content(), b"x" * 10)
        result = await exchange(
            reactor, f"tcp:127.0.0.1:{tcp_port.getHost().port}", [b"one", b"two", b"three"]
        )
        self.assertEqual([body for _, body in result.replies], [b"one", b"two", b"three"])

        def sample(name: str, **labels: str) -> float | None:
            return registry.get_sample_value(name, labels)

        self.assertEqual(sample("netlab_echo_frames_total"), 3.0)
        self.assertEqual(sample("netlab_connections_total", service="tcp"), 1.0)
        self.assertEqual(sample("netlab_connections_total", service="web"), 1.0)
        self.assertEqual(
            sample("netlab_http_requests_total", mount="/", status_class="2xx"), 1.0
        )
        # Both connections end; the gauges come back to zero (bounded wait).
        from twisted.internet.task import deferLater

        for _ in range(200):
            if sample("netlab_open_connections", service="tcp") == 0.0 and sample(
                "netlab_open_connections", service="web"
            ) == 0.0:
                break
            await deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(sample("netlab_open_connections", service="tcp"), 0.0)
        self.assertEqual(sample("netlab_open_connections", service="web"), 0.0)


def _Listener(factory: Any) -> StreamServerEndpointService:
    """A listener the way the plugins make them; this test listens itself (port 0)."""
    return StreamServerEndpointService(TCP4ServerEndpoint(reactor, 0), factory)


class HalfCloseTests(SynchronousTestCase):
    """The counting wrapper keeps the echo's half-close (answer after the peer's FIN)."""

    def test_wrapper_half_closeable_exactly_when_wrapped_is(self) -> None:
        from twisted.internet.interfaces import IHalfCloseableProtocol
        from twisted.internet.protocol import Factory, Protocol

        from twisted_netlab.framing import encode

        metrics = NetlabMetrics(CollectorRegistry())
        echo_factory = EchoFactory(Clock(), EchoConfig(framing="seed"))
        metrics.watch_echo(echo_factory)
        echo = CountingFactory(echo_factory, metrics, "tcp")
        wrapper = echo.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5))
        assert wrapper is not None
        transport = StringTransport()
        wrapper.makeConnection(transport)
        self.assertTrue(IHalfCloseableProtocol.providedBy(wrapper))
        frame = encode(b"hi", 7, "seed")
        wrapper.dataReceived(frame)
        wrapper.readConnectionLost()  # the peer's FIN: echo answered, then closes
        self.assertEqual(transport.value(), frame)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(metrics.registry.get_sample_value("netlab_echo_frames_total"), 1.0)

        plain = CountingFactory(Factory.forProtocol(Protocol), metrics, "other")
        other = plain.buildProtocol(IPv4Address("TCP", "127.0.0.1", 6))
        assert other is not None
        other.makeConnection(StringTransport())
        self.assertFalse(IHalfCloseableProtocol.providedBy(other))
