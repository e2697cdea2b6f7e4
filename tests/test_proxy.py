"""The reverse proxy end to end: a real upstream site and the proxy on loopback."""

from __future__ import annotations

import json

import treq
from twisted.internet import reactor, task
from twisted.web.resource import Resource

from twisted_netlab.http.headers import parse_trusted
from twisted_netlab.http.proxymount import mounts_from_toml

from ._proxy_support import BigBody, Held, ProxyTestCase, wait_until


class ForwardingTests(ProxyTestCase):
    async def test_get_prefix_stripped_query_kept(self) -> None:
        base = self.start_proxy([self.mount("/api", "/rec")])
        response = await self.http.get(base + "/api/a%20b/c?x=1&y=%20&&z")
        self.assertEqual(response.code, 200)
        self.assertEqual(await self.content(response), b"upstream says hi\n")
        [seen] = self.recorded
        self.assertEqual(seen.method, b"GET")
        self.assertEqual(seen.uri, b"/rec/a%20b/c?x=1&y=%20&&z")
        self.assertEqual(
            seen.header(b"host"), [b"127.0.0.1:%d" % self.upstream_port.getHost().port]
        )

    async def test_prefix_kept(self) -> None:
        self.upstream_root.putChild(b"api", self.recorder)
        base = self.start_proxy([self.mount("/api", "", keep_prefix=True)])
        response = await self.http.get(base + "/api/x?q")
        self.assertEqual(response.code, 200)
        await self.content(response)
        self.assertEqual(self.recorded[0].uri, b"/api/x?q")

    async def test_mount_root_and_empty_query(self) -> None:
        base = self.start_proxy([self.mount("/api", "/rec")])
        for path, expected in [("/api", b"/rec"), ("/api/", b"/rec/")]:
            response = await self.http.get(base + path)
            await self.content(response)
            self.assertEqual(self.recorded[-1].uri, expected)

    async def test_dot_segments_refused(self) -> None:
        base = self.start_proxy([self.mount()])
        response = await self.http.get(base + "/api/%2e%2e/secret")
        self.assertEqual(response.code, 400)
        await self.content(response)
        self.assertEqual(self.recorded, [])

    async def test_post_body_forwarded_exactly(self) -> None:
        base = self.start_proxy([self.mount()])
        for body in [b"", b"a=1&b=\x00\xff", bytes(range(256)) * 1000]:
            response = await self.http.post(
                base + "/api/p", data=body, headers={b"content-type": [b"application/x-thing"]}
            )
            self.assertEqual(response.code, 200)
            await self.content(response)
            seen = self.recorded[-1]
            self.assertEqual(seen.method, b"POST")
            self.assertEqual(seen.body, body)
            self.assertEqual(seen.header(b"content-length"), [b"%d" % len(body)])
            self.assertEqual(seen.header(b"content-type"), [b"application/x-thing"])

    async def test_other_methods_and_head(self) -> None:
        base = self.start_proxy([self.mount()])
        for method in [b"PUT", b"DELETE", b"PATCH", b"OPTIONS"]:
            response = await self.http.request(method.decode(), base + "/api/m", data=b"payload")
            self.assertEqual(response.code, 200)
            self.assertEqual(await self.content(response), b"upstream says hi\n")
            self.assertEqual(self.recorded[-1].method, method)
            self.assertEqual(self.recorded[-1].body, b"payload")
        response = await self.http.head(base + "/api/h")
        self.assertEqual(response.code, 200)
        self.assertEqual(await self.content(response), b"")
        self.assertEqual(self.recorded[-1].method, b"HEAD")

    async def test_status_and_no_body_codes(self) -> None:
        base = self.start_proxy([self.mount()])
        self.recorder.reply_code = 418
        response = await self.http.get(base + "/api/t")
        self.assertEqual(response.code, 418)
        self.assertEqual(response.phrase, b"I'm a teapot")
        self.assertEqual(await self.content(response), b"upstream says hi\n")
        for code in (204, 304):
            self.recorder.reply_code = code
            response = await self.http.get(base + "/api/t")
            self.assertEqual(response.code, code)
            self.assertEqual(await self.content(response), b"")

    async def test_keep_alive_reuses_one_upstream_connection(self) -> None:
        base = self.start_proxy([self.mount()])
        for i in range(10):
            response = await self.http.get(base + f"/api/n{i}")
            self.assertEqual(response.code, 200)
            await self.content(response)
        self.assertEqual(len(self.recorded), 10)
        self.assertEqual(self.upstream_site.connections, 1)

    async def test_absolute_form_and_connect_refused(self) -> None:
        self.start_proxy([self.mount()])
        for line in [
            b"GET http://127.0.0.1:1/api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]:
            client = await self.raw(line)
            await client.closed
            self.assertTrue(client.data.startswith(b"HTTP/1.1 400 "), client.data[:40])
        self.assertEqual(self.recorded, [])

    async def test_control_character_in_target_is_400(self) -> None:
        self.start_proxy([self.mount()])
        client = await self.raw(b"GET /api/a\x7fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await client.closed
        self.assertTrue(client.data.startswith(b"HTTP/1.1 400 "), client.data[:40])
        self.assertTrue(client.data.endswith(
            b"\r\n\r\n400 Bad Request: control character (NUL, CR, LF, ...) in the path refused\n"
        ))
        self.assertEqual(self.recorded, [])

    async def test_unmounted_path_is_not_proxied(self) -> None:
        base = self.start_proxy([self.mount()])
        response = await self.http.get(base + "/apix/y")
        self.assertEqual(response.code, 404)
        await self.content(response)
        self.assertEqual(self.recorded, [])

    async def test_toml_config_mounts(self) -> None:
        port = self.upstream_port.getHost().port
        self.upstream_root.putChild(b"v2", self.recorder)
        mounts = mounts_from_toml(
            f"""
            [[proxy]]
            prefix = "/one"
            upstream = "http://127.0.0.1:{port}/rec"

            [[proxy]]
            prefix = "/v2"
            upstream = "http://127.0.0.1:{port}/"
            keep_prefix = true
            preserve_host = true
            """
        )
        base = self.start_proxy(mounts)
        await self.content(await self.http.get(base + "/one/a"))
        await self.content(await self.http.get(base + "/v2/b", headers={b"host": [b"front.test"]}))
        self.assertEqual([r.uri for r in self.recorded], [b"/rec/a", b"/v2/b"])
        self.assertEqual(self.recorded[1].header(b"host"), [b"front.test"])


class HeaderTests(ProxyTestCase):
    async def test_hop_by_hop_removed_request_direction(self) -> None:
        self.start_proxy([self.mount()])
        client = await self.raw(
            b"GET /api/h HTTP/1.1\r\nHost: front.test\r\nConnection: keep-alive, X-Secret\r\n"
            b"X-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Authorization: basic x\r\n"
            b"Upgrade: websocket\r\nX-Multi: a\r\nX-Multi: b\r\nX-Keep: k\r\n\r\n"
        )
        await wait_until(lambda: len(self.recorded) == 1)
        client.transport.loseConnection()
        await client.closed
        seen = self.recorded[0]
        names = {n for n, _ in seen.pairs}
        for gone in [b"x-secret", b"keep-alive", b"te", b"proxy-authorization", b"upgrade"]:
            self.assertNotIn(gone, names)
        self.assertNotIn(b"keep-alive", seen.header(b"connection"))
        self.assertEqual(seen.header(b"x-multi"), [b"a", b"b"])
        self.assertEqual(seen.header(b"x-keep"), [b"k"])

    async def test_hop_by_hop_removed_response_direction(self) -> None:
        base = self.start_proxy([self.mount()])
        self.recorder.reply_headers = [
            (b"Connection", b"X-Private"),
            (b"X-Private", b"p"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Proxy-Authenticate", b"Basic"),
            (b"Upgrade", b"h2c"),
            (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"),
            (b"X-Public", b"ok"),
        ]
        response = await self.http.get(base + "/api/r")
        await self.content(response)
        h = response.headers
        for gone in [b"x-private", b"keep-alive", b"proxy-authenticate", b"upgrade"]:
            self.assertFalse(h.hasHeader(gone), gone)
        self.assertEqual(h.getRawHeaders(b"set-cookie"), [b"a=1", b"b=2"])
        self.assertEqual(h.getRawHeaders(b"x-public"), [b"ok"])
        self.assertEqual(h.getRawHeaders(b"via"), [b"1.1 netlab"])

    async def test_forwarding_headers_untrusted_peer(self) -> None:
        base = self.start_proxy([self.mount()], pseudonym="edge")
        response = await self.http.get(
            base + "/api/f",
            headers={
                b"host": [b"front.test:8080"],
                b"x-forwarded-for": [b"6.6.6.6"],
                b"x-forwarded-proto": [b"https"],
                b"forwarded": [b"for=6.6.6.6"],
                b"via": [b"1.0 elsewhere"],
            },
        )
        await self.content(response)
        seen = self.recorded[0]
        self.assertEqual(seen.header(b"x-forwarded-for"), [b"127.0.0.1"])
        self.assertEqual(seen.header(b"x-forwarded-proto"), [b"http"])
        self.assertEqual(seen.header(b"x-forwarded-host"), [b"front.test:8080"])
        self.assertEqual(
            seen.header(b"forwarded"), [b'for=127.0.0.1;host="front.test:8080";proto=http']
        )
        self.assertEqual(seen.header(b"via"), [b"1.0 elsewhere", b"1.1 edge"])
        self.assertEqual(
            seen.header(b"host"), [b"127.0.0.1:%d" % self.upstream_port.getHost().port]
        )

    async def test_forwarding_headers_trusted_peer(self) -> None:
        base = self.start_proxy([self.mount()], trusted=parse_trusted(["127.0.0.0/8"]))
        response = await self.http.get(
            base + "/api/f",
            headers={
                b"x-forwarded-for": [b"6.6.6.6, 10.0.0.1"],
                b"x-forwarded-proto": [b"https"],
                b"x-forwarded-host": [b"public.test"],
                b"forwarded": [b'for=6.6.6.6;proto=https'],
            },
        )
        await self.content(response)
        seen = self.recorded[0]
        self.assertEqual(seen.header(b"x-forwarded-for"), [b"6.6.6.6, 10.0.0.1, 127.0.0.1"])
        self.assertEqual(seen.header(b"x-forwarded-proto"), [b"https"])
        self.assertEqual(seen.header(b"x-forwarded-host"), [b"public.test"])
        self.assertEqual(
            seen.header(b"forwarded")[0].split(b", ")[0], b"for=6.6.6.6;proto=https"
        )

    async def test_preserve_host(self) -> None:
        base = self.start_proxy([self.mount(preserve_host=True)])
        await self.content(await self.http.get(base + "/api/x", headers={b"host": [b"front.test"]}))
        self.assertEqual(self.recorded[0].header(b"host"), [b"front.test"])

    async def test_location_and_content_location_rewritten(self) -> None:
        base = self.start_proxy([self.mount("/api", "/rec")])
        self.recorder.reply_code = 302
        self.recorder.reply_headers = [
            (b"Location", (self.upstream_url + "/rec/next?a=1#top").encode()),
            (b"Content-Location", b"/rec/doc"),
        ]
        response = await self.http.get(base + "/api/x", allow_redirects=False)
        await self.content(response)
        self.assertEqual(response.code, 302)
        self.assertEqual(response.headers.getRawHeaders(b"location"), [b"/api/next?a=1#top"])
        self.assertEqual(response.headers.getRawHeaders(b"content-location"), [b"/api/doc"])
        self.recorder.reply_headers = [(b"Location", b"https://elsewhere.test/rec/x")]
        response = await self.http.get(base + "/api/x", allow_redirects=False)
        await self.content(response)
        self.assertEqual(
            response.headers.getRawHeaders(b"location"), [b"https://elsewhere.test/rec/x"]
        )

    async def test_dev_mode_cookie_rewrite(self) -> None:
        base = self.start_proxy([self.mount("/api", "/rec")], dev=True)
        self.recorder.reply_headers = [
            (b"Set-Cookie", b"sid=1; Domain=upstream.test; Path=/rec/app; Secure; HttpOnly"),
            (b"Set-Cookie", b"t=2; Path=/; SameSite=None; Secure"),
            (b"Set-Cookie", b"u=3; SameSite=Lax"),
        ]
        response = await self.http.get(base + "/api/x")
        await self.content(response)
        self.assertEqual(
            response.headers.getRawHeaders(b"set-cookie"),
            [b"sid=1; Path=/api/app; HttpOnly", b"t=2; Path=/api", b"u=3; SameSite=Lax"],
        )

    async def test_cookies_untouched_without_dev_mode(self) -> None:
        base = self.start_proxy([self.mount()])
        cookie = b"sid=1; Domain=upstream.test; Path=/rec; Secure"
        self.recorder.reply_headers = [(b"Set-Cookie", cookie)]
        response = await self.http.get(base + "/api/x")
        await self.content(response)
        self.assertEqual(response.headers.getRawHeaders(b"set-cookie"), [cookie])

    async def test_cors_headers_passed_or_dropped(self) -> None:
        """Built knowing the site manages CORS, the proxy drops upstream Access-Control-*;
        otherwise it passes them."""
        base = self.start_proxy([self.mount()])
        self.recorder.reply_headers = [
            (b"Access-Control-Allow-Origin", b"*"),
            (b"Vary", b"Accept-Encoding"),
        ]
        response = await self.http.get(base + "/api/x")
        await self.content(response)
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])

        base = self.start_proxy([self.mount()], cors_managed=True)
        inner = self.proxy_site.resource

        class Managed(Resource):
            isLeaf = True

            def render(self, request):  # type: ignore[no-untyped-def]
                request.setHeader(b"access-control-allow-origin", b"http://app.test")
                request.setHeader(b"vary", b"Origin")
                return inner.render(request)

        self.proxy_site.resource = Managed()
        response = await self.http.get(base + "/api/x")
        await self.content(response)
        self.assertEqual(
            response.headers.getRawHeaders(b"access-control-allow-origin"), [b"http://app.test"]
        )
        self.assertEqual(response.headers.getRawHeaders(b"vary"), [b"Origin, Accept-Encoding"])


class StreamingTests(ProxyTestCase):
    async def test_sse_first_event_before_upstream_finishes(self) -> None:
        def head(request):  # type: ignore[no-untyped-def]
            request.setHeader(b"content-type", b"text/event-stream")
            request.setHeader(b"cache-control", b"no-cache")
            request.write(b"data: one\n\n")

        sse = Held(head)
        self.upstream_root.putChild(b"sse", sse)
        self.start_proxy([self.mount("/ev", "/sse")])
        client = await self.raw(b"GET /ev/ HTTP/1.1\r\nHost: x\r\n\r\n")
        await wait_until(lambda: b"data: one\n\n" in client.data)
        head_part = client.data.split(b"\r\n\r\n")[0].lower()
        self.assertIn(b"content-type: text/event-stream", head_part)
        self.assertNotIn(b"content-encoding", head_part)
        self.assertFalse(sse.requests[0].finished)
        sse.requests[0].write(b"data: two\n\n")
        await wait_until(lambda: b"data: two\n\n" in client.data)
        sse.requests[0].finish()
        await wait_until(lambda: client.data.endswith(b"0\r\n\r\n"))
        client.transport.loseConnection()
        await client.closed

    async def test_backpressure_slow_client_bounds_upstream_reads(self) -> None:
        big = BigBody(64 * 1024 * 1024)
        self.upstream_root.putChild(b"big", big)
        self.start_proxy([self.mount("/b", "/big")])
        client = await self.raw(b"GET /b/ HTTP/1.1\r\nHost: x\r\n\r\n", pause_after=1)
        await wait_until(lambda: client.paused)
        # Let the pipeline fill; production must stall well short of the body.
        last = -1
        for _ in range(100):
            await task.deferLater(reactor, 0.05, lambda: None)
            if big.produced == last:
                break
            last = big.produced
        self.assertLess(big.produced, 16 * 1024 * 1024)
        self.assertGreater(big.produced, 0)
        client.transport.abortConnection()
        await client.closed
        await big.lost  # the upstream request was cancelled, not read to the end
        self.assertLess(big.produced, 64 * 1024 * 1024)

    async def test_full_big_body_arrives_intact(self) -> None:
        big = BigBody(3 * 1024 * 1024 + 7)
        self.upstream_root.putChild(b"big", big)
        base = self.start_proxy([self.mount("/b", "/big")])
        response = await self.http.get(base + "/b/")
        body = await self.content(response)
        self.assertEqual(len(body), 3 * 1024 * 1024 + 7)
        self.assertEqual(response.length, 3 * 1024 * 1024 + 7)  # Content-Length was sent

    async def test_client_abort_cancels_pending_upstream_request(self) -> None:
        held = Held()
        self.upstream_root.putChild(b"held", held)
        self.start_proxy([self.mount("/h", "/held")])
        client = await self.raw(b"GET /h/ HTTP/1.1\r\nHost: x\r\n\r\n")
        await held.arrived
        client.transport.abortConnection()
        await client.closed
        await held.lost  # upstream saw the connection go away

    async def test_json_roundtrip_through_proxy(self) -> None:
        base = self.start_proxy([self.mount()])
        self.recorder.reply_body = json.dumps({"a": [1, 2]}).encode()
        response = await self.http.get(base + "/api/j")
        self.assertEqual(await treq.json_content(response), {"a": [1, 2]})
