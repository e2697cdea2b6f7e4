"""``twistd netlab-web`` and ``twistd netlab`` (both services in one reactor)."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import treq
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool

from twisted_netlab import tap as combined
from twisted_netlab.tcp.client import exchange
from twisted_netlab.tcp.config import EchoConfig
from twisted_netlab.web import tap as web

reactor: Any = _reactor
TWISTD = ["-c", "from twisted.scripts.twistd import run; run()"]


class WebOptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        options = web.Options()
        options.parseOptions(["--path", "."])
        self.assertEqual(options["ports"], ["tcp:8080:interface=127.0.0.1"])
        self.assertIsNone(options["access-log"])

    def test_repeatable_ports(self) -> None:
        options = web.Options()
        options.parseOptions(
            ["--port", "tcp:0:interface=127.0.0.1", "--port", "unix:/tmp/netlab-test.sock"]
        )
        self.assertEqual(
            options["ports"], ["tcp:0:interface=127.0.0.1", "unix:/tmp/netlab-test.sock"]
        )

    def test_bad_values_are_usage_errors(self) -> None:
        for argv, words in [
            (["--port", "tcp:http"], "invalid endpoint 'tcp:http'"),
            (["--path", "/no/such/dir"], "/no/such/dir"),
            (
                ["--tools", "--proxy", "/_netlab/api=http://127.0.0.1:9"],
                "--proxy /_netlab/api lies under the tools prefix /_netlab/",
            ),
        ]:
            options = web.Options()
            exc = self.assertRaises(usage.UsageError, options.parseOptions, argv)
            self.assertIn(words, str(exc))


    def test_proxy_beside_tools(self) -> None:
        for argv in (
            ["--proxy", "/_netlab2=http://127.0.0.1:9"],
            ["--proxy", "/_netlab/api=http://127.0.0.1:9"],  # the tools are off by default
            ["--tools", "--proxy", "/_netlab/api=http://127.0.0.1:9", "--tools-prefix", "/_tools/"],
        ):
            options = web.Options()
            options.parseOptions(argv)
            self.assertEqual(len(options.web_config.proxy.mounts), 1)


class CombinedOptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        options = combined.Options()
        options.parseOptions([])
        self.assertEqual(options["web-ports"], ["tcp:8080:interface=127.0.0.1"])
        self.assertEqual(options["tcp-ports"], ["tcp:9000:interface=127.0.0.1"])
        self.assertEqual(options["tcp-config"], EchoConfig())

    def test_each_service_has_its_own_options(self) -> None:
        options = combined.Options()
        options.parseOptions(
            ["--web-port", "tcp:0:interface=127.0.0.1", "--tcp-port", "tcp:0:interface=127.0.0.1",
             "--tcp-port", r"tcp:0:interface=\:\:1", "--tcp-framing", "wide",
             "--tcp-max-frame", "100000", "--tcp-idle-timeout", "30", "--no-listing"]
        )
        self.assertEqual(len(options["tcp-ports"]), 2)
        self.assertEqual(
            options["tcp-config"], EchoConfig("wide", 100000, idle_timeout=30.0)
        )
        self.assertTrue(options["no-listing"])
        self.assertFalse(options.web_config.static.listing)
        # the echo (one service for both ports), the web listener, the web drain service
        echo, _web, _drain = combined.makeService(options)  # type: ignore[misc]
        self.assertEqual(len(list(echo)), 2)  # type: ignore[call-overload]

    def test_bad_tcp_option(self) -> None:
        options = combined.Options()
        exc = self.assertRaises(
            usage.UsageError, options.parseOptions, ["--tcp-framing", "int24"]
        )
        self.assertIn("--tcp-framing must be one of seed, wide, len32, none", str(exc))


class _Twistd(ProcessProtocol):
    """Collect twistd's log; ``ports`` fires once both services report their port."""

    def __init__(self) -> None:
        self.output = b""
        self.ports: Deferred[tuple[int, int]] = Deferred()
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        tcp = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.output)
        http = re.search(rb"\w*Site starting on (\d+)", self.output)
        if tcp and http and not self.ports.called:
            self.ports.callback((int(tcp.group(1)), int(http.group(1))))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.ports.called:
            self.ports.errback(AssertionError(f"twistd exited: {self.output!r}"))
        self.ended.callback(None)


class _Output(ProcessProtocol):
    """Collect a short-lived process's output; ``ended`` fires with its exit code."""

    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: Deferred[int | None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)


# twistd answers --help or a usage error in about a second; a twistd that is still
# running after this long has started serving instead, and the test says so then
# (not after trial's 120 s default).
TWISTD_LIMIT = 30.0


class TwistdTests(TestCase):
    timeout = 2 * TWISTD_LIMIT + 10

    def tempdir(self) -> str:
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    async def twistd(self, *args: str) -> tuple[bytes, bytes, int | None]:
        """Run twistd with ``args``; kill it and fail if it outlives ``TWISTD_LIMIT``."""
        proto = _Output()
        process = reactor.spawnProcess(
            proto, sys.executable, [sys.executable, *TWISTD, *args],
            env=dict(os.environ), path=self.tempdir(),
        )  # fmt: skip
        watchdog = reactor.callLater(TWISTD_LIMIT, process.signalProcess, "KILL")
        code = await proto.ended
        if not watchdog.active():
            self.fail(f"twistd {args} still running after {TWISTD_LIMIT}s: {proto.out!r}")
        watchdog.cancel()
        return proto.out, proto.err, code

    async def test_help_lists_every_plugin(self) -> None:
        out, err, code = await self.twistd("--help")
        self.assertEqual(code, 0, err)
        for name in ("netlab-tcp", "netlab-web", "netlab"):
            self.assertRegex(out.decode(), rf"(?m)^ +{name} +")

    async def test_bad_option_is_a_usage_error_not_a_traceback(self) -> None:
        out, err, code = await self.twistd(
            "-n", "--pidfile=", "netlab", "--web-port", "tcp:nope"
        )
        self.assertEqual(code, 2)  # twistderr: one line (tests/test_twistd_errors.py)
        self.assertEqual((out, err), (b"", b"twistd netlab: invalid endpoint 'tcp:nope': "
                                      b"'nope' is not a number; run with --help for the options\n"))

    async def test_one_process_serves_both(self) -> None:
        root = self.tempdir()
        with open(os.path.join(root, "hello.txt"), "wb") as f:
            f.write(b"hello from netlab\n")
        watcher = _Twistd()
        process = reactor.spawnProcess(
            watcher,
            sys.executable,
            [sys.executable, *TWISTD, "-n", "--pidfile=", "netlab",
             "--web-port", "tcp:0:interface=127.0.0.1",
             "--tcp-port", "tcp:0:interface=127.0.0.1", "--path", root],
            env=dict(os.environ),
            path=self.tempdir(),
        )

        def stop() -> Deferred[None]:
            if process.pid is not None:
                process.signalProcess("KILL")
            return watcher.ended

        self.addCleanup(stop)
        tcp_port, http_port = await watcher.ports.addTimeout(30, reactor)

        result = await exchange(reactor, f"tcp:127.0.0.1:{tcp_port}", [b"one", b"two"])
        self.assertEqual(result.replies, [(0, b"one"), (1, b"two")])

        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get(f"http://127.0.0.1:{http_port}/hello.txt", pool=pool)
        self.assertEqual(response.code, 200)
        self.assertEqual(await treq.content(response), b"hello from netlab\n")
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [b"text/plain; charset=utf-8"]
        )
