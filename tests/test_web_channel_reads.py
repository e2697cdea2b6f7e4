# mypy: disallow-untyped-calls=False
"""LimitedChannel in memory: what one read does to the eviction index, the deadlines
and the head limits (phase moves coalesced per read, lazy deadline timer, whole heads
checked on the raw bytes)."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from tests.limits_support import TOOLS_RULE
from twisted_netlab.web.channel import LimitedChannel
from twisted_netlab.web.connections import LimitedSite
from twisted_netlab.web.limits import LimitsConfig, Phase
from twisted_netlab.web.negotiation import NegotiatingProtocol

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


class HelloOrHang(Resource):
    """``/hang`` waits for ``release()`` (an async response); anything else says hello."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Any] = []

    def render(self, request: Any) -> Any:
        if request.path == b"/hang":
            self.pending.append(request)
            return NOT_DONE_YET
        return b"hello\n"

    def release(self) -> None:
        for request in self.pending:
            request.write(b"done\n")
            request.finish()
        self.pending = []


class Sites:
    def make(self, limits: LimitsConfig, **kwargs: Any) -> tuple[LimitedSite, Clock]:
        clock = Clock()
        self.resource = HelloOrHang()
        return LimitedSite(self.resource, limits, TOOLS_RULE, reactor=clock, **kwargs), clock

    def open(
        self, site: LimitedSite, host: str = "127.0.0.1"
    ) -> tuple[LimitedChannel, StringTransport]:
        protocol = site.buildProtocol(IPv4Address("TCP", host, 5000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", host, 5000))
        protocol.makeConnection(transport)
        channel = protocol.inner if isinstance(protocol, NegotiatingProtocol) else protocol
        return channel, transport


class IndexPerReadTests(Sites, SynchronousTestCase):
    def test_request_served_in_one_read_files_the_channel_as_newest_idle(self) -> None:
        site, clock = self.make(LimitsConfig(max_connections=3))
        a, _ = self.open(site)
        clock.advance(1)
        b, _ = self.open(site)
        clock.advance(1)
        c, _ = self.open(site)
        clock.advance(1)
        a.dataReceived(GET + GET)  # two requests, answered inside the read
        self.assertIs(a.phase, Phase.IDLE)
        self.assertEqual(a.phase_since, 3.0)
        clock.advance(1)
        self.open(site)  # at the cap: the truly oldest idle one goes (b, idle since 1)
        self.assertEqual(site.evicted, 1)
        self.assertNotIn(id(b), site.channels)
        self.assertIn(id(a), site.channels)
        clock.advance(1)
        self.open(site)  # then c (idle since 2), not a (idle since 3)
        self.assertNotIn(id(c), site.channels)
        self.assertIn(id(a), site.channels)

    def test_async_response_refiles_the_channel_when_it_finishes(self) -> None:
        site, clock = self.make(LimitsConfig(max_connections=3))
        a, transport = self.open(site)
        clock.advance(1)
        b, _ = self.open(site)
        clock.advance(1)
        a.dataReceived(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertIs(a.phase, Phase.BUSY)
        c, _ = self.open(site)  # t=2
        clock.advance(1)
        self.resource.release()  # t=3, from no read: refiled at once
        self.assertIn(b"done\n", transport.value())
        self.assertIs(a.phase, Phase.IDLE)
        self.assertEqual(a.phase_since, 3.0)
        clock.advance(1)
        d, _ = self.open(site)  # evicts b (idle since 1)
        clock.advance(1)
        self.open(site)  # evicts c (idle since 2)
        clock.advance(1)
        self.open(site)  # evicts a (idle since 3), not d (idle since 4)
        self.assertEqual(site.evicted, 3)
        for gone in (a, b, c):
            self.assertNotIn(id(gone), site.channels)
        self.assertIn(id(d), site.channels)

    def test_busy_channel_is_never_the_victim(self) -> None:
        site, clock = self.make(LimitsConfig(max_connections=1))
        a, transport = self.open(site)
        a.dataReceived(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        clock.advance(1)
        self.open(site)  # no idle or head connection to close: refused
        self.assertEqual((site.evicted, site.refused), (0, 1))
        self.assertFalse(transport.disconnecting)

    def test_per_address_index_only_with_a_per_address_cap(self) -> None:
        site, _ = self.make(LimitsConfig(max_connections=10))
        a, _ = self.open(site)
        self.assertIsNone(a.own_idle)
        self.assertEqual(site._host_count, {})
        capped, _ = self.make(LimitsConfig(max_connections=10, max_connections_per_ip=2))
        b, _ = self.open(capped)
        self.assertEqual(capped._host_count, {"127.0.0.1": 1})
        self.assertEqual(list(b.own_idle or {}), [id(b)])


class LazyDeadlineChannelTests(Sites, SynchronousTestCase):
    def test_keepalive_requests_touch_no_timer_and_the_deadline_is_exact(self) -> None:
        site, clock = self.make(LimitsConfig(header_timeout=20, keepalive_timeout=30))
        channel, transport = self.open(site)
        timers = clock.getDelayedCalls()
        self.assertEqual([t.getTime() for t in timers], [20.0])
        for _ in range(10):
            clock.advance(1)
            channel.dataReceived(GET)
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK"), 10)
        self.assertEqual(clock.getDelayedCalls(), timers)  # the same timer, not moved
        self.assertEqual(timers[0].getTime(), 20.0)
        clock.advance(29.9)  # t=39.9: the timer fired at 20 and waits for the rest
        self.assertFalse(transport.disconnecting)
        self.assertEqual([t.getTime() for t in clock.getDelayedCalls()], [40.0])
        clock.advance(0.1)  # t=40: 30 s after the last response
        self.assertTrue(transport.disconnecting)

    def test_an_earlier_deadline_moves_the_timer(self) -> None:
        site, clock = self.make(LimitsConfig(header_timeout=20, keepalive_timeout=30))
        channel, transport = self.open(site)
        clock.advance(1)
        channel.dataReceived(GET)  # keep-alive deadline 31, timer still at 20
        clock.advance(4)
        channel.dataReceived(b"GET / HT")  # t=5: head deadline 25, before the timer
        clock.advance(19.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.value().endswith(b"the request head did not arrive in time\n"))

    def test_head_replayed_after_an_async_response_gets_its_deadline_then(self) -> None:
        site, clock = self.make(LimitsConfig(header_timeout=20))
        channel, transport = self.open(site)
        channel.dataReceived(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        clock.advance(1)
        channel.dataReceived(GET + b"GET / HT")  # buffered by twisted.web while busy
        clock.advance(9)
        self.resource.release()  # t=10: the buffered bytes are parsed now
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK"), 2)
        self.assertIs(channel.phase, Phase.HEAD)
        self.assertEqual(channel.phase_since, 10.0)
        clock.advance(19.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.2)
        self.assertTrue(transport.value().endswith(b"the request head did not arrive in time\n"))


class WholeHeadTests(Sites, SynchronousTestCase):
    """Heads that arrive in one read meet exactly the limits of heads that do not."""

    def answer(self, limits: LimitsConfig, data: bytes, *, split: bool = False) -> bytes:
        site, _ = self.make(limits)
        channel, transport = self.open(site)
        if split:
            for i in range(len(data)):
                channel.dataReceived(data[i : i + 1])
        else:
            channel.dataReceived(data)
        return transport.value()

    def both(self, limits: LimitsConfig, data: bytes) -> bytes:
        whole, dripped = self.answer(limits, data), self.answer(limits, data, split=True)
        self.assertEqual(whole.split(b"\r\n")[0], dripped.split(b"\r\n")[0])
        return whole

    def test_header_count_limit(self) -> None:
        limits = LimitsConfig(max_header_count=5)
        fields = b"".join(b"X-%d: v\r\n" % i for i in range(4))
        ok = b"GET / HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n"
        self.assertTrue(self.both(limits, ok).startswith(b"HTTP/1.1 200 OK"))
        over = b"GET / HTTP/1.1\r\nHost: t\r\n" + fields + b"X-9: v\r\n\r\n"
        self.assertTrue(self.both(limits, over).startswith(b"HTTP/1.1 431 "))

    def test_head_size_limit(self) -> None:
        limits = LimitsConfig(max_request_line=1024, max_header_bytes=256)
        start = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: "
        pad = 256 - len(start) - 4
        exact = start + b"p" * pad + b"\r\n\r\n"
        self.assertEqual(len(exact), 256)
        self.assertTrue(self.both(limits, exact).startswith(b"HTTP/1.1 200 OK"))
        over = start + b"p" * (pad + 1) + b"\r\n\r\n"
        self.assertTrue(self.both(limits, over).startswith(b"HTTP/1.1 431 "))

    def test_request_line_limit(self) -> None:
        limits = LimitsConfig(max_request_line=64, max_header_bytes=1024)
        target = b"/" + b"a" * (64 - len(b"GET / HTTP/1.1"))
        line = b"GET " + target + b" HTTP/1.1"
        self.assertEqual(len(line), 64)
        exact = line + b"\r\nHost: t\r\n\r\n"
        self.assertTrue(self.both(limits, exact).startswith(b"HTTP/1.1 200 OK"))
        over = b"GET " + target + b"a HTTP/1.1\r\nHost: t\r\n\r\n"
        self.assertTrue(self.both(limits, over).startswith(b"HTTP/1.1 414 "))

    def test_folded_line_and_stray_crlf(self) -> None:
        limits = LimitsConfig()
        folded = b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n"
        self.assertTrue(self.both(limits, folded).startswith(b"HTTP/1.1 "))
        stray = b"\r\n" + GET
        self.assertTrue(self.both(limits, stray).startswith(b"HTTP/1.1 200 OK"))

    def test_checks_resume_for_the_next_head_in_the_same_read(self) -> None:
        limits = LimitsConfig(max_header_count=2)
        crowded = b"GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\n\r\n"
        answer = self.answer(limits, GET + crowded)
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK"), 1)
        self.assertIn(b"HTTP/1.1 431 ", answer)


class RequestLineForTheBodyHookTests(Sites, SynchronousTestCase):
    def test_hook_sees_the_request_line_and_is_not_asked_without_a_body(self) -> None:
        seen: list[tuple[bytes, bytes, bytes, int | None]] = []

        def opener(request: Any, length: int | None) -> BytesIO:
            channel = request.channel
            seen.append((channel.method, channel.target, channel.version, length))
            return BytesIO()

        site, _ = self.make(LimitsConfig(), body_opener=opener)
        channel, transport = self.open(site)
        channel.dataReceived(GET)
        channel.dataReceived(b"POST /_netlab/x?q=1 HTTP/1.1\r\nHost: t\r\n"
                             b"Content-Length: 3\r\n\r\nabc")
        self.assertEqual(seen, [(b"POST", b"/_netlab/x?q=1", b"HTTP/1.1", 3)])
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK"), 2)
        self.assertEqual((channel.method, channel.target, channel.version),
                         (b"POST", b"/_netlab/x?q=1", b"HTTP/1.1"))
