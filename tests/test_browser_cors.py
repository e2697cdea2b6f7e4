"""A real headless Chromium calls the proxy from another origin with credentials.

The page lives on ``http://127.0.0.1:A``; the API is the netlab-web root (CORS wrapper
around a proxy mount) on ``http://localhost:B``, so the two origins differ. The page's
script fetches ``/api/data`` with ``credentials: "include"`` and a custom header (which
forces a preflight), then reports the outcome back to the page origin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.iweb import IRequest
from twisted.web.pages import notFound
from twisted.web.resource import Resource

from tests.browser_support import dump_dom, require_chromium
from twisted_netlab.http.cors import CorsPolicy
from twisted_netlab.web.cors import wrap_cors
from twisted_netlab.web.site import MountRoot, NetlabSite

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cors</title></head><body>
<pre id="out">pending</pre>
<script>
fetch("%(api)s", {credentials: "include", headers: {"X-Requested-With": "fetch"}})
  .then(r => r.json())
  .then(j => "OK " + JSON.stringify(j), e => "ERR " + e.name + ": " + e.message)
  .then(result => {
    document.getElementById("out").textContent = result;
    return fetch("/report?result=" + encodeURIComponent(result));
  });
</script></body></html>
"""


class PageSite(Resource):
    """Serves the page and records what the page reports."""

    isLeaf = True

    def __init__(self, api: str) -> None:
        super().__init__()
        self.api = api
        self.reports: list[str] = []

    def render_GET(self, request: IRequest) -> bytes:
        if request.path == b"/report":
            query = parse_qs(request.uri.partition(b"?")[2].decode("ascii"))
            self.reports.extend(query.get("result", []))
            return b"thanks\n"
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return (PAGE % {"api": self.api}).encode("utf-8")


class Upstream(Resource):
    """The API behind the proxy; records the methods it sees."""

    isLeaf = True

    def __init__(self, own_cors: bool = True) -> None:
        super().__init__()
        self.own_cors = own_cors
        self.methods: list[bytes] = []

    def render(self, request: IRequest) -> bytes:
        self.methods.append(request.method)
        request.setHeader(b"content-type", b"application/json")
        if self.own_cors:
            # An upstream with its own (wrong) CORS opinion: the proxy must drop it.
            request.setHeader(b"access-control-allow-origin", b"http://upstream-thinks.example")
        path = "/" + b"/".join(request.postpath).decode()
        return json.dumps({"data": [1, 2, 3], "path": path}).encode()


class BrowserCorsTests(TestCase):
    timeout = 240

    def setUp(self) -> None:
        require_chromium()

    def listen(self, resource: Any) -> int:
        port = reactor.listenTCP(0, NetlabSite(resource), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return int(port.getHost().port)

    def api_root(self, upstream_port: int, cors: CorsPolicy | None) -> Any:
        try:
            from twisted_netlab.http.proxymount import parse_mount_spec
            from twisted_netlab.web.proxy import ProxyClient, ProxySettings, make_proxy_mounts
        except ImportError:  # the proxy is not there yet: a JSON leaf stands in
            upstream = Upstream(own_cors=False)
            self.upstream = upstream
            return wrap_cors(MountRoot(notFound(), [([b"api"], upstream)]), cors)
        settings = ProxySettings()
        client = ProxyClient(reactor, settings)
        self.addCleanup(client.close)
        mounts = make_proxy_mounts(
            [parse_mount_spec(f"/api=http://127.0.0.1:{upstream_port}/")],
            settings,
            client,
            reactor,
            cors_managed=cors is not None,
        )
        return wrap_cors(MountRoot(notFound(), mounts), cors)

    async def run_page(
        self, cors_for: Callable[[str], CorsPolicy | None]
    ) -> tuple[list[str], str]:
        """Serve page and API, run Chromium on the page; return the reports and the DOM."""
        self.upstream = Upstream()
        upstream_port = self.listen(self.upstream)
        page = PageSite("")
        page_port = self.listen(page)
        page_origin = f"http://127.0.0.1:{page_port}"
        api_port = self.listen(self.api_root(upstream_port, cors_for(page_origin)))
        page.api = f"http://localhost:{api_port}/api/data"
        dom = await dump_dom(self, page_origin + "/", "--virtual-time-budget=5000")
        return page.reports, dom

    async def test_allowed_origin_with_credentials(self) -> None:
        reports, dom = await self.run_page(
            lambda origin: CorsPolicy.build([origin], credentials=True, max_age=5)
        )
        expected = 'OK {"data":[1,2,3],"path":"/data"}'
        self.assertEqual(reports, [expected])
        self.assertIn(expected, dom)
        # The preflight was answered by the CORS wrapper; only the GET went upstream.
        self.assertEqual(self.upstream.methods, [b"GET"])

    async def test_other_origin_is_refused_by_the_browser(self) -> None:
        reports, dom = await self.run_page(
            lambda origin: CorsPolicy.build(["http://127.0.0.1:1"], credentials=True)
        )
        self.assertEqual(reports, ["ERR TypeError: Failed to fetch"])
        self.assertIn("ERR TypeError: Failed to fetch", dom)
        self.assertEqual(self.upstream.methods, [])

    async def test_without_cors_the_browser_refuses(self) -> None:
        reports, dom = await self.run_page(lambda origin: None)
        self.assertEqual(reports, ["ERR TypeError: Failed to fetch"])
        self.assertIn("ERR TypeError: Failed to fetch", dom)
        # No wrapper: the preflight went upstream, whose own CORS answer does not fit.
        self.assertEqual(self.upstream.methods, [b"OPTIONS"])
