# mypy: disallow-untyped-calls=False
"""Graceful stop: twistd with SIGTERM while a download is in flight, and DrainService."""

from __future__ import annotations

import os
import re
import signal
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.limits_support import Client
from twisted_netlab.drain import DrainService

TWISTD = ["-c", "from twisted.scripts.twistd import run; run()"]
SIZE = 48 << 20


class _Twistd(ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.port: Deferred[int] = Deferred()
        self.ended: Deferred[int | None] = Deferred()  # the signal that ended it
        self.waiting: list[tuple[bytes, Deferred[None]]] = []

    def outReceived(self, data: bytes) -> None:
        self.output += data
        found = re.search(rb"Site starting on (\d+)", self.output)
        if found and not self.port.called:
            self.port.callback(int(found.group(1)))
        still = []
        for text, d in self.waiting:
            if text in self.output:
                d.callback(None)
            else:
                still.append((text, d))
        self.waiting = still

    errReceived = outReceived

    def logged(self, text: bytes) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if text in self.output:
            d.callback(None)
        else:
            self.waiting.append((text, d))
        return d.addTimeout(20, reactor)

    def processEnded(self, reason: Failure) -> None:
        if not self.port.called:
            self.port.errback(AssertionError(f"twistd exited: {self.output!r}"))
        self.ended.callback(getattr(reason.value, "signal", None))


class TwistdDrainTests(TestCase):
    async def test_sigterm_lets_a_download_finish_and_closes_idle_at_once(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(b"z" * SIZE)
        with open(os.path.join(root, "small.txt"), "wb") as f:
            f.write(b"small\n")
        watcher = _Twistd()
        process = reactor.spawnProcess(
            watcher, sys.executable,
            [sys.executable, *TWISTD, "-n", "--pidfile=", "netlab-web",
             "--port", "tcp:0:interface=127.0.0.1", "--path", root],
            env=dict(os.environ), path=root,
        )

        def kill() -> Deferred[Any]:
            if process.pid is not None:
                process.signalProcess("KILL")
                return watcher.ended
            return succeed(None)

        self.addCleanup(kill)
        port = await watcher.port.addTimeout(30, reactor)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)

        idle = Client()
        await connectProtocol(endpoint, idle)
        idle.write(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        while not idle.data.endswith(b"small\n"):
            await idle.next_data()

        download = Client()
        await connectProtocol(endpoint, download)
        download.write(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        await download.next_data()
        assert download.transport is not None
        download.transport.pauseProducing()  # type: ignore[attr-defined]

        process.signalProcess("TERM")
        await watcher.logged(b"graceful stop")
        self.assertEqual(await idle.closed.addTimeout(20, reactor), idle.data)
        download.transport.resumeProducing()  # type: ignore[attr-defined]
        data = await download.closed.addTimeout(60, reactor)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: %d" % SIZE, head)
        self.assertEqual(len(body), SIZE, watcher.output.decode())
        # twistd shuts down cleanly, then re-raises the stop signal on itself so that
        # its exit status says why it stopped.
        self.assertEqual(await watcher.ended.addTimeout(30, reactor), signal.SIGTERM)
        self.assertIn(b"Server Shut Down.", watcher.output)
        self.assertIn(b"drain finished: 1 connection(s) finished their work, 0 cut at the "
                      b"deadline, 1 idle closed at once", watcher.output)


class FakeDrainable:
    def __init__(self) -> None:
        self.drain: Deferred[None] = Deferred()
        self.cuts = 0

    def start_drain(self, timeout: float | None = None) -> Deferred[None]:
        return self.drain

    def cut_all(self) -> None:
        self.cuts += 1
        if not self.drain.called:
            self.drain.callback(None)


class DrainServiceTests(SynchronousTestCase):
    def test_stop_waits_for_every_drainable(self) -> None:
        a, b = FakeDrainable(), FakeDrainable()
        service = DrainService([a, b], reactor)  # type: ignore[arg-type]
        service.startService()
        done = service.stopService()
        self.assertNoResult(done)
        a.drain.callback(None)
        self.assertNoResult(done)
        b.drain.callback(None)
        self.successResultOf(done)

    def test_second_signal_cuts_everything(self) -> None:
        a = FakeDrainable()
        calls: list[Any] = []

        class Threads:
            def callFromThread(self, f: Any, *args: Any) -> None:
                calls.append(f)
                f(*args)

        service = DrainService([a], Threads())  # type: ignore[arg-type]
        service.startService()
        previous = signal.getsignal(signal.SIGTERM)
        done = service.stopService()
        handler = signal.getsignal(signal.SIGTERM)
        self.assertNotEqual(handler, previous)
        assert callable(handler)
        handler(signal.SIGTERM, None)  # what the OS calls on the second SIGTERM
        self.assertEqual((a.cuts, calls), (1, [service.signals.hurry]))
        self.successResultOf(done)
        self.assertEqual(signal.getsignal(signal.SIGTERM), previous)  # restored
