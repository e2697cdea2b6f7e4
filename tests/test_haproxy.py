"""The HAProxy recipe: two netlab-web behind HAProxy on loopback; SIGTERM fails nothing.

HAProxy health-checks each instance's ``/healthz`` on its ``--metrics`` port every
200 ms and takes it out after 2 failures.  On SIGTERM an instance answers 503 there at
once but keeps serving for ``--lame-duck`` (1.5 s, longer than 2 x 200 ms plus a
check in flight), so every request HAProxy still sends it is answered; then it stops.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.client import HTTPConnectionPool

from tests.process_support import TWISTD, ProcessLines

reactor: Any = _reactor
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
LAME_DUCK = 1.5

CONFIG = """\
global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 15s
    timeout server 15s
    retries 3
    option redispatch
frontend www
    bind 127.0.0.1:{front}
    default_backend netlab
backend netlab
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    server a 127.0.0.1:{web_a} check port {ops_a} inter 200ms fall 2 rise 2
    server b 127.0.0.1:{web_b} check port {ops_b} inter 200ms fall 2 rise 2
"""


def free_port() -> int:
    # HAProxy cannot report a port it chose; ask the kernel for a free one just before.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HAProxyTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        if not os.access(HAPROXY, os.X_OK):
            raise SkipTest("haproxy not installed (Debian package 'haproxy')")
        self.root = Path(self.mktemp()).resolve()
        self.root.mkdir(parents=True)
        (self.root / "hello.txt").write_bytes(b"hello\n")

    def spawn(self, argv: list[str]) -> tuple[Any, ProcessLines]:
        lines = ProcessLines()
        process = reactor.spawnProcess(
            lines, argv[0], argv, env=dict(os.environ), path=str(self.root)
        )

        async def stop() -> None:
            if process.pid is not None:
                process.signalProcess("KILL")
                await lines.ended.addTimeout(30, reactor)

        self.addCleanup(stop)
        return process, lines

    async def netlab(self) -> tuple[Any, ProcessLines, int, int]:
        process, lines = self.spawn(
            [sys.executable, *TWISTD, "-n", "--pidfile=", "netlab-web", "--path", ".",
             "--port", "tcp:0:interface=127.0.0.1", "--metrics", "tcp:0:interface=127.0.0.1",
             "--lame-duck", str(LAME_DUCK)]
        )
        await lines.expect(rb"OpsSite starting on \d+")
        web = int(lines.matches(rb"LimitedSite \(CountingFactory\) starting on (\d+)")[0].group(1))
        ops = int(lines.matches(rb"OpsSite starting on (\d+)")[0].group(1))
        return process, lines, web, ops

    async def test_sigterm_to_one_instance_fails_no_request(self) -> None:
        proc_a, lines_a, web_a, ops_a = await self.netlab()
        _, lines_b, web_b, ops_b = await self.netlab()
        front = free_port()
        config = self.root / "haproxy.cfg"
        config.write_text(
            CONFIG.format(front=front, web_a=web_a, ops_a=ops_a, web_b=web_b, ops_b=ops_b)
        )
        _, haproxy = self.spawn([HAPROXY, "-db", "-f", str(config)])

        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 4
        self.addCleanup(pool.closeCachedConnections)
        url = f"http://127.0.0.1:{front}/hello.txt"
        failures: list[str] = []
        sent = [0]
        state = {"stop": False}

        async def get() -> bool:
            try:
                response = await treq.get(url, pool=pool, reactor=reactor, timeout=10)
                body = await response.content()
            except Exception as exc:
                failures.append(repr(exc))
                return False
            if (response.code, body) != (200, b"hello\n"):
                failures.append(f"{response.code} {body[:60]!r}")
            return True

        # HAProxy is up when it answers (bounded: 200 tries x 50 ms connect retry).
        for _ in range(200):
            if await get():
                break
            await deferLater(reactor, 0.05, lambda: None)
        failures.clear()

        async def client() -> None:
            while not state["stop"]:
                sent[0] += 1
                await get()

        load = gatherResults([Deferred.fromCoroutine(client()) for _ in range(4)])

        await deferLater(reactor, 0.5, lambda: None)  # load on both instances
        before = sent[0]
        proc_a.signalProcess("TERM")
        ended = await lines_a.ended.addTimeout(LAME_DUCK + 30, reactor)
        await deferLater(reactor, 0.3, lambda: None)  # and on b alone after a is gone
        state["stop"] = True
        await load.addTimeout(30, reactor)

        self.assertEqual(ended, (None, 15))  # twistd re-raises SIGTERM after a clean stop
        self.assertEqual(failures, [])
        self.assertGreater(before, 0)
        self.assertGreater(sent[0], before)
        lame = lines_a.matches(rb"lame duck: /healthz answers 503")
        self.assertEqual(len(lame), 1)
        self.assertEqual(lines_b.matches(rb"Server Shut Down"), [])
        self.assertEqual(haproxy.matches(rb"ALERT"), [])

