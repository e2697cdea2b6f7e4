"""The proxy cache end to end, beyond plain hits: validation, Vary, invalidation,
collapsing, stale answers, the disk store across a restart, HEAD, Range and PURGE.

A real origin on 127.0.0.1 port 0 counts the requests that reach it.
"""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

import os
import shutil
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest
from twisted.web.client import ResponseFailed
from twisted.web.server import NOT_DONE_YET

from tests._cache_support import CacheTestCase, HeldReply, cache_status, fixed, header
from tests._proxy_support import wait_until
from tests.config_support import web_options
from twisted_netlab.web.config import ProxyCacheConfig
from twisted_netlab.web.proxy import ProxyResource
from twisted_netlab.web.site import build_site

FRESH = (b"cache-control", b"max-age=60")
ETAG = (b"etag", b'"v1"')


def conditional_origin(body: bytes, *extra: tuple[bytes, bytes]) -> Any:
    """200 with ETag "v1" (max-age=0), or 304 when If-None-Match names it."""

    def handle(request: Any) -> bytes:
        request.setHeader(b"etag", b'"v1"')
        request.setHeader(b"cache-control", b"max-age=0")
        for name, value in extra:
            request.setHeader(name, value)
        if request.getHeader(b"if-none-match") == b'"v1"':
            request.setResponseCode(304)
            return b""
        return body

    return handle


class ValidationTests(CacheTestCase):
    async def test_stale_entry_revalidated_with_304_rfc9111_4_3(self) -> None:
        self.origin.route(b"/o/v", conditional_origin(b"version one\n"))
        self.start_cached()
        await self.get("/c/v")
        response, body = await self.get("/c/v")
        self.assertEqual((response.code, body), (200, b"version one\n"))
        self.assertEqual(self.origin.count(b"/o/v"), 2)
        self.assertEqual(self.origin.seen[1].headers.get(b"if-none-match"), b'"v1"')
        self.assertRegex(
            cache_status(response), r"\Anetlab; fwd=stale; fwd-status=304; ttl=(0|-1); stored\Z"
        )
        self.assertEqual(self.cache.outcomes["validated"], 1)

    async def test_304_without_etag_answers_our_revalidation_rfc9111_4_3_4(self) -> None:
        # The origin repeats no ETag on its 304 (RFC 9110 15.4.5 asks it to; many don't):
        # it still answers our If-None-Match for the one stored response, which is
        # reused, not refetched unconditionally.
        def handle(request: Any) -> bytes:
            request.setHeader(b"cache-control", b"no-cache")
            if request.getHeader(b"if-none-match") == b'"v1"':
                request.setResponseCode(304)
                return b""
            request.setHeader(b"etag", b'"v1"')
            return b"version one\n"

        self.origin.route(b"/o/v", handle)
        self.start_cached()
        await self.get("/c/v")
        response, body = await self.get("/c/v")
        self.assertEqual((response.code, body), (200, b"version one\n"))
        self.assertEqual(self.origin.count(b"/o/v"), 2)
        self.assertEqual(self.origin.seen[1].headers.get(b"if-none-match"), b'"v1"')
        self.assertEqual(header(response, b"etag"), [b'"v1"'])
        self.assertTrue(cache_status(response).startswith("netlab; fwd=stale; fwd-status=304"))

    async def test_client_validators_replaced_and_answered_from_store_rfc9111_4_3_2(
        self,
    ) -> None:
        self.origin.route(b"/o/v", conditional_origin(b"version one\n"))
        self.start_cached()
        await self.get("/c/v")
        response, body = await self.get("/c/v", {b"if-none-match": [b'"v1"']})
        self.assertEqual((response.code, body), (304, b""))
        self.assertEqual(header(response, b"etag"), [b'"v1"'])
        self.assertEqual(self.origin.count(b"/o/v"), 2)

    async def test_fresh_hit_answers_client_conditional_without_upstream(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH, ETAG))
        self.start_cached()
        await self.get("/c/a")
        response, _ = await self.get("/c/a", {b"if-none-match": [b'"v1"']})
        self.assertEqual(response.code, 304)
        self.assertEqual(self.origin.count(b"/o/a"), 1)

    async def test_changed_resource_replaces_entry(self) -> None:
        versions = iter([b"one\n", b"two\n"])

        def handle(request: Any) -> bytes:
            request.setHeader(b"cache-control", b"max-age=0")
            request.setHeader(b"etag", b'"%d"' % len(self.origin.seen))
            return next(versions)

        self.origin.route(b"/o/c", handle)
        self.start_cached()
        await self.get("/c/c")
        response, body = await self.get("/c/c")
        self.assertEqual(body, b"two\n")
        self.assertEqual(self.origin.seen[1].headers.get(b"if-none-match"), b'"1"')
        self.assertRegex(
            cache_status(response), r"\Anetlab; fwd=stale; fwd-status=200; ttl=(0|-1); stored\Z"
        )

    async def test_request_no_cache_forces_revalidation_rfc9111_5_2_1_4(self) -> None:
        self.origin.route(b"/o/a", conditional_origin(b"x\n", (b"cache-control", b"max-age=60")))
        self.start_cached()
        await self.get("/c/a")
        response, _ = await self.get("/c/a", {b"cache-control": [b"no-cache"]})
        self.assertEqual(self.origin.count(b"/o/a"), 2)
        self.assertTrue(cache_status(response).startswith("netlab; fwd=request; fwd-status=304"))


