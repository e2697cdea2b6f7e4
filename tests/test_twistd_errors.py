"""One-line errors under real ``twistd`` processes (issue 11, the plugins' part).

Each case runs ``twistd -n --pidfile= <plugin> ...`` as a subprocess (bounded by a
timeout; every process here fails fast or is ours to stop) and pins the exact stderr,
the exit status, and that no traceback reaches stdout (twistd's log) either.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_netlab.startup_messages import HINT, listen_message, reason
from twisted_netlab.twistd_errors import OneLineUsage, StartupGuard, access_log_problem
from twisted_netlab.web import tap as web_tap

HERE = Path(__file__).resolve().parent
_SCRIPT = Path(sys.executable).parent / "twistd"
# The venv's twistd script when there is one (argv[0] is then really "twistd").
TWISTD = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "from twisted.scripts.twistd import run; run()"
]


def twistd(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as folder:  # twistd.log etc. land here, if any
        return subprocess.run(
            [*TWISTD, "-n", "--pidfile=", *args],
            capture_output=True, text=True, timeout=60, cwd=folder,
            env={**os.environ, "COLUMNS": "80"},
        )


def _bound_port() -> tuple[socket.socket, int]:
    """A listening socket on 127.0.0.1 (port chosen by the kernel): a port in use."""
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    return taken, taken.getsockname()[1]


class UsageErrorTests(SynchronousTestCase):
    """A bad option: one line on stderr, nothing on stdout, exit status 2."""

    CASES: ClassVar[list[tuple[list[str], str]]] = [
        (["netlab-web", "--max-body", "lots"],
         "twistd netlab-web: --max-body 'lots' is not a size (e.g. 4096, 64k, 10m, 1g)"),
        (["netlab-web", "--hotlink-mode", "bogus", "--valid-referers", "example.com"],
         "twistd netlab-web: hotlink mode 'bogus': choose one of referer, signed, either, both"),
        (["netlab-web", "-p", "tcp:nope"],
         "twistd netlab-web: invalid endpoint 'tcp:nope': 'nope' is not a number"),
        (["netlab-tcp", "--framing", "bogus"],
         "twistd netlab-tcp: --framing must be one of seed, wide, len32, none, not 'bogus'"),
        (["netlab", "--tcp-framing", "bogus"],
         "twistd netlab: --tcp-framing must be one of seed, wide, len32, none, not 'bogus'"),
        (["netlab-web", "--no-such-option"],
         "twistd netlab-web: option --no-such-option not recognized"),
    ]

    def test_one_line(self) -> None:
        for args, start in self.CASES:
            with self.subTest(args=args):
                done = twistd(*args)
                self.assertEqual((done.returncode, done.stdout), (2, ""), done.stderr)
                lines = done.stderr.splitlines()
                self.assertEqual(len(lines), 1, done.stderr)
                self.assertTrue(lines[0].startswith(start), lines[0])
                self.assertTrue(lines[0].endswith(f"; {HINT}"), lines[0])

    def test_exact_line(self) -> None:
        done = twistd("netlab-web", "--max-body", "lots")
        self.assertEqual(
            done.stderr,
            "twistd netlab-web: --max-body 'lots' is not a size (e.g. 4096, 64k, 10m, 1g); "
            "run with --help for the options\n",
        )

    def test_help_is_still_the_full_help(self) -> None:
        done = twistd("netlab-web", "--help")
        self.assertEqual((done.returncode, done.stderr), (0, ""))
        lines = done.stdout.splitlines()
        self.assertEqual(lines[0], "Usage: twistd [options] netlab-web [netlab-web options]")
        self.assertGreater(len(lines), 100)
        self.assertIn("--max-body=", done.stdout)

    def test_twistd_own_options_keep_twistd_wall(self) -> None:
        """What twistd does not let a plugin change: its own options' errors."""
        done = twistd("--no-such-twistd-option", "netlab-web")
        self.assertEqual((done.returncode, done.stderr), (1, ""))
        lines = done.stdout.splitlines()
        self.assertEqual(lines[0], "Usage: twistd [options]")
        self.assertGreater(len(lines), 50)
        self.assertTrue(lines[-1].endswith(": option --no-such-twistd-option not recognized"))


