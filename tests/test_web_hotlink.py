"""The hotlink gate through a real Site on 127.0.0.1:0, and its options."""

from __future__ import annotations

import os
from typing import Any

from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from tests.config_support import web_options
from twisted_netlab.http.hotlink import HotlinkPolicy, mint_url
from twisted_netlab.web.config import HotlinkConfig
from twisted_netlab.web.hotlink import HotlinkResource, wrap_hotlink
from twisted_netlab.web.options import WebOptions
from twisted_netlab.web.site import MountRoot, NetlabSite
from twisted_netlab.web.vary import add_vary

KEY = "k1=0123456789abcdef-secret"
SECRET = b"0123456789abcdef-secret"
VARY = b"Referer, Origin, Sec-Fetch-Site"
PNG = b"\x89PNG\r\n\x1a\nfake image bytes"


class Leaf(Resource):
    isLeaf = True

    def __init__(self, body: bytes, content_type: bytes) -> None:
        super().__init__()
        self.body = body
        self.content_type = content_type

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", self.content_type)
        add_vary(request, "Accept-Encoding")  # as every netlab layer does
        return self.body

    render_HEAD = render_GET

    def render_POST(self, request: IRequest) -> bytes:
        return b"posted"


def tree() -> Resource:
    root = Resource()
    media = Resource()
    root.putChild(b"media", media)
    media.putChild(b"a.png", Leaf(PNG, b"image/png"))
    media.putChild(b"clip.MP4", Leaf(b"video", b"video/mp4"))
    root.putChild(b"index.html", Leaf(b"<p>hi</p>", b"text/html; charset=utf-8"))
    return root


def parse(*argv: str) -> WebOptions:
    return web_options(*argv)


def hotlink(*argv: str) -> HotlinkConfig | None:
    """The hotlink part of the config the command line describes."""
    return web_options(*argv).web_config.hotlink


def policy(*argv: str) -> HotlinkPolicy:
    config = hotlink(*argv)
    assert config is not None
    return config.policy


