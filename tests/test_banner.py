"""The banner of the short commands, and a quiet start (no factory noise).

The end-to-end test runs in-process: the command's own parser, ``makeService`` and
``start`` on ``tcp:0``, then the banner printed into a buffer, then a real request to
the URL the banner printed (so the port shown is the port that answers).
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor as _reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool

from twisted_netlab import cli
from twisted_netlab import tap as netlab_tap
from twisted_netlab.banner import Listener, banner_lines, listener_url
from twisted_netlab.cli import WebCommand, print_banner, quiet_observer, start
from twisted_netlab.tls import TLSMaterial
from twisted_netlab.tls_options import TLSConfig
from twisted_netlab.web import tap as web_tap
from twisted_netlab.web.config import StaticConfig, WebConfig

reactor: Any = _reactor


class ListenerURLTests(SynchronousTestCase):
    def test_urls(self) -> None:
        def url(
            description: str, address: Any, role: str = "web", tls: bool = False
        ) -> tuple[str, str]:
            return listener_url(Listener(description, role, address), tls=tls)

        self.assertEqual(url("tcp:0:interface=127.0.0.1", IPv4Address("TCP", "127.0.0.1", 41234)),
                         ("http://127.0.0.1:41234/", ""))
        local = IPv4Address("TCP", "127.0.0.1", 8443)
        self.assertEqual(url("tcp:0:interface=127.0.0.1", local, tls=True),
                         ("https://127.0.0.1:8443/", ""))
        self.assertEqual(url("tcp:8080:interface=0.0.0.0", IPv4Address("TCP", "0.0.0.0", 8080)),
                         ("http://127.0.0.1:8080/", "every IPv4 interface"))
        self.assertEqual(url("tcp6:0:interface=\\:\\:1", IPv6Address("TCP", "::1", 5000)),
                         ("http://[::1]:5000/", ""))
        self.assertEqual(url("ssl:443:privateKey=k.pem", IPv4Address("TCP", "127.0.0.1", 443)),
                         ("https://127.0.0.1:443/", ""))
        self.assertEqual(url("unix:/run/web.sock", UNIXAddress(b"/run/web.sock")),
                         ("unix:/run/web.sock", ""))
        echo = IPv4Address("TCP", "127.0.0.1", 9000)
        self.assertEqual(url("tcp:9000:interface=127.0.0.1", echo, "tcp"), ("127.0.0.1:9000", ""))
        # Not opened by this process (workers): the configured address.
        self.assertEqual(url("tcp:8080:interface=\\:\\:1", None), ("http://[::1]:8080/", ""))

    def test_tls_fingerprint_and_features(self) -> None:
        material = TLSMaterial(b"", b"", "AB:CD:EF", Path("/data/localhost-cert.pem"),
                               Path("/data/localhost-key.pem"), self_signed=True)
        web = WebConfig(static=StaticConfig(root="/srv/site"))
        lines = banner_lines(
            "netlab-web", [Listener("tcp:0", "web", IPv4Address("TCP", "127.0.0.1", 4443))],
            web=web, tls=TLSConfig(material),
        )
        self.assertEqual(lines, [
            "netlab-web: serving /srv/site",
            "  web:      https://127.0.0.1:4443/",
            "  tls:      self-signed certificate /data/localhost-cert.pem",
            "            SHA-256 AB:CD:EF",
            "  files:    listing on",
            "Ctrl-C to stop",
        ])


class BannerRunTests(TestCase):
    """netlab-web's parser, service and start, in-process, on tcp:0."""

    def setUp(self) -> None:
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        with open(os.path.join(self.folder, "hello.txt"), "wb") as handle:
            handle.write(b"hello\n")
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.stdout = io.StringIO()
        self.patch(sys, "stdout", self.stdout)  # where the request log writes
        self.patch(cli, "wants_colour", lambda stream, environ: False)

    async def serve(self, *argv: str) -> tuple[str, str]:
        options = WebCommand()
        options.parseOptions([self.folder, "-p", "0", *argv])
        top = web_tap.makeService(options)
        listening = start(top, options["ports"])
        banner = io.StringIO()
        print_banner(banner, "netlab-web")(options, listening)
        self.stop = top.stopService
        self.addCleanup(lambda: top.stopService() if top.running else None)
        return banner.getvalue(), str(listening[0][1].getHost().port)  # type: ignore[attr-defined]

    async def test_banner_urls_answer_and_requests_are_logged(self) -> None:
        text, port = await self.serve(
            "--cors", "https://app.example", "--proxy", "/api=http://127.0.0.1:9",
            "--tools",
        )
        self.assertEqual(text, "\n".join([
            f"netlab-web: serving {self.folder}",
            f"  web:      http://127.0.0.1:{port}/",
            "  files:    listing on",
            "  proxy:    /api -> http://127.0.0.1:9",
            "  cors:     https://app.example",
            f"  tools:    http://127.0.0.1:{port}/_netlab/",
            "  log:      one line per request below (--quiet: none)",
            "Ctrl-C to stop",
        ]) + "\n")
        [url] = re.findall(r"  web: +(\S+)\n", text)
        response = await treq.get(url + "hello.txt", pool=self.pool)
        self.assertEqual((response.code, await response.content()), (200, b"hello\n"))
        response = await treq.get(url + "nope%0d%0aX", pool=self.pool)
        self.assertEqual(response.code, 400)  # control characters are refused
        await response.content()
        await self.stop()  # stopping flushes the batch
        lines = self.stdout.getvalue().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(
            lines[0],
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 127\.0\.0\.1 GET /hello\.txt 200 6B \d+\.\dms$",
        )
        self.assertRegex(lines[1], r" GET /nope%0d%0aX 400 \d+B \d+\.\dms$")
        noise = [formatEvent(e) for e in self.events
                 if re.search(r"(Starting|Stopping) factory <twisted_netlab", formatEvent(e) or "")]
        self.assertEqual(noise, [])

    async def test_quiet(self) -> None:
        text, port = await self.serve("--quiet")
        self.assertNotIn("log:", text)
        response = await treq.get(f"http://127.0.0.1:{port}/hello.txt", pool=self.pool)
        await response.content()
        await self.stop()
        self.assertEqual(self.stdout.getvalue(), "")


