"""The client: its library entry in-process, and the CLI as a subprocess, on loopback."""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from twisted_netlab.tcp.client import (
    ClientError,
    Request,
    UsageError,
    exchange,
    main,
    parse_command_line,
    run,
)
from twisted_netlab.tcp.client_messages import connect_error, framing_hint
from twisted_netlab.tcp.config import EchoConfig
from twisted_netlab.tcp.factory import EchoFactory

reactor: Any = _reactor


class _Closer(Protocol):
    def connectionMade(self) -> None:
        self.transport.loseConnection()


class _Run(ProcessProtocol):
    def __init__(self, stdin: bytes) -> None:
        self.stdin = stdin
        self.out = bytearray()
        self.err = bytearray()
        self.ended: Deferred[int] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.stdin)
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)


class ClientTestCase(TestCase):
    def listen(self, factory: Factory) -> str:
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return f"tcp:127.0.0.1:{port.getHost().port}"

    def echo(self, framing: str = "seed") -> str:
        return self.listen(EchoFactory(reactor, EchoConfig(framing=framing)))

    async def cli(self, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
        run = _Run(stdin)
        env = dict(os.environ, PYTHONIOENCODING="utf-8")
        reactor.spawnProcess(
            run, sys.executable, [sys.executable, "-m", "twisted_netlab.tcp.client", *args],
            env=env,
        )
        code = await run.ended
        return code, run.out.decode(), run.err.decode()


class LibraryTests(ClientTestCase):
    async def test_burst_framed(self) -> None:
        endpoint = self.echo()
        result = await exchange(reactor, endpoint, [b"1", b"2", "你好张三".encode()], burst=True)
        self.assertEqual(result.replies, [(0, b"1"), (1, b"2"), (2, "你好张三".encode())])

    async def test_one_at_a_time(self) -> None:
        endpoint = self.echo("wide")
        result = await exchange(reactor, endpoint, [b"a", b"", b"c"], framing="wide")
        self.assertEqual(result.replies, [(0, b"a"), (1, b""), (2, b"c")])
        self.assertEqual(len(result.reads), 3)

    async def test_sticky_packets_unframed(self) -> None:
        endpoint = self.echo("none")
        result = await exchange(
            reactor, endpoint, [b"1", b"2", b"3", b"4"], framing="none", burst=True
        )
        self.assertEqual(result.reads, [b"1234"])  # four writes, one read: merged
        self.assertEqual(result.replies, [(None, b"1234")])

    async def test_refused(self) -> None:
        port = reactor.listenTCP(0, EchoFactory(reactor), interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()
        exc = None
        try:
            await exchange(reactor, f"tcp:127.0.0.1:{number}", [b"x"])
        except ClientError as e:
            exc = e
        self.assertIsNotNone(exc)
        self.assertIn("cannot connect", str(exc))

    async def test_timeout(self) -> None:
        endpoint = self.listen(Factory.forProtocol(Protocol))  # never answers
        with self.assertRaises(ClientError) as ctx:
            await exchange(reactor, endpoint, [b"x"], timeout=0.3)
        self.assertIn("timed out after 0.3s", str(ctx.exception))

    async def test_server_closes_early(self) -> None:
        endpoint = self.listen(Factory.forProtocol(_Closer))
        with self.assertRaises(ClientError) as ctx:
            await exchange(reactor, endpoint, [b"x", b"y"], burst=True)
        self.assertIn("server closed the connection after 0 of 2 replies", str(ctx.exception))

    async def test_bad_endpoint(self) -> None:
        with self.assertRaises(UsageError) as ctx:
            await exchange(reactor, "bogus:1", [b"x"])
        self.assertEqual(
            str(ctx.exception), "--endpoint 'bogus:1': Unknown endpoint type: 'bogus'"
        )


class CommandLineTests(ClientTestCase):
    async def test_burst_prints_each_reply(self) -> None:
        endpoint = self.echo()
        code, out, err = await self.cli("-e", endpoint, "--burst", "1", "2", "你好")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("  reply serial 0: 1\n  reply serial 1: 2\n  reply serial 2: 你好\n", out)
        self.assertTrue(out.endswith("3 replies in 1 read\n"), out)

    async def test_stdin_lines(self) -> None:
        endpoint = self.echo()
        code, out, err = await self.cli("-e", endpoint, stdin=b"alpha\nbeta\n")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("reply serial 0: alpha", out)
        self.assertIn("reply serial 1: beta", out)

    async def test_sticky_demo(self) -> None:
        endpoint = self.echo("none")
        code, out, err = await self.cli(
            "-e", endpoint, "--framing", "none", "--burst", "1", "2", "3", "4"
        )
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "read 1: 4 bytes: 1234\n4 bytes in 1 read\n")

    async def test_refused_is_one_line_and_nonzero(self) -> None:
        port = reactor.listenTCP(0, EchoFactory(reactor), interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()
        code, out, err = await self.cli("-e", f"tcp:127.0.0.1:{number}", "x")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1)
        self.assertTrue(err.startswith("netlab-client: cannot connect to"), err)


class _Fixed(Protocol):
    """A server that answers anything with fixed bytes (a stand-in for a mismatch)."""

    reply = b""

    def connectionMade(self) -> None:
        self.transport.write(self.reply)


class FriendlyTests(ClientTestCase):
    """One line, the right exit code, and a hint when the framings do not match."""

    def request(self, *argv: str) -> Request:
        return parse_command_line(list(argv), io.StringIO())

    async def run_cli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = await run(reactor, self.request(*argv), out, err)
        return code, out.getvalue(), err.getvalue()

    def test_usage_errors_table(self) -> None:
        cases = [
            (["a" * 40000],
             "message is 40000 bytes; the seed framing carries at most 32767 "
             "(use --framing wide)"),
            (["ok", "b" * 32768],
             "message 2 is 32768 bytes; the seed framing carries at most 32767 "
             "(use --framing wide)"),
            (["-e", "tcp:127.0.0.1:99999", "x"],
             "--endpoint 'tcp:127.0.0.1:99999': port must be 1-65535, not '99999'"),
            (["-e", "tcp:127.0.0.1:0", "x"],
             "--endpoint 'tcp:127.0.0.1:0': port must be 1-65535, not '0'"),
            (["-e", "tcp:127.0.0.1", "x"], "--endpoint 'tcp:127.0.0.1': expected tcp:HOST:PORT"),
            (["-e", "tcp:host=h:port=1:bogus=2", "x"],
             "--endpoint 'tcp:host=h:port=1:bogus=2': unknown tcp parameter 'bogus'"),
            (["-e", "bogus:1", "x"], "--endpoint 'bogus:1': Unknown endpoint type: 'bogus'"),
            (["-e", "unix", "x"],
             "--endpoint 'unix' is not a client endpoint (e.g. tcp:HOST:PORT or unix:PATH)"),
            (["--timeout", "soon", "x"],
             "argument -t/--timeout: must be a positive number of seconds, not 'soon'"),
            (["--timeout", "0", "x"],
             "argument -t/--timeout: must be a positive number of seconds, not '0'"),
            (["--framing", "int24", "x"],
             "argument -f/--framing: invalid choice: 'int24' (choose from 'seed', 'wide', "
             "'len32', 'none')"),
            (["--bogus"], "unrecognized arguments: --bogus"),
        ]
        for argv, message in cases:
            err = io.StringIO()
            self.patch(sys, "stderr", err)
            self.patch(sys, "stdin", io.StringIO(""))
            self.assertEqual(main(argv), 2, argv)
            self.assertEqual(
                err.getvalue(),
                f"netlab-client: {message} (run with --help for the options)\n",
                argv,
            )

    def test_wide_carries_a_40000_byte_message(self) -> None:
        request = self.request("--framing", "wide", "a" * 40000)
        self.assertEqual(len(request.messages[0]), 40000)

    def test_unresolvable_host_is_one_line(self) -> None:
        # The mapping alone: a real lookup would query the machine's DNS server.
        exc = DNSLookupError("address 'x' not found: [Errno -2] Name or service not known.")
        self.assertEqual(connect_error(exc, "tcp:x:9000", ("x", 9000)), "cannot resolve host 'x'")

    async def test_refused_is_one_line(self) -> None:
        port = reactor.listenTCP(0, EchoFactory(reactor), interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()
        code, out, err = await self.run_cli("-e", f"tcp:127.0.0.1:{number}", "x")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"netlab-client: cannot connect to 127.0.0.1:{number}: connection refused "
            "(is the server running?)\n",
        )

    async def test_timeout_says_nothing_came_back(self) -> None:
        endpoint = self.echo("wide")  # waits for an 8-byte header; seed sends 5 bytes
        code, out, err = await self.run_cli("-e", endpoint, "-t", "0.3", "x")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"netlab-client: timed out after 0.3s with 0 of 1 reply from {endpoint}; "
            "nothing came back; the server may use another framing (this client sent "
            "seed frames; try --framing wide, len32, none)\n",
        )

    async def test_timeout_names_the_framing_the_bytes_fit(self) -> None:
        _Fixed.reply = b"\x00\x00\x00\x05hello"  # len32 (and seed) but not wide
        endpoint = self.listen(Factory.forProtocol(_Fixed))
        code, _, err = await self.run_cli("-e", endpoint, "-f", "wide", "-t", "0.3", "x")
        self.assertEqual(code, 1)
        self.assertEqual(
            err,
            f"netlab-client: timed out after 0.3s with 0 of 1 reply from {endpoint}; "
            "9 bytes came back (starting 00 00 00 05 68 65 6c 6c) that do not complete a "
            "wide frame but parse as whole seed or len32 frames: the server probably "
            "uses --framing seed\n",
        )

    def test_framing_hint_without_a_fit(self) -> None:
        self.assertEqual(
            framing_hint("seed", b"\x00\x01\x00"),
            "3 bytes came back (starting 00 01 00) that do not complete a seed frame; "
            "the server may use another framing",
        )

    async def test_len32_replies_print_without_serial_and_plurals(self) -> None:
        endpoint = self.echo("len32")
        code, out, err = await self.run_cli("-e", endpoint, "-f", "len32", "a")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "read 1: 5 bytes, 1 complete frame\n  reply: a\n1 reply in 1 read\n")

    async def test_one_byte_read_is_singular(self) -> None:
        endpoint = self.echo("none")
        code, out, err = await self.run_cli("-e", endpoint, "-f", "none", "z")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "read 1: 1 byte: z\n1 byte in 1 read\n")
