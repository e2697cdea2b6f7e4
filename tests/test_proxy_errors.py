"""Proxy failure paths: 502, 504, truncation aborts and idle upstream bodies."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, error, reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from twisted.web.client import ResponseNeverReceived
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.proxy import describe_failure as _describe

from ._proxy_support import Held, ProxyTestCase


class LoggedTestCase(ProxyTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def proxy_log(self) -> list[dict[str, Any]]:
        return [e for e in self.events if str(e.get("log_format", "")).startswith("proxy ")]


class BadGatewayTests(LoggedTestCase):
    async def test_connection_refused_is_502(self) -> None:
        port = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        dead = port.getHost().port
        await port.stopListening()
        base = self.start_proxy([ProxyMount("/api", f"http://127.0.0.1:{dead}/x")])
        response = await self.http.get(base + "/api/y")
        self.assertEqual(response.code, 502)
        self.assertEqual(
            await self.content(response),
            f"502 Bad Gateway: upstream http://127.0.0.1:{dead} connection refused\n".encode(),
        )
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [b"text/plain; charset=utf-8"]
        )
        [event] = self.proxy_log()
        self.assertEqual(event["status"], 502)
        self.assertEqual(event["reason"], "connection refused")

    async def test_upstream_closing_without_answer_is_502(self) -> None:
        self.upstream_root.putChild(b"close", Held(lambda r: r.transport.abortConnection()))
        base = self.start_proxy([self.mount("/c", "/close")])
        response = await self.http.post(base + "/c/", data=b"body")
        self.assertEqual(response.code, 502)
        body = await self.content(response)
        self.assertTrue(body.startswith(b"502 Bad Gateway: upstream http://127.0.0.1:"), body)

    async def test_service_stays_up_after_errors(self) -> None:
        self.upstream_root.putChild(b"close", Held(lambda r: r.transport.abortConnection()))
        base = self.start_proxy([self.mount("/c", "/close"), self.mount("/api", "/rec")])
        for _ in range(3):
            response = await self.http.get(base + "/c/")
            await self.content(response)
        response = await self.http.get(base + "/api/ok")
        self.assertEqual(response.code, 200)
        self.assertEqual(await self.content(response), b"upstream says hi\n")


class GatewayTimeoutTests(LoggedTestCase):
    async def test_no_response_head_is_504_and_upstream_cancelled(self) -> None:
        held = Held()
        self.upstream_root.putChild(b"held", held)
        base = self.start_proxy([self.mount("/h", "/held")], response_timeout=0.2)
        response = await self.http.get(base + "/h/x")
        self.assertEqual(response.code, 504)
        self.assertEqual(
            await self.content(response),
            f"504 Gateway Time-out: upstream {self.upstream_url} no response within the "
            "timeout\n".encode(),
        )
        await held.lost
        self.assertEqual([e["status"] for e in self.proxy_log()], [504])

    async def test_idle_body_aborts_client(self) -> None:
        def head(request: Any) -> None:
            request.setHeader(b"content-length", b"1000")
            request.write(b"a" * 100)

        held = Held(head)
        self.upstream_root.putChild(b"idle", held)
        self.start_proxy([self.mount("/i", "/idle")], idle_timeout=0.2)
        client = await self.raw(b"GET /i/ HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.closed
        head_part, _, body = client.data.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 1000", head_part)
        self.assertEqual(body, b"a" * 100)
        await held.lost
        self.assertTrue(any("idle" in e["log_format"] for e in self.proxy_log()))


class TruncationTests(LoggedTestCase):
    async def _truncated(self, head: Any) -> bytes:
        upstream_gone: defer.Deferred[None] = defer.Deferred()

        def start(request: Any) -> None:
            head(request)
            request.write(b"b" * 1000)
            reactor.callLater(0.05, request.transport.abortConnection)
            reactor.callLater(0.05, upstream_gone.callback, None)

        self.upstream_root.putChild(b"die", Held(start))
        self.start_proxy([self.mount("/d", "/die")])
        client = await self.raw(b"GET /d/ HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.closed
        await upstream_gone
        self.assertTrue(client.reason.check(error.ConnectionDone, error.ConnectionLost))
        self.assertTrue(any("body failed" in e["log_format"] for e in self.proxy_log()))
        return client.data

    async def test_known_length_truncated(self) -> None:
        data = await self._truncated(lambda r: r.setHeader(b"content-length", b"100000"))
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK"))
        self.assertIn(b"Content-Length: 100000", head)
        self.assertEqual(body, b"b" * 1000)

    async def test_chunked_truncated_has_no_last_chunk(self) -> None:
        data = await self._truncated(lambda r: None)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        self.assertEqual(body, b"3e8\r\n" + b"b" * 1000 + b"\r\n")
        self.assertFalse(body.endswith(b"0\r\n\r\n"))


class DescribeTests(SynchronousTestCase):
    """Which status a failure before the response head maps to."""

    def test_connect_timeout_is_504(self) -> None:
        self.assertEqual(
            _describe(Failure(error.TimeoutError())), (504, "connect timeout")
        )

    def test_wrapped_reasons_are_checked(self) -> None:
        wrapped = Failure(ResponseNeverReceived([Failure(error.ConnectionLost())]))
        self.assertEqual(_describe(wrapped), (502, "connection closed before a response"))

    def test_dns_failure_is_502(self) -> None:
        self.assertEqual(
            _describe(Failure(error.DNSLookupError("nope.invalid"))),
            (502, "DNS lookup failed"),
        )

    def test_refused_is_502(self) -> None:
        self.assertEqual(
            _describe(Failure(error.ConnectionRefusedError())), (502, "connection refused")
        )


class IdleVersusSlowClientTests(LoggedTestCase):
    async def test_paused_by_slow_client_is_not_idle(self) -> None:
        """Backpressure pauses the upstream; that must not count as an idle upstream.

        Real sockets carry the backpressure; the proxy client's clock (its idle timeout
        and deadline sweep) is a ``Clock``. Each idle period passes at a moment the
        upstream exchange is paused (right as it pauses), so no wall-clock wait decides
        the outcome, and the test fails fast if the rule is broken.
        """
        from twisted.internet import task

        from twisted_netlab.upstream.exchange import Exchange
        from twisted_netlab.web.proxy import ProxyClient, ProxySettings, make_proxy_mounts
        from twisted_netlab.web.site import MountRoot, NetlabSite

        from ._proxy_support import BigBody

        size = 32 * 1024 * 1024
        self.upstream_root.putChild(b"big", BigBody(size))
        clock = task.Clock()
        settings = ProxySettings(idle_timeout=0.2)
        proxy_client = ProxyClient(reactor, settings, clock=clock)  # real sockets
        self.addCleanup(proxy_client.close)
        mounts = make_proxy_mounts([self.mount("/b", "/big")], settings, proxy_client, clock)
        site = NetlabSite(MountRoot(Resource(), mounts))
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.proxy_port = port.getHost().port

        exchanges: list[Exchange] = []
        waiting: list[defer.Deferred[None]] = []
        original = Exchange.pauseProducing

        def pause(exchange: Exchange) -> None:
            original(exchange)
            exchanges.append(exchange)
            fire = list(waiting)
            waiting.clear()
            for paused in fire:
                paused.callback(None)  # resumes the test while the exchange is paused

        self.patch(Exchange, "pauseProducing", pause)
        client = await self.raw(
            b"GET /b/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", pause_after=1
        )
        for _ in range(4):  # four idle periods, each passed while the exchange is paused
            # client.paused: the client stopped reading, so the pause is its doing.
            while not (client.paused and exchanges and exchanges[-1].paused):
                paused: defer.Deferred[None] = defer.Deferred()
                waiting.append(paused)
                await paused
            clock.advance(0.2)
            clock.advance(0.2)  # two sweeps: a broken rule would have cut it by now
            self.assertEqual(self.proxy_log(), [])  # no "upstream idle ... aborting"
            self.assertIsNone(client.reason)  # still open, still in flight
        client.transport.resumeProducing()
        await client.closed
        head, _, body = client.data.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: %d" % size, head)
        self.assertEqual(len(body), size)


class ConnectTimeoutTests(LoggedTestCase):
    async def test_connect_timeout_is_504(self) -> None:
        """A listener whose accept queue is full drops SYNs: the connect never completes."""
        import socket

        blackhole = socket.socket()
        self.addCleanup(blackhole.close)
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        port = blackhole.getsockname()[1]
        fillers = []
        for _ in range(4):  # fill the accept queue; later SYNs are dropped
            s = socket.socket()
            self.addCleanup(s.close)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        probe = socket.socket()
        self.addCleanup(probe.close)
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
        except OSError:
            pass
        else:
            raise SkipTest("this kernel accepts connections beyond the listen backlog")
        base = self.start_proxy(
            [ProxyMount("/api", f"http://127.0.0.1:{port}/")], connect_timeout=0.3
        )
        response = await self.http.get(base + "/api/x")
        self.assertEqual(response.code, 504)
        self.assertEqual(
            await self.content(response),
            f"504 Gateway Time-out: upstream http://127.0.0.1:{port} connect timeout\n".encode(),
        )


class InternalErrorTests(ProxyTestCase):
    async def test_bug_in_header_rules_gives_502_not_a_hang(self) -> None:
        from twisted_netlab.web.proxy import relay

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise ValueError("boom")

        self.patch(relay, "relay_response_pairs", broken)
        base = self.start_proxy([self.mount()])
        response = await self.http.get(base + "/api/x")
        self.assertEqual(response.code, 502)
        body = await self.content(response)
        self.assertTrue(body.endswith(b"could not be relayed\n"), body)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class _DropSecondRequest(Resource):
    """Answers the first request on each connection and drops the second unanswered,
    as an upstream closing an idle keep-alive connection just as a request arrives."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.per_channel: dict[Any, int] = {}
        self.dropped = 0

    def render(self, request: Any) -> bytes | int:
        count = self.per_channel[request.channel] = self.per_channel.get(request.channel, 0) + 1
        if count == 2:
            self.dropped += 1
            request.transport.abortConnection()
            return NOT_DONE_YET
        return b"ok"


