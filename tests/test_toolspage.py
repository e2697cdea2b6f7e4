"""The tools in a browser: Accept negotiation, the index with forms, the inspector table.

Pure rendering first, then the resource over a real socket (treq), then Chromium:
the DOM it builds for both pages and a screenshot of the index (light and dark).
"""

from __future__ import annotations

import json
import os
from typing import Any

import treq
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.pages import notFound

from tests.browser_support import PNG_MAGIC, require_chromium, run_chromium, screenshot
from twisted_netlab.web.site import MountRoot, NetlabSite
from twisted_netlab.web.tools import ToolsResource
from twisted_netlab.web.toolspage import (
    INDEX_CSP,
    INSPECT_CSP,
    TOOL_HELP,
    prefers_html,
    render_index,
    render_inspection,
)

BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
TOOLS = {name: f"/_netlab/{name}" for name in TOOL_HELP}


class NegotiationTests(SynchronousTestCase):
    def test_prefers_html(self) -> None:
        cases = [
            (None, False),
            (b"", False),
            (b"*/*", False),  # curl: a tie keeps JSON
            (b"application/json", False),
            (b"text/html", True),
            (BROWSER_ACCEPT.encode(), True),
            (b"text/html;q=0.5, application/json", False),
            (b"application/json;q=0.5, text/html", True),
            (b"text/*, application/json;q=0.9", True),
            (b"text/html;q=bogus, */*", False),
            (b"TEXT/HTML", True),
            (b"text/html;q=0, */*", False),
        ]
        for accept, expected in cases:
            self.assertEqual(prefers_html(accept), expected, accept)


class RenderTests(SynchronousTestCase):
    def test_index_explains_every_tool_with_a_form_or_links(self) -> None:
        page = render_index(TOOLS).decode("utf-8")
        for name, href in TOOLS.items():
            self.assertIn(
                f'<section id="{name}"><h2><a href="{href}"><code>{href}</code></a></h2>', page
            )
        self.assertIn('<form method="get" action="/_netlab/redirect-to">', page)
        self.assertIn('<form method="post" action="/_netlab/inspect">', page)
        self.assertIn('<form method="get" action="/_netlab/cookies/set">', page)
        self.assertIn('<a href="/_netlab/status/418">418</a>', page)
        self.assertIn('<input name="header" value="X-Demo: 1" size="18">', page)
        self.assertNotIn("<script", page)

    def test_index_escapes_paths(self) -> None:
        page = render_index({"inspect": '/a"<b>/inspect'}).decode()
        self.assertIn('action="/a&quot;&lt;b&gt;/inspect"', page)
        self.assertNotIn("<b>", page)

    def test_inspection_tables_escape_client_data(self) -> None:
        report = {
            "method": "POST", "uri": "/_netlab/inspect?<x>=1&a=2&a=3", "path": "/_netlab/inspect",
            "query_raw": "<x>=1&a=2&a=3", "query": {"<x>": ["1"], "a": ["2", "3"]},
            "headers": [["User-Agent", "<script>alert(1)</script>"], ["X-Q", "a\"b'c&d"]],
            "client": {"host": "127.0.0.1", "port": 5555}, "server": {"name": "/run/w.sock"},
            "http_version": "HTTP/1.1", "tls": False,
            "body": {"size": 3, "kind": "form", "form": {"k": ["<v>"]}},
        }
        page = render_inspection(report).decode("utf-8")
        self.assertNotIn("<script>", page)
        self.assertNotIn("<x>", page)
        self.assertNotIn("<v>", page)
        self.assertIn(
            '<tr><td class="k">User-Agent</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td></tr>',
            page,
        )
        self.assertIn('<tr><td class="k">X-Q</td><td>a&quot;b&#x27;c&amp;d</td></tr>', page)
        self.assertIn("<h2>Headers (2)</h2>", page)
        self.assertIn(
            '<tr><td class="k">a</td><td>2</td></tr><tr><td class="k">a</td><td>3</td></tr>', page
        )
        self.assertIn('<tr><td class="k">client</td><td>127.0.0.1:5555</td></tr>', page)
        self.assertIn('<tr><td class="k">server</td><td>/run/w.sock</td></tr>', page)
        self.assertIn(
            '<tr><td class="k">form</td><td><pre>{\n &quot;k&quot;: [\n  &quot;&lt;v&gt;&quot;',
            page,
        )


