"""The access log: combined log format when asked for, nothing at all otherwise."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import treq
from twisted.internet import reactor as _reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.resource import Resource

from twisted_netlab.web import tap
from twisted_netlab.web.accesslog import _escape
from twisted_netlab.web.site import MountRoot, NetlabSite, build_site

reactor: Any = _reactor

COMBINED = re.compile(
    r'^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] '
    r'"GET /hello\?x=1 HTTP/1\.1" 200 5 "https://ref\.example/" "netlab-test/1"$'
)


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return b"hello"


class AccessLogTests(TestCase):
    def setUp(self) -> None:
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    def listen(self, site: NetlabSite) -> str:
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return f"http://127.0.0.1:{port.getHost().port}"

    async def fetch(self, base: str) -> None:
        response = await treq.get(
            f"{base}/hello?x=1",
            headers={"Referer": "https://ref.example/", "User-Agent": "netlab-test/1"},
            pool=self.pool,
        )
        self.assertEqual(await treq.content(response), b"hello")

    async def test_combined_format(self) -> None:
        sink = io.BytesIO()
        site = NetlabSite(MountRoot(Hello()), access_log=sink)
        await self.fetch(self.listen(site))
        [line] = sink.getvalue().decode().splitlines()
        self.assertRegex(line, COMBINED)

    def test_escapes_quotes_and_controls(self) -> None:
        self.assertEqual(_escape(b'a"b\\c\x01\xff'), "a\\x22b\\x5Cc\\x01\\xFF")

    async def test_off_by_default(self) -> None:
        site = NetlabSite(MountRoot(Hello()))
        self.assertIsNone(site._access_log)
        await self.fetch(self.listen(site))

    async def test_option_writes_a_file(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        with open(os.path.join(root, "hello"), "wb") as f:
            f.write(b"hello")
        log_path = os.path.abspath(self.mktemp())
        options = tap.Options()
        options.parseOptions(["--path", root, "--access-log", log_path])
        site = build_site(options.web_config, reactor)
        self.addCleanup(site._access_log.close)
        await self.fetch(self.listen(site))
        with open(log_path) as f:
            [line] = f.read().splitlines()
        self.assertRegex(line, COMBINED)
