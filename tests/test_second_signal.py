# mypy: disallow-untyped-calls=False
"""A second SIGTERM exits at once, for every service (real twistd processes, port 0).

Each test starts twistd with a long ``--drain-timeout`` (120 s), holds work open (a
download the client stopped reading, an echo frame half sent), sends SIGTERM, waits for
the drain to begin, sends SIGTERM again and expects the process gone well within the
drain timeout (every wait is bounded far below it).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import treq
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.limits_support import Client
from tests.process_support import TWISTD, ProcessLines, reactor

DRAIN = "120"  # far beyond every bounded wait below: only the second signal ends it
EXIT_WITHIN = 20.0
SIZE = 48 << 20
FRAME = b"\x00\x07\x03\xe8" + b"z" * 1000  # seed framing: serial 7, 1000-byte body


class SecondSignalTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.root = Path(self.mktemp()).resolve()
        self.root.mkdir(parents=True)
        (self.root / "big.bin").write_bytes(b"z" * SIZE)

    def twistd(self, *argv: str) -> tuple[Any, ProcessLines]:
        lines = ProcessLines()
        args = [sys.executable, *TWISTD, "-n", "--pidfile=", *argv]
        process = reactor.spawnProcess(
            lines, sys.executable, args, env=dict(os.environ), path=str(self.root)
        )

        async def kill() -> None:  # only if a test failed before the process ended
            if process.pid is not None:
                process.signalProcess("KILL")
                await lines.ended.addTimeout(30, reactor)

        self.addCleanup(kill)
        return process, lines

    async def stalled_download(self, port: int) -> Client:
        client = Client()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
        client.write(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        await client.next_data()
        assert client.transport is not None
        client.transport.pauseProducing()  # type: ignore[attr-defined]
        self.addCleanup(client.transport.abortConnection)  # type: ignore[attr-defined]
        return client

    async def stalled_frame(self, port: int) -> Client:
        client = Client()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
        assert client.transport is not None
        self.addCleanup(client.transport.abortConnection)  # type: ignore[attr-defined]
        client.write(FRAME[:400])  # a frame in flight that never completes
        return client

    async def metric_reaches(self, port: int, line: bytes) -> None:
        """Poll ``/metrics`` until it shows ``line`` (bounded: 200 x 50 ms)."""
        text = b""
        for _ in range(200):
            response = await treq.get(f"http://127.0.0.1:{port}/metrics", reactor=reactor,
                                      persistent=False, timeout=5)
            text = await response.content()
            if line in text.splitlines():
                return
            await deferLater(reactor, 0.05, lambda: None)
        self.fail(f"/metrics never showed {line!r}: {text[-2000:]!r}")

    async def read_to_end(self, download: Client) -> bytes:
        assert download.transport is not None
        download.transport.resumeProducing()  # type: ignore[attr-defined]
        return await download.closed.addTimeout(EXIT_WITHIN, reactor)

    async def stop_twice(self, process: Any, lines: ProcessLines, drain_line: bytes) -> None:
        process.signalProcess("TERM")
        await lines.expect(drain_line, timeout=EXIT_WITHIN)
        process.signalProcess("TERM")
        ended = await lines.ended.addTimeout(EXIT_WITHIN, reactor)
        # twistd stops cleanly and re-raises the signal that stopped it.
        self.assertEqual(ended, (None, signal.SIGTERM))
        self.assertEqual(len(lines.matches(rb"second stop signal: cutting")), 1)
        self.assertIn(b"Server Shut Down.", lines.lines[-1])

    async def test_web_download(self) -> None:
        process, lines = self.twistd(
            "netlab-web", "--path", ".", "--port", "tcp:0:interface=127.0.0.1",
            "--drain-timeout", DRAIN,
        )
        await lines.expect(rb"Site starting on \d+")
        port = int(lines.matches(rb"Site starting on (\d+)")[0].group(1))
        download = await self.stalled_download(port)
        await self.stop_twice(process, lines, rb"graceful stop: draining 1 service")
        self.assertLess(len(await self.read_to_end(download)), SIZE)  # cut, not finished
        self.assertEqual(len(lines.matches(
            rb"drain finished: 0 connection\(s\) finished their work, 1 cut"
        )), 1)

    async def test_echo_frame(self) -> None:
        process, lines = self.twistd(
            "netlab-tcp", "--port", "tcp:0:interface=127.0.0.1", "--drain-timeout", DRAIN,
            "--trace",
        )
        await lines.expect(rb"listening on 127\.0\.0\.1:\d+")
        port = int(lines.matches(rb"listening on 127\.0\.0\.1:(\d+)")[0].group(1))
        frame = await self.stalled_frame(port)
        await lines.expect(rb"data from 127\.0\.0\.1:\d+: 400 bytes in")
        await self.stop_twice(process, lines, rb"drain: open connections: 1; idle, closed "
                                              rb"at once: 0; finishing a frame: 1")
        self.assertEqual(await frame.closed.addTimeout(EXIT_WITHIN, reactor), b"")
        self.assertEqual(len(lines.matches(rb"drain done: 0 of 1 connections drained, 1 cut")), 1)

    async def test_combined_web_and_echo_behind_a_lame_duck(self) -> None:
        """``netlab``: both drains and the lame-duck wait share the one handler."""
        process, lines = self.twistd(
            "netlab", "--path", ".", "--web-port", "tcp:0:interface=127.0.0.1",
            "--tcp-port", "tcp:0:interface=127.0.0.1", "--tcp-drain-timeout", DRAIN,
            "--drain-timeout", DRAIN, "--metrics", "tcp:0:interface=127.0.0.1",
            "--lame-duck", DRAIN,
        )
        await lines.expect(rb"OpsSite starting on \d+")
        web = int(lines.matches(rb"LimitedSite \(CountingFactory\) starting on (\d+)")[0].group(1))
        await lines.expect(rb"listening on 127\.0\.0\.1:\d+")
        tcp = int(lines.matches(rb"listening on 127\.0\.0\.1:(\d+)")[0].group(1))
        download = await self.stalled_download(web)
        frame = await self.stalled_frame(tcp)
        ops = int(lines.matches(rb"OpsSite starting on (\d+)")[0].group(1))
        await self.metric_reaches(ops, b"netlab_echo_pending_bytes 400.0")
        # The second signal arrives during the lame-duck wait: the wait ends and both
        # drains, which start after it, are cut as soon as they begin.
        await self.stop_twice(process, lines, rb"lame duck: /healthz answers 503")
        self.assertEqual(await frame.closed.addTimeout(EXIT_WITHIN, reactor), b"")
        self.assertLess(len(await self.read_to_end(download)), SIZE)
        self.assertEqual(len(lines.matches(rb"lame duck cut short")), 1)
        self.assertEqual(len(lines.matches(rb"drain done: 0 of 1 connections drained, 1 cut")), 1)
        self.assertEqual(len(lines.matches(
            rb"drain finished: 0 connection\(s\) finished their work, 1 cut"
        )), 1)

    async def test_workers_second_signal_reaches_every_worker(self) -> None:
        """``--workers 2``: the supervisor forwards its second signal, so workers cut."""
        process, lines = self.twistd(
            "netlab-web", "--path", ".", "--port", "tcp:0:interface=127.0.0.1",
            "--drain-timeout", DRAIN, "--workers", "2",
        )
        await lines.expect(rb"ready: serving 1 inherited sockets", count=2)
        port = int(lines.matches(rb"Site starting on (\d+)")[0].group(1))
        # Two downloads: with two workers accepting, usually one each; either way
        # every worker with one open must cut it.
        downloads = [await self.stalled_download(port) for _ in range(2)]
        process.signalProcess("TERM")
        await lines.expect(rb"graceful stop: draining 1 service", count=2, timeout=EXIT_WITHIN)
        process.signalProcess("TERM")
        ended = await lines.ended.addTimeout(EXIT_WITHIN, reactor)
        self.assertEqual(ended, (None, signal.SIGTERM))
        for download in downloads:
            self.assertLess(len(await self.read_to_end(download)), SIZE)
        cuts = lines.matches(rb"drain finished: 0 connection\(s\) finished their work, (\d) cut")
        self.assertEqual(sorted(m.group(1) for m in cuts) in ([b"1", b"1"], [b"0", b"2"]), True,
                         cuts)