class GateTests(TestCase):
    def start(self, *argv: str) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        gate = wrap_hotlink(tree(), hotlink(*argv), self.clock)
        self.assertIsInstance(gate, HotlinkResource)
        # The gate answers synchronously: HTTP over an in-memory connection.
        self.client = StubTreq(MountRoot(gate))
        self.base = "http://127.0.0.1:8080"

    async def get(
        self, path: str, method: str = "GET", **headers: str
    ) -> tuple[int, Any, bytes]:
        hdrs = {k.replace("_", "-"): [v] for k, v in headers.items()}
        response = await self.client.request(method, self.base + path, headers=hdrs)
        body = await self.client.content(response)
        return response.code, response.headers, body

    async def test_referer_matrix(self) -> None:
        self.start("--valid-referers", "none server_names", "--valid-referers", "*.example.com")
        code, headers, body = await self.get("/media/a.png", Referer="http://www.example.com/p")
        self.assertEqual((code, body), (200, PNG))
        self.assertEqual(headers.getRawHeaders(b"vary"), [VARY + b", Accept-Encoding"])
        code, headers, body = await self.get("/media/a.png")
        self.assertEqual((code, body), (200, PNG))
        code, headers, body = await self.get("/media/a.png", Referer="http://127.0.0.1:1/page")
        self.assertEqual((code, body), (200, PNG))  # server_names: the Host we were sent to
        code, headers, body = await self.get("/media/a.png", Referer="http://evil.net/")
        self.assertEqual(code, 403)
        self.assertIn(b"Forbidden", body)
        self.assertEqual(headers.getRawHeaders(b"cache-control"), [b"no-store"])
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"text/html; charset=utf-8"])
        self.assertEqual(headers.getRawHeaders(b"vary"), [VARY])
        self.assertIsNone(headers.getRawHeaders(b"x-netlab-explain"))

    async def test_fetch_metadata(self) -> None:
        self.start("--valid-referers", "none example.com")
        code, _, _ = await self.get("/media/a.png", Sec_Fetch_Site="cross-site")
        self.assertEqual(code, 403)
        code, _, _ = await self.get(
            "/media/a.png", Sec_Fetch_Site="cross-site", Origin="https://example.com"
        )
        self.assertEqual(code, 200)
        code, _, _ = await self.get(
            "/media/a.png", Sec_Fetch_Site="same-origin", Referer="http://elsewhere/"
        )
        self.assertEqual(code, 200)

    async def test_unprotected_paths_untouched(self) -> None:
        self.start("--valid-referers", "example.com", "--explain")
        code, headers, body = await self.get("/index.html", Referer="http://evil.net/")
        self.assertEqual((code, body), (200, b"<p>hi</p>"))
        self.assertEqual(headers.getRawHeaders(b"vary"), [b"Accept-Encoding"])
        self.assertIsNone(headers.getRawHeaders(b"x-netlab-explain"))
        code, _, body = await self.get("/media/a.png", "POST", Referer="http://evil.net/")
        self.assertEqual((code, body), (200, b"posted"))  # the gate only judges GET/HEAD

    async def test_case_and_encoding_do_not_bypass(self) -> None:
        self.start("--valid-referers", "example.com")
        code, _, _ = await self.get("/media/clip.MP4", Referer="http://evil.net/")
        self.assertEqual(code, 403)
        code, _, _ = await self.get("/media/a.p%6Eg", Referer="http://evil.net/")
        self.assertEqual(code, 403)

    async def test_explain_and_head(self) -> None:
        self.start("--valid-referers", "example.com", "--sign-key", KEY, "--explain")
        code, headers, body = await self.get("/media/a.png", Referer="http://evil.net/")
        self.assertEqual(code, 403)
        self.assertEqual(
            headers.getRawHeaders(b"x-netlab-explain"),
            [b"403 referer not allowed; signature: missing signature"],
        )
        code, headers, body = await self.get("/media/a.png", "HEAD")
        self.assertEqual((code, body), (403, b""))
        self.assertEqual(
            headers.getRawHeaders(b"x-netlab-explain"),
            [b"403 no referer not allowed; signature: missing signature"],
        )

    async def test_signed_links(self) -> None:
        self.start("--sign-key", "old=old-secret-0123456789", "--sign-key", KEY,
                   "--sign-active", "k1", "--explain")  # fmt: skip
        link = mint_url("/media/a.png", key_id="k1", secret=SECRET, expires_at=1100)
        code, headers, body = await self.get(link, Referer="http://evil.net/")
        self.assertEqual((code, body), (200, PNG))
        self.assertEqual(headers.getRawHeaders(b"vary"), [b"Accept-Encoding"])
        old = mint_url("/media/", key_id="old", secret="old-secret-0123456789",
                       expires_at=1100, prefix="/media/")  # fmt: skip
        code, _, body = await self.get(old.replace("/media/?", "/media/clip.MP4?"))
        self.assertEqual((code, body), (200, b"video"))
        code, headers, _ = await self.get("/media/clip.MP4?" + link.split("?")[1])
        self.assertEqual(code, 403)
        self.assertEqual(
            headers.getRawHeaders(b"x-netlab-explain"), [b"403 signature: bad signature"]
        )
        self.clock.advance(131)
        code, headers, _ = await self.get(link)
        self.assertEqual(code, 403)
        self.assertEqual(headers.getRawHeaders(b"x-netlab-explain"), [b"403 signature: expired"])

    async def test_replacement_file(self) -> None:
        replacement = os.path.abspath(self.mktemp() + ".png")
        with open(replacement, "wb") as f:
            f.write(b"REPLACEMENT")
        self.start("--valid-referers", "example.com", "--hotlink-replacement", replacement)
        code, headers, body = await self.get("/media/a.png", Referer="http://evil.net/")
        self.assertEqual((code, body), (403, b"REPLACEMENT"))
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"image/png"])
        self.assertEqual(headers.getRawHeaders(b"cache-control"), [b"no-store"])
        self.assertEqual(headers.getRawHeaders(b"x-content-type-options"), [b"nosniff"])

    async def test_custom_patterns(self) -> None:
        self.start("--valid-referers", "example.com", "--hotlink-pattern", "/index.*")
        code, _, _ = await self.get("/index.html", Referer="http://evil.net/")
        self.assertEqual(code, 403)
        code, _, body = await self.get("/media/a.png", Referer="http://evil.net/")
        self.assertEqual((code, body), (200, PNG))


