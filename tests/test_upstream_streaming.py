# mypy: disallow-untyped-calls=False
"""The streaming body source: chunks pass through, backpressure reaches the client."""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_netlab.upstream.streaming import StreamingBody

from .test_upstream_client import OK, ClientTestCase, wire


@implementer(IPushProducer)
class Client:
    def __init__(self) -> None:
        self.paused = False
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.paused = True
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.paused = False
        self.calls.append("resume")

    def stopProducing(self) -> None:
        self.calls.append("stop")


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.finished = False
        self.failed: str | None = None

    def write(self, data: bytes) -> None:
        self.data += data

    def finish(self) -> None:
        self.finished = True

    def fail(self, reason: str) -> None:
        self.failed = reason


class StreamingBodyTests(SynchronousTestCase):
    def test_bytes_before_the_connection_wait_then_flow(self) -> None:
        client, sink = Client(), Sink()
        body = StreamingBody(10, client, high_water=8)
        body.write(b"abc")
        self.assertEqual(client.calls, [])
        self.assertFalse(body.rewind())  # never replayed, even before a byte left
        body.start(sink)
        body.write(b"defg")
        body.write(b"hij")
        body.finish()
        self.assertEqual((bytes(sink.data), sink.finished), (b"abcdefghij", True))
        self.assertFalse(body.rewind())

    def test_high_water_pauses_the_client_until_drained(self) -> None:
        client, sink = Client(), Sink()
        body = StreamingBody(None, client, high_water=8)
        for _ in range(4):
            body.write(b"xxx")  # no connection yet: 12 bytes buffered
        self.assertEqual(client.calls, ["pause"])
        body.start(sink)
        self.assertEqual(bytes(sink.data), b"x" * 12)
        self.assertEqual(client.calls, ["pause", "resume"])

    def test_upstream_backpressure_reaches_the_client(self) -> None:
        client, sink = Client(), Sink()
        body = StreamingBody(None, client, high_water=8)
        body.start(sink)
        body.pauseProducing()  # the upstream socket is full
        self.assertTrue(client.paused)
        body.write(b"late")  # already in flight from the client: buffered
        self.assertEqual(bytes(sink.data), b"")
        body.finish()
        self.assertFalse(sink.finished)
        body.resumeProducing()
        self.assertEqual((bytes(sink.data), sink.finished, client.paused), (b"late", True, False))

    def test_client_failure_fails_the_upstream_body(self) -> None:
        client, sink = Client(), Sink()
        body = StreamingBody(100, client)
        body.start(sink)
        body.write(b"part")
        body.fail("client closed mid-body")
        self.assertEqual(sink.failed, "client closed mid-body")
        early = StreamingBody(100, Client())
        early.fail("too large")
        late_sink = Sink()
        early.start(late_sink)
        self.assertEqual(late_sink.failed, "too large")

    def test_stop_drops_the_rest_and_lets_the_client_go(self) -> None:
        client, sink = Client(), Sink()
        body = StreamingBody(None, client, high_water=2)
        body.start(sink)
        body.pauseProducing()
        body.write(b"abcdef")
        body.stopProducing()
        body.write(b"more")
        body.finish()
        self.assertEqual((bytes(sink.data), sink.finished, client.paused), (b"", False, False))


class ThroughTheClientTests(ClientTestCase):
    def test_streamed_upload_is_chunked_on_the_wire_as_it_arrives(self) -> None:
        self.make()
        client = Client()
        body = StreamingBody(None, client)
        _, handler = self.request(b"POST", body)
        [connection] = self.endpoint.connections
        self.assertIn(b"Transfer-Encoding: chunked", wire(connection))
        body.write(b"first")
        self.assertEqual(wire(connection), b"5\r\nfirst\r\n")  # before the client is done
        connection.transport.producer.pauseProducing()  # type: ignore[union-attr]
        self.assertTrue(client.paused)
        connection.transport.producer.resumeProducing()  # type: ignore[union-attr]
        body.write(b"second")
        body.finish()
        self.assertEqual(wire(connection), b"6\r\nsecond\r\n0\r\n\r\n")
        connection.dataReceived(OK)
        self.assertTrue(handler.done)
