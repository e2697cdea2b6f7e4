"""The site root: mounts by longest prefix, the default for the rest, no open proxy."""

from __future__ import annotations

import json

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource

from tests.config_support import cors_policy, tools_on, web_config
from tests.raw_support import memory_exchange
from twisted_netlab.http.hotlink import HotlinkPolicy, Mode, PathPatterns, RefererPolicy
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.config import HotlinkConfig, ProxyConfig, WebConfig
from twisted_netlab.web.cors import CorsResource
from twisted_netlab.web.hotlink import HotlinkResource
from twisted_netlab.web.proxy import ProxyResource
from twisted_netlab.web.site import MountRoot, NetlabSite, build_site, split_prefix
from twisted_netlab.web.static import StaticResource
from twisted_netlab.web.tools import ToolsResource


class Echo(Resource):
    """Answers with where the request landed and what it still has to traverse."""

    isLeaf = True

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def render(self, request):  # type: ignore[no-untyped-def]
        body = {
            "name": self.name,
            "prepath": [p.decode() for p in request.prepath],
            "postpath": [p.decode() for p in request.postpath],
        }
        return json.dumps(body).encode()


class SplitPrefixTests(SynchronousTestCase):
    def test_segments(self) -> None:
        self.assertEqual(split_prefix("/api/v1/"), [b"api", b"v1"])
        self.assertEqual(split_prefix("api"), [b"api"])
        self.assertEqual(split_prefix("/"), [])


class MountRootTests(TestCase):
    """Routing is synchronous: the exchanges run in memory (``memory_exchange``)."""

    def setUp(self) -> None:
        root = MountRoot(
            Echo("default"),
            [(split_prefix("/api"), Echo("api")), (split_prefix("/api/v2"), Echo("v2"))],
        )
        self.site = NetlabSite(root)

    async def raw(self, request: bytes) -> bytes:
        return memory_exchange(self.site, request)

    async def get(self, path: str) -> dict[str, object]:
        raw = await self.raw(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        return json.loads(body)

    async def test_longest_prefix_wins(self) -> None:
        self.assertEqual(
            await self.get("/api/v2/items?x=1"),
            {"name": "v2", "prepath": ["api", "v2"], "postpath": ["items"]},
        )
        self.assertEqual(
            await self.get("/api/v1/items"),
            {"name": "api", "prepath": ["api"], "postpath": ["v1", "items"]},
        )

    async def test_prefix_matches_whole_segments_only(self) -> None:
        self.assertEqual(
            await self.get("/apiary/x"),
            {"name": "default", "prepath": [], "postpath": ["apiary", "x"]},
        )

    async def test_default_gets_full_path(self) -> None:
        self.assertEqual(await self.get("/"), {"name": "default", "prepath": [], "postpath": [""]})
        self.assertEqual(
            await self.get("/a/b/"),
            {"name": "default", "prepath": [], "postpath": ["a", "b", ""]},
        )

    async def test_absolute_form_refused(self) -> None:
        raw = await self.raw(b"GET http://example.com/api/x HTTP/1.1\r\nHost: example.com\r\n\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 400 "), raw[:80])
        self.assertIn(b"absolute-form targets and CONNECT are not served here", raw)

    async def test_connect_refused(self) -> None:
        raw = await self.raw(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 400 "), raw[:80])


class BuildSiteTests(SynchronousTestCase):
    """``build_site`` composes the parts from a ``WebConfig`` alone."""

    def layers(self, config: WebConfig) -> tuple[object, MountRoot]:
        site = build_site(config, MemoryReactorClock())
        outer = site.resource
        root = outer.inner if isinstance(outer, CorsResource) else outer
        assert isinstance(root, MountRoot)
        return outer, root

    def test_static_only_by_default(self) -> None:
        outer, root = self.layers(web_config("."))
        self.assertIs(outer, root)
        self.assertEqual(root.mounts, [])
        self.assertIsInstance(root.default, StaticResource)

    def test_every_part(self) -> None:
        mount = ProxyMount("/api", "http://127.0.0.1:9")
        hotlink = HotlinkConfig(
            HotlinkPolicy(PathPatterns(), Mode.REFERER, RefererPolicy.parse(["none"]))
        )
        config = web_config(
            hotlink=hotlink,
            cors=cors_policy("http://app.test"),
            proxy=ProxyConfig((mount,)),
            tools=tools_on("/t/"),
        )
        outer, root = self.layers(config)
        self.assertIsInstance(outer, CorsResource)
        self.assertIsInstance(root.default, HotlinkResource)
        (proxy_prefix, proxy), (tools_prefix, tools) = sorted(root.mounts, key=lambda m: m[0])
        self.assertEqual((proxy_prefix, tools_prefix), ([b"api"], [b"t"]))
        assert isinstance(proxy, ProxyResource)
        # The proxy is told at construction that the site answers CORS itself.
        self.assertTrue(proxy.drop_cors)
        self.assertIsInstance(tools, ToolsResource)

    def test_proxy_keeps_upstream_cors_without_a_policy(self) -> None:
        mount = ProxyMount("/api", "http://127.0.0.1:9")
        _outer, root = self.layers(web_config(proxy=ProxyConfig((mount,))))
        [(_prefix, proxy)] = root.mounts
        assert isinstance(proxy, ProxyResource)
        self.assertFalse(proxy.drop_cors)