class _ToolsSite(TestCase):
    def setUp(self) -> None:
        site = NetlabSite(MountRoot(notFound(), [([b"_netlab"], ToolsResource())]))
        port: Any = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
        self.addCleanup(port.stopListening)
        self.base = f"http://127.0.0.1:{port.getHost().port}"


class ToolsOverHttpTests(_ToolsSite):
    async def get(self, path: str, accept: str | None, method: str = "GET") -> tuple[Any, bytes]:
        headers: dict[bytes | str, list[bytes | str]] = (
            {} if accept is None else {"Accept": [accept]}
        )
        response = await treq.request(method, self.base + path, headers=headers, persistent=False)
        return response, await response.content()

    async def test_index_json_unless_html_preferred(self) -> None:
        for accept in (None, "*/*", "application/json"):
            response, body = await self.get("/_netlab/", accept)
            self.assertEqual(response.headers.getRawHeaders("content-type"),
                             ["application/json; charset=utf-8"], accept)
            self.assertEqual(json.loads(body)["tools"]["inspect"], "/_netlab/inspect")
            self.assertIn("Accept", response.headers.getRawHeaders("vary")[0])
        response, body = await self.get("/_netlab/", BROWSER_ACCEPT)
        self.assertEqual(
            response.headers.getRawHeaders("content-type"), ["text/html; charset=utf-8"]
        )
        self.assertEqual(
            response.headers.getRawHeaders("content-security-policy"), [INDEX_CSP.decode()]
        )
        self.assertEqual(response.headers.getRawHeaders("vary"), ["Accept"])
        self.assertIn(b'<form method="get" action="/_netlab/response">', body)

    async def test_inspector_html_for_browsers(self) -> None:
        response, body = await self.get("/_netlab/inspect/x?q=<1>", BROWSER_ACCEPT, method="PUT")
        self.assertEqual(
            response.headers.getRawHeaders("content-security-policy"), [INSPECT_CSP.decode()]
        )
        page = body.decode("utf-8")
        self.assertIn('<tr><td class="k">method</td><td>PUT</td></tr>', page)
        self.assertIn(f'<tr><td class="k">Accept</td><td>{BROWSER_ACCEPT}</td></tr>', page)
        self.assertIn('<tr><td class="k">q</td><td>&lt;1&gt;</td></tr>', page)
        response, body = await self.get("/_netlab/inspect", None)
        self.assertEqual(json.loads(body)["method"], "GET")


class ToolsInChromiumTests(_ToolsSite):
    timeout = 240

    def setUp(self) -> None:
        require_chromium()
        super().setUp()
        self.shots = os.path.abspath(self.mktemp())
        os.makedirs(self.shots)

    async def test_pages_in_chromium(self) -> None:
        dom = (await run_chromium(self, self.base + "/_netlab/", "--dump-dom")).decode("utf-8")
        self.assertIn("<h1>Request tools</h1>", dom)
        self.assertEqual(dom.count("<section id="), len(TOOL_HELP))
        self.assertIn('<select name="status_code"><option>302</option>', dom)
        dom = (
            await run_chromium(self, self.base + "/_netlab/inspect?who=chromium", "--dump-dom")
        ).decode()
        self.assertIn('<tr><td class="k">who</td><td>chromium</td></tr>', dom)
        self.assertIn('<tr><td class="k">Accept</td><td>text/html,', dom)  # the browser's own
        self.assertIn("<h1>Request inspector</h1>", dom)
        for theme, flags in (("light", ()), ("dark", ("--force-dark-mode",))):
            path = os.path.join(self.shots, f"tools-{theme}.png")
            png = await screenshot(self, self.base + "/_netlab/", path, *flags,
                                   "--window-size=900,1000")
            self.assertEqual(png[:8], PNG_MAGIC)
        inspector = os.path.join(self.shots, "inspector.png")
        await screenshot(self, self.base + "/_netlab/inspect?who=chromium", inspector,
                         "--window-size=900,900")
        self.assertTrue(os.path.getsize(inspector) > 0)
        print(f"\ntools screenshots in {self.shots}")
