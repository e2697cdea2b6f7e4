"""The CORS wrapper on a real site: preflights answered locally, actual requests tagged."""

from __future__ import annotations

from typing import Any

import treq
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.python import usage
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from tests.config_support import web_options
from twisted_netlab.http.cors import CorsPolicy
from twisted_netlab.web.config import ToolsConfig
from twisted_netlab.web.cors import CorsResource, wrap_cors
from twisted_netlab.web.site import MountRoot, NetlabSite

APP = "http://app.example:3000"
CORS_NAMES = [
    b"access-control-allow-origin", b"access-control-allow-credentials",
    b"access-control-allow-methods", b"access-control-allow-headers",
    b"access-control-max-age", b"access-control-expose-headers",
]


class Counting(Resource):
    """An inner resource that counts renders and varies on its own header."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []

    def render(self, request: IRequest) -> bytes:
        self.calls.append(request.method)
        request.setHeader(b"content-type", b"application/json")
        request.responseHeaders.addRawHeader(b"vary", b"Accept-Encoding")
        request.setHeader(b"x-total", b"7")
        return b'{"ok": true}'


class CorsSiteTests(TestCase):
    """The wrapper answers synchronously: HTTP over an in-memory connection (StubTreq)."""

    def serve(self, policy: CorsPolicy) -> tuple[str, Counting]:
        inner = Counting()
        self.client = StubTreq(wrap_cors(MountRoot(inner, []), policy))
        return "http://127.0.0.1:8080", inner

    async def request(self, method: str, url: str, headers: dict[str, str]) -> tuple[Any, bytes]:
        response = await self.client.request(method, url, headers=headers)
        return response, await self.client.content(response)

    async def test_preflight_answered_locally(self) -> None:
        base, inner = self.serve(CorsPolicy.build([APP], credentials=True, max_age=300))
        response, body = await self.request("OPTIONS", base + "/api/items", {
            "Origin": APP, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,authorization",
        })
        self.assertEqual(response.code, 204)
        self.assertEqual(body, b"")
        self.assertEqual(inner.calls, [])
        h = response.headers
        self.assertIsNone(h.getRawHeaders(b"content-length"))
        self.assertEqual(h.getRawHeaders(b"access-control-allow-origin"), [APP.encode()])
        self.assertEqual(h.getRawHeaders(b"access-control-allow-credentials"), [b"true"])
        self.assertEqual(h.getRawHeaders(b"access-control-allow-methods"),
                         [b"GET, HEAD, POST, PUT, PATCH, DELETE"])
        self.assertEqual(h.getRawHeaders(b"access-control-allow-headers"),
                         [b"content-type, authorization"])
        self.assertEqual(h.getRawHeaders(b"access-control-max-age"), [b"300"])
        self.assertEqual(h.getRawHeaders(b"vary"),
                         [b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"])

    async def test_refused_preflight(self) -> None:
        base, inner = self.serve(CorsPolicy.build([APP]))
        for headers in [
            {"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"},
            {"Origin": APP, "Access-Control-Request-Method": "PURGE"},
            {"Origin": APP, "Access-Control-Request-Method": "PUT",
             "Access-Control-Request-Headers": "x-secret"},
        ]:
            response, body = await self.request("OPTIONS", base + "/x", headers)
            self.assertEqual(response.code, 403)
            self.assertIn(b"CORS preflight refused", body)
            for name in CORS_NAMES:
                self.assertIsNone(response.headers.getRawHeaders(name), name)
            self.assertNotIn(b"None", body)
            self.assertNotIn(b"'", body)
        self.assertEqual(
            body,
            b"CORS preflight refused: origin http://app.example:3000, method PUT, headers x-secret "
            b"are not all allowed here\n",
        )
        self.assertEqual(inner.calls, [])

    async def test_plain_options_is_delegated(self) -> None:
        base, inner = self.serve(CorsPolicy.build([APP]))
        response, _ = await self.request("OPTIONS", base + "/x", {"Origin": APP})
        self.assertEqual(response.code, 200)
        self.assertEqual(inner.calls, [b"OPTIONS"])

    async def test_actual_request(self) -> None:
        base, inner = self.serve(
            CorsPolicy.build([APP], credentials=True, expose=["X-Total"])
        )
        response, body = await self.request("GET", base + "/data", {"Origin": APP})
        self.assertEqual((response.code, body), (200, b'{"ok": true}'))
        self.assertEqual(inner.calls, [b"GET"])
        h = response.headers
        self.assertEqual(h.getRawHeaders(b"access-control-allow-origin"), [APP.encode()])
        self.assertEqual(h.getRawHeaders(b"access-control-allow-credentials"), [b"true"])
        self.assertEqual(h.getRawHeaders(b"access-control-expose-headers"), [b"X-Total"])
        self.assertIsNone(h.getRawHeaders(b"access-control-allow-methods"))
        # The wrapper's Vary and the inner resource's are merged, not overwritten.
        self.assertEqual(h.getRawHeaders(b"vary"), [b"Origin", b"Accept-Encoding"])

    async def test_disallowed_origin_gets_no_cors_headers(self) -> None:
        base, _ = self.serve(CorsPolicy.build([APP]))
        response, body = await self.request("GET", base + "/data", {"Origin": "http://evil.example"})
        self.assertEqual((response.code, body), (200, b'{"ok": true}'))
        for name in CORS_NAMES:
            self.assertIsNone(response.headers.getRawHeaders(name), name)
        self.assertEqual(response.headers.getRawHeaders(b"vary"), [b"Origin", b"Accept-Encoding"])

    async def test_star(self) -> None:
        base, _ = self.serve(CorsPolicy.build(["*"]))
        response, _ = await self.request("GET", base + "/data", {"Origin": "http://any.example"})
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])
        self.assertIsNone(response.headers.getRawHeaders(b"access-control-allow-credentials"))
        self.assertEqual(response.headers.getRawHeaders(b"vary"), [b"Accept-Encoding"])
        response, _ = await self.request("OPTIONS", base + "/data", {
            "Origin": "null", "Access-Control-Request-Method": "DELETE"})
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])


class UpstreamWithCors(Resource):
    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        request.setHeader(b"access-control-allow-origin", b"*")
        request.setHeader(b"access-control-allow-credentials", b"false")
        request.setHeader(b"vary", b"Accept")
        return b"upstream"


class ProxyContractTests(TestCase):
    """With the wrapper in front, the proxy drops the upstream's Access-Control-* headers."""

    async def test_headers_replaced_not_doubled(self) -> None:
        try:
            from twisted_netlab.http.proxymount import parse_mount_spec
            from twisted_netlab.web.proxy import ProxyClient, ProxySettings, make_proxy_mounts
        except ImportError as exc:
            raise SkipTest(f"proxy not available: {exc}") from exc
        upstream = reactor.listenTCP(0, NetlabSite(UpstreamWithCors()), interface="127.0.0.1")
        self.addCleanup(upstream.stopListening)
        settings = ProxySettings()
        proxy_client = ProxyClient(reactor, settings)
        self.addCleanup(proxy_client.close)
        mounts = make_proxy_mounts(
            [parse_mount_spec(f"/api=http://127.0.0.1:{upstream.getHost().port}/")],
            settings, proxy_client, reactor, cors_managed=True,
        )
        root = wrap_cors(MountRoot(Counting(), mounts), CorsPolicy.build([APP], credentials=True))
        port = reactor.listenTCP(0, NetlabSite(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        client = treq.client.HTTPClient(Agent(reactor, pool=pool))
        response = await client.get(
            f"http://127.0.0.1:{port.getHost().port}/api/x", headers={"Origin": APP})
        self.assertEqual(await response.content(), b"upstream")
        h = response.headers
        self.assertEqual(h.getRawHeaders(b"access-control-allow-origin"), [APP.encode()])
        self.assertEqual(h.getRawHeaders(b"access-control-allow-credentials"), [b"true"])
        vary = b", ".join(h.getRawHeaders(b"vary")).split(b", ")
        self.assertEqual(sorted(vary), [b"Accept", b"Origin"])


class WrapTests(SynchronousTestCase):
    def test_unchanged_without_cors(self) -> None:
        inner = Counting()
        self.assertIs(wrap_cors(inner, None), inner)

    def test_uses_validated_policy(self) -> None:
        policy = CorsPolicy.build([APP])
        wrapped = wrap_cors(Counting(), policy)
        assert isinstance(wrapped, CorsResource)
        self.assertIs(wrapped.policy, policy)


class OptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        config = web_options().web_config
        self.assertIsNone(config.cors)
        self.assertEqual(config.tools, ToolsConfig(enabled=False, prefix="/_netlab/"))

    def test_full(self) -> None:
        config = web_options(
            "--cors", "http://a.example:3000", "--cors", "https://b.example,http://c.example",
            "--cors-credentials", "--cors-expose", "X-Total", "--cors-expose", "ETag, X-Id",
            "--cors-methods", "GET,PUT", "--cors-headers", "Content-Type,X-Token",
            "--cors-max-age", "60", "--tools-prefix", "dev/tools", "--tools",
        ).web_config
        self.assertEqual(config.cors, CorsPolicy.build(
            ["http://a.example:3000", "https://b.example", "http://c.example"],
            credentials=True, expose=["X-Total", "ETag", "X-Id"], methods=["GET", "PUT"],
            headers=["Content-Type", "X-Token"], max_age=60,
        ))
        self.assertEqual(config.tools, ToolsConfig(enabled=True, prefix="/dev/tools/"))

    def test_errors(self) -> None:
        for argv, needle in [
            (["--cors", "*", "--cors-credentials"], "credentials"),
            (["--cors", "example.com"], "scheme://host"),
            (["--cors", "http://a.example/path"], "no path"),
            (["--cors", APP, "--cors-max-age", "soon"], "seconds"),
            (["--cors", APP, "--cors-headers", "X Bad"], "valid"),
            (["--cors-credentials"], "at least one --cors"),
            (["--tools-prefix", "/"], "cannot be '/'"),
            (["--tools-prefix", "/a/../b"], "'..'"),
        ]:
            with self.assertRaises(usage.UsageError, msg=argv) as caught:
                web_options(*argv)
            self.assertIn(needle, str(caught.exception), argv)