class TargetedFieldTests(CacheTestCase):
    async def test_cdn_cache_control_overrides_cache_control_rfc9213_2_1(self) -> None:
        self.origin.route(
            b"/o/t",
            fixed(b"for the cdn\n", (b"cache-control", b"no-store"),
                  (b"cdn-cache-control", b"max-age=60")),
        )
        self.origin.route(
            b"/o/n",
            fixed(b"not for the cdn\n", FRESH, (b"cdn-cache-control", b"no-store")),
        )
        self.start_cached()
        for path in ("/c/t", "/c/t", "/c/n", "/c/n"):
            await self.get(path)
        self.assertEqual((self.origin.count(b"/o/t"), self.origin.count(b"/o/n")), (1, 2))
        # Both fields are relayed to the client untouched (browsers obey Cache-Control).
        response, _ = await self.get("/c/t")
        self.assertEqual(header(response, b"cache-control"), [b"no-store"])
        self.assertEqual(header(response, b"cdn-cache-control"), [b"max-age=60"])


class VaryTests(CacheTestCase):
    async def test_secondary_keys_rfc9111_4_1(self) -> None:
        def handle(request: Any) -> bytes:
            request.setHeader(b"cache-control", b"max-age=60")
            request.setHeader(b"vary", b"Accept-Language")
            return b"lang=" + (request.getHeader(b"accept-language") or b"-") + b"\n"

        self.origin.route(b"/o/l", handle)
        self.start_cached()
        en = {b"accept-language": [b"en"]}
        fr = {b"accept-language": [b"fr"]}
        _, first = await self.get("/c/l", en)
        second, body_fr = await self.get("/c/l", fr)
        third, again = await self.get("/c/l", en)
        fourth, _ = await self.get("/c/l", fr)
        self.assertEqual((first, body_fr, again), (b"lang=en\n", b"lang=fr\n", b"lang=en\n"))
        self.assertEqual(self.origin.count(b"/o/l"), 2)
        self.assertTrue(cache_status(second).startswith("netlab; fwd=vary-miss"))
        self.assertTrue(cache_status(third).startswith("netlab; hit"))
        self.assertTrue(cache_status(fourth).startswith("netlab; hit"))

    async def test_vary_star_never_reused(self) -> None:
        self.origin.route(b"/o/s", fixed(b"s\n", FRESH, (b"vary", b"*")))
        self.start_cached()
        await self.get("/c/s")
        await self.get("/c/s")
        self.assertEqual(self.origin.count(b"/o/s"), 2)