class StaleConnectionTests(LoggedTestCase):
    """The pool's retry-once for idempotent requests holds without Agent in between."""

    async def test_idempotent_request_retried_on_a_new_connection(self) -> None:
        drop = _DropSecondRequest()
        self.upstream_root.putChild(b"drop", drop)
        base = self.start_proxy([self.mount("/d", "/drop")])
        for _ in range(2):
            response = await self.http.get(base + "/d/x")
            self.assertEqual((response.code, await self.content(response)), (200, b"ok"))
        self.assertEqual(drop.dropped, 1)
        self.assertEqual(self.upstream_site.connections, 2)
        self.assertEqual(self.proxy_log(), [])

    async def test_post_is_not_retried(self) -> None:
        drop = _DropSecondRequest()
        self.upstream_root.putChild(b"drop", drop)
        base = self.start_proxy([self.mount("/d", "/drop")])
        response = await self.http.post(base + "/d/x", data=b"1")
        self.assertEqual((response.code, await self.content(response)), (200, b"ok"))
        response = await self.http.post(base + "/d/x", data=b"2")
        self.assertEqual(response.code, 502)
        body = await self.content(response)
        self.assertTrue(body.endswith(b" connection closed before a response\n"), body)
        self.assertEqual(drop.dropped, 1)
        self.assertEqual(self.upstream_site.connections, 1)
