"""Repeated fresh hits replay a planned head (``cache_hit`` + ``cache_head.HitPlan``).

A plan must answer exactly what ``lookup`` and the stored-answer helpers would: the same
bytes as a request the ``CachingCall`` answers (an If-None-Match that does not match
sends the same full 200 through it) at every clock reading, Age and ttl included, and
never once the entry is stale, replaced, purged, joined by a variant, or the request
carries a field the lookup reads. In memory, on a ``MemoryReactorClock``; ``lookup`` is
counted in ``cache_hit`` to tell a replay from a looked-up answer.
"""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

import shutil
import tempfile
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache import decision
from twisted_netlab.http.cache.decision import admit
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.config import ProxyCacheConfig, ProxyConfig, StaticConfig, WebConfig
from twisted_netlab.web.proxy import cache_hit
from twisted_netlab.web.proxy.cache_call import CachingCall
from twisted_netlab.web.proxy.cache_head import HitPlan, HitPlans
from twisted_netlab.web.proxy.resource import ProxyResource
from twisted_netlab.web.site import build_site

PEER = IPv4Address("TCP", "127.0.0.1", 40000)
BODY = b"0123456789abcdef" * 64  # 1 KiB
STORED = (
    ("Date", "Thu, 01 Jan 1970 00:16:40 GMT"),  # the clock's 1000 s
    ("Cache-Control", "public, max-age=100"),
    ("Content-Type", "application/octet-stream"),
    ("Cache-Status", "origin; hit"),
    ("ETag", '"v1"'),
)
OTHER = b'If-None-Match: "other"'  # answered by the call, with the same full 200


class HitPlanTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1000)
        root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, root)
        self.mount = ProxyMount("/p", "http://127.0.0.1:9/o")
        config = WebConfig(
            static=StaticConfig(root=root),
            proxy=ProxyConfig(mounts=(self.mount,), cache=ProxyCacheConfig(enabled=True)),
        )
        self.site = build_site(config, self.reactor)
        self.cache = self.site.proxy_caches[0]
        key = self.cache.key_for(self.mount, b"/o/1k")
        assert key is not None
        self.key = key
        self.put(STORED, BODY, received=1000.25)  # Age counts from a quarter second
        self.lookups = 0
        real = cache_hit.lookup

        def counted(*args: Any) -> decision.Lookup:
            self.lookups += 1
            return real(*args)

        self.patch(cache_hit, "lookup", counted)

    def put(
        self,
        fields: tuple[tuple[str, str], ...],
        body: bytes,
        *,
        received: float,
        request: tuple[tuple[str, str], ...] = (),
    ) -> None:
        rules = self.cache.rules
        admission = admit(self.key, "GET", request, 200, fields, received, received, rules)
        assert admission.meta is not None
        writer = self.cache.store.begin(admission.meta)
        writer.append(body)
        self.assertIsNotNone(writer.commit())

    def ask(self, *lines: bytes) -> bytes:
        proto = self.site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        proto.makeConnection(transport)
        extra = b"".join(line + b"\r\n" for line in lines)
        proto.dataReceived(b"GET /p/1k HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n")
        return bytes(transport.value())

    def head(self, response: bytes) -> dict[bytes, bytes]:
        fields: dict[bytes, bytes] = {}
        for line in response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name, value = line.lower().split(b": ", 1)
            fields[name] = fields[name] + b", " + value if name in fields else value
        return fields

    def test_replays_equal_the_call_answer_as_the_clock_moves(self) -> None:
        seen: list[tuple[bytes, bytes]] = []
        # Date 1000, received 1000.25: Age is 0.25 until then and now - 1000 after.
        for step in (0.0, 0.5, 0.2, 0.05, 0.25, 0.0, 0.7, 0.3, 1.0, 96.5):
            self.reactor.advance(step)
            fast = self.ask()
            self.assertEqual(fast, self.ask(OTHER))
            head = self.head(fast)
            seen.append((head[b"age"], head[b"cache-status"]))
            self.assertTrue(fast.endswith(b"\r\n\r\n" + BODY))
        self.assertEqual(
            [age for age, _ in seen], [b"0", b"0", b"0", b"0", b"1", b"1", b"1", b"2", b"3", b"99"]
        )
        self.assertEqual(seen[0][1], b"origin; hit, netlab; hit; ttl=99")
        self.assertEqual(seen[6][1], b"origin; hit, netlab; hit; ttl=98")  # at Age 1.7
        self.assertEqual(seen[-2][1], b"origin; hit, netlab; hit; ttl=97")
        self.assertEqual(seen[-1][1], b"origin; hit, netlab; hit; ttl=0")
        self.assertEqual(self.cache.outcomes["hit"], 20)

    def test_a_plan_spares_the_lookup_within_its_second(self) -> None:
        self.ask()
        self.assertEqual(len(self.cache.hit_plans), 0)  # one hit: no plan yet
        self.ask()  # a second hit within a second: planned
        self.assertEqual((self.lookups, len(self.cache.hit_plans)), (2, 1))
        self.reactor.advance(0.5)  # Age 0.5: still "0", ttl still 99
        self.ask()
        self.ask()
        self.assertEqual(self.lookups, 2)
        self.reactor.advance(0.5)  # Age 1: the plan is over, and made again at once
        self.assertEqual(self.head(self.ask())[b"age"], b"1")
        self.ask()
        self.assertEqual(self.lookups, 3)

    def test_a_replay_skips_the_target_work_and_the_call(self) -> None:
        targets: list[bytes] = []
        real = ProxyResource.plan

        def counted(resource: Any, method: bytes, uri: bytes) -> Any:
            targets.append(uri)
            return real(resource, method, uri)

        self.patch(ProxyResource, "plan", counted)
        self.ask()
        self.ask()
        self.assertEqual(len(targets), 2)
        self.ask()
        self.ask(b"Authorization: Basic eDp5")  # the lookup does not read it either
        self.assertEqual(len(targets), 2)
        self.assertEqual(self.cache.outcomes["hit"], 4)

    def test_other_methods_and_targets_are_not_replayed(self) -> None:
        self.ask()
        self.ask()
        calls: list[object] = []
        real = CachingCall.start

        def counted(call: CachingCall) -> None:
            calls.append(call)
            real(call)

        self.patch(CachingCall, "start", counted)
        proto = self.site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        proto.makeConnection(transport)
        proto.dataReceived(b"HEAD /p/1k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = bytes(transport.value())
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(head.endswith(b"\r\n\r\n"))  # HEAD: the call's answer, no body
        self.assertIn(b"Content-Length: 1024\r\n", head)
        self.assertEqual((len(calls), self.cache.outcomes["hit"]), (1, 3))  # by the call
        proto.dataReceived(b"GET /p/1k?x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(self.cache.outcomes["miss"], 1)  # another target, another key

    def test_the_channel_replays_a_planned_hit_while_it_holds(self) -> None:
        renders: list[object] = []
        real = ProxyResource.render

        def counted(resource: Any, request: Any) -> Any:
            renders.append(request)
            return real(resource, request)

        self.patch(ProxyResource, "render", counted)
        proto = self.site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        proto.makeConnection(transport)
        get = b"GET /p/1k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        answers = []
        for step in (0.0, 0.0, 0.0, 0.2, 0.3, 0.5, 0.1):
            self.reactor.advance(step)
            proto.dataReceived(get)
            answers.append(bytes(transport.value()))
            transport.clear()
            # Each answer is the one the call makes for the same clock reading.
            self.assertEqual(answers[-1], self.ask(OTHER))
        ages = [self.head(a)[b"age"] for a in answers]
        self.assertEqual(ages, [b"0", b"0", b"0", b"0", b"0", b"1", b"1"])
        # Rendered on this connection: the first two (looked up; the second made the
        # plan), the third (answered by the plan, and recorded), then after the Age
        # changed at 1001 the sixth (a new plan) and seventh (recorded again); the
        # fourth and fifth were replays. And one render per ``ask(OTHER)``.
        self.assertEqual(len(renders), 5 + 7)
        self.assertEqual(self.cache.outcomes["hit"], 14)
        self.assertEqual(self.head(answers[0])[b"date"], b"thu, 01 jan 1970 00:16:40 gmt")
        self.assertEqual(answers[3], answers[2])  # stored Date, same Age: same bytes

    def test_no_plan_for_an_entry_hit_less_than_once_a_second(self) -> None:
        ages = []
        for _ in range(3):
            ages.append(self.head(self.ask())[b"age"])
            self.reactor.advance(2)
        self.assertEqual(ages, [b"0", b"2", b"4"])
        self.assertEqual((self.lookups, len(self.cache.hit_plans)), (3, 0))

    def test_no_plan_past_freshness(self) -> None:
        self.ask()
        self.reactor.advance(100.5)  # Age 100.5 > max-age=100
        response = self.ask()
        self.assertEqual(response, b"")  # revalidating with the (unreachable) upstream
        self.assertEqual(self.cache.outcomes["revalidate"], 1)
        self.assertEqual(self.cache.outcomes["hit"], 1)

    def test_request_fields_the_lookup_reads_bypass_the_plan(self) -> None:
        self.ask()
        for line in (b"Cache-Control: no-cache", b"Pragma: no-cache", b"cache-control: max-age=0"):
            self.assertEqual(self.ask(line), b"")
        self.assertEqual(self.cache.outcomes["revalidate"], 3)
        ranged = self.ask(b"Range: bytes=0-3")
        self.assertTrue(ranged.startswith(b"HTTP/1.1 206 "))
        self.assertTrue(self.ask(b'If-None-Match: "v1"').startswith(b"HTTP/1.1 304 "))
        self.assertEqual(self.lookups, 6)  # one each (the call reuses it), and the first

    def test_replaced_entry_is_served_not_the_plan(self) -> None:
        self.ask()
        self.put((*STORED[:1], ("Cache-Control", "max-age=50"), *STORED[2:]), b"new",
                 received=1000.25)
        response = self.ask()
        self.assertTrue(response.endswith(b"\r\n\r\nnew"))
        self.assertIn(b"netlab; hit; ttl=49", self.head(response)[b"cache-status"])
        self.assertEqual(self.lookups, 2)

    def test_refreshed_metadata_is_served_not_the_plan(self) -> None:
        self.ask()
        (stored,) = self.cache.store.entries(self.key)
        self.reactor.advance(40)
        not_modified = (("Date", "Thu, 01 Jan 1970 00:17:20 GMT"), ("ETag", '"v1"'))
        fresher = decision.freshen([stored], not_modified, 1040.0, 1040.0, self.cache.rules)
        self.assertTrue(self.cache.store.update(fresher[0]))
        self.assertEqual(self.head(self.ask())[b"age"], b"0")  # counted from the 304
        self.assertEqual(self.lookups, 2)

    def test_purged_entry_is_not_replayed(self) -> None:
        self.ask()
        self.assertEqual(self.cache.purge(self.key), 1)
        self.assertEqual(self.ask(), b"")  # a miss: forwarded to the (unreachable) upstream
        self.assertEqual(self.cache.outcomes["miss"], 1)

    def test_a_second_variant_ends_the_plan(self) -> None:
        self.ask()
        self.put((*STORED, ("Vary", "Accept")), b"varied", received=1000.5)
        response = self.ask()
        self.assertEqual(self.lookups, 2)  # both variants were weighed again
        self.assertTrue(response.endswith(b"\r\n\r\nvaried"))  # the newer one matches

    def test_no_plan_for_an_entry_with_vary(self) -> None:
        self.cache.store.invalidate(self.key)
        self.put((*STORED, ("Vary", "Accept")), BODY, received=1000.25,
                 request=(("Accept", "text/plain"),))
        first = self.ask(b"Accept: text/plain")
        second = self.ask(b"Accept: text/plain")
        self.assertEqual(first, second)
        self.assertEqual(self.head(first)[b"vary"], b"accept")
        self.assertEqual(len(self.cache.hit_plans), 0)
        self.assertEqual(self.lookups, 2)


class HitPlansTests(SynchronousTestCase):
    def test_hot_after_a_second_hit_within_a_second(self) -> None:
        plans = HitPlans()
        slot = ("a", b"/k", False)
        self.assertFalse(plans.hot(slot, 10.0))
        self.assertFalse(plans.hot(slot, 11.0))  # a second apart: not hot
        self.assertTrue(plans.hot(slot, 11.5))
        plans.put(slot, HitPlan(None, "k", 11.5, 12.0, 200, [], []))  # type: ignore[arg-type]
        self.assertTrue(plans.hot(slot, 12.9))  # its plan ended under a second ago
        self.assertFalse(plans.hot(slot, 14.5))

    def test_bounded(self) -> None:
        plans = HitPlans(limit=2)
        plan = HitPlan(None, "k", 0.0, 1.0, 200, [], [])  # type: ignore[arg-type]
        plans.put(("a", b"/k", False), plan)
        plans.put(("b", b"/k", False), plan)
        self.assertEqual(len(plans), 2)
        plans.put(("c", b"/k", False), plan)  # full: emptied first
        self.assertEqual(len(plans), 1)
        self.assertIs(plans.get(("c", b"/k", False)), plan)
        self.assertIsNone(plans.get(("a", b"/k", False)))
