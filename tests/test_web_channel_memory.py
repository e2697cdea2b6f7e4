# mypy: disallow-untyped-calls=False
"""LimitedChannel in memory: a head fed one byte at a time, pipelining, stray CRLF."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.limits_support import TOOLS_RULE, Hello
from twisted_netlab.web.channel import LimitedChannel
from twisted_netlab.web.connections import LimitedSite
from twisted_netlab.web.limits import LimitsConfig, Phase
from twisted_netlab.web.negotiation import NegotiatingProtocol


def connect(clock: Clock) -> tuple[LimitedSite, LimitedChannel, StringTransport]:
    site = LimitedSite(Hello(), LimitsConfig(max_connections=10), TOOLS_RULE, reactor=clock)
    protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5000))
    protocol.makeConnection(transport)
    # With HTTP/2 installed the site wraps the channel to hand ALPN "h2" connections on;
    # a plain transport never negotiates, so the limited channel does all the work.
    channel = protocol.inner if isinstance(protocol, NegotiatingProtocol) else protocol
    return site, channel, transport


class InMemoryTests(SynchronousTestCase):
    def test_byte_at_a_time(self) -> None:
        clock = Clock()
        _, channel, transport = connect(clock)
        request = b"POST /_netlab/x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        for i in range(len(request)):
            channel.dataReceived(request[i : i + 1])
            if i == 0:
                self.assertIs(channel.phase, Phase.HEAD)
        value = transport.value()
        self.assertTrue(value.startswith(b"HTTP/1.1 200 OK\r\n"), value)
        self.assertTrue(value.endswith(b"hello\n"))
        self.assertIs(channel.phase, Phase.IDLE)

    def test_pipelined_requests_and_a_stray_crlf(self) -> None:
        clock = Clock()
        _, channel, transport = connect(clock)
        get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
        channel.dataReceived(get + b"\r\n" + get)
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK"), 2)
        self.assertIs(channel.phase, Phase.IDLE)

    def test_pipelined_head_deadline_starts_at_the_end_of_the_response(self) -> None:
        clock = Clock()
        _, channel, transport = connect(clock)
        clock.advance(15)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTT")
        self.assertIs(channel.phase, Phase.HEAD)
        clock.advance(19.9)  # the first head's deadline (t=35) has no say any more
        self.assertFalse(transport.disconnecting)
        clock.advance(0.2)
        self.assertTrue(transport.value().endswith(b"the request head did not arrive in time\n"))
        self.assertTrue(transport.disconnecting)


def oldest_by_scan(site: LimitedSite, host: str | None = None) -> int | None:
    """The victim the full scan of every connection picks (what the index must match)."""
    views = [v for v in site.views() if v.phase in (Phase.IDLE, Phase.HEAD)
             and (host is None or v.host == host)]
    if not views:
        return None
    return min(views, key=lambda v: (v.since, v.phase is Phase.HEAD, v.key)).key


class EvictionIndexTests(SynchronousTestCase):
    """The site's ordered index picks the same victim as scanning every connection."""

    def open(self, site: LimitedSite, host: str) -> LimitedChannel:
        protocol = site.buildProtocol(IPv4Address("TCP", host, 5000))
        protocol.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", host, 5000)))
        inner: LimitedChannel = (
            protocol.inner if isinstance(protocol, NegotiatingProtocol) else protocol
        )
        return inner

    def test_victims_match_the_full_scan(self) -> None:
        clock = Clock()
        limits = LimitsConfig(max_connections=4, max_connections_per_ip=2)
        site = LimitedSite(Hello(), limits, TOOLS_RULE, reactor=clock)
        a1 = self.open(site, "10.0.0.1")
        clock.advance(1)
        b1 = self.open(site, "10.0.0.2")
        clock.advance(1)
        a2 = self.open(site, "10.0.0.1")
        clock.advance(1)
        c1 = self.open(site, "10.0.0.3")
        clock.advance(1)
        a1.dataReceived(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # served: idle again, newest
        b1.dataReceived(b"GET / HT")  # a slow head: entered HEAD now
        clock.advance(1)
        # Global cap: the oldest is a2 (idle since t=2).
        expected = oldest_by_scan(site)
        self.assertEqual(expected, id(a2))
        d1 = self.open(site, "10.0.0.4")
        self.assertNotIn(id(a2), site.channels)
        self.assertEqual(site.evicted, 1)
        # 10.0.0.3 is under its per-address cap; at the global cap the oldest overall
        # goes: c1 (idle since t=3).
        self.assertEqual(oldest_by_scan(site), id(c1))
        self.open(site, "10.0.0.3")
        self.assertNotIn(id(c1), site.channels)
        # Per-address cap of 10.0.0.1 is 2; a1 is its only one, so the global rule acts:
        # b1 (head since t=4) vs a1 (idle since t=4) vs d1 (idle since t=5): a1 first.
        self.assertEqual(oldest_by_scan(site), id(a1))
        self.open(site, "10.0.0.1")
        self.assertNotIn(id(a1), site.channels)
        self.assertIn(id(b1), site.channels)
        self.assertIn(id(d1), site.channels)
        self.assertEqual(site.evicted, 3)
        self.assertEqual(len(site.channels), 4)

    def test_per_address_victim_is_that_address_oldest(self) -> None:
        clock = Clock()
        limits = LimitsConfig(max_connections=100, max_connections_per_ip=2)
        site = LimitedSite(Hello(), limits, TOOLS_RULE, reactor=clock)
        a1 = self.open(site, "10.0.0.1")
        other = self.open(site, "10.0.0.2")
        clock.advance(1)
        a2 = self.open(site, "10.0.0.1")
        clock.advance(1)
        a1.dataReceived(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # idle again at t=2
        self.assertEqual(oldest_by_scan(site, "10.0.0.1"), id(a2))
        self.open(site, "10.0.0.1")
        self.assertNotIn(id(a2), site.channels)
        self.assertIn(id(a1), site.channels)
        self.assertIn(id(other), site.channels)
        # A closed connection leaves the index and the per-address count.
        a1.connectionLost(Failure(ConnectionDone()))
        self.assertNotIn(id(a1), site.channels)
        self.open(site, "10.0.0.1")
        self.assertEqual(site.evicted, 1)
        self.assertEqual(len(site.channels), 3)
