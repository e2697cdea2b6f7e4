"""Echo limits in memory: frame deadline, idle limit, linger, the pending cap, drain."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.framing import encode
from twisted_netlab.tcp.config import EchoConfig
from twisted_netlab.tcp.factory import DrainResult, EchoFactory
from twisted_netlab.tcp.protocol import EchoProtocol


class Harness(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def factory(self, **kwargs: Any) -> EchoFactory:
        self.echo = EchoFactory(self.clock, EchoConfig(**kwargs))
        return self.echo

    def connect(self, port: int = 40000) -> tuple[EchoProtocol, StringTransport]:
        proto = self.echo.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        proto.makeConnection(transport)
        return proto, transport

    def lose(self, proto: EchoProtocol) -> None:
        proto.connectionLost(Failure(ConnectionDone()))

    def logged(self, prefix: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_format", "").startswith(prefix)]


class FrameDeadlineTests(Harness):
    def test_one_byte_drip_is_closed_at_the_frame_deadline(self) -> None:
        self.factory(frame_timeout=30, idle_timeout=300)
        proto, transport = self.connect()
        frame = encode(b"x" * 100, 1)
        for i in range(30):  # a byte a second: an idle timer reset per byte never fires
            proto.dataReceived(frame[i : i + 1])
            self.clock.advance(1)
            if i < 29:
                self.assertFalse(transport.disconnecting, i)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        [event] = self.logged("timeout:")
        self.assertEqual((event["peer"], event["pending"], event["seconds"]),
                         ("127.0.0.1:40000", 30, 30.0))
        self.assertIn("frame not complete", event["log_format"])

    def test_deadline_runs_from_the_first_byte_of_each_frame(self) -> None:
        self.factory(frame_timeout=10, idle_timeout=300)
        proto, transport = self.connect()
        first, second = encode(b"a" * 8, 1), encode(b"b" * 8, 2)
        proto.dataReceived(first[:3])
        self.clock.advance(9)
        proto.dataReceived(first[3:] + second[:2])  # completes 1, starts 2 at t=9
        self.assertEqual(transport.value(), first)
        self.clock.advance(9.5)  # t=18.5: frame 1's deadline (10) is long gone
        self.assertFalse(transport.disconnecting)
        proto.dataReceived(second[2:])
        self.assertEqual(transport.value(), first + second)
        self.clock.advance(100)
        self.assertFalse(transport.disconnecting)

    def test_idle_limit_between_frames(self) -> None:
        self.factory(frame_timeout=30, idle_timeout=300)
        proto, transport = self.connect()
        self.clock.advance(299)
        proto.dataReceived(encode(b"ping", 1))  # a whole frame: idle again from now
        self.clock.advance(299)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(transport.disconnecting)
        [event] = self.logged("timeout:")
        self.assertIn("idle", event["log_format"])
        self.assertEqual(event["seconds"], 300.0)

    def test_without_frame_deadline_the_idle_limit_applies_between_reads(self) -> None:
        self.factory(frame_timeout=None, idle_timeout=5)
        proto, transport = self.connect()
        frame = encode(b"y" * 10, 1)
        for i in range(len(frame) - 1):
            self.clock.advance(4)
            proto.dataReceived(frame[i : i + 1])
        self.assertFalse(transport.disconnecting)
        self.clock.advance(5)
        self.assertTrue(transport.disconnecting)

    def test_both_off_arms_no_timer(self) -> None:
        self.factory(frame_timeout=None, idle_timeout=None)
        proto, transport = self.connect()
        proto.dataReceived(encode(b"abc", 1)[:5])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10**6)
        self.assertFalse(transport.disconnecting)

    def test_peer_that_takes_no_replies_is_aborted_after_the_linger(self) -> None:
        self.factory(frame_timeout=30, idle_timeout=300)
        proto, transport = self.connect()
        proto.dataReceived(b"\x00")
        self.clock.advance(30)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)  # StringTransport: still "flushing"
        self.clock.advance(30)
        self.assertTrue(transport.disconnected)  # abortConnection
        self.assertEqual(len(self.logged("timeout:")), 2)
        self.lose(proto)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connection_lost_leaves_no_timer(self) -> None:
        self.factory()
        proto, _ = self.connect()
        proto.dataReceived(b"\x00\x01")
        self.lose(proto)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.echo.connections, set())


class PendingCapTests(Harness):
    def test_connection_holding_most_is_closed_past_the_cap(self) -> None:
        self.factory(framing="len32", max_pending=100)
        a, ta = self.connect(1)
        b, tb = self.connect(2)
        c, tc = self.connect(3)
        a.dataReceived(encode(b"a" * 60, layout="len32")[:30])
        b.dataReceived(encode(b"b" * 60, layout="len32")[:50])
        self.assertEqual(self.echo.pending_total, 80)
        c.dataReceived(encode(b"c" * 60, layout="len32")[:40])  # 120 > 100
        self.assertEqual((ta.disconnecting, tb.disconnecting, tc.disconnecting),
                         (False, True, False))
        self.assertEqual(self.echo.pending_total, 70)
        self.assertEqual((a.pending, b.pending, c.pending), (30, 0, 40))
        [event] = self.logged("max-pending:")
        self.assertEqual(
            (event["peer"], event["pending"], event["total"], event["count"], event["cap"]),
            ("127.0.0.1:2", 50, 120, 3, 100),
        )
        b.dataReceived(b"more")  # bytes in flight after the close: dropped, not counted
        self.assertEqual(self.echo.pending_total, 70)
        self.assertEqual(b.decoder.pending, 0)  # the buffer itself was freed
        self.lose(b)
        self.assertEqual(self.echo.pending_total, 70)

    def test_newcomer_that_holds_most_is_the_one_closed(self) -> None:
        self.factory(framing="wide", max_pending=1000)
        a, ta = self.connect(1)
        b, tb = self.connect(2)
        a.dataReceived(encode(b"a" * 100, layout="wide")[:50])
        b.dataReceived(encode(b"b" * 2000, layout="wide")[:1200])
        self.assertEqual((ta.disconnecting, tb.disconnecting), (False, True))
        self.assertEqual(self.echo.pending_total, 50)

    def test_accounting_follows_frames_and_closes(self) -> None:
        self.factory()
        a, ta = self.connect(1)
        frame = encode(b"z" * 20, 1)
        a.dataReceived(frame[:10])
        self.assertEqual(self.echo.pending_total, 10)
        a.dataReceived(frame[10:] + frame[:2])
        self.assertEqual((self.echo.pending_total, ta.value()), (2, frame))
        a.dataReceived(b"\xff\xff")  # negative length: a framing error
        self.assertEqual(self.echo.pending_total, 0)
        b, _ = self.connect(2)
        b.dataReceived(frame[:7])
        self.lose(b)
        self.assertEqual(self.echo.pending_total, 0)

    def test_error_is_logged_without_doubled_words(self) -> None:
        self.factory(max_frame=10)
        proto, _ = self.connect()
        proto.dataReceived(b"\x00\x01\x00\x0b")
        [event] = [e for e in self.events if e.get("log_format", "").startswith("error:")]
        self.assertEqual(event["reason"], "frame too large")
        self.assertEqual(event["detail"], "frame too large: body of 11 bytes, limit 10")
        self.assertNotIn("{reason}", event["log_format"])


class DrainTests(Harness):
    def test_idle_closed_at_once_frame_in_flight_answered(self) -> None:
        self.factory()
        idle, tidle = self.connect(1)
        busy, tbusy = self.connect(2)
        frame = encode(b"in flight", 5)
        idle.dataReceived(encode(b"done", 1))
        busy.dataReceived(frame[:6])
        d = self.echo.drain()
        self.assertTrue(tidle.disconnecting)  # its replies are flushed by the close
        self.assertEqual(tidle.value(), encode(b"done", 1))
        self.assertFalse(tbusy.disconnecting)
        busy.dataReceived(frame[6:] + encode(b"after", 6)[:2])
        self.assertEqual(tbusy.value(), frame)
        self.assertTrue(tbusy.disconnecting)
        self.assertNoResult(d)
        self.lose(idle)
        self.lose(busy)
        self.assertEqual(
            self.successResultOf(d), DrainResult(idle=1, finishing=1, drained=2, cut=0)
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])
        [done] = self.logged("drain done:")
        self.assertEqual((done["drained"], done["cut"]), (2, 0))

    def test_unfinished_frame_cut_at_drain_timeout(self) -> None:
        self.factory(drain_timeout=5, frame_timeout=None, idle_timeout=None)
        proto, transport = self.connect()
        proto.dataReceived(encode(b"never finished", 1)[:3])
        d = self.echo.drain()
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)  # aborted
        self.assertEqual(
            self.successResultOf(d), DrainResult(idle=0, finishing=1, drained=0, cut=1)
        )

    def test_no_connections_drains_at_once(self) -> None:
        self.factory()
        self.assertEqual(
            self.successResultOf(self.echo.drain()),
            DrainResult(idle=0, finishing=0, drained=0, cut=0),
        )

    def test_connection_made_while_draining_is_closed(self) -> None:
        self.factory()
        self.successResultOf(self.echo.drain())
        _, transport = self.connect()
        self.assertTrue(transport.disconnecting)

    def test_frame_deadline_during_drain_counts_as_cut(self) -> None:
        self.factory(drain_timeout=30, frame_timeout=5)
        proto, transport = self.connect()
        proto.dataReceived(encode(b"slow", 1)[:2])
        d = self.echo.drain()
        self.clock.advance(5)  # the frame deadline closes it before the drain timeout
        self.assertTrue(transport.disconnecting)
        self.lose(proto)
        self.assertEqual(
            self.successResultOf(d), DrainResult(idle=0, finishing=1, drained=0, cut=1)
        )
