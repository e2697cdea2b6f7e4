"""The proxy cache end to end: a real origin on 127.0.0.1 port 0, counted requests.

Each test says what the origin answers, sends requests through the caching proxy and
asserts on the bodies, the Cache-Status member (RFC 9211) and how many requests reached
the origin.
"""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

from twisted.internet import defer

from tests._cache_support import CacheTestCase, cache_status, fixed, header
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.config import ProxyCacheConfig

FRESH = (b"cache-control", b"max-age=60")


class HitMissTests(CacheTestCase):
    async def test_second_get_is_a_hit_rfc9111_4(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH, (b"content-type", b"text/plain")))
        self.start_cached()
        first, body1 = await self.get("/c/a")
        second, body2 = await self.get("/c/a")
        self.assertEqual((first.code, body1), (200, b"alpha\n"))
        self.assertEqual((second.code, body2), (200, b"alpha\n"))
        self.assertEqual(self.origin.count(b"/o/a"), 1)
        # ttl counts down with the real clock from the origin's Date (1 s resolution):
        # a loaded machine may spend a few seconds before the answer; 60 s is the max-age.
        self.assertRegex(
            cache_status(first),
            r"\Anetlab; fwd=uri-miss; fwd-status=200; ttl=(5[0-9]|60); stored\Z",
        )
        self.assertTrue(cache_status(second).startswith("netlab; hit; ttl="))
        self.assertEqual(header(second, b"content-type"), [b"text/plain"])
        self.assertEqual(second.length, 6)
        self.assertEqual(len(header(second, b"age")), 1)
        self.assertEqual(self.cache.outcomes["hit"], 1)
        self.assertEqual(self.cache.outcomes["miss"], 1)

    async def test_explain_header_says_why_in_words(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH))
        self.start_cached(ProxyCacheConfig(enabled=True, explain=True))
        first, _ = await self.get("/c/a")
        second, _ = await self.get("/c/a")
        self.assertRegex(
            header(first, b"x-netlab-explain")[0].decode(),
            r"\AForwarded upstream: nothing was stored for this URL; the upstream answered "
            r"200; the response was stored; fresh for (59|60) more s\.\Z",
        )
        self.assertTrue(header(second, b"x-netlab-explain")[0].startswith(b"Served from the cache"))

    async def test_uncacheable_response_goes_upstream_each_time(self) -> None:
        self.origin.route(b"/o/n", fixed(b"nope\n", (b"cache-control", b"no-store")))
        self.start_cached()
        first, _ = await self.get("/c/n")
        second, body = await self.get("/c/n")
        self.assertEqual(body, b"nope\n")
        self.assertEqual(self.origin.count(b"/o/n"), 2)
        self.assertEqual(cache_status(first), "netlab; fwd=uri-miss; fwd-status=200")
        self.assertEqual(cache_status(second), "netlab; fwd=uri-miss; fwd-status=200")

    async def test_mount_opt_out_bypasses(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH))
        self.start_cached(mount=ProxyMount("/c", self.upstream_url + "/o", cache=False))
        first, _ = await self.get("/c/a")
        await self.get("/c/a")
        self.assertEqual(self.origin.count(b"/o/a"), 2)
        self.assertEqual(cache_status(first), "netlab; fwd=bypass")

    async def test_post_is_forwarded_with_fwd_method(self) -> None:
        self.origin.route(b"/o/p", fixed(b"made\n", (b"cache-control", b"max-age=60")))
        self.start_cached()
        response, body = await self.get("/c/p", method="POST")
        self.assertEqual(body, b"made\n")
        self.assertEqual(cache_status(response), "netlab; fwd=method; fwd-status=200")

    async def test_large_body_streams_into_the_store(self) -> None:
        payload = bytes(range(256)) * 4096  # 1 MiB
        self.origin.route(b"/o/big", fixed(payload, FRESH))
        self.start_cached(ProxyCacheConfig(enabled=True, memory_bytes=8 << 20))
        _, first = await self.get("/c/big")
        response, second = await self.get("/c/big")
        self.assertEqual(first, payload)
        self.assertEqual(second, payload)
        self.assertEqual(self.origin.count(b"/o/big"), 1)
        self.assertTrue(cache_status(response).startswith("netlab; hit"))

    async def test_only_if_cached_rfc9111_5_2_1_7(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH))
        self.start_cached()
        oic = {b"cache-control": [b"only-if-cached"]}
        missing, _ = await self.get("/c/a", oic)
        self.assertEqual(missing.code, 504)
        self.assertEqual(self.origin.count(), 0)
        self.assertEqual(cache_status(missing), 'netlab; fwd=uri-miss; detail="only-if-cached"')
        await self.get("/c/a")
        present, body = await self.get("/c/a", oic)
        self.assertEqual((present.code, body), (200, b"alpha\n"))
        self.assertEqual(self.origin.count(), 1)

    async def test_upstream_down_nothing_stored_502_has_cache_status(self) -> None:
        self.start_cached()
        await defer.maybeDeferred(self.upstream_port.stopListening)
        response, _ = await self.get("/c/a")
        self.assertEqual(response.code, 502)
        self.assertEqual(cache_status(response), "netlab; fwd=uri-miss")