class OptionsTests(SynchronousTestCase):
    def test_nothing_configured(self) -> None:
        self.assertIsNone(hotlink())
        inner = tree()
        self.assertIs(wrap_hotlink(inner, None, Clock()), inner)

    def test_values_and_keys(self) -> None:
        key_file = self.mktemp()
        with open(key_file, "w") as f:
            f.write("# rotation\nk2=second-secret-0123456789\n\n")
        options = parse("--valid-referers", "none example.com", "--valid-referers", "*.b.org",
                        "--sign-key", KEY, "--sign-key-file", key_file, "--sign-active", "k2",
                        "--sign-skew", "5", "--hotlink-pattern", "*.pdf")  # fmt: skip
        self.assertEqual(options["valid-referers"], ["none", "example.com", "*.b.org"])
        self.assertEqual(options["sign-keys"], [KEY])
        self.assertEqual(options["sign-skew"], 5.0)
        config = options.web_config.hotlink
        assert config is not None
        built = config.policy
        self.assertIsInstance(built, HotlinkPolicy)
        self.assertEqual(built.mode.value, "either")
        assert built.keys is not None
        self.assertEqual(built.keys.active, "k2")
        self.assertEqual(set(built.keys.keys), {"k1", "k2"})
        self.assertEqual(built.patterns.globs, ("*.pdf",))
        self.assertIsNone(config.replacement)
        self.assertFalse(config.explain)
        self.assertEqual(policy("--sign-key", KEY).mode.value, "signed")
        self.assertEqual(policy("--valid-referers", "none").mode.value, "referer")

    def test_errors(self) -> None:
        cases = [
            (["--valid-referers", "example.com:80"], "ports are ignored"),
            (["--valid-referers", "~(x"], "bad regular expression"),
            (["--sign-key", "k1"], "KID=SECRET"),
            (["--sign-key", "k1=short"], "at least 16 bytes"),
            (["--sign-key", KEY, "--sign-active", "k9"], "'k9' is not among the keys"),
            (["--hotlink-mode", "referer"], "need --valid-referers"),
            (["--sign-key", KEY, "--hotlink-mode", "referer"], "needs valid referers"),
            (["--valid-referers", "none", "--hotlink-mode", "maybe"], "choose one of"),
            (["--sign-key", KEY, "--sign-skew", "-3"], "between 0 and 3600"),
            (["--sign-key", KEY, "--sign-skew", "soon"], "enforcement failed"),
            (["--sign-key-file", "/nonexistent/keys"], "cannot read signing key file"),
            (["--valid-referers", "none", "--hotlink-replacement", "/nonexistent.png"],
             "cannot read hotlink replacement"),
        ]  # fmt: skip
        for argv, message in cases:
            with self.assertRaises(usage.UsageError, msg=argv) as caught:
                parse(*argv)
            self.assertIn(message, str(caught.exception), argv)

    def test_big_replacement_refused(self) -> None:
        big = self.mktemp()
        with open(big, "wb") as f:
            f.truncate(2 * 1024 * 1024)
        with self.assertRaises(usage.UsageError) as caught:
            parse("--valid-referers", "none", "--hotlink-replacement", big)
        self.assertIn("the limit is 1048576", str(caught.exception))


