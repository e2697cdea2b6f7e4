"""Issue 7 at the proxy: paths stay in the mount, TRACE, content types, forwarding hygiene.

A recording upstream on 127.0.0.1 port 0 shows exactly what reached it; raw request
bytes because HTTP clients normalise dot segments and refuse odd header names.
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource

from twisted_netlab.http.headers import parse_trusted
from twisted_netlab.http.proxymount import mounts_from_toml

from ._proxy_support import ProxyTestCase


class Untyped(Resource):
    """An upstream answer without Content-Type (twisted.web would add text/html)."""

    isLeaf = True

    def render(self, request: Any) -> bytes:
        request.defaultContentType = None
        request.setHeader(b"x-upstream", b"kept as sent")
        request.responseHeaders.addRawHeader(b"x-multi", b"one")
        request.responseHeaders.addRawHeader(b"x-multi", b"two")
        return b"<script>alert(1)</script>"


class SafetyTests(ProxyTestCase):
    async def exchange(self, request: bytes) -> bytes:
        client = await self.raw(request)
        await client.closed
        return bytes(client.data)

    async def get(self, target: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
        head = b"".join(h + b"\r\n" for h in headers)
        return await self.exchange(
            method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head
            + b"Connection: close\r\n\r\n"
        )

    async def test_paths_stay_inside_the_mount(self) -> None:
        self.start_proxy([self.mount("/api", "/rec/sub")])
        for target, reason in (
            (b"/api/..%2f1k.txt", b"encoded path separator (%2F) refused"),
            (b"/api/%2e%2e%2f1k.txt", b"encoded path separator (%2F) refused"),
            (b"/api/.%2e%2f1k.txt", b"encoded path separator (%2F) refused"),
            (b"/api/..%2F..%2Fetc", b"encoded path separator (%2F) refused"),
            (b"/api/..%5c1k.txt", b"backslash (or %5C) in the path refused"),
            (b"/api/%2e%2e/1k.txt",
             b"dot segments ('.', '..' or encoded) are refused in proxied paths"),
            (b"/api/%2e", b"dot segments ('.', '..' or encoded) are refused in proxied paths"),
            (b"/api/.%2e", b"dot segments ('.', '..' or encoded) are refused in proxied paths"),
            (b"/api/..;/x", b"dot segments ('.', '..' or encoded) are refused in proxied paths"),
            (b"/api/a/../../x",
             b"dot segments ('.', '..' or encoded) are refused in proxied paths"),
            (b"/api/%252e%252e/x", b"double percent-encoding refused"),
        ):
            raw = await self.get(target)
            self.assertTrue(raw.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (target, raw[:60]))
            self.assertTrue(
                raw.endswith(b"\r\n\r\n400 Bad Request: " + reason + b"\n"), (target, raw)
            )
            self.assertIn(b"\r\nContent-Type: text/plain; charset=utf-8\r\n", raw)
        self.assertEqual(self.recorded, [])
        raw = await self.get(b"/api/ok%20name.txt?q=..%2f")  # the query is not a path
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "), raw[:60])
        self.assertEqual(self.recorded[-1].uri, b"/rec/sub/ok%20name.txt?q=..%2f")

    async def test_trace_refused_unless_the_mount_opts_in(self) -> None:
        up = self.upstream_url
        mounts = mounts_from_toml(
            f'[[proxy]]\nprefix = "/api"\nupstream = "{up}/rec"\n'
            f'[[proxy]]\nprefix = "/echo"\nupstream = "{up}/rec"\n'
            "allow_trace = true\n"
        )
        self.start_proxy(mounts)
        raw = await self.get(b"/api/x", b"Cookie: sid=secret", method=b"TRACE")
        self.assertTrue(raw.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n"), raw[:60])
        self.assertIn(b"\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n", raw)
        self.assertNotIn(b"secret", raw)
        self.assertEqual(self.recorded, [])
        raw = await self.get(b"/echo/x", method=b"TRACE")
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "), raw[:60])
        self.assertEqual([r.method for r in self.recorded], [b"TRACE"])

    async def test_no_content_type_added(self) -> None:
        self.upstream_root.putChild(b"untyped", Untyped())
        self.start_proxy([self.mount("/api", "/untyped")])
        raw = await self.get(b"/api/x")
        head = raw.partition(b"\r\n\r\n")[0].lower()
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "), raw[:60])
        self.assertNotIn(b"\r\ncontent-type:", head)
        self.assertIn(b"\r\nx-upstream: kept as sent", head)
        self.assertIn(b"\r\nx-multi: one\r\nx-multi: two", head)

    async def test_forwarding_hygiene_untrusted_peer(self) -> None:
        self.start_proxy([self.mount()])
        raw = await self.get(
            b"/api/h", b"X-Real-IP: 6.6.6.6", b"True-Client-IP: 6.6.6.7",
            b"X_Forwarded_For: 6.6.6.8", b"X-Forwarded-Host: evil.example", b"X-Kept: yes",
        )
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "), raw[:60])
        seen = self.recorded[-1]
        names = {name for name, _ in seen.pairs}
        for gone in (b"x-real-ip", b"true-client-ip", b"x_forwarded_for"):
            self.assertNotIn(gone, names)
        self.assertEqual(seen.header(b"x-forwarded-for"), [b"127.0.0.1"])
        self.assertEqual(seen.header(b"x-forwarded-host"), [b"127.0.0.1"])
        self.assertEqual(seen.header(b"x-kept"), [b"yes"])

    async def test_forwarding_hygiene_trusted_peer(self) -> None:
        self.start_proxy([self.mount()], trusted=parse_trusted(["127.0.0.1"]))
        raw = await self.get(
            b"/api/h", b"X-Real-IP: 6.6.6.6", b"True-Client-IP: 6.6.6.7", b"X_Real_IP: 6.6.6.8",
            b"X-Forwarded-Host: a b/c",
        )
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "), raw[:60])
        seen = self.recorded[-1]
        self.assertEqual(seen.header(b"x-real-ip"), [b"6.6.6.6"])
        self.assertEqual(seen.header(b"true-client-ip"), [b"6.6.6.7"])
        self.assertEqual(seen.header(b"x_real_ip"), [])
        # An invalid X-Forwarded-Host, even from a trusted peer, becomes the mount's host.
        self.assertEqual(seen.header(b"x-forwarded-host"), [self.upstream_url.removeprefix("http://").encode()])

    async def test_two_host_fields_or_a_bad_host_get_400(self) -> None:
        self.start_proxy([self.mount()])
        for head, reason in (
            (b"Host: a.test\r\nHost: evil.test\r\n", b"more than one Host header"),
            (b"Host: evil.example:1/x?y\r\n", b"the Host header is not a valid host[:port]"),
            (b"", b"an HTTP/1.1 request needs a Host header"),
        ):
            raw = await self.exchange(b"GET /api/x HTTP/1.1\r\n" + head + b"\r\n")
            self.assertTrue(raw.startswith(b"HTTP/1.1 400 Bad Request\r\n"), raw[:60])
            self.assertTrue(raw.endswith(b"\r\n\r\n400 Bad Request: " + reason + b"\n"), raw)
        self.assertEqual(self.recorded, [])
        raw = await self.exchange(b"GET /api/x HTTP/1.0\r\n\r\n")  # 1.0 may omit Host
        self.assertTrue(raw.startswith(b"HTTP/1.0 200 "), raw[:60])
