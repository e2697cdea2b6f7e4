"""The pure rules of relays (http/relayplan.py): which heads, which response heads,
where the date goes, and the bounds."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.relayplan import (
    FIRST_BACKOFF,
    MAX_BACKOFF,
    MAX_HEAD,
    MAX_PEERS,
    MAX_RESPONSES,
    ForwardPlan,
    PeerPlans,
    make_response_plan,
    relayable_head,
)

REQUEST = b"GET /p/a.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
UP_DATE = b"Sun, 29 Nov 2026 22:00:00 GMT"
NOW = b"Mon, 30 Nov 2026 03:00:00 GMT"


def head(*fields: bytes, date: bytes | None = UP_DATE) -> bytes:
    lines = [b"HTTP/1.1 200 OK", b"Server: up"]
    if date is not None:
        lines.append(b"Date: " + date)
    lines += [*fields, b"Content-Length: 5"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class ResponsePlanTests(SynchronousTestCase):
    def test_the_date_slot_holds_the_upstreams_date(self) -> None:
        plan = make_response_plan(REQUEST, head(b"ETag: \"1\""), UP_DATE, NOW, 200, 5)
        assert plan is not None
        other = b"Sun, 29 Nov 2026 22:00:07 GMT"
        self.assertEqual(plan.head(other), head(b"ETag: \"1\"", date=other))
        self.assertIs(plan.head(other), plan.head(other))  # the same bytes while dated so
        self.assertTrue(plan.upstream_dated)
        self.assertEqual(
            (plan.code, plan.sent, plan.method, plan.target, plan.version, plan.path),
            (200, 5, b"GET", b"/p/a.txt?x=1", b"HTTP/1.1", b"/p/a.txt"),
        )

    def test_without_an_upstream_date_the_slot_holds_the_servers(self) -> None:
        plan = make_response_plan(REQUEST, head(date=NOW), None, NOW, 200, 5)
        assert plan is not None
        self.assertFalse(plan.upstream_dated)
        # A date that is neither the upstream's nor the current one: not placed for sure.
        self.assertIsNone(make_response_plan(REQUEST, head(date=NOW), UP_DATE, NOW, 200, 5))
        self.assertIsNone(make_response_plan(REQUEST, head(), None, NOW, 200, 5))

    def test_heads_that_cannot_be_relayed_again(self) -> None:
        cases = {
            "two dates": head(b"Date: " + UP_DATE),
            "no date": head(date=None),
            "connection": head(b"Connection: close"),
            "chunked": head(b"Transfer-Encoding: chunked"),
            "two lengths": head(b"Content-Length: 5"),
            "too large": head(b"X-Big: " + b"x" * MAX_HEAD),
            "not a whole head": head()[:-2],
        }
        for name, bad in cases.items():
            self.assertIsNone(make_response_plan(REQUEST, bad, UP_DATE, NOW, 200, 5), name)
        self.assertIsNone(make_response_plan(REQUEST, head(), UP_DATE, NOW, 200, 6))

    def test_only_gets_are_relayed(self) -> None:
        self.assertTrue(relayable_head(REQUEST))
        self.assertFalse(relayable_head(REQUEST.replace(b"GET", b"HEAD", 1)))
        self.assertFalse(relayable_head(b"get " + REQUEST[4:]))


class ForwardPlanTests(SynchronousTestCase):
    def plan(self, peer: str = "127.0.0.1") -> ForwardPlan:
        return ForwardPlan(REQUEST, peer, object(), object(), b"GET /a HTTP/1.1\r\n\r\n")

    def test_responses_are_bounded_and_counted(self) -> None:
        forward = self.plan()
        self.assertEqual(forward.path, b"/p/a.txt")
        base = forward.size
        response = make_response_plan(REQUEST, head(), UP_DATE, NOW, 200, 5)
        assert response is not None
        for n in range(MAX_RESPONSES):
            forward.add(b"key%d" % n, response)
        self.assertEqual(forward.size, base + MAX_RESPONSES * (response.size + 4))
        forward.add(b"key0", response)  # a known key is replaced, not added
        self.assertEqual(len(forward.responses), MAX_RESPONSES)
        forward.add(b"new", response)  # one more: emptied first
        self.assertEqual(list(forward.responses), [b"new"])
        self.assertEqual(forward.size, base + response.size + 3)

    def test_back_off_doubles_to_its_bound_and_ends_on_an_answer(self) -> None:
        forward = self.plan()
        skips = []
        for _ in range(12):
            forward.missed()
            skips.append(forward.skip)
        self.assertEqual(skips[:3], [FIRST_BACKOFF, 2 * FIRST_BACKOFF, 4 * FIRST_BACKOFF])
        self.assertEqual(skips[-1], MAX_BACKOFF)
        forward.answered()
        forward.missed()
        self.assertEqual(forward.skip, FIRST_BACKOFF)

    def test_peer_plans_are_bounded_and_sum_their_sizes(self) -> None:
        plans = PeerPlans()
        for n in range(MAX_PEERS):
            plans.put(self.plan(f"10.0.0.{n}"))
        self.assertEqual(len(plans), MAX_PEERS)
        self.assertEqual(plans.size, sum(p.size for p in plans.values()))
        plans.put(self.plan("10.0.0.0"))  # a known address is replaced
        self.assertEqual(len(plans), MAX_PEERS)
        plans.put(self.plan("10.0.1.1"))
        self.assertEqual(list(plans), ["10.0.1.1"])
        self.assertEqual(plans.size, plans["10.0.1.1"].size)
