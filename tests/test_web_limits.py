# mypy: disallow-untyped-calls=False
"""Deadlines, head limits, early body refusal, send timeout, cap and drain on real sockets.

Time runs on a ``task.Clock`` (see ``limits_support``); bytes go over loopback.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from tests.limits_support import Big, Client, Hang, Hello, LimitsHarness
from twisted_netlab.web.limits import LimitsConfig, Phase
from twisted_netlab.web.plainresponse import plain_response

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def root_with(**children: Resource) -> Resource:
    root = Resource()
    for name, child in children.items():
        root.putChild(name.encode(), child)
    return root


class HeadDeadlineTests(TestCase):
    async def test_drip_is_closed_at_the_deadline_from_the_first_byte(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect(b"GET / HTTP/1.1\r\n")
        for _ in range(19):  # a byte a second: Twisted's idle timer would never fire
            h.clock.advance(1)
            await h.send(client, b"X")
        self.assertEqual(client.data, b"")
        h.clock.advance(1)  # 20 s after the first byte
        data = await client.closed
        self.assertEqual(data, plain_response(408, "the request head did not arrive in time"))

    async def test_connection_that_sends_nothing_is_closed_silently(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        h.clock.advance(19.9)
        self.assertEqual(next(iter(h.site.channels.values())).phase, Phase.IDLE)
        h.clock.advance(0.2)
        self.assertEqual(await client.closed, b"")

    async def test_keepalive_idle_timeout_is_separate(self) -> None:
        h = LimitsHarness(self, Hello(), LimitsConfig(max_connections=10, keepalive_timeout=75))
        client = await h.connect(GET)
        first = await h.response(client, b"hello\n")
        self.assertTrue(first.startswith(b"HTTP/1.1 200 OK\r\n"))
        h.clock.advance(74)
        await h.send(client, GET)  # still open: a second request is served
        while client.data.count(b"hello\n") < 2:
            await client.next_data()
        before = client.data
        h.clock.advance(75.5)
        self.assertEqual(await client.closed, before)


class HeadSizeTests(TestCase):
    async def test_long_request_line_gets_414(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        client.write(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(await client.closed, plain_response(414, "the request line is too long"))

    async def test_request_line_without_end_gets_414(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        client.write(b"GET /" + b"a" * 20000)
        self.assertEqual(await client.closed, plain_response(414, "the request line is too long"))

    async def test_large_headers_get_431(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(17))
        client.write(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
        self.assertEqual(
            await client.closed, plain_response(431, "the request headers are too large")
        )

    async def test_many_headers_get_431(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        headers = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
        client.write(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
        self.assertEqual(await client.closed,
                         plain_response(431, "the request has too many header fields"))


class EarlyBodyRefusalTests(TestCase):
    """A 10 GB Content-Length and no body byte: the answer proves nothing was awaited."""

    async def test_post_to_bodiless_target_gets_405_at_once(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        client.write(b"POST /file.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000000\r\n\r\n")
        data = await client.closed
        self.assertEqual(data, plain_response(
            405, "POST is not allowed here: this resource takes no request body",
            ((b"Allow", b"GET, HEAD, OPTIONS"),)))

    async def test_get_with_body_to_bodiless_target_gets_413(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        client.write(b"GET /file.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
        self.assertEqual(await client.closed,
                         plain_response(413, "this resource takes no request body"))

    async def test_body_over_the_target_cap_gets_413_before_reading(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        client.write(b"POST /_netlab/inspect HTTP/1.1\r\nHost: t\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 10000000000\r\n\r\n")
        self.assertEqual(await client.closed, plain_response(
            413, f"the request body is larger than {10 << 20} bytes"))

    async def test_max_body_caps_every_target(self) -> None:
        h = LimitsHarness(self, Hello(), LimitsConfig(max_connections=10, max_body=100))
        client = await h.connect()
        client.write(b"POST /_netlab/x HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n")
        self.assertEqual(await client.closed,
                         plain_response(413, "the request body is larger than 100 bytes"))

    async def test_chunked_body_is_cut_mid_stream(self) -> None:
        h = LimitsHarness(self, Hello(), LimitsConfig(max_connections=10, max_body=100))
        client = await h.connect(b"POST /_netlab/x HTTP/1.1\r\nHost: t\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
        self.assertEqual(next(iter(h.site.channels.values())).phase, Phase.BODY)
        client.write(b"40\r\n" + b"a" * 64 + b"\r\n" + b"40\r\n" + b"a" * 64 + b"\r\n")
        self.assertEqual(await client.closed,
                         plain_response(413, "the request body is larger than 100 bytes"))

    async def test_accepted_body_reaches_the_resource(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect()
        client.write(b"POST /_netlab/x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        self.assertTrue((await h.response(client, b"hello\n")).startswith(b"HTTP/1.1 200 OK"))

    async def test_body_deadline(self) -> None:
        h = LimitsHarness(self, Hello())
        client = await h.connect(
            b"POST /_netlab/x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
        )
        h.clock.advance(59)
        await h.send(client, b"abcde")  # each read restarts the body deadline
        h.clock.advance(59)
        self.assertEqual(client.data, b"")
        h.clock.advance(1.5)
        self.assertEqual(await client.closed,
                         plain_response(408, "the request body stopped arriving"))


class SendTimeoutTests(TestCase):
    async def test_client_that_reads_nothing_is_cut(self) -> None:
        h = LimitsHarness(self, root_with(big=Big(32 << 20)))
        client = await h.connect()
        assert client.transport is not None
        client.transport.pauseProducing()  # type: ignore[attr-defined]
        paused = h.site.next("paused")
        client.write(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        await paused  # the server's transport buffer is full
        h.clock.advance(59)
        self.assertEqual(len(h.site.channels), 1)
        lost = h.site.next("lost")
        h.clock.advance(1.5)
        await lost
        self.assertEqual(h.site.channels, {})
        client.transport.resumeProducing()  # type: ignore[attr-defined]
        data = await client.closed
        self.assertLess(len(data), 32 << 20)


class ConnectionCapTests(TestCase):
    async def test_idle_and_slow_heads_are_evicted_oldest_first(self) -> None:
        h = LimitsHarness(self, Hello(), LimitsConfig(max_connections=2))
        idle = await h.connect()
        h.clock.advance(1)
        slow = await h.connect(b"GET / HT")
        h.clock.advance(1)
        fresh = await h.connect(GET)
        self.assertEqual(await idle.closed, b"")
        self.assertTrue((await h.response(fresh, b"hello\n")).startswith(b"HTTP/1.1 200 OK"))
        self.assertNoResult(slow.closed)
        self.assertEqual(h.site.evicted, 1)

    async def test_busy_connections_are_kept_and_the_newcomer_gets_503(self) -> None:
        hang = Hang()
        h = LimitsHarness(self, hang, LimitsConfig(max_connections=1))
        arrived = hang.next_request()
        busy = await h.connect(GET)
        await arrived
        late = Client()
        from twisted.internet import reactor
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", h.port_number), late)
        late.write(GET)  # bytes the server never reads must not reset the 503 away
        self.assertEqual(await late.closed, plain_response(
            503, "server is at its connection limit", ((b"Retry-After", b"5"),)))
        hang.release()
        self.assertTrue((await h.response(busy, b"done\n")).startswith(b"HTTP/1.1 200 OK"))

    async def test_per_address_cap_evicts_that_address_only(self) -> None:
        h = LimitsHarness(self, Hello(), LimitsConfig(max_connections=10, max_connections_per_ip=1))
        first = await h.connect()
        second = await h.connect(GET)
        self.assertEqual(await first.closed, b"")
        await h.response(second, b"hello\n")


class DrainTests(TestCase):
    async def test_drain_finishes_in_flight_closes_idle_and_cuts_the_stalled(self) -> None:
        hang = Hang()
        h = LimitsHarness(self, root_with(hang=hang, hello=Hello()))
        idle = await h.connect(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        await h.response(idle, b"hello\n")
        arrived = hang.next_request()
        busy = await h.connect(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        await arrived
        drained = h.site.start_drain()
        self.assertEqual(await idle.closed, idle.data)  # closed at once, nothing more sent
        hang.release()
        data = await busy.closed  # the response completes, then the connection closes
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"))
        self.assertTrue(data.endswith(b"done\n"))
        await drained
        self.assertEqual(h.site.drain_counts, {"drained": 1, "cut": 0, "idle": 1})

    async def test_drain_deadline_cuts_a_stalled_response(self) -> None:
        hang = Hang()
        h = LimitsHarness(self, hang, LimitsConfig(max_connections=10, drain_timeout=30))
        arrived = hang.next_request()
        stalled = await h.connect(GET)
        await arrived
        drained = h.site.start_drain()
        h.clock.advance(29)
        self.assertNoResult(stalled.closed)
        h.clock.advance(1.5)
        await drained
        self.assertEqual(await stalled.closed, b"")
        self.assertEqual(h.site.drain_counts, {"drained": 0, "cut": 1, "idle": 0})


class WiringTests(TestCase):
    """netlab-web's own site: limits from the options, bodies by mount."""

    async def test_options_reach_the_site(self) -> None:
        import os

        from twisted.internet import reactor

        from tests.raw_support import raw_exchange
        from twisted_netlab.web import tap
        from twisted_netlab.web.connections import LimitedSite
        from twisted_netlab.web.site import build_site

        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        options = tap.Options()
        options.parseOptions(
            ["--path", root, "--tools", "--tools-max-body", "1k", "--max-connections", "7"]
        )
        site = build_site(options.web_config, reactor)
        self.assertIsInstance(site, LimitedSite)
        assert isinstance(site, LimitedSite)
        self.assertEqual((site.limits.tools_max_body, site.limits.max_connections), (1024, 7))
        port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
        self.addCleanup(port.stopListening)
        number: int = port.getHost().port  # type: ignore[attr-defined]
        head = b"POST /_netlab/inspect HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
        self.assertEqual(await raw_exchange(number, head % 1025),
                         plain_response(413, "the request body is larger than 1024 bytes"))
        self.assertEqual(await raw_exchange(number, head.replace(b"_netlab/inspect", b"f") % 5),
                         plain_response(405, "POST is not allowed here: this resource takes no "
                                        "request body", ((b"Allow", b"GET, HEAD, OPTIONS"),)))
        query = b"&".join(b"f%d=v" % i for i in range(1001))
        answer = await raw_exchange(
            number,
            b"GET /_netlab/inspect?" + query + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertIn(b"[1 more fields not parsed; the limit is 1000]", answer)


class StreamingBodyHookTests(TestCase):
    """``open_body``: a consumer sees body bytes as they arrive and can push back."""

    async def test_sink_gets_chunks_as_they_arrive_and_can_pause_reads(self) -> None:
        from io import BytesIO
        from typing import Any

        chunks: list[bytes] = []
        channels: list[Any] = []

        class Sink(BytesIO):
            def write(self, data: Any) -> int:
                chunks.append(bytes(data))
                return super().write(data)

        def opener(request: Any, length: int | None) -> Sink:
            channels.append(request.channel)
            return Sink()

        h = LimitsHarness(self, Hello())
        h.site.body_opener = opener
        client = await h.connect(
            b"POST /_netlab/x HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n"
        )
        await h.send(client, b"abc")
        self.assertEqual(chunks, [b"abc"])  # before the body is complete
        channel = channels[0]
        channel.pause_body_reads()
        client.write(b"def")
        other = await h.connect(GET)  # reactor turns: "def" would be read if not paused
        await h.response(other, b"hello\n")
        self.assertEqual(chunks, [b"abc"])
        h.clock.advance(120)  # a paused consumer's wait is not the client's fault
        self.assertEqual(client.data, b"")
        resumed = h.site.next("read")
        channel.resume_body_reads()
        await resumed
        self.assertEqual(chunks, [b"abc", b"def"])
        self.assertTrue((await h.response(client, b"hello\n")).startswith(b"HTTP/1.1 200 OK"))
