"""The inspector and the response setter on a real site, including raw-socket injection."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.http_headers import Headers
from twisted.web.pages import notFound

from tests.config_support import cors_policy, tools_on
from tests.raw_support import memory_exchange
from twisted_netlab.web import tools
from twisted_netlab.web.config import ToolsConfig
from twisted_netlab.web.cors import wrap_cors
from twisted_netlab.web.site import MountRoot, NetlabSite
from twisted_netlab.web.tools import ToolsResource, build_tool_mounts


class ToolsSiteTests(TestCase):
    """The tools answer synchronously: requests run in memory (StubTreq, and
    ``memory_exchange`` for exact bytes)."""

    def setUp(self) -> None:
        root = MountRoot(notFound(), build_tool_mounts(tools_on()))
        self.site = NetlabSite(root)
        self.client = StubTreq(root)
        self.base = "http://127.0.0.1:8080/_netlab"

    async def fetch(self, method: str, path: str, **kwargs: Any) -> tuple[Any, bytes]:
        response = await self.client.request(method, self.base + path, **kwargs)
        return response, await self.client.content(response)

    async def inspect(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response, body = await self.fetch(method, "/inspect" + path, **kwargs)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"),
                         [b"application/json; charset=utf-8"])
        self.assertEqual(response.headers.getRawHeaders(b"cache-control"), [b"no-store"])
        result: dict[str, Any] = json.loads(body)
        return result

    async def raw(self, request: bytes) -> bytes:
        return memory_exchange(self.site, request)

    async def test_inspect_json_and_request_facts(self) -> None:
        out = await self.inspect(
            "POST", "/any/sub?x=1&x=2&y=&z=%C3%A9",
            data=b'{"name": "chm"}',
            headers=Headers({b"Content-Type": [b"application/json"], b"X-Dup": [b"a", b"b"]}),
        )
        self.assertEqual(out["method"], "POST")
        self.assertEqual(out["path"], "/_netlab/inspect/any/sub")
        self.assertEqual(out["query_raw"], "x=1&x=2&y=&z=%C3%A9")
        self.assertEqual(out["query"], {"x": ["1", "2"], "y": [""], "z": ["\u00e9"]})
        self.assertIn(["X-Dup", "a"], out["headers"])
        self.assertEqual(
            out["headers"].index(["X-Dup", "b"]), out["headers"].index(["X-Dup", "a"]) + 1
        )
        self.assertIn(["Content-Type", "application/json"], out["headers"])
        self.assertEqual(out["client"]["host"], "127.0.0.1")
        self.assertEqual(out["server"], {"host": "127.0.0.1", "port": 8080})  # the URL's
        self.assertEqual(out["http_version"], "HTTP/1.1")
        self.assertIs(out["tls"], False)
        self.assertEqual(out["body"], {"size": 15, "content_type": "application/json",
                                       "kind": "json", "json": {"name": "chm"}})

    async def test_inspect_course_curl_form(self) -> None:
        # curl -X POST -d "'name':'chm'" sends a urlencoded form that is not one.
        out = await self.inspect("POST", "", data=b"'name':'chm'", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(out["body"]["form"], {"'name':'chm'": [""]})

    async def test_inspect_malformed_json(self) -> None:
        out = await self.inspect(
            "PUT", "", data=b"{oops", headers={"Content-Type": "application/json"}
        )
        self.assertEqual(out["body"]["kind"], "json")
        self.assertTrue(out["body"]["error"].startswith("malformed JSON: "))
        self.assertEqual(out["body"]["text"], "{oops")

    async def test_inspect_form(self) -> None:
        out = await self.inspect("POST", "", data=b"a=1&a=2&b=x+y", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(out["body"]["form"], {"a": ["1", "2"], "b": ["x y"]})

    async def test_inspect_multipart_file(self) -> None:
        blob = bytes(range(256)) * 4
        body = (
            b"--BND\r\nContent-Disposition: form-data; name=\"who\"\r\n\r\nchm\r\n"
            b"--BND\r\nContent-Disposition: form-data; name=\"up\"; filename=\"x.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + blob + b"\r\n--BND--\r\n"
        )
        out = await self.inspect("POST", "", data=body, headers={
            "Content-Type": "multipart/form-data; boundary=BND"})
        self.assertEqual(out["body"]["fields"], {"who": ["chm"]})
        [upload] = out["body"]["files"]
        self.assertEqual((upload["filename"], upload["size"], upload["sha256"]),
                         ("x.bin", 1024, hashlib.sha256(blob).hexdigest()))

    async def test_inspect_binary_empty_unknown(self) -> None:
        out = await self.inspect("POST", "", data=b"\x00\xff\xfe", headers={
            "Content-Type": "application/octet-stream"})
        self.assertEqual(out["body"], {"size": 3, "content_type": "application/octet-stream",
                                       "kind": "raw", "base64": "AP/+"})
        out = await self.inspect("GET", "")
        self.assertEqual(out["body"], {"size": 0, "content_type": None, "kind": "empty"})
        out = await self.inspect(
            "DELETE", "", data=b"hello", headers={"Content-Type": "x-weird/thing"}
        )
        self.assertEqual(out["body"]["kind"], "raw")
        self.assertEqual(out["body"]["text"], "hello")

    async def test_inspect_too_large_is_hashed(self) -> None:
        self.patch(tools, "MAX_INSPECT_BODY", 10)
        self.patch(tools, "_CHUNK", 7)
        data = bytes(range(100))
        out = await self.inspect(
            "POST", "", data=data, headers={"Content-Type": "application/json"}
        )
        self.assertEqual(out["body"]["kind"], "too-large")
        self.assertEqual(out["body"]["size"], 100)
        self.assertEqual(out["body"]["sha256"], hashlib.sha256(data).hexdigest())

    async def test_status(self) -> None:
        response, body = await self.fetch("GET", "/status/418")
        self.assertEqual((response.code, body), (418, b"418 I'm a teapot\n"))
        for code in (204, 304):
            response, body = await self.fetch("GET", f"/status/{code}")
            self.assertEqual((response.code, body), (code, b""))
            self.assertIsNone(response.headers.getRawHeaders(b"content-length"))
        for bad in ["/status/99", "/status/abc", "/status/600", "/status", "/status/200/x"]:
            response, body = await self.fetch("GET", bad)
            self.assertEqual(response.code, 400, bad)

    async def test_response_headers(self) -> None:
        response, body = await self.fetch(
            "GET", "/response-headers?X-A=1&X-A=2&Content-Type=text/x-demo"
        )
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"x-a"), [b"1", b"2"])
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"text/x-demo"])
        self.assertEqual(json.loads(body), {"X-A": ["1", "2"], "Content-Type": ["text/x-demo"]})
        response, body = await self.fetch("GET", "/response-headers?Content-Length=1")
        self.assertEqual(response.code, 400)
        self.assertIn(b"framing", body)

    async def test_cookies(self) -> None:
        response, _ = await self.fetch("GET", "/cookies/set?a=1&b=two", allow_redirects=False)
        self.assertEqual(response.code, 302)
        self.assertEqual(response.headers.getRawHeaders(b"location"), [b"/_netlab/cookies"])
        self.assertEqual(response.headers.getRawHeaders(b"set-cookie"),
                         [b"a=1; Path=/_netlab/", b"b=two; Path=/_netlab/"])
        response, body = await self.fetch("GET", "/cookies", headers={"Cookie": "a=1; b=two"})
        self.assertEqual(json.loads(body), {"cookies": {"a": "1", "b": "two"}})
        response, _ = await self.fetch("GET", "/cookies/delete?a", allow_redirects=False)
        self.assertEqual(
            response.headers.getRawHeaders(b"set-cookie"), [b"a=; Path=/_netlab/; Max-Age=0"]
        )
        response, body = await self.fetch("GET", "/cookies/set?a=x%20y", allow_redirects=False)
        self.assertEqual(response.code, 400)

    async def test_redirect_to(self) -> None:
        response, _ = await self.fetch("GET", "/redirect-to?url=/next%3Fq%3D1&status_code=307",
                                       allow_redirects=False)
        self.assertEqual(response.code, 307)
        self.assertEqual(response.headers.getRawHeaders(b"location"), [b"/next?q=1"])
        own = self.base.removesuffix("/_netlab")
        response, _ = await self.fetch("GET", f"/redirect-to?url={own}/x", allow_redirects=False)
        self.assertEqual((response.code, response.headers.getRawHeaders(b"location")),
                         (302, [f"{own}/x".encode()]))
        for bad in ["/redirect-to?url=javascript:alert(1)", "/redirect-to",
                    "/redirect-to?url=/x&status_code=200", "/redirect-to?url=https://example.com/",
                    "/redirect-to?url=//example.com/", "/redirect-to?url=/%5Cexample.com/"]:
            response, _ = await self.fetch("GET", bad, allow_redirects=False)
            self.assertEqual(response.code, 400, bad)

    async def test_response(self) -> None:
        response, body = await self.fetch(
            "GET", "/response?status=201&content_type=application/json&body=%7B%22a%22%3A1%7D"
                   "&header=X-A:1&header=X-A:%202")
        self.assertEqual((response.code, body), (201, b'{"a":1}'))
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(response.headers.getRawHeaders(b"x-a"), [b"1", b"2"])
        response, body = await self.fetch("GET", "/response?status=204&body=ignored&header=X-B:1")
        self.assertEqual((response.code, body), (204, b""))
        self.assertEqual(response.headers.getRawHeaders(b"x-b"), [b"1"])
        self.assertIsNone(response.headers.getRawHeaders(b"content-length"))
        response, body = await self.fetch("GET", "/response?colour=red")
        self.assertEqual(response.code, 400)
        self.assertIn(b"unknown parameter", body)

    async def test_crlf_injection_refused_over_raw_socket(self) -> None:
        for target in [
            b"/_netlab/response-headers?X-Foo=a%0d%0aSet-Cookie:%20x=1",
            b"/_netlab/response-headers?X-Foo%0d%0aSet-Cookie:%20x=1",
            b"/_netlab/response?header=X-A:%20a%0d%0aSet-Cookie:%20x=1",
            b"/_netlab/response?content_type=text/html%0aSet-Cookie:%20x=1",
            b"/_netlab/cookies/set?a=b%0d%0aSet-Cookie:%20x=1",
            b"/_netlab/redirect-to?url=/a%0d%0aSet-Cookie:%20x=1",
            b"/_netlab/response-headers?X-Foo=a%00b",
            b"/_netlab/response-headers?X-Foo=%ff",
        ]:
            answer = await self.raw(
                b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            head, _, _ = answer.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 400 "), (target, head))
            self.assertNotIn(b"set-cookie", head.lower(), target)
            self.assertNotIn(b"x-foo", head.lower(), target)

    async def test_index_and_unknown_tool(self) -> None:
        response, body = await self.fetch("GET", "/")
        self.assertEqual(json.loads(body)["tools"]["inspect"], "/_netlab/inspect")
        response, _ = await self.fetch("GET", "/nope")
        self.assertEqual(response.code, 404)


class ToolsBehindCorsTests(TestCase):
    async def test_vary_merged_and_cors_headers_kept(self) -> None:
        app = "http://app.example"
        root = wrap_cors(MountRoot(notFound(), build_tool_mounts(tools_on())), cors_policy(app))
        client = StubTreq(root)
        base = "http://127.0.0.1:8080/_netlab"
        for path in [
            "/response-headers?Vary=Accept,%20Cookie", "/response?header=Vary:Accept,Cookie"
        ]:
            response = await client.get(base + path, headers={"Origin": app})
            await client.content(response)
            self.assertEqual(
                response.headers.getRawHeaders(b"vary"), [b"Origin, Accept, Cookie"], path
            )
            self.assertEqual(
                response.headers.getRawHeaders(b"access-control-allow-origin"), [app.encode()]
            )


class MountTests(SynchronousTestCase):
    def test_off_by_default(self) -> None:
        self.assertEqual(build_tool_mounts(ToolsConfig()), [])
        self.assertEqual(build_tool_mounts(ToolsConfig(enabled=False)), [])

    def test_prefix(self) -> None:
        [(prefix, resource)] = build_tool_mounts(tools_on("/dev/tools/"))
        self.assertEqual(prefix, [b"dev", b"tools"])
        self.assertIsInstance(resource, ToolsResource)