class StartupFailureTests(SynchronousTestCase):
    """A listener or file that cannot be opened: one line on stderr, exit status 1."""

    def assert_fails(self, args: list[str], line: str) -> None:
        done = twistd(*args)
        self.assertEqual((done.returncode, done.stderr), (1, line + "\n"), done.stdout)
        self.assertNotIn("Traceback", done.stdout)
        if "cannot listen" in line:  # also in the log, for a daemon's log file
            self.assertIn(f"#critical] {line}\n", done.stdout)

    def test_port_in_use_web(self) -> None:
        taken, port = _bound_port()
        self.addCleanup(taken.close)
        where = f"tcp:{port}:interface=127.0.0.1"
        self.assert_fails(
            ["netlab-web", "-p", where],
            f"twistd netlab-web: cannot listen on {where}: address already in use",
        )

    def test_port_in_use_tcp(self) -> None:
        taken, port = _bound_port()
        self.addCleanup(taken.close)
        where = f"tcp:{port}:interface=127.0.0.1"
        self.assert_fails(
            ["netlab-tcp", "-p", where],
            f"twistd netlab-tcp: cannot listen on {where}: address already in use",
        )

    def test_port_in_use_combined_names_the_right_port(self) -> None:
        taken, port = _bound_port()
        self.addCleanup(taken.close)
        where = f"tcp:{port}:interface=127.0.0.1"
        free = "tcp:0:interface=127.0.0.1"
        self.assert_fails(
            ["netlab", "--tcp-port", free, "--web-port", where],
            f"twistd netlab: cannot listen on {where}: address already in use",
        )
        self.assert_fails(
            ["netlab", "--tcp-port", where, "--web-port", free],
            f"twistd netlab: cannot listen on {where}: address already in use",
        )

    def test_metrics_port_in_use(self) -> None:
        taken, port = _bound_port()
        self.addCleanup(taken.close)
        where = f"tcp:{port}:interface=127.0.0.1"
        self.assert_fails(
            ["netlab-web", "-p", "tcp:0:interface=127.0.0.1", "--metrics", where],
            f"twistd netlab-web: cannot listen on {where}: address already in use",
        )

    def test_workers_port_in_use(self) -> None:
        """The supervisor opens the sockets in startService: named by address."""
        taken, port = _bound_port()
        self.addCleanup(taken.close)
        self.assert_fails(
            ["netlab-web", "-p", f"tcp:{port}:interface=127.0.0.1", "--workers", "2"],
            f"twistd netlab-web: cannot listen on 127.0.0.1:{port}: address already in use",
        )

    def test_bad_interface(self) -> None:
        where = "tcp:0:interface=999.1.1.1"
        self.assert_fails(
            ["netlab-web", "-p", where],
            f"twistd netlab-web: cannot listen on {where}: name or service not known",
        )

    def test_unix_socket_in_missing_folder(self) -> None:
        where = "unix:/nonexistent-dir/x.sock"
        self.assert_fails(
            ["netlab-web", "-p", where],
            f"twistd netlab-web: cannot listen on {where}: no such file or directory",
        )

    def test_port_out_of_range(self) -> None:
        self.assert_fails(
            ["netlab-tcp", "-p", "tcp:99999"],
            "twistd netlab-tcp: cannot listen on tcp:99999: bind(): port must be 0-65535",
        )

    def test_access_log_in_missing_folder(self) -> None:
        self.assert_fails(
            ["netlab-web", "-p", "tcp:0:interface=127.0.0.1",
             "--access-log", "/nonexistent-dir/access.log"],
            "twistd netlab-web: cannot open --access-log /nonexistent-dir/access.log: "
            "no such file or directory",
        )


class DaemonTests(SynchronousTestCase):
    """Without ``-n`` twistd's parent process prints what the daemon reported."""

    def test_port_in_use_daemon(self) -> None:
        taken, port = _bound_port()
        self.addCleanup(taken.close)
        where = f"tcp:{port}:interface=127.0.0.1"
        folder = os.path.abspath(self.mktemp())  # twistd runs in it: paths absolute
        os.mkdir(folder)
        logfile = os.path.join(folder, "twistd.log")
        done = subprocess.run(
            [*TWISTD, f"--pidfile={folder}/twistd.pid", f"--logfile={logfile}",
             "netlab-web", "-p", where],
            capture_output=True, text=True, timeout=60, cwd=folder,
        )
        # twistd's words, not ours: the repr of the report's first 98 bytes.
        report = (f"twisted_netlab.twistd_errors.StartupFailed: twistd netlab-web: "
                  f"cannot listen on {where}: address already in use")
        self.assertEqual(
            (done.returncode, done.stdout, done.stderr),
            (1, "", f"An error has occurred: {report.encode()[:98]!r}\n"
                    "Please look at log file for more information.\n"),
        )
        with open(logfile) as f:
            self.assertIn(
                f"#critical] twistd netlab-web: cannot listen on {where}: "
                "address already in use\n", f.read()
            )