class InvalidationTests(CacheTestCase):
    async def test_unsafe_method_invalidates_target_and_location_rfc9111_4_4(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH))
        self.origin.route(b"/o/b", fixed(b"beta\n", FRESH))
        self.origin.route(
            b"/o/a/edit", fixed(b"ok\n", (b"location", self.upstream_url.encode() + b"/o/b"))
        )
        self.start_cached()
        await self.get("/c/a")
        await self.get("/c/b")
        await self.get("/c/a", method="POST")
        await self.get("/c/a/edit", method="POST")
        after_a, _ = await self.get("/c/a")
        after_b, _ = await self.get("/c/b")
        self.assertEqual(self.origin.count(b"/o/a", b"GET"), 2)
        self.assertEqual(self.origin.count(b"/o/b", b"GET"), 2)
        self.assertTrue(cache_status(after_a).startswith("netlab; fwd=uri-miss"))
        self.assertTrue(cache_status(after_b).startswith("netlab; fwd=uri-miss"))

    async def test_failed_unsafe_method_invalidates_nothing(self) -> None:
        def handle(request: Any) -> bytes:
            if request.method == b"POST":
                request.setResponseCode(500)
                return b"broken\n"
            request.setHeader(b"cache-control", b"max-age=60")
            return b"alpha\n"

        self.origin.route(b"/o/a", handle)
        self.start_cached()
        await self.get("/c/a")
        await self.get("/c/a", method="POST")
        response, _ = await self.get("/c/a")
        self.assertTrue(cache_status(response).startswith("netlab; hit"))

    async def test_purge_from_loopback(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH))
        self.start_cached()
        await self.get("/c/a")
        purged, body = await self.get("/c/a", method="PURGE")
        self.assertEqual((purged.code, body), (200, b"purged 1 stored response(s) for " +
                                               self.upstream_url.encode() + b"/o/a\n"))
        again, _ = await self.get("/c/a", method="PURGE")
        self.assertEqual(again.code, 404)
        await self.get("/c/a")
        self.assertEqual(self.origin.count(b"/o/a"), 2)
        self.assertEqual(self.origin.count(method=b"PURGE"), 0)


class CollapsingTests(CacheTestCase):
    async def test_concurrent_misses_make_one_upstream_request(self) -> None:
        held = HeldReply(b"slow answer\n", FRESH)
        self.origin.route(b"/o/slow", held)
        self.start_cached()
        requests = [defer.ensureDeferred(self.get("/c/slow")) for _ in range(10)]
        key = self.upstream_url + "/o/slow"
        await wait_until(lambda: len(held.waiting) == 1 and self.cache.collapser.waiting(key) == 9)
        held.release()
        answers = await defer.gatherResults(requests)
        self.assertEqual([body for _, body in answers], [b"slow answer\n"] * 10)
        self.assertEqual(self.origin.count(b"/o/slow"), 1)
        statuses = sorted(cache_status(r) for r, _ in answers)
        # ttl counts down with the real clock from the origin's Date (1 s resolution):
        # a loaded machine may spend a few seconds before the answer; 60 s is the max-age.
        self.assertRegex(
            statuses[0], r"\Anetlab; fwd=uri-miss; fwd-status=200; ttl=(5[0-9]|60); collapsed\Z"
        )
        self.assertEqual(sum("stored" in s for s in statuses), 1)

    async def test_wait_is_bounded_then_followers_go_upstream(self) -> None:
        held = HeldReply(b"slow\n", FRESH)
        self.origin.route(b"/o/slow", held)
        self.start_cached(ProxyCacheConfig(enabled=True, collapse_wait=0.05))
        requests = [defer.ensureDeferred(self.get("/c/slow")) for _ in range(3)]
        await wait_until(lambda: len(held.waiting) == 3)
        held.release()
        answers = await defer.gatherResults(requests)
        self.assertEqual([body for _, body in answers], [b"slow\n"] * 3)
        self.assertEqual(self.origin.count(b"/o/slow"), 3)

    async def test_uncacheable_answer_releases_followers_at_once(self) -> None:
        held = HeldReply(b"mine\n", (b"cache-control", b"no-store"))
        self.origin.route(b"/o/p", held)
        self.start_cached()
        requests = [defer.ensureDeferred(self.get("/c/p")) for _ in range(3)]
        key = self.upstream_url + "/o/p"
        await wait_until(lambda: len(held.waiting) == 1 and self.cache.collapser.waiting(key) == 2)
        held.release()
        await wait_until(lambda: len(held.waiting) == 2)
        held.release()
        answers = await defer.gatherResults(requests)
        self.assertEqual([body for _, body in answers], [b"mine\n"] * 3)
        self.assertEqual(self.origin.count(b"/o/p"), 3)