class QuietObserverTests(SynchronousTestCase):
    def test_port_lines_dropped_others_kept(self) -> None:
        seen: list[LogEvent] = []
        observer = quiet_observer(seen.append)
        observer({"log_namespace": "log_legacy", "message": ("LimitedSite starting on 8080",),
                  "log_format": "{log_text}"})
        observer({"log_namespace": "twisted_netlab.tls_options", "banner": "HTTPS ...",
                  "log_format": "{banner}"})
        kept: LogEvent = {"log_namespace": "log_legacy", "message": ("(TCP Port 8080 Closed)",)}
        observer(kept)
        other: LogEvent = {"log_namespace": "x", "log_format": "drain finished"}
        observer(other)
        self.assertEqual(seen, [kept, other])


class WorkerArgvTests(SynchronousTestCase):
    """``--workers`` hands each worker the plugin's own command line: it must parse."""

    def test_web(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        options = WebCommand()
        options.parseOptions([folder, "-p", "0", "-a", "::1", "--quiet", "--no-listing",
                              "--workers", "2"])
        argv = options["scale"].argv
        self.assertEqual(
            list(argv),
            ["--no-listing", "--workers", "2", "--port", "tcp:0:interface=\\:\\:1",
             "--path", folder],
        )
        plugin = web_tap.Options()
        plugin.parseOptions([*argv, "--workers", "1"])
        self.assertEqual(plugin["ports"], ["tcp:0:interface=\\:\\:1"])
        self.assertEqual(plugin.web_config.static.root, folder)
        self.assertFalse(plugin.web_config.static.listing)
        self.assertIsNone(options.web_config.request_log)  # workers: the plugin's logs

    def test_netlab(self) -> None:
        options = cli.NetlabCommand()
        options.parseOptions(["--web-port", "8081", "--tcp-port", "9001", "--workers", "2"])
        plugin = netlab_tap.Options()
        plugin.parseOptions([*options["scale"].argv, "--workers", "1"])
        self.assertEqual(plugin["web-ports"], ["tcp:8081:interface=127.0.0.1"])
        self.assertEqual(plugin["tcp-ports"], ["tcp:9001:interface=127.0.0.1"])
