"""``twistd netlab-tcp`` options, service building, and the plugin listing."""

from __future__ import annotations

import os
import re
import signal
import sys
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import globalLogPublisher
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.test_tcp_service import Collector, wait_for
from twisted_netlab.framing import encode
from twisted_netlab.tcp import tap
from twisted_netlab.tcp.client import exchange
from twisted_netlab.tcp.config import EchoConfig, echo_config, option_parameters

reactor: Any = _reactor


def parse(*argv: str) -> tap.Options:
    options = tap.Options()
    options.parseOptions(list(argv))
    return options


class OptionTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        options = parse()
        self.assertEqual(options["ports"], ["tcp:9000:interface=127.0.0.1"])
        config = options["config"]
        self.assertEqual(config, EchoConfig())
        self.assertEqual(
            (config.framing, config.max_frame, config.idle_timeout, config.frame_timeout,
             config.max_pending, config.drain_timeout, config.trace),
            ("seed", 32767, 300.0, 30.0, 256 << 20, 30.0, False),
        )

    def test_values(self) -> None:
        options = parse(
            "--port", "tcp:0:interface=127.0.0.1", "--port", "tcp:0:interface=127.0.0.1",
            "--framing", "wide", "--max-frame", "5000000", "--idle-timeout", "2.5",
            "--frame-timeout", "4", "--max-pending", "64MiB", "--drain-timeout", "0",
            "--trace",
        )
        self.assertEqual(len(options["ports"]), 2)
        self.assertEqual(
            options["config"],
            EchoConfig("wide", 5000000, idle_timeout=2.5, frame_timeout=4.0,
                       max_pending=64 << 20, drain_timeout=0.0, trace=True),
        )

    def test_timeouts_off(self) -> None:
        for value in ("0", "off", "OFF", "none"):
            config = parse("--idle-timeout", value, "--frame-timeout", value)["config"]
            self.assertEqual((config.idle_timeout, config.frame_timeout), (None, None))

    def test_sizes(self) -> None:
        for text, value in [("1000", 1000), ("4k", 4096), ("2 MiB", 2 << 20), ("1GB", 1 << 30)]:
            self.assertEqual(parse("--max-pending", text)["config"].max_pending, value)

    def test_bad_values(self) -> None:
        for argv, message in [
            (["--framing", "int24"],
             "--framing must be one of seed, wide, len32, none, not 'int24'"),
            (["--max-frame", "big"],
             "--max-frame must be a whole number of bytes (suffixes KiB, MiB, GiB), not 'big'"),
            (["--max-frame", "-1"],
             "--max-frame must be a whole number of bytes (suffixes KiB, MiB, GiB), not '-1'"),
            (["--idle-timeout", "soon"],
             "--idle-timeout must be a positive number of seconds or 'off', not 'soon'"),
            (["--idle-timeout", "-3"],
             "--idle-timeout must be a positive number of seconds or 'off', not '-3'"),
            (["--frame-timeout", "inf"],
             "--frame-timeout must be a positive number of seconds or 'off', not 'inf'"),
            (["--max-pending", "0"], "--max-pending must be >= 1, not '0'"),
            (["--drain-timeout", "off"], "--drain-timeout must be seconds >= 0, not 'off'"),
        ]:
            exc = self.assertRaises(usage.UsageError, parse, *argv)
            self.assertEqual(str(exc), message)
        for argv, words in [
            (["--port", "tcp:notaport"], "invalid endpoint 'tcp:notaport'"),
            (["--port", "nosuch:1"], "invalid endpoint"),
        ]:
            exc = self.assertRaises(usage.UsageError, parse, *argv)
            self.assertIn(words, str(exc))

    def test_echo_config_for_combined_plugin(self) -> None:
        self.assertEqual(
            echo_config({"tcp-framing": "len32", "tcp-max-frame": "10"}, prefix="tcp-"),
            EchoConfig("len32", 10),
        )
        exc = self.assertRaises(
            usage.UsageError, echo_config, {"tcp-max-pending": "x"}, "tcp-"
        )
        self.assertTrue(str(exc).startswith("--tcp-max-pending must be"), str(exc))
        # None: "option not given" (the defaults)
        self.assertEqual(echo_config({}), EchoConfig())
        self.assertEqual(
            echo_config({"framing": "wide", "idle-timeout": "0"}),
            EchoConfig("wide", 1 << 20, idle_timeout=None),
        )

    def test_combined_plugin_has_every_option_prefixed(self) -> None:
        names = {row[0] for row in option_parameters("tcp-")}
        self.assertEqual(
            names,
            {"tcp-framing", "tcp-max-frame", "tcp-frame-timeout", "tcp-idle-timeout",
             "tcp-max-pending", "tcp-drain-timeout"},
        )

    def test_framings_match_codec(self) -> None:
        from twisted_netlab.framing import LAYOUTS

        self.assertEqual(tuple(LAYOUTS), tap.FRAMINGS)