class StaleTests(CacheTestCase):
    async def test_stale_if_error_on_503_rfc5861_4(self) -> None:
        answers = iter([(200, b"good\n"), (503, b"down\n")])

        def handle(request: Any) -> bytes:
            status, body = next(answers)
            request.setResponseCode(status)
            request.setHeader(b"cache-control", b"max-age=0, stale-if-error=60")
            return body

        self.origin.route(b"/o/e", handle)
        self.start_cached()
        await self.get("/c/e")
        response, body = await self.get("/c/e")
        self.assertEqual((response.code, body), (200, b"good\n"))
        # ttl: the Date header's one-second resolution makes the age 0.x or 1.x s.
        self.assertRegex(
            cache_status(response), r'\Anetlab; hit; ttl=(0|-1); detail="stale-if-error"\Z'
        )
        self.assertEqual(self.origin.count(b"/o/e"), 2)

    async def test_stale_if_error_with_upstream_down(self) -> None:
        self.origin.route(
            b"/o/e",
            fixed(b"good\n", (b"cache-control", b"max-age=0, stale-if-error=60"),
                  (b"connection", b"close")),
        )
        self.start_cached()
        await self.get("/c/e")
        await defer.maybeDeferred(self.upstream_port.stopListening)
        response, body = await self.get("/c/e")
        self.assertEqual((response.code, body), (200, b"good\n"))
        self.assertIn('detail="stale-if-error"', cache_status(response))

    async def test_no_stale_if_error_relays_the_error(self) -> None:
        answers = iter([(200, b"good\n"), (503, b"down\n")])

        def handle(request: Any) -> bytes:
            status, body = next(answers)
            request.setResponseCode(status)
            request.setHeader(b"cache-control", b"max-age=0")
            request.setHeader(b"etag", b'"e"')
            return body

        self.origin.route(b"/o/e", handle)
        self.start_cached()
        await self.get("/c/e")
        response, body = await self.get("/c/e")
        self.assertEqual((response.code, body), (503, b"down\n"))

    async def test_stale_while_revalidate_serves_then_refreshes(self) -> None:
        self.origin.route(
            b"/o/w",
            conditional_origin(b"w\n", (b"cache-control", b"max-age=0, stale-while-revalidate=60")),
        )
        self.start_cached()
        await self.get("/c/w")
        response, body = await self.get("/c/w")
        self.assertEqual(body, b"w\n")
        self.assertRegex(
            cache_status(response), r'\Anetlab; hit; ttl=(0|-1); detail="stale-while-revalidate"\Z'
        )
        await wait_until(lambda: self.origin.count(b"/o/w") == 2)
        self.assertEqual(self.origin.seen[1].headers.get(b"if-none-match"), b'"v1"')
        await wait_until(lambda: self.cache.outcomes["refreshed"] == 1)


