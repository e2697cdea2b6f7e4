# mypy: disallow-untyped-calls=False
"""The HAProxy recipes: two instances behind HAProxy on loopback (README "Many machines").

HAProxy health-checks each instance's ``/healthz`` on its ``--metrics`` port every
200 ms and takes it out after 2 failures.  On SIGTERM an instance answers 503 there at
once but keeps serving for ``--lame-duck`` (1.5 s, longer than 2 x 200 ms plus a
check in flight), so every request HAProxy still sends it is answered; then it stops.

- netlab-web, ``mode http``: SIGTERM to one instance under load fails no request;
  SIGKILL to one fails at most the requests in flight at the kill (counted).
- netlab-tcp, ``mode tcp`` (the same ``/healthz`` check on the ops port): SIGTERM to one
  instance under a load of short echo sessions loses no reply.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.client import HTTPConnectionPool

from tests.process_support import TWISTD, ProcessLines
from twisted_netlab.tcp.client import exchange

reactor: Any = _reactor
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
LAME_DUCK = 1.5
# The SIGKILL test serves bodies large enough (512 KiB) that requests are in flight
# when the kill lands; each instance its own, so a truncated body cannot pass.
BIG_A = b"a" * (512 << 10)
BIG_B = b"b" * (512 << 10)

CONFIG = """\
global
    maxconn 512
defaults
    mode {mode}
    timeout connect 2s
    timeout client 15s
    timeout server 15s
    retries 3
    option redispatch
frontend front
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

    async def netlab(self, plugin: str = "netlab-web", *extra: str) -> Instance:
        process, lines = self.spawn(
            [sys.executable, *TWISTD, "-n", "--pidfile=", plugin,
             "--port", "tcp:0:interface=127.0.0.1", "--metrics", "tcp:0:interface=127.0.0.1",
             "--lame-duck", str(LAME_DUCK), *extra]
        )
        await lines.expect(rb"OpsSite starting on \d+")
        serving = (rb"LimitedSite \(CountingFactory\) starting on (\d+)" if plugin == "netlab-web"
                   else rb"listening on 127\.0\.0\.1:(\d+)")
        await lines.expect(serving)
        port = int(lines.matches(serving)[0].group(1))
        ops = int(lines.matches(rb"OpsSite starting on (\d+)")[0].group(1))
        return Instance(process, lines, port, ops)

    async def balance(self, mode: str, a: Instance, b: Instance) -> tuple[int, ProcessLines]:
        """HAProxy in ``mode`` in front of ``a`` and ``b``; its front port and log."""
        front = free_port()
        config = self.root / "haproxy.cfg"
        config.write_text(CONFIG.format(
            mode=mode, front=front, web_a=a.port, ops_a=a.ops, web_b=b.port, ops_b=b.ops
        ))
        _, haproxy = self.spawn([HAPROXY, "-db", "-f", str(config)])
        return front, haproxy

    def http_load(self, front: int, clients: int = 4) -> Load:
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = clients
        self.addCleanup(pool.closeCachedConnections)
        url = f"http://127.0.0.1:{front}/hello.txt"
        served: dict[bytes, int] = {}  # answers by the body's first byte (a, b, h)

        async def one() -> str | None:
            try:
                response = await treq.get(url, pool=pool, reactor=reactor, timeout=10)
                body = await response.content()
            except Exception as exc:
                return repr(exc)
            if response.code != 200 or body not in (b"hello\n", BIG_A, BIG_B):
                return f"{response.code} {body[:60]!r}"
            served[body[:1]] = served.get(body[:1], 0) + 1
            return None

        load = Load(one, clients)
        load.served = served
        return load

    def echo_load(self, front: int, clients: int = 4) -> Load:
        """Short echo sessions: connect, 5 frames, every reply back, close."""
        messages = [b"frame %d" % i for i in range(5)]

        async def one() -> str | None:
            try:
                result = await exchange(reactor, f"tcp:127.0.0.1:{front}", messages, timeout=10)
            except Exception as exc:
                return repr(exc)
            replies = [body for _, body in result.replies]
            return None if replies == messages else f"replies {replies!r}"

        return Load(one, clients)

    async def test_sigterm_to_one_instance_fails_no_request(self) -> None:
        a = await self.netlab()
        b = await self.netlab()
        front, haproxy = await self.balance("http", a, b)
        load = self.http_load(front)
        await load.wait_until_up()
        load.start()
        await deferLater(reactor, 0.5, lambda: None)  # load on both instances
        before = load.sent
        a.process.signalProcess("TERM")
        ended = await a.lines.ended.addTimeout(LAME_DUCK + 30, reactor)
        await deferLater(reactor, 0.3, lambda: None)  # and on b alone after a is gone
        await load.stop()

        self.assertEqual(ended, (None, 15))  # twistd re-raises SIGTERM after a clean stop
        self.assertEqual(load.failures, [])
        self.assertGreater(before, 0)
        self.assertGreater(load.sent, before)
        self.assertEqual(len(a.lines.matches(rb"lame duck: /healthz answers 503")), 1)
        self.assertEqual(b.lines.matches(rb"Server Shut Down"), [])
        self.assertEqual(haproxy.matches(rb"ALERT"), [])

    async def test_sigkill_fails_at_most_the_requests_in_flight(self) -> None:
        (self.root / "a").mkdir()
        (self.root / "a" / "hello.txt").write_bytes(BIG_A)
        (self.root / "b").mkdir()
        (self.root / "b" / "hello.txt").write_bytes(BIG_B)
        a = await self.netlab("netlab-web", "--path", "a")
        b = await self.netlab("netlab-web", "--path", "b")
        front, haproxy = await self.balance("http", a, b)
        load = self.http_load(front)
        await load.wait_until_up()
        load.start()
        await deferLater(reactor, 0.5, lambda: None)
        in_flight = set(load.in_flight)  # started, not finished: the most a kill can fail
        killed_at = load.sent
        served_before = dict(load.served)
        a.process.signalProcess("KILL")
        ended = await a.lines.ended.addTimeout(30, reactor)
        # HAProxy needs fall x inter (2 x 200 ms) to mark a down; meanwhile new
        # connections to a are refused and redispatched to b.
        await deferLater(reactor, 1.0, lambda: None)
        await load.stop()

        self.assertEqual(ended, (None, signal.SIGKILL))
        self.assertGreater(killed_at, 0)
        self.assertLessEqual(len(load.failures), len(in_flight), load.failures)
        # Every failure is a request that was already in flight at the kill.
        self.assertTrue(set(load.failed_ids) <= in_flight, (load.failed_ids, in_flight))
        self.assertGreater(load.sent, killed_at)
        self.assertGreater(served_before.get(b"a", 0), 0)  # a was serving at the kill
        self.assertGreater(load.served[b"b"], served_before.get(b"b", 0))  # b took over
        self.assertEqual(b.lines.matches(rb"Server Shut Down"), [])
        self.assertNotEqual(haproxy.matches(rb"Server netlab/a is DOWN"), [])

    async def test_tcp_mode_sigterm_loses_no_echo_reply(self) -> None:
        a = await self.netlab("netlab-tcp")
        b = await self.netlab("netlab-tcp")
        front, haproxy = await self.balance("tcp", a, b)
        load = self.echo_load(front)
        await load.wait_until_up()
        load.start()
        await deferLater(reactor, 0.5, lambda: None)
        before = load.sent
        a.process.signalProcess("TERM")
        ended = await a.lines.ended.addTimeout(LAME_DUCK + 30, reactor)
        await deferLater(reactor, 0.3, lambda: None)
        await load.stop()

        self.assertEqual(ended, (None, signal.SIGTERM))
        self.assertEqual(load.failures, [])
        self.assertGreater(before, 0)
        self.assertGreater(load.sent, before)
        # Both instances echoed before the stop; a drained with nothing cut.
        self.assertNotEqual(a.lines.matches(rb"connection from 127\.0\.0\.1"), [])
        self.assertNotEqual(b.lines.matches(rb"connection from 127\.0\.0\.1"), [])
        self.assertEqual(len(a.lines.matches(rb"lame duck: /healthz answers 503")), 1)
        drained = a.lines.matches(rb"drain done: \d+ of \d+ connections drained, 0 cut")
        self.assertEqual(len(drained), 1)
        self.assertEqual(b.lines.matches(rb"Server Shut Down"), [])
        self.assertEqual(haproxy.matches(rb"ALERT"), [])