class _Twistd(ProcessProtocol):
    """Watch twistd's log for the listening line; ``ended`` fires with the exit code."""

    def __init__(self) -> None:
        self.output = b""
        self.port: Deferred[int] = Deferred()
        self.ended: Deferred[tuple[int | None, int | None]] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        match = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.output)
        if match and not self.port.called:
            self.port.callback(int(match.group(1)))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.port.called:
            self.port.errback(AssertionError(f"twistd exited: {self.output!r}"))
        self.ended.callback((reason.value.exitCode, reason.value.signal))


class ServiceTests(TestCase):
    def tempdir(self) -> str:
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    async def test_make_service_listens_and_echoes(self) -> None:
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        options = parse("--port", "tcp:0:interface=127.0.0.1", "--idle-timeout", "60")
        top = tap.makeService(options)
        self.assertEqual(len(list(top)), 1)
        top.startService()
        self.addCleanup(top.stopService)
        [listening] = [e for e in events if e.get("log_format", "").startswith("listening")]
        host, port = listening["address"].split(":")
        self.assertEqual(host, "127.0.0.1")
        result = await exchange(reactor, f"tcp:127.0.0.1:{port}", [b"hi"])
        self.assertEqual(result.replies, [(0, b"hi")])
        self.assertEqual(b"".join(result.reads), encode(b"hi", 0))

    async def test_twistd_help_lists_plugin(self) -> None:
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            ["-c", "from twisted.scripts.twistd import run; run()", "--help"],
            path=self.tempdir(),
            env=dict(os.environ),
        )
        self.assertEqual(code, 0, err)
        self.assertRegex(out.decode(), r"(?m)^ +netlab-tcp +")

    async def start_twistd(self, *extra: str) -> tuple[_Twistd, Any, int]:
        """Run ``twistd -n netlab-tcp`` on port 0 (killed by PID at cleanup); wait for its port."""
        watcher = _Twistd()
        process = reactor.spawnProcess(
            watcher,
            sys.executable,
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
             "-n", "--pidfile=", "netlab-tcp", "--port", "tcp:0:interface=127.0.0.1", *extra],
            env=dict(os.environ),
            path=self.tempdir(),
        )

        def stop() -> Deferred[tuple[int | None, int | None]]:
            if process.pid is not None:
                process.signalProcess("KILL")
            return watcher.ended

        self.addCleanup(stop)
        port = await watcher.port.addTimeout(30, reactor)
        return watcher, process, port

    async def test_twistd_runs_the_plugin(self) -> None:
        watcher, process, port = await self.start_twistd()
        result = await exchange(reactor, f"tcp:127.0.0.1:{port}", [b"hello"], burst=True)
        self.assertEqual(result.replies, [(0, b"hello")])
        process.signalProcess("TERM")
        code, sig = await watcher.ended.addTimeout(30, reactor)
        # twistd re-raises the signal that stopped it, so it "dies" of SIGTERM.
        self.assertIn((code, sig), [(0, None), (None, signal.SIGTERM)], watcher.output)
        self.assertIn(b"Server Shut Down.", watcher.output)
        self.assertIn(b"connection from 127.0.0.1:", watcher.output)

    async def test_twistd_plugin_help(self) -> None:
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            ["-c", "from twisted.scripts.twistd import run; run()", "netlab-tcp", "--help"],
            path=self.tempdir(),
            env=dict(os.environ),
        )
        self.assertEqual(code, 0, err)
        for option in ("--port", "--framing", "--max-frame", "--idle-timeout",
                       "--frame-timeout", "--max-pending", "--drain-timeout"):
            self.assertIn(option, out.decode())

    async def test_sigterm_lets_a_frame_in_flight_finish(self) -> None:
        watcher, process, port = await self.start_twistd("--trace")
        peer = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port), Collector()
        )
        self.addCleanup(peer.transport.abortConnection)
        frame = encode(b"z" * 1000, 3)
        peer.transport.write(frame[:400])
        await wait_for(lambda: b": 400 bytes in" in watcher.output, "the server read 400")
        process.signalProcess("TERM")
        await wait_for(lambda: b"drain: open connections: 1;" in watcher.output, "drain start")
        peer.transport.write(frame[400:])
        await peer.closed.addTimeout(30, reactor)
        self.assertEqual(bytes(peer.data), frame)
        code, sig = await watcher.ended.addTimeout(30, reactor)
        self.assertIn((code, sig), [(0, None), (None, signal.SIGTERM)], watcher.output)
        self.assertIn(b"drain done: 1 of 1 connections drained, 0 cut", watcher.output)