class DiskStoreTests(CacheTestCase):
    async def test_disk_store_survives_a_restart(self) -> None:
        payload = b"d" * 200_000
        self.origin.route(b"/o/big", fixed(payload, FRESH))
        directory = self.mktemp()
        config = ProxyCacheConfig(enabled=True, directory=directory, disk_threshold=4096)
        self.start_cached(config)
        await self.get("/c/big")
        disk = self.cache.store.disk
        assert disk is not None
        self.assertEqual(len(disk.entries(self.upstream_url + "/o/big")), 1)
        self.start_cached(config)  # a new client, cache and store over the same directory
        response, body = await self.get("/c/big")
        self.assertEqual(body, payload)
        self.assertTrue(cache_status(response).startswith("netlab; hit"))
        self.assertEqual(self.origin.count(b"/o/big"), 1)


class StoredAnswerTests(CacheTestCase):
    async def test_head_answered_from_stored_get_rfc9111_4(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH, (b"content-type", b"text/plain")))
        self.start_cached()
        await self.get("/c/a")
        response, body = await self.get("/c/a", method="HEAD")
        self.assertEqual((response.code, body), (200, b""))
        self.assertEqual(header(response, b"content-type"), [b"text/plain"])
        self.assertTrue(cache_status(response).startswith("netlab; hit"))
        self.assertEqual(self.origin.count(), 1)

    async def test_range_from_stored_full_response(self) -> None:
        self.origin.route(b"/o/r", fixed(b"0123456789", FRESH, (b"content-type", b"text/plain")))
        self.start_cached()
        await self.get("/c/r")
        one, body = await self.get("/c/r", {b"range": [b"bytes=2-5"]})
        self.assertEqual((one.code, body), (206, b"2345"))
        self.assertEqual(header(one, b"content-range"), [b"bytes 2-5/10"])
        suffix, body = await self.get("/c/r", {b"range": [b"bytes=-3"]})
        self.assertEqual((suffix.code, body), (206, b"789"))
        many, body = await self.get("/c/r", {b"range": [b"bytes=0-1,8-9"]})
        self.assertEqual(many.code, 206)
        kind = header(many, b"content-type")[0]
        self.assertTrue(kind.startswith(b"multipart/byteranges; boundary="))
        boundary = kind.split(b"boundary=")[1]
        self.assertEqual(
            body,
            b"\r\n--" + boundary + b"\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10"
            b"\r\n\r\n01\r\n--" + boundary + b"\r\nContent-Type: text/plain\r\n"
            b"Content-Range: bytes 8-9/10\r\n\r\n89\r\n--" + boundary + b"--\r\n",
        )
        beyond, _ = await self.get("/c/r", {b"range": [b"bytes=20-30"]})
        self.assertEqual(beyond.code, 416)
        self.assertEqual(header(beyond, b"content-range"), [b"bytes */10"])
        self.assertEqual(self.origin.count(), 1)

    async def test_if_range_mismatch_sends_whole_body(self) -> None:
        self.origin.route(b"/o/r", fixed(b"0123456789", FRESH, ETAG))
        self.start_cached()
        await self.get("/c/r")
        response, body = await self.get(
            "/c/r", {b"range": [b"bytes=2-5"], b"if-range": [b'"other"']}
        )
        self.assertEqual((response.code, body), (200, b"0123456789"))


CURL = shutil.which("curl")


class CurlTests(CacheTestCase):
    """What a user sees with curl: Cache-Status on a miss then a hit, and PURGE."""

    async def curl(self, *args: str) -> str:
        assert CURL is not None
        argv = ["-sS", "--max-time", "10", "-D", "-", "-o", "/dev/null", *args]
        out, err, code = await getProcessOutputAndValue(CURL, argv, reactor=reactor)
        self.assertEqual((code, err), (0, b""))
        text: str = out.decode("latin-1")
        return text

    async def test_curl_miss_hit_purge(self) -> None:
        if CURL is None:
            raise SkipTest("curl is not installed")
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH))
        self.start_cached()
        first = await self.curl(self.proxy_url + "/c/a")
        second = await self.curl(self.proxy_url + "/c/a")
        purged = await self.curl("-X", "PURGE", self.proxy_url + "/c/a")
        self.assertIn("Cache-Status: netlab; fwd=uri-miss; fwd-status=200;", first)
        self.assertIn("Cache-Status: netlab; hit; ttl=", second)
        self.assertTrue(purged.startswith("HTTP/1.1 200 OK\r\n"), purged)
        self.assertEqual(self.origin.count(b"/o/a"), 1)


