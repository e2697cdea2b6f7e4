# mypy: disallow-untyped-calls=False
"""Streaming uploads and 100-continue through the proxy, on real loopback sockets.

Every ordering claim is proven with events (the upstream's Deferreds fire when a byte
arrives), never with sleeps; every wait is bounded (``_upload_support.WAIT``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from twisted_netlab.web.limits import KIB, MIB, LimitsConfig
from twisted_netlab.web.mounts import MountRoot, pick_mount, routable, target_segments
from twisted_netlab.web.proxy.upload import UploadSink

from ._upload_support import UploadProxy, UploadUpstream, bounded

reactor: Any = _reactor
CHUNK = b"u" * (64 * KIB)


def upload_head(length: int | None, *extra: bytes) -> bytes:
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    lines = [b"PUT /up/file HTTP/1.1", b"Host: 127.0.0.1", framing, *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class StreamingUploadTests(TestCase):
    async def test_first_byte_reaches_upstream_while_client_still_sends(self) -> None:
        upstream = UploadUpstream()
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        total = 16 * len(CHUNK)
        client.write(upload_head(total) + CHUNK)
        await bounded(upstream.events.get("first byte"))
        # The client has sent 1 of 16 chunks and nothing more: the upstream has bytes.
        self.assertFalse(upstream.events.fired("body"))
        self.assertLessEqual(upstream.received, len(CHUNK))
        self.assertEqual(client.data, b"")  # no response before the body is in
        for _ in range(15):
            client.write(CHUNK)
        await client.received(b"got %d\n" % total)
        self.assertEqual(upstream.received, total)
        self.assertTrue(client.data.startswith(b"HTTP/1.1 200 OK\r\n"))
        # Retry-on-stale never replays it, and it was not spooled by twisted.web.
        self.assertIn(b"content-length: %d" % total, upstream.heads[0].lower())

    async def test_slow_upstream_pauses_the_client_memory_bounded(self) -> None:
        upstream = UploadUpstream()
        upstream.pause_after_first_byte = True  # the upstream stops reading
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        total = 256 * MIB
        client.write(upload_head(total))
        sent = 0
        paused = proxy.events.get("client paused")
        # Keep the client's socket full until the proxy stops reading it.
        while not paused.called and sent < total:
            client.write(CHUNK)
            sent += len(CHUNK)
            if sent % (4 * MIB) == 0:
                await bounded(_turn())
        await bounded(paused)
        self.assertLess(sent, total)
        channel = next(iter(proxy.site.channels.values()))
        sink = channel.requests[-1].content
        assert isinstance(sink, UploadSink)
        # What the proxy holds for this upload: its buffer, bounded near 256 KiB + one read.
        self.assertLessEqual(sink.body.buffered, 256 * KIB + 256 * KIB)
        self.assertLess(sink.received, total)

    async def test_client_abort_mid_upload_cancels_the_upstream_request(self) -> None:
        upstream = UploadUpstream()
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        client.write(upload_head(8 * MIB) + CHUNK)
        await bounded(upstream.events.get("first byte"))
        assert client.transport is not None
        client.transport.abortConnection()  # type: ignore[attr-defined]
        await bounded(upstream.events.get("lost"))
        self.assertFalse(upstream.events.fired("body"))
        self.assertLess(upstream.received, 8 * MIB)

    async def test_max_body_mid_stream_is_413_and_the_upstream_is_cancelled(self) -> None:
        upstream = UploadUpstream()
        limits = LimitsConfig(max_connections=64, max_body=100 * KIB)
        proxy = UploadProxy(self, upstream, limits)
        client = await proxy.connect()
        # Chunked: the size is unknown at the head, so the cap is enforced mid-stream.
        piece = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
        client.write(upload_head(None) + piece)
        await bounded(upstream.events.get("first byte"))
        client.write(piece)
        await client.received(b"larger than 102400 bytes")
        self.assertTrue(client.data.startswith(b"HTTP/1.1 413 "))
        await bounded(upstream.events.get("lost"))
        self.assertFalse(upstream.events.fired("body"))

    async def test_upstream_answering_mid_body_is_relayed_at_once(self) -> None:
        upstream = UploadUpstream("early")
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        client.write(upload_head(8 * MIB) + CHUNK)
        await client.received(b"too big for me\n")
        self.assertTrue(client.data.startswith(b"HTTP/1.1 413 Payload Too Large\r\n"))
        self.assertIn(b"\r\nconnection: close\r\n", client.data.lower())
        # The rest of the body is dropped, not taken for a next request.
        client.write(CHUNK)
        await bounded(client.closed)
        self.assertEqual(client.data.count(b"HTTP/1.1 "), 1)


class RoutingTests(TestCase):
    """The upload opener and MountRoot route with the same pure functions."""

    def test_target_segments_match_twisted(self) -> None:
        self.assertEqual(target_segments(b"/up/a%2Fb/c?x=1"), [b"up", b"a/b", b"c"])
        self.assertEqual(target_segments(b"/"), [b""])

    def test_longest_prefix_first(self) -> None:
        a, b = Resource(), Resource()
        mounts = MountRoot(Resource(), [([b"api"], a), ([b"api", b"v2"], b)]).mounts
        self.assertIs(pick_mount(mounts, [b"api", b"v2", b"x"]), mounts[0])
        self.assertEqual(mounts[0][1], b)
        self.assertIs(pick_mount(mounts, [b"api", b"v1"]), mounts[1])
        self.assertIsNone(pick_mount(mounts, [b"apis"]))

    def test_routable(self) -> None:
        self.assertTrue(routable(b"PUT", b"/up/x"))
        self.assertFalse(routable(b"CONNECT", b"/up/x"))
        self.assertFalse(routable(b"PUT", b"http://example.test/up/x"))


class ExpectContinueTests(TestCase):
    async def test_upstream_100_is_relayed_then_the_body_flows(self) -> None:
        upstream = UploadUpstream("continue")
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        client.write(upload_head(10, b"Expect: 100-continue"))
        await client.received(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.assertIn(b"\r\nexpect: 100-continue", upstream.heads[0].lower())
        self.assertEqual(upstream.received, 0)
        client.write(b"0123456789")
        await client.received(b"got 10\n")
        # Exactly one 100: twisted.web's own was suppressed.
        self.assertEqual(client.data.count(b"100 Continue"), 1)
        self.assertTrue(client.data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"))

    async def test_upstream_417_is_the_answer_and_no_body_is_read(self) -> None:
        upstream = UploadUpstream("reject")
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        client.write(upload_head(5 * MIB, b"Expect: 100-continue"))
        await client.received(b"no uploads here\n")
        self.assertTrue(client.data.startswith(b"HTTP/1.1 417 Expectation Failed\r\n"))
        self.assertNotIn(b"100 Continue", client.data)
        self.assertIn(b"\r\nconnection: close\r\n", client.data.lower())
        self.assertEqual(upstream.received, 0)
        await bounded(client.closed)  # the unread body cannot start a next request

    async def test_upstream_ignoring_expect_gets_the_body_after_the_wait(self) -> None:
        upstream = UploadUpstream("plain")
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        client.write(upload_head(4, b"Expect: 100-continue"))
        await bounded(upstream.events.get("head"))
        # Nothing from the upstream: the proxy's own 100 comes after CONTINUE_WAIT.
        await client.received(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.assertEqual(upstream.received, 0)
        client.write(b"data")
        await client.received(b"got 4\n")

    async def test_http10_client_expect_is_ignored_and_not_forwarded(self) -> None:
        upstream = UploadUpstream("continue")
        proxy = UploadProxy(self, upstream)
        client = await proxy.connect()
        head = upload_head(3, b"Expect: 100-continue").replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        client.write(head + b"abc")
        await client.received(b"got 3\n")
        self.assertNotIn(b"expect:", upstream.heads[0].lower())
        self.assertNotIn(b"100 Continue", client.data)

    async def test_curl_upload_through_the_proxy(self) -> None:
        curl = shutil.which("curl")
        if curl is None:
            self.skipTest("curl is not installed")
        upstream = UploadUpstream("continue")
        proxy = UploadProxy(self, upstream)
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        path = os.path.join(folder, "upload.bin")
        size = 3 * MIB
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        url = f"http://127.0.0.1:{proxy.port_number}/up/upload.bin"
        out, err, code = await bounded(getProcessOutputAndValue(
            curl, ["-sS", "-T", path, "--max-time", "15", "-w", "\n%{http_code}", url],
            env=dict(os.environ), reactor=reactor,
        ))
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(out, b"got %d\n\n200" % size)
        self.assertIn(b"\r\nexpect: 100-continue", upstream.heads[0].lower())
        self.assertEqual(upstream.received, size)


def _turn() -> Deferred[None]:
    """One reactor turn, so that the client's writes reach the socket."""
    d: Deferred[None] = Deferred()
    reactor.callLater(0, d.callback, None)
    return d

