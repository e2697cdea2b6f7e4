"""``twistd netlab-tcp`` options, service building, and the plugin listing."""

from __future__ import annotations

import os
import re
import signal
import sys
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import globalLogPublisher
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_netlab.framing import encode
from twisted_netlab.tcp import tap
from twisted_netlab.tcp.client import exchange

reactor: Any = _reactor


def parse(*argv: str) -> tap.Options:
    options = tap.Options()
    options.parseOptions(list(argv))
    return options


class OptionTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        options = parse()
        self.assertEqual(options["ports"], ["tcp:9000:interface=127.0.0.1"])
        self.assertEqual(options["settings"], tap.TCPSettings("seed", 32767, None))

    def test_values(self) -> None:
        options = parse(
            "--port", "tcp:0:interface=127.0.0.1", "--port", "tcp:0:interface=127.0.0.1",
            "--framing", "wide", "--max-frame", "5000000", "--idle-timeout", "2.5", "--trace",
        )
        self.assertEqual(len(options["ports"]), 2)
        self.assertEqual(
            options["settings"], tap.TCPSettings("wide", 5000000, 2.5, trace=True)
        )

    def test_idle_timeout_off(self) -> None:
        for value in ("0", "off", "OFF", "none"):
            self.assertIsNone(parse("--idle-timeout", value)["settings"].idle_timeout)

    def test_bad_values(self) -> None:
        for argv, words in [
            (["--framing", "int24"], "--framing must be one of seed, wide, len32, none"),
            (["--max-frame", "big"], "--max-frame must be a whole number"),
            (["--max-frame", "-1"], "--max-frame must be >= 0"),
            (["--idle-timeout", "soon"], "--idle-timeout must be seconds"),
            (["--idle-timeout", "-3"], "--idle-timeout must be a positive"),
            (["--port", "tcp:notaport"], "invalid endpoint 'tcp:notaport'"),
            (["--port", "nosuch:1"], "invalid endpoint"),
        ]:
            exc = self.assertRaises(usage.UsageError, parse, *argv)
            self.assertIn(words, str(exc))

    def test_parse_tcp_settings_for_combined_plugin(self) -> None:
        self.assertEqual(
            tap.parse_tcp_settings("len32", 10, None), tap.TCPSettings("len32", 10, None)
        )
        self.assertRaises(usage.UsageError, tap.parse_tcp_settings, "seed", "x", None)
        # None: "option not given" (the combined plugin's defaults)
        self.assertEqual(
            tap.parse_tcp_settings(None, None, None), tap.TCPSettings("seed", 32767, None)
        )
        self.assertEqual(
            tap.parse_tcp_settings("wide", None, "0"), tap.TCPSettings("wide", 1 << 20, None)
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

    async def test_twistd_runs_the_plugin(self) -> None:
        watcher = _Twistd()
        process = reactor.spawnProcess(
            watcher,
            sys.executable,
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
             "-n", "--pidfile=", "netlab-tcp", "--port", "tcp:0:interface=127.0.0.1"],
            env=dict(os.environ),
            path=self.tempdir(),
        )

        def stop() -> Deferred[tuple[int | None, int | None]]:
            if process.pid is not None:
                process.signalProcess("KILL")
            return watcher.ended

        self.addCleanup(stop)
        port = await watcher.port.addTimeout(30, reactor)
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
        for option in ("--port", "--framing", "--max-frame", "--idle-timeout"):
            self.assertIn(option, out.decode())
