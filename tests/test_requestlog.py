"""The compact request log: its line, its escaping, its batching, and its switches."""

from __future__ import annotations

import io
import time
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from twisted_netlab import cli
from twisted_netlab.cli import NetlabCommand, WebCommand, wants_colour
from twisted_netlab.web import tap
from twisted_netlab.web.config import RequestLogConfig
from twisted_netlab.web.requestlog import FLUSH_BYTES, RequestLog, escape_target, status_text


def _utc(seconds: float) -> time.struct_time:
    return time.gmtime(seconds)


def _request(uri: bytes, code: int = 200, sent: int = 1024, started: float | None = None) -> Any:
    request: Any = DummyRequest([b""])
    request.method = b"GET"
    request.uri = uri
    request.code = code
    request.sentLength = sent
    request.client = IPv4Address("TCP", "127.0.0.1", 50000)
    if started is not None:
        request.started = started
    return request


class _Counting(io.StringIO):
    """Counts the writes: batching means one write per batch, not one per line."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1


class RequestLogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_796_000_000.25)  # 2026-11-30 00:53:20 UTC
        self.out = _Counting()
        self.log = RequestLog(self.out, self.clock, local_time=_utc)

    def test_line(self) -> None:
        self.log.log(_request(b"/a/b.txt?x=1", 200, 1024, started=self.clock.seconds() - 0.0042))
        self.log.flush()
        self.assertEqual(
            self.out.getvalue(),
            "2026-11-30 00:53:20 127.0.0.1 GET /a/b.txt?x=1 200 1024B 4.2ms\n",
        )

    def test_without_a_start_time(self) -> None:
        self.log.log(_request(b"/", 404, 9))
        self.log.flush()
        self.assertEqual(self.out.getvalue(), "2026-11-30 00:53:20 127.0.0.1 GET / 404 9B -\n")

    def test_batched_until_the_timer(self) -> None:
        for _ in range(50):
            self.log.log(_request(b"/x"))
        self.assertEqual((self.out.writes, self.out.getvalue()), (0, ""))
        self.clock.advance(0.2)
        self.assertEqual((self.out.writes, self.out.flushes), (1, 1))
        self.assertEqual(len(self.out.getvalue().splitlines()), 50)
        self.assertEqual(self.clock.getDelayedCalls(), [])  # idle: no timer left running

    def test_large_batches_go_out_at_once(self) -> None:
        line_length = len("2026-11-30 00:53:20 127.0.0.1 GET /x 200 1024B -\n")
        for _ in range(FLUSH_BYTES // line_length + 1):
            self.log.log(_request(b"/x"))
        self.assertEqual(self.out.writes, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close_writes_what_waits(self) -> None:
        self.log.log(_request(b"/x"))
        self.log.close()
        self.assertEqual(self.out.writes, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_time_formatted_once_per_second(self) -> None:
        calls: list[float] = []

        def counting(seconds: float) -> time.struct_time:
            calls.append(seconds)
            return time.gmtime(seconds)

        log = RequestLog(self.out, self.clock, local_time=counting)
        for _ in range(20):
            log.log(_request(b"/x"))
        self.clock.advance(1)
        log.log(_request(b"/x"))
        self.assertEqual(calls, [1_796_000_000, 1_796_000_001])

    def test_broken_output_does_not_raise(self) -> None:
        out = io.StringIO()
        out.close()
        log = RequestLog(out, self.clock)
        log.log(_request(b"/x"))
        log.flush()  # ValueError on a closed file: dropped, not raised

    def test_every_byte_is_kept_or_escaped_by_the_rule(self) -> None:
        for b in range(256):
            plain = 0x21 <= b < 0x7F and b not in (0x22, 0x5C)
            self.assertEqual(escape_target(b"/a" + bytes([b])),
                             "/a" + (chr(b) if plain else f"\\x{b:02X}"), b)

    def test_escaping_forbids_forged_lines_and_terminal_escapes(self) -> None:
        self.assertEqual(escape_target(b"/plain/path?q=1&r=%20"), "/plain/path?q=1&r=%20")
        self.assertEqual(
            escape_target(b'/a\r\nFAKE 200\x1b[31m"\\\xff'),
            "/a\\x0D\\x0AFAKE\\x20200\\x1B[31m\\x22\\x5C\\xFF",
        )
        self.log.log(_request(b"/\n\x1b", 400, 0))
        self.log.flush()
        self.assertEqual(self.out.getvalue().count("\n"), 1)
        self.assertNotIn("\x1b", self.out.getvalue())

    def test_colour_only_when_asked(self) -> None:
        self.assertEqual(status_text(200, False), "200")
        self.assertEqual(status_text(200, True), "\x1b[32m200\x1b[0m")
        self.assertEqual(status_text(304, True), "\x1b[36m304\x1b[0m")
        self.assertEqual(status_text(404, True), "\x1b[33m404\x1b[0m")
        self.assertEqual(status_text(503, True), "\x1b[31m503\x1b[0m")
        self.assertEqual(status_text(101, True), "101")
        coloured = RequestLog(self.out, self.clock, colour=True, local_time=_utc)
        coloured.log(_request(b"/", 404, 0))
        coloured.flush()
        self.assertIn(" \x1b[33m404\x1b[0m 0B ", self.out.getvalue())


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class SwitchTests(SynchronousTestCase):
    """On by default in the short commands, off with --quiet, never in the plugins."""

    def test_colour_rule(self) -> None:
        self.assertTrue(wants_colour(_Stream(True), {"TERM": "xterm"}))
        self.assertFalse(wants_colour(_Stream(False), {"TERM": "xterm"}))
        self.assertFalse(wants_colour(_Stream(True), {"TERM": "xterm", "NO_COLOR": "1"}))
        self.assertFalse(wants_colour(_Stream(True), {"TERM": "dumb"}))

    def test_short_commands(self) -> None:
        self.patch(cli, "wants_colour", lambda stream, environ: False)
        options = WebCommand()
        options.parseOptions(["-p", "0"])
        self.assertEqual(options.web_config.request_log, RequestLogConfig(colour=False))
        quiet = WebCommand()
        quiet.parseOptions(["-p", "0", "--quiet"])
        self.assertIsNone(quiet.web_config.request_log)
        short = WebCommand()
        short.parseOptions(["-q", "-p", "0", "--access-log", "/tmp/x.log"])
        self.assertIsNone(short.web_config.request_log)
        self.assertEqual(short.web_config.access_log, "/tmp/x.log")
        both = WebCommand()
        both.parseOptions(["-p", "0", "--access-log", "/tmp/x.log"])
        self.assertIsNotNone(both.web_config.request_log)  # terminal and file
        stdout = WebCommand()
        stdout.parseOptions(["-p", "0", "--access-log", "-"])
        self.assertIsNone(stdout.web_config.request_log)  # the combined log has stdout
        netlab = NetlabCommand()
        netlab.parseOptions(["--web-port", "0", "--tcp-port", "0", "-q"])
        self.assertIsNone(netlab.web_config.request_log)

    def test_plugin_keeps_its_behaviour(self) -> None:
        options = tap.Options()
        options.parseOptions(["--port", "tcp:0"])
        self.assertIsNone(options.web_config.request_log)
        self.assertIsNone(options.web_config.access_log)
