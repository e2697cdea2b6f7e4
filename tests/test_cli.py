"""The short commands (``netlab-web``, ``netlab-tcp``, ``netlab``): vocabulary and errors.

Usage errors run in-process (parsing never touches the reactor's run loop); listen
failures and a real foreground run go through a subprocess, because they are about
what the user sees on the terminal and the exit status.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_netlab.cli import (
    HINT,
    NetlabCommand,
    StartupError,
    TCPCommand,
    WebCommand,
    main_netlab,
    main_tcp,
    main_web,
    port_description,
    start,
)
from twisted_netlab.tcp import tap as tcp_tap

RUN_TIMEOUT = 60.0
MAINS = {"netlab-web": main_web, "netlab-tcp": main_tcp, "netlab": main_netlab}

# (command, argv, exact one-line message)
USAGE_ERRORS = [
    ("netlab-web", ["-p", "abc"], "--port 'abc': unknown endpoint type 'abc' (give a port "
     "number, or tcp:PORT, tcp6:PORT, unix:PATH, ssl:PORT:...)"),
    ("netlab-web", ["-p", "tcp:abc"], "--port 'tcp:abc': 'abc' is not a number"),
    ("netlab-web", ["-p", "tcp:"], "--port 'tcp:': a number is missing"),
    ("netlab-web", ["-p", "tcp:80:bogus=1"], "--port 'tcp:80:bogus=1': unknown parameter 'bogus'"),
    ("netlab-web", ["-p", "99999"], "--port '99999': port numbers go from 0 to 65535"),
    ("netlab-web", ["--port"], "option --port requires argument"),
    ("netlab-web", ["-a", "999.1.1.1"],
     "--address '999.1.1.1' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)"),
    ("netlab-web", ["--bogus"], "option --bogus not recognized"),
    ("netlab-web", ["/nonexistent-dir"],
     "folder '/nonexistent-dir' does not exist or is not a folder"),
    ("netlab-web", [".", ".."], "give one folder, not 2: '. ..'"),
    ("netlab-tcp", ["somewhere"], "unexpected argument 'somewhere'"),
    ("netlab-tcp", ["-p", "tcp:x"], "--port 'tcp:x': 'x' is not a number"),
    ("netlab-tcp", ["--framing", "bogus"],
     "--framing must be one of seed, wide, len32, none, not 'bogus'"),
    ("netlab", ["--tcp-port", "70000"], "--tcp-port '70000': port numbers go from 0 to 65535"),
    ("netlab", ["--web-port", "unix"], "--web-port 'unix': the address is missing"),
    ("netlab", ["--web-port", "nope:1"], "--web-port 'nope:1': unknown endpoint type 'nope' (give "
     "a port number, or tcp:PORT, tcp6:PORT, unix:PATH, ssl:PORT:...)"),
    ("netlab-web", ["--port=1", "--prt=2"], "option --prt not recognized"),
]


class PortVocabularyTests(SynchronousTestCase):
    def test_bare_port(self) -> None:
        self.assertEqual(
            port_description("-p", "8081", "127.0.0.1"), "tcp:8081:interface=127.0.0.1"
        )
        self.assertEqual(port_description("-p", "0", "::1"), "tcp:0:interface=\\:\\:1")
        self.assertEqual(port_description("-p", "unix:/x.sock", "::1"), "unix:/x.sock")

    def test_defaults_and_address(self) -> None:
        options = WebCommand()
        options.parseOptions([])
        self.assertEqual(options["ports"], ["tcp:8080:interface=127.0.0.1"])
        options = WebCommand()
        options.parseOptions(["-p", "8081", "-p", "unix:/tmp/x.sock", "-a", "0.0.0.0"])
        self.assertEqual(options["ports"], ["tcp:8081:interface=0.0.0.0", "unix:/tmp/x.sock"])
        tcp = TCPCommand()
        tcp.parseOptions(["--address", "::1"])
        self.assertEqual(tcp["ports"], ["tcp:9000:interface=\\:\\:1"])

    def test_folder_argument(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        options = WebCommand()
        options.parseOptions([folder, "--no-listing"])
        self.assertEqual(options["path"], folder)
        self.assertTrue(options["no-listing"])
        both = NetlabCommand()
        both.parseOptions([folder, "--web-port", "8081", "--tcp-port", "9001"])
        self.assertEqual(both["path"], folder)
        self.assertEqual(both["web-ports"], ["tcp:8081:interface=127.0.0.1"])
        self.assertEqual(both["tcp-ports"], ["tcp:9001:interface=127.0.0.1"])

    def test_help_lists_the_new_options(self) -> None:
        text = str(WebCommand())
        self.assertIn("-a, --address=", text)
        self.assertIn("-p, --port=", text)
        self.assertIn("[DIR] [-p PORT|ENDPOINT]", text)


class UsageErrorTableTests(SynchronousTestCase):
    def test_table(self) -> None:
        for prog, argv, message in USAGE_ERRORS:
            err = io.StringIO()
            status = MAINS[prog](argv, stderr=err)
            with self.subTest(prog=prog, argv=argv):
                self.assertEqual(status, 2)
                self.assertEqual(err.getvalue(), f"{prog}: {message}; {HINT}\n")


def _run(prog: str, *argv: str) -> subprocess.CompletedProcess[str]:
    main = {"netlab-web": "main_web", "netlab-tcp": "main_tcp", "netlab": "main_netlab"}[prog]
    code = f"import sys; from twisted_netlab.cli import {main}; sys.exit({main}())"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True,
        timeout=RUN_TIMEOUT, check=False, stdin=subprocess.DEVNULL,
    )


class StartupFailureTests(SynchronousTestCase):
    """Each failure: exit 1, one line on stderr, nothing on stdout, no traceback."""

    def check(self, result: subprocess.CompletedProcess[str], line: str) -> None:
        self.assertEqual((result.returncode, result.stderr, result.stdout), (1, line + "\n", ""))

    def test_port_in_use(self) -> None:
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        for prog, option in (("netlab-web", "-p"), ("netlab-tcp", "-p"), ("netlab", "--tcp-port")):
            extra = ["--web-port", "0"] if prog == "netlab" else []
            self.check(
                _run(prog, option, str(port), *extra),
                f"{prog}: cannot listen on tcp:{port}:interface=127.0.0.1: address already in use",
            )

    def test_bad_listen_values(self) -> None:
        missing = os.path.join(os.path.abspath(self.mktemp()), "x.sock")
        for value, reason in (
            ("tcp:0:interface=999.1.1.1", "name or service not known"),
            (f"unix:{missing}", "no such file or directory"),
            ("tcp:99999", "bind(): port must be 0-65535"),
        ):
            self.check(_run("netlab-web", "-p", value),
                       f"netlab-web: cannot listen on {value}: {reason}")

    def test_unwritable_access_log(self) -> None:
        target = os.path.join(os.path.abspath(self.mktemp()), "a.log")
        self.check(
            _run("netlab-web", "-p", "0", "--access-log", target),
            f"netlab-web: cannot open --access-log {target}: no such file or directory",
        )


class StartTests(TestCase):
    """``start`` in-process: real ports for a banner, and no listener left on failure."""

    async def test_reports_real_ports(self) -> None:
        options = TCPCommand()
        options.parseOptions(["-p", "0", "-p", "tcp:0:interface=127.0.0.1"])
        top = tcp_tap.makeService(options)
        listening = start(top, options["ports"])
        self.addCleanup(top.stopService)
        self.assertEqual([d for d, _ in listening], options["ports"])
        ports = [p.getHost().port for _, p in listening]  # type: ignore[attr-defined]
        self.assertEqual(len(set(ports)), 2)
        self.assertNotIn(0, ports)

    async def test_failure_closes_the_listeners_already_open(self) -> None:
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        options = TCPCommand()
        options.parseOptions(["-p", "0", "-p", str(taken)])
        top = tcp_tap.makeService(options)
        with self.assertRaises(StartupError) as caught:
            start(top, options["ports"])
        self.assertEqual(
            str(caught.exception),
            f"cannot listen on tcp:{taken}:interface=127.0.0.1: address already in use",
        )
        first = next(iter(top))
        self.assertFalse(first.running)


class _Output(ProcessProtocol):
    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: Deferred[int | None] = Deferred()
        self.ready: Deferred[int] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data
        match = re.search(rb"  web: +http://127\.0\.0\.1:(\d+)/\n", self.out)
        if match and not self.ready.called:
            self.ready.callback(int(match.group(1)))

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        reason.trap(ProcessDone, ProcessTerminated)
        code = getattr(reason.value, "exitCode", None)
        if not self.ready.called:
            self.ready.errback(Failure(RuntimeError(f"exited early: {self.err[-500:]!r}")))
        self.ended.callback(code)


class ForegroundRunTests(TestCase):
    timeout = 120

    async def test_serves_folder_then_stops_on_sigint(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        with open(os.path.join(folder, "hello.txt"), "wb") as handle:
            handle.write(b"hello\n")
        proto = _Output()
        code = "import sys; from twisted_netlab.cli import main_web; sys.exit(main_web())"
        process = reactor.spawnProcess(
            proto, sys.executable, [sys.executable, "-c", code, folder, "-p", "0"],
            env=dict(os.environ),
        )

        def kill() -> None:
            if process.pid is not None:
                process.signalProcess("KILL")

        watchdog = reactor.callLater(RUN_TIMEOUT, kill)
        self.addCleanup(kill)

        def disarm() -> None:
            if watchdog.active():
                watchdog.cancel()

        self.addCleanup(disarm)
        port = await proto.ready
        response = await treq.get(f"http://127.0.0.1:{port}/hello.txt", persistent=False)
        self.assertEqual((response.code, await response.content()), (200, b"hello\n"))
        process.signalProcess(signal.SIGINT)
        status = await proto.ended
        self.assertEqual(status, 0)
        self.assertIn(f"(TCP Port {port} Closed)".encode(), proto.out)  # stopService ran
        self.assertEqual(proto.err, b"")
