"""The cache never serves one user's private answer to another, end to end.

Every origin here answers with a body naming the credentials it saw, so a leak shows
up as user B reading user A's name. Each case: user A asks, then user B asks; B must
get B's own answer from the origin (counted), never A's from the store.
"""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

from typing import Any

from twisted.internet import defer

from tests._cache_support import CacheTestCase, HeldReply, cache_status, header
from tests._proxy_support import wait_until

ALICE = {b"authorization": [b"Basic YWxpY2U6YQ=="]}
BOB = {b"authorization": [b"Basic Ym9iOmI="]}
ALICE_COOKIE = {b"cookie": [b"id=alice"]}
BOB_COOKIE = {b"cookie": [b"id=bob"]}


def personal(*headers: tuple[bytes, bytes], cookie: bytes | None = None) -> Any:
    """An origin that greets whoever the Authorization or Cookie names."""

    def handle(request: Any) -> bytes:
        for name, value in headers:
            request.responseHeaders.addRawHeader(name, value)
        if cookie is not None:
            request.responseHeaders.addRawHeader(b"set-cookie", cookie)
        who = request.getHeader(b"authorization") or request.getHeader(b"cookie") or b"nobody"
        return b"hello " + who + b"\n"

    return handle


class PrivacyTests(CacheTestCase):
    async def assert_each_gets_own(
        self, path: str, first: dict[bytes, list[bytes]], second: dict[bytes, list[bytes]]
    ) -> None:
        _, body_a = await self.get(path, first)
        response, body_b = await self.get(path, second)
        mine = next(iter(second.values()), [b"nobody"])[0] if second else b"nobody"
        self.assertEqual(body_b, b"hello " + mine + b"\n")
        self.assertNotEqual(body_a, body_b)
        self.assertEqual(self.origin.count(), 2)
        self.assertNotIn("hit", cache_status(response))

    async def test_authorization_without_public_not_shared_rfc9111_3_5(self) -> None:
        self.origin.route(b"/o/me", personal((b"cache-control", b"max-age=60")))
        self.start_cached()
        await self.assert_each_gets_own("/c/me", ALICE, BOB)

    async def test_authorization_answer_not_served_to_anonymous(self) -> None:
        self.origin.route(b"/o/me", personal((b"cache-control", b"max-age=60")))
        self.start_cached()
        await self.assert_each_gets_own("/c/me", ALICE, {})

    async def test_private_never_stored_rfc9111_5_2_2_7(self) -> None:
        self.origin.route(b"/o/me", personal((b"cache-control", b"private, max-age=60")))
        self.start_cached()
        await self.assert_each_gets_own("/c/me", ALICE_COOKIE, BOB_COOKIE)

    async def test_set_cookie_response_never_stored(self) -> None:
        self.origin.route(
            b"/o/login", personal((b"cache-control", b"public, max-age=60"), cookie=b"sid=alice-1")
        )
        self.start_cached()
        _, body_a = await self.get("/c/login", ALICE)
        response, _ = await self.get("/c/login")
        self.assertEqual(self.origin.count(), 2)
        self.assertEqual(body_a, b"hello Basic YWxpY2U6YQ==\n")
        # Bob gets his own answer (a cookie of his own, from the origin), never Alice's
        # from the store.
        self.assertNotIn("hit", cache_status(response))

    async def test_vary_cookie_keeps_users_apart_rfc9111_4_1(self) -> None:
        self.origin.route(
            b"/o/me", personal((b"cache-control", b"max-age=60"), (b"vary", b"Cookie"))
        )
        self.start_cached()
        alice = {b"cookie": [b"id=alice"]}
        bob = {b"cookie": [b"id=bob"]}
        await self.assert_each_gets_own("/c/me", alice, bob)
        # Each user's own variant is reused for that user only.
        again, body = await self.get("/c/me", alice)
        self.assertEqual(body, b"hello id=alice\n")
        self.assertTrue(cache_status(again).startswith("netlab; hit"))
        anonymous, body = await self.get("/c/me")
        self.assertEqual(body, b"hello nobody\n")
        self.assertEqual(self.origin.count(), 3)
        self.assertNotIn("hit", cache_status(anonymous))

    async def test_cookie_request_without_vary_cookie_not_stored(self) -> None:
        self.origin.route(b"/o/me", personal((b"cache-control", b"max-age=60")))
        self.start_cached()
        await self.assert_each_gets_own("/c/me", ALICE_COOKIE, BOB_COOKIE)

    async def test_no_store_never_stored(self) -> None:
        self.origin.route(b"/o/me", personal((b"cache-control", b"no-store")))
        self.start_cached()
        await self.assert_each_gets_own("/c/me", ALICE, BOB)
        self.assertEqual(self.cache.store.size, 0)

    async def test_collapsed_private_answer_not_handed_to_waiters(self) -> None:
        held = HeldReply(b"hello alice\n", (b"cache-control", b"private, max-age=60"))
        self.origin.route(b"/o/me", held)
        self.start_cached()
        alice = defer.ensureDeferred(self.get("/c/me", ALICE))
        await wait_until(lambda: len(held.waiting) == 1)
        bob = defer.ensureDeferred(self.get("/c/me", BOB))
        key = self.upstream_url + "/o/me"
        await wait_until(lambda: self.cache.collapser.waiting(key) == 1)
        held.release()
        # Bob waited for Alice's request; her private answer released him to ask himself.
        await wait_until(lambda: len(held.waiting) == 1)
        held.body = b"hello bob\n"
        held.release()
        (_, body_a), (_, body_b) = await defer.gatherResults([alice, bob])
        self.assertEqual((body_a, body_b), (b"hello alice\n", b"hello bob\n"))
        self.assertEqual(self.origin.count(), 2)

    async def test_public_authorized_answer_is_shared_as_the_origin_said(self) -> None:
        # The control case: with public the origin allows sharing, so the store is used.
        self.origin.route(b"/o/doc", personal((b"cache-control", b"public, max-age=60")))
        self.start_cached()
        await self.get("/c/doc", ALICE)
        response, body = await self.get("/c/doc", BOB)
        self.assertEqual(body, b"hello Basic YWxpY2U6YQ==\n")
        self.assertTrue(cache_status(response).startswith("netlab; hit"))
        self.assertEqual(header(response, b"set-cookie"), [])
