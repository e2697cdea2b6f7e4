"""The fast hit path (``cache_hit.serve_hit``) answers exactly what ``CachingCall`` would.

In memory: the whole site from ``build_site`` on a ``MemoryReactorClock`` (so Age is
fixed), a stored entry put in the shared cache directly, and raw HTTP/1.1 requests
through a ``StringTransport``. A request that takes the fast path is compared byte for
byte with one that the call answers (an If-None-Match that does not match sends the
same full 200 through ``CachingCall``); the relay rules (Via, Location rewriting, CORS
dropping, hop-by-hop) must hold on hits too.
"""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

import shutil
import tempfile
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.decision import admit
from twisted_netlab.http.cors import CorsPolicy
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.config import ProxyCacheConfig, ProxyConfig, StaticConfig, WebConfig
from twisted_netlab.web.proxy.cache_head import HeadMemo
from twisted_netlab.web.site import build_site

PEER = IPv4Address("TCP", "127.0.0.1", 40000)
BODY = b"0123456789abcdef" * 64  # 1 KiB
STORED = (
    ("Date", "Thu, 01 Jan 1970 00:16:40 GMT"),  # the clock's 1000 s
    ("Cache-Control", "public, max-age=3600"),
    ("Content-Type", "application/octet-stream"),
    ("Content-Location", "http://127.0.0.1:9/o/1k"),
    ("Access-Control-Allow-Origin", "*"),
    ("ETag", '"v1"'),
    ("Content-Length", "1024"),
)


class HitPathTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1000)
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        self.mount = ProxyMount("/p", "http://127.0.0.1:9/o")

    def site(self, *, cors_managed: bool = False) -> Any:
        config = WebConfig(
            static=StaticConfig(root=self.root),
            cors=CorsPolicy(frozenset({"https://app.example"})) if cors_managed else None,
            proxy=ProxyConfig(mounts=(self.mount,), cache=ProxyCacheConfig(enabled=True)),
        )
        site = build_site(config, self.reactor)
        cache = site.proxy_caches[0]
        key = cache.key_for(self.mount, b"/o/1k")
        now = cache.now()
        admission = admit(key, "GET", (), 200, STORED, now - 10, now, cache.rules)
        assert admission.meta is not None
        writer = cache.store.begin(admission.meta)
        writer.append(BODY)
        writer.commit()
        self.reactor.advance(5)
        self.cache = cache
        return site

    def ask(self, site: Any, *lines: bytes) -> bytes:
        proto = site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        proto.makeConnection(transport)
        extra = b"".join(line + b"\r\n" for line in lines)
        proto.dataReceived(b"GET /p/1k HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n")
        return bytes(transport.value())

    def test_fast_hit_equals_the_call_answer(self) -> None:
        site = self.site()
        fast = self.ask(site)
        slow = self.ask(site, b'If-None-Match: "other"')
        self.assertEqual(fast, slow)
        self.assertEqual(self.cache.outcomes["hit"], 2)
        self.assertTrue(fast.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(fast.endswith(b"\r\n\r\n" + BODY))

    def test_relay_rules_hold_on_hits(self) -> None:
        response = self.ask(self.site())
        head = response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
        fields = sorted(line.lower() for line in head if not line.lower().startswith(b"server:"))
        self.assertEqual(
            fields,
            [
                b"access-control-allow-origin: *",
                b"age: 15",
                b"cache-control: public, max-age=3600",
                b"cache-status: netlab; hit; ttl=3585",
                b"content-length: 1024",
                b"content-location: /p/1k",
                b"content-type: application/octet-stream",
                b"date: thu, 01 jan 1970 00:16:40 gmt",
                b'etag: "v1"',
                b"via: 1.1 netlab",
            ],
        )

    def test_cors_managed_site_drops_the_upstreams_cors_on_hits(self) -> None:
        response = self.ask(self.site(cors_managed=True))
        self.assertNotIn(b"access-control-allow-origin: *", response.lower())
        self.assertIn(b"via: 1.1 netlab\r\n", response.lower())

    def test_client_conditional_still_answers_304(self) -> None:
        response = self.ask(self.site(), b'If-None-Match: "v1"')
        self.assertTrue(response.startswith(b"HTTP/1.1 304 Not Modified\r\n"))
        self.assertTrue(response.endswith(b"\r\n\r\n"))

    def test_range_still_answers_206(self) -> None:
        response = self.ask(self.site(), b"Range: bytes=0-3")
        self.assertTrue(response.startswith(b"HTTP/1.1 206 Partial Content\r\n"))
        self.assertTrue(response.endswith(b"\r\n\r\n0123"))
        self.assertIn(b"Content-Range: bytes 0-3/1024\r\n", response)


class HeadMemoTests(SynchronousTestCase):
    def test_bounded_and_keyed_by_mount(self) -> None:
        calls: list[bytes] = []

        class Host:
            cookie_rules = None
            drop_cors = False

            def __init__(self, prefix: str) -> None:
                self.mount = ProxyMount(prefix, "http://127.0.0.1:9/o")

            def via_for(self, version: bytes) -> bytes:
                calls.append(version)
                return b"1.1 netlab"

        memo = HeadMemo(limit=2)
        one, two = Host("/a"), Host("/b")
        fields = (("Content-Location", "http://127.0.0.1:9/o/x"),)
        first = memo.relayed(one, fields, False)  # type: ignore[arg-type]
        self.assertIs(memo.relayed(one, fields, False), first)  # type: ignore[arg-type]
        other = memo.relayed(two, fields, False)  # type: ignore[arg-type]
        self.assertEqual(first[0], (b"content-location", [b"/a/x"]))
        self.assertEqual(other[0], (b"content-location", [b"/b/x"]))
        memo.relayed(one, (("ETag", '"x"'),), False)  # type: ignore[arg-type]  # full: emptied
        self.assertIsNot(memo.relayed(one, fields, False), first)  # type: ignore[arg-type]
        self.assertEqual(len(calls), 4)