class StaticIntegrationTests(TestCase):
    """The gate in front of the real static resource (helper B2's ``build_static_resource``)."""

    async def test_gate_over_static(self) -> None:
        try:
            from twisted_netlab.web.static import build_static_resource
        except ImportError as exc:  # pragma: no cover - only while the static part is absent
            raise SkipTest(f"static resource not available: {exc}") from exc

        root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(root, "img"))
        with open(os.path.join(root, "img", "cat.png"), "wb") as f:
            f.write(PNG)
        with open(os.path.join(root, "index.html"), "wb") as f:
            f.write(b"<p>home</p>")
        config = web_options("--path", root, "--explain", "--valid-referers", "none example.com",
                             "--sign-key", KEY).web_config  # fmt: skip
        clock = Clock()
        clock.advance(1000)
        gate = wrap_hotlink(build_static_resource(config.static, reactor), config.hotlink, clock)
        port = reactor.listenTCP(0, NetlabSite(MountRoot(gate)), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        client = HTTPClient(Agent(reactor, pool=pool))
        base = f"http://127.0.0.1:{port.getHost().port}"

        async def get(path: str, **headers: str) -> tuple[int, Any, bytes]:
            hdrs = {k.replace("_", "-"): [v] for k, v in headers.items()}
            response = await client.get(base + path, headers=hdrs)
            return response.code, response.headers, await response.content()

        code, headers, body = await get("/img/cat.png", Referer="https://evil.net/")
        self.assertEqual(code, 403)
        self.assertEqual(
            headers.getRawHeaders(b"x-netlab-explain"),
            [b"403 referer not allowed; signature: missing signature"],
        )
        code, headers, body = await get("/img/cat.png", Referer="https://example.com/")
        self.assertEqual((code, body), (200, PNG))
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"image/png"])
        etag = headers.getRawHeaders(b"etag")[0].decode()
        vary = {t.strip() for t in headers.getRawHeaders(b"vary")[0].decode().split(",")}
        self.assertTrue({"Referer", "Origin", "Sec-Fetch-Site"} <= vary, vary)
        code, headers, body = await get("/img/cat.png", If_None_Match=etag)
        self.assertEqual((code, body), (304, b""))
        vary = {t.strip() for t in headers.getRawHeaders(b"vary")[0].decode().split(",")}
        self.assertTrue({"Referer", "Origin", "Sec-Fetch-Site"} <= vary, vary)
        link = mint_url("/img/cat.png", key_id="k1", secret=SECRET, expires_at=1060)
        code, _, body = await get(link, Referer="https://evil.net/")
        self.assertEqual((code, body), (200, PNG))
        code, _, body = await get("/index.html", Referer="https://evil.net/")
        self.assertEqual((code, body), (200, b"<p>home</p>"))


@implementer(IPushProducer)
class _Chunks:
    """A push producer that writes its chunks at once (StubTreq has no backpressure)."""

    def __init__(self, request: IRequest, chunks: list[bytes]) -> None:
        self.request = request
        self.chunks = chunks

    def start(self) -> None:
        self.request.registerProducer(self, True)
        for chunk in self.chunks:
            self.request.write(chunk)
        self.request.unregisterProducer()
        self.request.finish()

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class Streaming(Resource):
    isLeaf = True

    def render_GET(self, request: IRequest) -> int:
        request.setHeader(b"content-type", b"video/webm")
        _Chunks(request, [b"part1-", b"part2"]).start()
        return NOT_DONE_YET


class StubTreqTests(SynchronousTestCase):
    """A streaming inner resource behind the gate, driven in memory."""

    def setUp(self) -> None:
        clock = Clock()
        clock.advance(1000)
        self.stub = StubTreq(wrap_hotlink(Streaming(), hotlink("--sign-key", KEY), clock))

    def get(self, url: str) -> tuple[int, bytes]:
        response = self.successResultOf(self.stub.get("http://127.0.0.1" + url))
        return response.code, self.successResultOf(response.content())

    def test_signed_stream_passes_and_unsigned_refused(self) -> None:
        link = mint_url("/v.webm", key_id="k1", secret=SECRET, expires_at=1000)
        self.assertEqual(self.get(link), (200, b"part1-part2"))
        code, _ = self.get("/v.webm")
        self.assertEqual(code, 403)
        self.assertEqual(self.get("/v.txt"), (200, b"part1-part2"))