class Instance:
    def __init__(self, process: Any, lines: ProcessLines, port: int, ops: int) -> None:
        self.process = process
        self.lines = lines
        self.port = port
        self.ops = ops


class Load:
    """``clients`` loops each running ``one()`` until ``stop``; failures with their ids."""

    def __init__(self, one: Callable[[], Awaitable[str | None]], clients: int) -> None:
        self._one = one
        self._clients = clients
        self._stopping = False
        self._running: Deferred[Any] | None = None
        self.sent = 0
        self.in_flight: set[int] = set()
        self.failures: list[str] = []
        self.failed_ids: list[int] = []
        self.served: dict[bytes, int] = {}

    async def wait_until_up(self) -> None:
        """HAProxy is up when it answers (bounded: 200 tries x 50 ms)."""
        for _ in range(200):
            if await self._one() is None:
                return
            await deferLater(reactor, 0.05, lambda: None)
        raise AssertionError("HAProxy never answered")

    def start(self) -> None:
        async def client() -> None:
            while not self._stopping:
                self.sent += 1
                ident = self.sent
                self.in_flight.add(ident)
                failure = await self._one()
                self.in_flight.discard(ident)
                if failure is not None:
                    self.failures.append(failure)
                    self.failed_ids.append(ident)

        self._running = gatherResults(
            [Deferred.fromCoroutine(client()) for _ in range(self._clients)]
        )

    async def stop(self) -> None:
        self._stopping = True
        assert self._running is not None
        await self._running.addTimeout(30, reactor)
