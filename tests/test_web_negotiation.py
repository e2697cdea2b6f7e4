"""ALPN hand-over: ``h2`` goes to Twisted's HTTP/2 protocol, anything else stays limited."""

from __future__ import annotations

from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.web.negotiation import NegotiatingProtocol


class Recorder(Protocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.made = 0
        self.lost = 0

    def connectionMade(self) -> None:
        self.made += 1

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: object = None) -> None:
        self.lost += 1


class Negotiated(StringTransport):
    def __init__(self, negotiated: bytes | None) -> None:
        super().__init__()
        self.negotiatedProtocol = negotiated


class NegotiationTests(SynchronousTestCase):
    def exchange(self, negotiated: bytes | None) -> tuple[Recorder, Recorder, list[str]]:
        http1, h2, events = Recorder(), Recorder(), []
        protocol = NegotiatingProtocol(
            http1, lambda: events.append("detached"), lambda: (events.append("built"), h2)[1]
        )
        protocol.makeConnection(Negotiated(negotiated))
        protocol.dataReceived(b"first")
        protocol.dataReceived(b"second")
        protocol.connectionLost(None)  # type: ignore[arg-type]
        return http1, h2, events

    def test_h2_is_handed_over_once(self) -> None:
        http1, h2, events = self.exchange(b"h2")
        self.assertEqual(events, ["built", "detached"])
        self.assertEqual((http1.made, http1.received, http1.lost), (1, [], 0))
        self.assertEqual((h2.made, h2.received, h2.lost), (1, [b"first", b"second"], 1))

    def test_http11_and_plain_stay_with_the_limited_channel(self) -> None:
        for negotiated in (b"http/1.1", None):
            http1, h2, events = self.exchange(negotiated)
            self.assertEqual(events, [])
            self.assertEqual(
                (http1.made, http1.received, http1.lost), (1, [b"first", b"second"], 1)
            )
            self.assertEqual(h2.made, 0)

    def test_no_h2_protocol_keeps_http1(self) -> None:
        http1, events = Recorder(), []
        protocol = NegotiatingProtocol(http1, lambda: events.append("detached"), lambda: None)
        protocol.makeConnection(Negotiated(b"h2"))
        protocol.dataReceived(b"x")
        self.assertEqual((events, http1.received), ([], [b"x"]))
