"""Issue 7, case 3: the request tools are opt-in and safe to expose when turned on.

The whole site (``build_site`` from real ``netlab-web`` options) driven in memory with
exact request bytes, plus one headless-Chromium run showing that a page the setter
builds cannot run script on our origin.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.browser_support import dump_dom, require_chromium
from tests.web_memory import body, get, header, status
from twisted_netlab.web.site import NetlabSite, build_site
from twisted_netlab.web.tap import Options

APP = "http://app.example"
SCRIPT_PAGE = "<body><script>document.body.dataset.ran = 'yes'</script></body>"


def make_site(root: str, *argv: str) -> NetlabSite:
    options = Options()
    options.parseOptions(["--path", root, *argv])
    return build_site(options.web_config, Clock())


class OffByDefaultTests(SynchronousTestCase):
    def test_tools_are_a_plain_404_without_the_flag(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        site = make_site(root)
        for target in (b"/_netlab/", b"/_netlab/inspect", b"/_netlab/response?body=x"):
            raw = get(site, target)
            self.assertEqual(status(raw), 404, target)
            self.assertNotIn(b"inspect", body(raw))

    def test_listing_says_how_to_turn_them_on(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        raw = get(make_site(root), b"/")
        self.assertEqual(status(raw), 200)
        self.assertIn(b"start the server with <code>--tools</code>", body(raw))


class ToolsOnTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.site = make_site(self.root, "--tools", "--cors", APP, "--cors-credentials")

    def test_every_tool_answer_is_sandboxed(self) -> None:
        for target in (
            b"/_netlab/", b"/_netlab/inspect", b"/_netlab/status/418", b"/_netlab/status/204",
            b"/_netlab/response?content_type=text/html&body=" + quote(SCRIPT_PAGE).encode(),
            b"/_netlab/response-headers?X-A=1", b"/_netlab/cookies", b"/_netlab/cookies/set?a=1",
            b"/_netlab/redirect-to?url=/x", b"/_netlab/nope", b"/_netlab/response?colour=red",
        ):
            raw = get(self.site, target)
            self.assertEqual(header(raw, b"content-security-policy"), [b"sandbox"], target)
            self.assertEqual(header(raw, b"x-content-type-options"), [b"nosniff"], target)

    def test_redirect_to_only_this_origin(self) -> None:
        for url in ("//evil.example/", "/\\evil.example/", "https://evil.example/",
                    "http://127.0.0.1:8080.evil.example/", "https:evil.example", "next",
                    "http://127.0.0.1:9999/"):
            raw = get(self.site, b"/_netlab/redirect-to?url=" + quote(url, safe="").encode())
            self.assertEqual(status(raw), 400, url)
            self.assertEqual(header(raw, b"location"), [], url)
            self.assertTrue(body(raw).startswith(b"400 Bad Request: url "), body(raw))
            self.assertNotIn(b"b'", body(raw))
        for url, location in (("/x?y=1", b"/x?y=1"),
                              ("http://127.0.0.1:8080/a", b"http://127.0.0.1:8080/a")):
            raw = get(self.site, b"/_netlab/redirect-to?url=" + quote(url, safe="").encode())
            self.assertEqual((status(raw), header(raw, b"location")), (302, [location]), url)

    def test_setter_refuses_cookies_and_security_headers(self) -> None:
        for target in (
            b"/_netlab/response?header=Set-Cookie:sid=x;%20Domain=example.com",
            b"/_netlab/response-headers?Set-Cookie=sid%3Dx",
            b"/_netlab/response?header=Content-Security-Policy:%20script-src%20*",
            b"/_netlab/response?header=Access-Control-Allow-Origin:%20*",
            b"/_netlab/response?header=Strict-Transport-Security:max-age=0",
            b"/_netlab/response?header=Refresh:0;url=https://evil.example/",
            b"/_netlab/response?status=302&header=Location:https://evil.example/",
            b"/_netlab/cookies/set?__Host-sid=x",
            b"/_netlab/cookies/set?__Secure-sid=x",
        ):
            raw = get(self.site, target)
            self.assertEqual(status(raw), 400, target)
            head = raw.partition(b"\r\n\r\n")[0].lower()
            self.assertNotIn(b"set-cookie", head, target)
            self.assertNotIn(b"\r\nlocation", head, target)
            self.assertNotIn(b"\r\nrefresh", head, target)
            self.assertNotIn(b"strict-transport", head, target)
            self.assertEqual(header(raw, b"content-security-policy"), [b"sandbox"], target)
        raw = get(self.site, b"/_netlab/cookies/set?sid=x")
        self.assertEqual(header(raw, b"set-cookie"), [b"sid=x; Path=/_netlab/"])

    def test_credentialed_cross_origin_gets_no_cors(self) -> None:
        origin = b"Origin: " + APP.encode()
        raw = get(self.site, b"/_netlab/inspect", origin, b"Cookie: sid=secret")
        self.assertEqual(status(raw), 200)
        head = raw.partition(b"\r\n\r\n")[0].lower()
        self.assertNotIn(b"access-control-", head)
        raw = get(self.site, b"/_netlab/inspect", origin, b"Authorization: Basic dTpw")
        self.assertNotIn(b"access-control-", raw.partition(b"\r\n\r\n")[0].lower())
        # Without credentials the page may read, but never with them.
        raw = get(self.site, b"/_netlab/inspect", origin)
        self.assertEqual(header(raw, b"access-control-allow-origin"), [APP.encode()])
        self.assertEqual(header(raw, b"access-control-allow-credentials"), [])
        raw = get(self.site, b"/_netlab/inspect", origin, b"Access-Control-Request-Method: GET",
                  method=b"OPTIONS")
        self.assertEqual(status(raw), 204)
        self.assertEqual(header(raw, b"access-control-allow-credentials"), [])
        # //_netlab/ is not the tools (MountRoot routes it to static), but is guarded alike.
        raw = get(self.site, b"//_netlab/inspect", origin, b"Cookie: sid=1")
        self.assertNotIn(b"access-control-allow-credentials", raw.lower())
        # The rest of the site keeps the configured policy.
        raw = get(self.site, b"/", origin, b"Cookie: sid=1")
        self.assertEqual(header(raw, b"access-control-allow-credentials"), [b"true"])

    def test_scripts_do_not_read_credentials_from_the_inspector(self) -> None:
        raw = get(self.site, b"/_netlab/inspect", b"Cookie: sid=secret", b"Sec-Fetch-Mode: cors")
        self.assertNotIn(b"secret", body(raw))
        headers = dict((k.lower(), v) for k, v in json.loads(body(raw))["headers"])
        self.assertEqual(headers["cookie"], "(hidden from scripts)")
        raw = get(self.site, b"/_netlab/cookies", b"Cookie: sid=secret", b"Sec-Fetch-Mode: no-cors")
        self.assertEqual(json.loads(body(raw)), {"cookies": {"sid": "(hidden from scripts)"}})
        raw = get(
            self.site, b"/_netlab/cookies", b"Cookie: sid=secret", b"Sec-Fetch-Mode: navigate"
        )
        self.assertEqual(json.loads(body(raw)), {"cookies": {"sid": "secret"}})
        raw = get(self.site, b"/_netlab/cookies", b"Cookie: sid=secret")  # curl
        self.assertEqual(json.loads(body(raw)), {"cookies": {"sid": "secret"}})


class BrowserSandboxTests(TestCase):
    """Chromium loads a setter page carrying a script: it must not run."""

    timeout = 240

    def setUp(self) -> None:
        require_chromium()

    async def dom_of(self, url: str) -> str:
        return await dump_dom(self, url, "--virtual-time-budget=3000")

    async def test_setter_page_cannot_run_script(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        with open(os.path.join(root, "control.html"), "w") as f:
            f.write(SCRIPT_PAGE)
        options = Options()
        options.parseOptions(["--path", root, "--tools"])
        site = build_site(options.web_config, reactor)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
        self.addCleanup(port.stopListening)
        base = f"http://127.0.0.1:{port.getHost().port}"  # type: ignore[attr-defined]
        # Control: the same markup from a static file runs (the check can see script run).
        self.assertIn('data-ran="yes"', await self.dom_of(base + "/control.html"))
        dom = await self.dom_of(
            base + "/_netlab/response?content_type=text/html&body=" + quote(SCRIPT_PAGE, safe="")
        )
        self.assertIn("<script>", dom)
        self.assertNotIn('data-ran="yes"', dom)
