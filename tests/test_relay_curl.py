"""Relays seen by a real client through real sockets: curl fetching one proxied URL
three times on one connection, from a real twisted.web upstream on 127.0.0.1.

Over plain TCP and over TLS (HTTP/1.1 forced): every answer is the upstream's (its
body whole, its Date), the heads are the same but the Date, the upstream was asked
three times on one pooled connection, and the second and third were relays (the proxy
resource rendered once). The upstream writes each small answer in one reactor turn, so
it arrives whole in one read, as a relay needs.
"""

from __future__ import annotations

from typing import Any

from twisted.protocols.policies import WrappingFactory
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests.config_support import web_options
from tests.test_replay_curl import fetch_three
from tests.tls_support import TLSServerCase, close_server
from twisted_netlab.web.proxy.resource import ProxyResource
from twisted_netlab.web.site import build_site

BODY = b"replayed over a real socket\n" * 40  # the length test_replay_curl.answers splits


class Upstream(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[bytes, Any]] = []

    def render_GET(self, request: Any) -> bytes:
        self.requests.append((request.uri, request.getHeader(b"x-forwarded-for")))
        request.setHeader(b"content-type", b"text/plain")
        request.setHeader(b"etag", b'"up-1"')
        return BODY


class CurlRelayTests(TLSServerCase):
    def start_upstream(self) -> tuple[Upstream, int]:
        upstream = Upstream()
        factory = WrappingFactory(Site(upstream))
        port = self.reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(close_server, self.reactor, port, factory)
        return upstream, port.getHost().port

    def count_renders(self) -> list[int]:
        renders = [0]
        original = ProxyResource.render

        def render(resource: ProxyResource, request: Any) -> Any:
            renders[0] += 1
            return original(resource, request)

        self.patch(ProxyResource, "render", render)
        return renders

    def check(self, got: list[bytes], upstream: Upstream, renders: list[int]) -> None:
        self.assertEqual(len(got), 3)
        self.assertTrue(got[0].startswith(b"HTTP/1.1 200 OK\r\n"), got[0][:60])
        undated = set()
        for answer in got:
            self.assertTrue(answer.endswith(b"\r\n\r\n" + BODY), answer[:300])
            head = answer.split(b"\r\n\r\n")[0].split(b"\r\n")
            undated.add(tuple(line for line in head if not line.startswith(b"Date: ")))
            self.assertIn(b"ETag: \"up-1\"", head)
        self.assertEqual(len(undated), 1, undated)
        self.assertEqual(upstream.requests, [(b"/f.txt?a=1", b"127.0.0.1")] * 3)
        self.assertEqual(renders[0], 1)

    async def test_plain_tcp(self) -> None:
        upstream, uport = self.start_upstream()
        renders = self.count_renders()
        config = web_options(
            "--path", str(self.root), "--proxy", f"/p=http://127.0.0.1:{uport}"
        ).web_config
        site = build_site(config, self.reactor)
        wrapper = WrappingFactory(site)
        port = self.reactor.listenTCP(0, wrapper, interface="127.0.0.1")
        self.addCleanup(close_server, self.reactor, port, wrapper)
        for pool in site.upstream_pools:
            self.addCleanup(pool.close)
        got = await fetch_three(self, f"http://127.0.0.1:{port.getHost().port}/p/f.txt?a=1")
        self.check(got, upstream, renders)

    async def test_tls(self) -> None:
        upstream, uport = self.start_upstream()
        renders = self.count_renders()
        self.serve(["--tls", "--proxy", f"/p=http://127.0.0.1:{uport}"])
        got = await fetch_three(self, self.url("/p/f.txt?a=1"), "--cacert", self.cafile)
        self.check(got, upstream, renders)
