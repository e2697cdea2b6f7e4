"""The client: its library entry in-process, and the CLI as a subprocess, on loopback."""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from twisted_netlab.tcp.client import ClientError, exchange
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
        with self.assertRaises(ClientError) as ctx:
            await exchange(reactor, "bogus:1", [b"x"])
        self.assertIn("invalid endpoint", str(ctx.exception))


class CommandLineTests(ClientTestCase):
    async def test_burst_prints_each_reply(self) -> None:
        endpoint = self.echo()
        code, out, err = await self.cli("-e", endpoint, "--burst", "1", "2", "你好")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("  reply serial 0: 1\n  reply serial 1: 2\n  reply serial 2: 你好\n", out)
        self.assertTrue(out.endswith("3 replies in 1 read(s)\n"), out)

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
        self.assertEqual(out, "read 1: 4 bytes: 1234\n4 bytes in 1 read(s)\n")

    async def test_refused_is_one_line_and_nonzero(self) -> None:
        port = reactor.listenTCP(0, EchoFactory(reactor), interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()
        code, out, err = await self.cli("-e", f"tcp:127.0.0.1:{number}", "x")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1)
        self.assertTrue(err.startswith("netlab-client: cannot connect to"), err)
