"""HTTP/2 over ``--tls`` (ALPN h2) with curl: static, validators, ranges, tools, CORS."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.tls_support import TLSServerCase, require
from twisted_netlab.tls_options import h2_available
from twisted_netlab.web.producers import PartsProducer


def curl_speaks_http2() -> bool:
    out = subprocess.run(
        [require("curl"), "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    features = next((line for line in out.splitlines() if line.startswith("Features:")), "")
    return "HTTP2" in features.split()


class Reply:
    def __init__(self, raw: str) -> None:
        head, _, body = raw.partition("\r\n\r\n")
        status, *lines = head.split("\r\n")
        self.version, code = status.split(" ")[:2]
        self.code = int(code)
        self.headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.body = body.encode("latin-1")


class HTTP2Tests(TLSServerCase):
    def setUp(self) -> None:
        super().setUp()
        if not h2_available():
            raise SkipTest("Twisted's HTTP/2 extra (h2, priority) is not installed")
        if not curl_speaks_http2():
            raise SkipTest("this curl was built without HTTP/2")
        self.small = b"hello over HTTP/2\n"
        # Larger than a read block and the initial h2 flow-control window (64 KiB):
        # the pull producer must be resumed by window updates.
        self.large = random.Random(14).randbytes(300_000)
        (self.root / "small.txt").write_bytes(self.small)
        (self.root / "large.bin").write_bytes(self.large)
        self.serve(["--tls", "--tools", "--cors", "https://app.example"])

    async def get(
        self, path: str, *headers: str, method: str = "GET", target: str | None = None
    ) -> Reply:
        args = ["--http2", "--include", "--request", method]
        if target is not None:
            args += ["--request-target", target]
        for header in headers:
            args += ["--header", header]
        out, err, code = await self.curl([*args, self.url(path)])
        self.assertEqual((err, code), ("", 0))
        reply = Reply(out)
        self.assertEqual(reply.version, "HTTP/2")
        return reply

    async def test_static_200_304_206(self) -> None:
        first = await self.get("/small.txt")
        self.assertEqual((first.code, first.body), (200, self.small))
        etag = first.headers["etag"]
        again = await self.get("/small.txt", f"If-None-Match: {etag}")
        self.assertEqual((again.code, again.body), (304, b""))
        part = await self.get("/small.txt", "Range: bytes=6-9")
        self.assertEqual((part.code, part.body), (206, self.small[6:10]))
        self.assertEqual(part.headers["content-range"], f"bytes 6-9/{len(self.small)}")

    async def test_large_file_through_flow_control(self) -> None:
        reply = await self.get("/large.bin")
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            hashlib.sha256(reply.body).hexdigest(), hashlib.sha256(self.large).hexdigest()
        )
        tail = await self.get("/large.bin", "Range: bytes=-70000")
        self.assertEqual((tail.code, tail.body), (206, self.large[-70000:]))

    async def test_tools(self) -> None:
        reply = await self.get("/_netlab/inspect/x?a=1", "X-Probe: yes")
        self.assertEqual(reply.code, 200)
        seen = json.loads(reply.body)
        self.assertEqual(seen["method"], "GET")
        teapot = await self.get("/_netlab/status/418")
        self.assertEqual(teapot.code, 418)

    async def test_cors(self) -> None:
        simple = await self.get("/small.txt", "Origin: https://app.example")
        self.assertEqual(simple.code, 200)
        self.assertEqual(simple.headers["access-control-allow-origin"], "https://app.example")
        preflight = await self.get(
            "/small.txt",
            "Origin: https://app.example",
            "Access-Control-Request-Method: PUT",
            method="OPTIONS",
        )
        self.assertEqual(preflight.code, 204)
        self.assertEqual(
            preflight.headers["access-control-allow-origin"], "https://app.example"
        )

    async def test_options_asterisk(self) -> None:
        reply = await self.get("/", method="OPTIONS", target="*")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.body, b"")


class StreamAbortTests(SynchronousTestCase):
    """A file that shrinks mid-response is cut; over HTTP/2 only its stream is reset."""

    def test_h2_stream_has_no_transport(self) -> None:
        from twisted.web._http2 import H2Stream  # reading Twisted's shape, not using it

        self.assertIsNone(H2Stream.transport)  # so the HTTP/1.1 path aborted nothing
        self.assertTrue(callable(H2Stream.abortConnection))

    def test_shrunk_file_resets_the_stream(self) -> None:
        path = self.mktemp()
        with open(path, "wb") as handle:
            handle.write(b"x" * 10_000)

        class Stream:
            reset = False

            def abortConnection(self) -> None:
                self.reset = True

        class Request:
            def __init__(self) -> None:
                self.channel = Stream()
                self.producer: object = None
                self.written: list[bytes] = []

            def notifyFinish(self) -> Deferred[None]:
                return Deferred()

            def registerProducer(self, producer: object, streaming: bool) -> None:
                self.producer = producer

            def unregisterProducer(self) -> None:
                self.producer = None

            def write(self, data: bytes) -> None:
                self.written.append(data)

            def finish(self) -> None:
                raise AssertionError("a short file must not finish the response")

        request = Request()
        producer = PartsProducer(request, os.open(path, os.O_RDONLY), [(0, 10_000)], 4096)  # type: ignore[arg-type]
        producer.start()
        producer.resumeProducing()
        os.truncate(path, 5000)
        producer.resumeProducing()
        producer.resumeProducing()
        self.assertTrue(request.channel.reset)
        self.assertIsNone(request.producer)
        self.assertEqual(sum(map(len, request.written)), 4096)  # the short read is not sent
        self.flushLoggedErrors(OSError)