class IncompleteTests(CacheTestCase):
    """A body that does not arrive whole is never stored (nor half stored)."""

    async def test_truncated_upstream_body_not_stored(self) -> None:
        def cut(request: Any) -> int:
            request.setHeader(b"cache-control", b"max-age=60")
            request.setHeader(b"content-length", b"100")
            request.write(b"x" * 10)
            request.channel.transport.loseConnection()
            return NOT_DONE_YET

        self.origin.route(b"/o/cut", cut)
        self.start_cached()
        with self.assertRaises(ResponseFailed):  # the client sees the truncation
            await self.get("/c/cut")
        self.assertEqual(self.cache.store.entries(self.upstream_url + "/o/cut"), [])
        self.assertEqual(self.cache.store.memory.pending, 0)
        self.origin.route(b"/o/cut", fixed(b"whole\n", FRESH))
        response, body = await self.get("/c/cut")
        self.assertEqual(body, b"whole\n")
        self.assertTrue(cache_status(response).startswith("netlab; fwd=uri-miss"))

    async def test_body_over_the_entry_limit_streams_uncached(self) -> None:
        payload = b"b" * (600 << 10)  # the 1 MiB store takes entries up to 256 KiB
        self.origin.route(b"/o/big", fixed(payload, FRESH))
        self.start_cached(ProxyCacheConfig(enabled=True, memory_bytes=1 << 20))
        response, first = await self.get("/c/big")
        _, second = await self.get("/c/big")
        self.assertEqual((first, second), (payload, payload))
        self.assertRegex(
            cache_status(response), r"\Anetlab; fwd=uri-miss; fwd-status=200; ttl=(5[0-9]|60)\Z"
        )
        self.assertEqual(self.origin.count(b"/o/big"), 2)
        self.assertEqual(self.cache.store.memory.pending, 0)


class StreamedUploadTests(CacheTestCase):
    """A POST streamed through the whole site (upload opener) still invalidates."""

    async def test_streamed_post_invalidates_the_target(self) -> None:
        self.origin.route(b"/o/a", fixed(b"alpha\n", FRESH))
        root = self.mktemp()
        os.mkdir(root)
        options = web_options(
            "--path", root, "--proxy-cache", "--proxy", f"/c={self.upstream_url}/o"
        )
        site = build_site(options.web_config, reactor)
        proxy = next(r for _, r in site.resource.mounts if isinstance(r, ProxyResource))
        assert proxy.cache is not None
        self.cache = proxy.cache
        self.addCleanup(proxy.client.close)
        tcp: Any = reactor
        port = tcp.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.proxy_url = f"http://127.0.0.1:{port.getHost().port}"
        await self.get("/c/a")
        hit, _ = await self.get("/c/a")
        self.assertTrue(cache_status(hit).startswith("netlab; hit"))
        posted = await self.http.request("POST", self.proxy_url + "/c/a", data=b"x" * 200_000)
        await self.content(posted)
        self.assertEqual(header(posted, b"cache-status"), [b"netlab; fwd=method; fwd-status=200"])
        self.assertEqual(self.origin.seen[-1].method, b"POST")
        after, _ = await self.get("/c/a")
        self.assertTrue(cache_status(after).startswith("netlab; fwd=uri-miss"))
        self.assertEqual(self.origin.count(b"/o/a", b"GET"), 2)