class _ParentOptions(usage.Options):
    subCommand = "netlab-web"


class OneLineUsageTests(SynchronousTestCase):
    """The mixin only acts under twistd (a parent); tests and cli.py see UsageError."""

    def test_without_parent_raises(self) -> None:
        self.assertRaises(usage.UsageError, web_tap.Options().parseOptions, ["--max-body", "x"])

    def test_with_parent_exits_2(self) -> None:
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        self.patch(sys, "argv", ["/some/venv/bin/twistd", "-n"])
        options = web_tap.Options()
        options.parent = _ParentOptions()
        exc = self.assertRaises(SystemExit, options.parseOptions, ["--max-body", "x"])
        self.assertEqual(exc.code, 2)
        self.assertEqual(err.getvalue(), "twistd netlab-web: --max-body 'x' is not a size "
                         f"(e.g. 4096, 64k, 10m, 1g); {HINT}\n")

    def test_is_first_base(self) -> None:
        from twisted_netlab import tap as combined
        from twisted_netlab.tcp import tap as tcp_tap

        for options in (web_tap.Options, tcp_tap.Options, combined.Options):
            self.assertIs(options.__mro__[1], OneLineUsage)


class AccessLogProblemTests(SynchronousTestCase):
    def test_problems(self) -> None:
        folder = self.mktemp()
        os.mkdir(folder)
        self.assertIsNone(access_log_problem(None))
        self.assertIsNone(access_log_problem("-"))
        self.assertIsNone(access_log_problem(os.path.join(folder, "a.log")))
        self.assertEqual(access_log_problem(folder), "is a directory")
        self.assertEqual(
            access_log_problem(os.path.join(folder, "no", "a.log")), "no such file or directory"
        )


@implementer(IStreamServerEndpoint)
class _Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return fail(self.error)


class GuardTests(SynchronousTestCase):
    """In memory: the guard names the listener by the description the user gave."""

    def _guard(self, error: Exception) -> StartupGuard:
        top = service.MultiService()
        for endpoint in (_Refusing(error),):
            listener = StreamServerEndpointService(endpoint, Factory())
            listener._raiseSynchronously = True  # what strports.service sets
            listener.setServiceParent(top)
        return StartupGuard(top, ["tcp:8080:interface=127.0.0.1"], "netlab-web")

    def test_names_the_endpoint(self) -> None:
        err = io.StringIO()
        self.patch(sys, "__stderr__", err)
        self.patch(sys, "argv", ["twistd"])
        in_use = CannotListenError("127.0.0.1", 8080, OSError(98, "Address already in use"))
        exc = self.assertRaises(SystemExit, self._guard(in_use).privilegedStartService)
        self.assertEqual(exc.code, 1)
        self.assertEqual(
            err.getvalue(),
            "twistd netlab-web: cannot listen on tcp:8080:interface=127.0.0.1: "
            "address already in use\n",
        )
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_tree_is_unchanged_for_others(self) -> None:
        """cli.py and the workers walk the tree: the guard only adds a parent."""
        guard = self._guard(OSError(2, "No such file or directory"))
        (top,) = list(guard)
        self.assertEqual(len(list(top)), 1)


class MessageTests(SynchronousTestCase):
    def test_reason(self) -> None:
        self.assertEqual(
            reason(CannotListenError("", 80, OSError(13, "Permission denied"))),
            "permission denied",
        )
        self.assertEqual(reason(OverflowError("bind(): port must be 0-65535.")),
                         "bind(): port must be 0-65535")
        self.assertEqual(reason(FileNotFoundError(2, "No such file or directory", "/x")),
                         "no such file or directory")
        self.assertEqual(reason(ValueError("IPv6 only\nhere.")), "IPv6 only here")

    def test_listen_message(self) -> None:
        self.assertEqual(
            listen_message("tcp:80", CannotListenError("", 80, OSError(13, "Permission denied"))),
            "cannot listen on tcp:80: permission denied",
        )
