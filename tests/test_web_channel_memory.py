# mypy: disallow-untyped-calls=False
"""LimitedChannel in memory: a head fed one byte at a time, pipelining, stray CRLF."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
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
