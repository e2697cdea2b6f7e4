"""``--workers``: a supervisor and worker processes on 127.0.0.1:0 (every wait bounded)."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor as _reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.task import deferLater
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool

from tests.process_support import TWISTD, ProcessLines
from twisted_netlab.scale import parse_workers
from twisted_netlab.tcp import tap as tcp
from twisted_netlab.tcp.client import exchange
from twisted_netlab.tls import self_signed
from twisted_netlab.web import tap as web
from twisted_netlab.workers.child import AdoptedEndpoint, parse_args
from twisted_netlab.workers.supervisor import (
    BACKOFF_CAP,
    BACKOFF_FIRST,
    STABLE_AFTER,
    SupervisorService,
    address_family,
    next_backoff,
)

reactor: Any = _reactor
PID = re.compile(rb"netlab_process_info\{pid=\"(\d+)\"\} 1\.0")


class RuleTests(SynchronousTestCase):
    def test_parse_workers(self) -> None:
        self.assertEqual(parse_workers("3", 8), 3)
        self.assertEqual(parse_workers("auto", 8), 8)
        self.assertEqual(parse_workers(" AUTO ", None), 1)
        for bad, words in [("0", "between 1 and 256, not 0"), ("many", "a number or 'auto'")]:
            exc = self.assertRaises(usage.UsageError, parse_workers, bad, 2)
            self.assertIn(words, str(exc))

    def test_backoff(self) -> None:
        self.assertEqual(next_backoff(0.0, 0.1), BACKOFF_FIRST)
        self.assertEqual(next_backoff(BACKOFF_FIRST, 0.1), 2 * BACKOFF_FIRST)
        self.assertEqual(next_backoff(BACKOFF_CAP, 0.1), BACKOFF_CAP)
        self.assertEqual(next_backoff(BACKOFF_CAP, STABLE_AFTER), BACKOFF_FIRST)

    def test_families(self) -> None:
        self.assertEqual(address_family(IPv4Address("TCP", "127.0.0.1", 1)), socket.AF_INET)
        self.assertEqual(address_family(IPv6Address("TCP", "::1", 1)), socket.AF_INET6)
        self.assertEqual(address_family(UNIXAddress(b"/tmp/x")), socket.AF_UNIX)

    def test_ssl_endpoints_refused(self) -> None:
        material = self_signed(Path(self.mktemp()), datetime.datetime.now(datetime.UTC))
        options = web.Options()
        ssl_port = f"ssl:0:privateKey={material.key_path}:certKey={material.cert_path}"
        exc = self.assertRaises(
            usage.UsageError, options.parseOptions, ["--workers", "2", "--port", ssl_port]
        )
        self.assertIn("--workers cannot share the ssl: endpoint", str(exc))

    def test_supervisor_wiring(self) -> None:
        options = tcp.Options()
        argv = ["--port", "tcp:0:interface=127.0.0.1", "--workers", "3", "--framing", "wide"]
        options.parseOptions(argv)
        supervisor = tcp.makeService(options)
        assert isinstance(supervisor, SupervisorService)
        self.assertEqual(supervisor.count, 3)
        self.assertEqual(options["scale"].argv, tuple(argv))

    def test_worker_args(self) -> None:
        args = parse_args(["--tap", "m", "--index", "2", "--fd", "3:2", "--fd", "4:10",
                           "--", "--port", "tcp:0", "--workers", "2"])
        self.assertEqual((args.tap, args.index, args.fd), ("m", 2, [(3, 2), (4, 10)]))
        self.assertEqual(args.plugin_args, ["--port", "tcp:0", "--workers", "2"])
        self.assertEqual(AdoptedEndpoint(reactor, 3, 2).fd, 3)


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


class WorkerProcessTests(TestCase):
    timeout = 120

    async def start(
        self, plugin: str, argv: list[str]
    ) -> tuple[ProcessLines, list[int], dict[int, int]]:
        """Start twistd with 2 workers; return the log, ports, and {index: pid}."""
        root = Path(self.mktemp()).resolve()
        root.mkdir(parents=True)
        (root / "hello.txt").write_bytes(b"hello\n")
        lines = ProcessLines()
        self.process = reactor.spawnProcess(
            lines, sys.executable,
            [sys.executable, *TWISTD, "-n", "--pidfile=", plugin, *argv, "--workers", "2"],
            env=dict(os.environ), path=str(root),
        )
        self.lines = lines
        self.addCleanup(self._stop_all)
        await lines.expect(rb"ready: serving", 2)
        ports = [
            int(m.group(1))
            for m in lines.matches(rb"listening on 127\.0\.0\.1:(\d+) for 2 workers")
        ]
        pids = {
            int(m.group(1)): int(m.group(2))
            for m in lines.matches(rb"worker (\d) started \(pid (\d+)\)")
        }
        self.assertEqual(sorted(pids), [1, 2])
        return lines, ports, pids

    async def _stop_all(self) -> None:
        for m in self.lines.matches(rb"worker \d started \(pid (\d+)\)"):
            with contextlib.suppress(ProcessLookupError):  # never leave one stopped
                os.kill(int(m.group(1)), signal.SIGCONT)
        if self.process.pid is not None:
            self.process.signalProcess("KILL")  # the supervisor's workers get no TERM
            await self.lines.ended.addTimeout(30, reactor)
        for m in self.lines.matches(rb"worker \d started \(pid (\d+)\)"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(m.group(1)), signal.SIGKILL)

    async def wait_state(self, pid: int, states: str) -> None:
        for _ in range(400):  # bounded: 400 x 5 ms
            if _state(pid) in states:
                return
            await deferLater(reactor, 0.005, lambda: None)
        self.fail(f"process {pid} never reached state {states}")

    async def served_by(self, port: int) -> int:
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get(
            f"http://127.0.0.1:{port}/metrics", pool=pool, reactor=reactor, timeout=20
        )
        body = await response.content()
        match = PID.search(body)
        assert match is not None, body
        return int(match.group(1))

    async def only(self, serving: int, stopped: int, port: int) -> int:
        """Stop one worker (SIGSTOP); the other must answer a new connection."""
        os.kill(stopped, signal.SIGSTOP)
        await self.wait_state(stopped, "T")
        try:
            return await self.served_by(port)
        finally:
            os.kill(stopped, signal.SIGCONT)

    async def test_both_serve_and_a_killed_worker_comes_back(self) -> None:
        lines, (web_port, ops_port), pids = await self.start(
            "netlab-web", ["--port", "tcp:0:interface=127.0.0.1",
                           "--metrics", "tcp:0:interface=127.0.0.1"]
        )
        first, second = pids[1], pids[2]
        self.assertEqual(await self.only(second, first, ops_port), second)
        self.assertEqual(await self.only(first, second, ops_port), first)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        page = await treq.get(f"http://127.0.0.1:{web_port}/hello.txt", pool=pool, timeout=20)
        self.assertEqual(await page.content(), b"hello\n")

        os.kill(first, signal.SIGKILL)
        await lines.expect(
            rb"worker 1 \(pid %d\) died \(signal 9\) after [\d.]+s; restarting in 0\.5s" % first
        )
        await lines.expect(rb"worker 1 started \(pid \d+\)", 2)
        replacement = int(lines.matches(rb"worker 1 started \(pid (\d+)\)")[-1].group(1))
        await lines.expect(rb"worker 1 \(pid %d\): .*ready: serving 2" % replacement)
        self.assertNotEqual(replacement, first)
        self.assertEqual(await self.only(replacement, second, ops_port), replacement)

    async def test_sigterm_stops_every_worker(self) -> None:
        lines, (echo_port,), pids = await self.start(
            "netlab-tcp", ["--port", "tcp:0:interface=127.0.0.1"]
        )
        result = await exchange(reactor, f"tcp:127.0.0.1:{echo_port}", [b"a", b"b"])
        self.assertEqual(result.replies, [(0, b"a"), (1, b"b")])
        self.process.signalProcess("TERM")
        # twistd ends a clean SIGTERM shutdown by re-raising the signal on itself.
        self.assertEqual(await lines.ended.addTimeout(60, reactor), (None, signal.SIGTERM))
        self.assertEqual(len(lines.matches(rb"Server Shut Down\.")), 1)
        for index, pid in pids.items():
            self.assertEqual(
                len(lines.matches(rb"worker %d \(pid %d\) stopped \(exit code 0\)" % (index, pid))),
                1,
            )
            self.assertRaises(ProcessLookupError, os.kill, pid, 0)

    async def test_combined_plugin_shares_both_services(self) -> None:
        _, (echo_port, web_port), _ = await self.start(
            "netlab", ["--tcp-port", "tcp:0:interface=127.0.0.1",
                       "--web-port", "tcp:0:interface=127.0.0.1", "--path", "."]
        )
        result = await exchange(reactor, f"tcp:127.0.0.1:{echo_port}", [b"x"])
        self.assertEqual(result.replies, [(0, b"x")])
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        page = await treq.get(f"http://127.0.0.1:{web_port}/hello.txt", pool=pool, timeout=20)
        self.assertEqual(await page.content(), b"hello\n")

    async def test_port_in_use_fails_before_any_worker(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            lines = ProcessLines()
            self.process = reactor.spawnProcess(
                lines, sys.executable,
                [sys.executable, *TWISTD, "-n", "--pidfile=", "netlab-web",
                 "--port", f"tcp:{port}:interface=127.0.0.1", "--workers", "2"],
                env=dict(os.environ),
            )
            self.lines = lines
            self.addCleanup(self._stop_all)
            ended = await lines.ended.addTimeout(60, reactor)
        self.assertEqual(ended, (1, None))
        refused = (  # twistderr: one line (twistd_errors.StartupGuard), log and stderr
            rb"twistd netlab-web: cannot listen on 127\.0\.0\.1:%d: address already in use$"
            % port
        )
        self.assertEqual(len(lines.matches(refused)), 2)  # the log line, the stderr line
        self.assertEqual(lines.matches(rb"Traceback"), [])
        self.assertEqual(lines.matches(rb"worker \d started"), [])
