"""The replay rules (http/replay.py): which heads, which responses, how bounded."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.replay import (
    ReplayPlan,
    ReplayTable,
    field_value,
    make_plan,
    replayable_head,
    response_head,
)

HEAD = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: S\r\nDate: Mon, 30 Nov 2026 01:00:00 GMT\r\n"
    b"Content-Length: 5\r\n\r\n"
)


def always() -> bool:
    return True


class ReplayableHeadTests(SynchronousTestCase):
    def test_plain_get_and_head(self) -> None:
        self.assertTrue(replayable_head(HEAD))
        self.assertTrue(replayable_head(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"))

    def test_other_methods_and_versions(self) -> None:
        for head in (
            b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
        ):
            self.assertFalse(replayable_head(head), head)

    def test_not_exactly_one_head(self) -> None:
        self.assertFalse(replayable_head(HEAD[:-2]))  # incomplete
        self.assertFalse(replayable_head(HEAD + b"G"))  # a pipelined head starts
        self.assertFalse(replayable_head(HEAD + HEAD))  # two heads
        self.assertFalse(replayable_head(HEAD + b"body"))

    def test_odd_line_ends(self) -> None:
        self.assertFalse(replayable_head(b"GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n"))
        self.assertFalse(replayable_head(b"GET / HTTP/1.1\r\nHost: x\rA: b\r\n\r\n"))

    def test_fields_with_side_effects(self) -> None:
        for field in (
            b"Content-Length: 0", b"content-length : 0", b"Transfer-Encoding: chunked",
            b"Expect: 100-continue", b"Upgrade: h2c", b"EXPECT: x",
        ):
            head = b"GET / HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n\r\n"
            self.assertFalse(replayable_head(head), field)

    def test_similar_names_are_fine(self) -> None:
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Content-Length: 3\r\nExpected: no\r\n\r\n"
        self.assertTrue(replayable_head(head))


class FieldValueTests(SynchronousTestCase):
    def test_last_value_stripped(self) -> None:
        head = b"GET / HTTP/1.1\r\nReferer: a\r\nREFERER:  \tb \r\n\r\n"
        self.assertEqual(field_value(head, b"referer"), b"b")

    def test_absent(self) -> None:
        self.assertIsNone(field_value(HEAD, b"referer"))
        self.assertEqual(field_value(HEAD, b"user-agent"), b"t")


class MakePlanTests(SynchronousTestCase):
    def test_dated_plan(self) -> None:
        plan = make_plan(HEAD, RESPONSE, b"hello", 200, 5, always)
        assert plan is not None
        date = b"Tue, 01 Dec 2026 00:00:00 GMT"
        dated = plan.response(date)
        self.assertEqual(
            dated,
            RESPONSE.replace(b"Mon, 30 Nov 2026 01:00:00", b"Tue, 01 Dec 2026 00:00:00") + b"hello",
        )
        self.assertIs(plan.response(date), dated)  # made once per date
        self.assertEqual(plan.response(b"D"), RESPONSE.replace(
            b"Mon, 30 Nov 2026 01:00:00 GMT", b"D") + b"hello")
        self.assertEqual(plan.response(date), dated)
        self.assertEqual((plan.method, plan.target, plan.path), (b"GET", b"/a.txt", b"/a.txt"))
        self.assertEqual((plan.code, plan.sent), (200, 5))

    def test_target_path_without_query(self) -> None:
        head = b"GET /a.txt?v=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        plan = make_plan(head, RESPONSE, b"hello", 200, 5, always)
        assert plan is not None
        self.assertEqual((plan.target, plan.path), (b"/a.txt?v=1", b"/a.txt"))

    def test_undated_plan(self) -> None:
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
        plan = make_plan(HEAD, response, b"hi", 200, 2, always)
        assert plan is not None
        self.assertEqual(plan.response(b"whatever"), response + b"hi")

    def test_framing_must_be_explicit(self) -> None:
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        self.assertIsNone(make_plan(HEAD, chunked, b"", 200, 0, always))
        no_length = b"HTTP/1.1 200 OK\r\nServer: S\r\n\r\n"
        self.assertIsNone(make_plan(HEAD, no_length, b"hello", 200, 5, always))
        self.assertIsNone(make_plan(HEAD, RESPONSE, b"hell", 200, 4, always))  # short
        closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        self.assertIsNone(make_plan(HEAD, closing, b"", 200, 0, always))

    def test_no_body_answers(self) -> None:
        not_modified = b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
        self.assertIsNotNone(make_plan(HEAD, not_modified, b"", 304, 0, always))
        head_request = b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        self.assertIsNotNone(make_plan(head_request, RESPONSE, b"", 200, 0, always))
        # A GET 200 without a body and without a length is not explicit framing.
        self.assertIsNone(
            make_plan(HEAD, b"HTTP/1.1 200 OK\r\nServer: S\r\n\r\n", b"", 200, 0, always)
        )

    def test_too_large(self) -> None:
        body = b"x" * (256 * 1024)
        response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        self.assertIsNone(make_plan(HEAD, response, body, 200, len(body), always))


def plan_of(size: int) -> ReplayPlan:
    body = b"x" * size
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    plan = make_plan(HEAD, response, body, 200, size, always)
    assert plan is not None
    return plan


class ReplayTableTests(SynchronousTestCase):
    def test_counted_bytes(self) -> None:
        table = ReplayTable(max_plans=10, max_bytes=10_000)
        plan = plan_of(100)
        table.store(b"a", plan)
        table.store(b"b", plan)
        self.assertEqual(table.bytes, 2 * (plan.size + 1))
        table.store(b"a", plan)  # replacing counts once
        self.assertEqual(table.bytes, 2 * (plan.size + 1))
        table.forget(b"a")
        table.forget(b"zz")
        self.assertEqual((list(table), table.bytes), ([b"b"], plan.size + 1))

    def test_emptied_when_full_by_count(self) -> None:
        table = ReplayTable(max_plans=3, max_bytes=10_000)
        plan = plan_of(10)
        for key in (b"a", b"b", b"c", b"d"):
            table.store(key, plan)
        self.assertEqual((list(table), table.bytes), ([b"d"], plan.size + 1))

    def test_emptied_when_full_by_bytes(self) -> None:
        plan = plan_of(1000)
        table = ReplayTable(max_plans=100, max_bytes=3 * (plan.size + 1))
        for key in (b"a", b"b", b"c"):
            table.store(key, plan)
        self.assertEqual(len(table), 3)
        table.store(b"d", plan)
        self.assertEqual((list(table), table.bytes), ([b"d"], plan.size + 1))

    def test_a_plan_larger_than_the_table_is_not_kept(self) -> None:
        table = ReplayTable(max_plans=100, max_bytes=50)
        table.store(b"a", plan_of(100))
        self.assertEqual((len(table), table.bytes), (0, 0))


class ResponseHeadTests(SynchronousTestCase):
    def test_formats_as_twisted_writes_a_head(self) -> None:
        from twisted.internet.testing import StringTransport
        from twisted.web.http import HTTPChannel
        from twisted.web.http_headers import Headers

        headers = Headers()
        headers.setRawHeaders(b"server", [b"S"])
        headers.setRawHeaders(b"set-cookie", [b"a=1", b"b=2"])
        headers.setRawHeaders(b"content-length", [b"5"])
        channel = HTTPChannel()
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.writeHeaders(b"HTTP/1.1", b"200", b"OK", headers)
        self.assertEqual(
            response_head(b"HTTP/1.1", b"200", b"OK", headers.getAllRawHeaders()),
            transport.value(),
        )
        channel.connectionLost(None)  # type: ignore[arg-type]
