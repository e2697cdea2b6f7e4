"""Heads parsed before (upstream/headmemo.py): a hit must be what llhttp would give."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.test_upstream_reader import Recorder
from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.upstream.errors import BadResponse
from twisted_netlab.upstream.headmemo import HeadPlan, memo_key
from twisted_netlab.upstream.reader import ResponseReader

DATE_1 = b"Mon, 30 Nov 2026 01:00:00 GMT"
DATE_2 = b"Mon, 30 Nov 2026 01:00:01 GMT"


def response(date: bytes = DATE_1, body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: " + date + b"\r\n"
        b"Content-Type: text/plain\r\nContent-Length: %d\r\n" % len(body) + extra
        + b"\r\n" + body
    )


class Counting(ResponseReader):
    """Counts what llhttp was fed."""

    fed = 0

    def _execute(self, data: bytes) -> None:
        type(self).fed += 1
        super()._execute(data)


def read(
    wire: bytes, memo: BoundedMemo[bytes, HeadPlan] | None, method: bytes = b"GET",
    pieces: int = 1, max_head: int = 65536,
) -> tuple[Any, Recorder]:
    events = Recorder()
    reader = Counting(method, events, max_head)
    reader.memo = memo
    step = max(1, -(-len(wire) // pieces))
    for start in range(0, len(wire), step):
        reader.feed(wire[start : start + step])
    return reader, events


def state(reader: Any, events: Recorder) -> tuple[Any, ...]:
    return (
        [(h.status, h.reason, h.version, h.headers, h.framing) for h in events.interims],
        [(h.status, h.reason, h.version, h.headers, h.framing) for h in events.heads],
        bytes(events.data), reader.complete, reader.reusable, reader.keep_alive,
        reader.kind, reader.extra, reader.got_head,
    )


class HeadMemoTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.memo: BoundedMemo[bytes, HeadPlan] = BoundedMemo(16)
        Counting.fed = 0

    def test_second_read_is_a_hit_with_its_own_date(self) -> None:
        first = read(response(DATE_1), self.memo)
        self.assertEqual(Counting.fed, 1)
        second = read(response(DATE_2), self.memo)
        self.assertEqual(Counting.fed, 1)  # llhttp saw nothing the second time
        self.assertEqual(second[1].heads[0].headers[1], (b"Date", DATE_2))
        expected = state(*first)
        expected[1][0][3][1] = (b"Date", DATE_2)
        self.assertEqual(state(*second), expected)
        self.assertTrue(second[0].reusable)

    def test_a_body_in_pieces_is_read_by_llhttp(self) -> None:
        read(response(), self.memo)
        events = Recorder()
        reader = Counting(b"GET", events)
        reader.memo = self.memo
        wire = response(DATE_2)
        reader.feed(wire[:-3])  # the head and part of the body
        self.assertFalse(reader.complete)
        reader.feed(wire[-3:])
        self.assertEqual(Counting.fed, 3)
        self.assertEqual((bytes(events.data), reader.complete), (b"hello", True))
        self.assertEqual(events.heads[0].headers[1], (b"Date", DATE_2))

    def test_bytes_after_the_message_are_still_seen(self) -> None:
        read(response(), self.memo)
        reader, _ = read(response() + b"HTTP/1.1 200 OK\r\n", self.memo)
        self.assertTrue(reader.extra)
        self.assertFalse(reader.reusable)

    def test_the_method_is_part_of_the_key(self) -> None:
        read(response(), self.memo)
        reader, events = read(response(), self.memo, method=b"HEAD")
        self.assertEqual((bytes(events.data), reader.extra), (b"", True))

    def test_a_smaller_head_limit_still_holds(self) -> None:
        read(response(), self.memo)
        with self.assertRaises(BadResponse):
            read(response(), self.memo, max_head=40)

    def test_odd_dates_are_keyed_whole(self) -> None:
        for date in (b"", b"yesterday", b" " + DATE_1, DATE_1 + b" "):
            key, taken = memo_key(b"GET", response(date).partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
            self.assertIsNone(taken)
            self.assertTrue(key.startswith(b"WGET "))
        # An empty Date and a masked one never share a key.
        empty, _ = memo_key(b"GET", b"HTTP/1.1 200 OK\r\nDate: \r\n\r\n")
        masked, _ = memo_key(b"GET", b"HTTP/1.1 200 OK\r\nDate: " + DATE_1 + b"\r\n\r\n")
        self.assertNotEqual(empty[1:], b"X")
        self.assertNotEqual(empty, masked)

    def test_two_date_fields_are_never_kept(self) -> None:
        wire = response(extra=b"date: " + DATE_1 + b"\r\n")
        read(wire, self.memo)
        self.assertEqual(len(self.memo), 0)


_FIELDS = [
    b"Date: " + DATE_1, b"Date: " + DATE_2, b"Date: ", b"Date: soon", b"date: " + DATE_1,
    b"Connection: close", b"Connection: keep-alive", b"Transfer-Encoding: chunked",
    b"Content-Length: 5", b"Content-Length: 0", b"X-A: b", b"Set-Cookie: a=b",
    b"Keep-Alive: timeout=5", b"Content-Length: 5, 5",
]
_STATUS = [b"200 OK", b"204 No Content", b"304 Not Modified", b"404 Not Found",
           b"101 Switching", b"100 Continue\r\n\r\nHTTP/1.1 200 OK"]
messages = st.builds(
    lambda version, status, fields, body: (
        b"HTTP/" + version + b" " + status + b"\r\n"
        + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body
    ),
    st.sampled_from([b"1.1", b"1.0"]),
    st.sampled_from(_STATUS),
    st.lists(st.sampled_from(_FIELDS), max_size=5),
    st.sampled_from([b"", b"hello", b"5\r\nhello\r\n0\r\n\r\n", b"hello!"]),
)


def cut(wire: bytes, how: int) -> list[bytes]:
    """1: whole; 2: the first head and one more byte, then the rest; 3: byte by byte."""
    if how == 1:
        return [wire]
    if how == 2:
        end = wire.find(b"\r\n\r\n") + 5
        return [wire[:end], wire[end:]] if 0 < end < len(wire) else [wire]
    return [wire[i : i + 1] for i in range(len(wire))]


def converse(
    exchanges: list[tuple[bytes, bytes, int]], memo: BoundedMemo[bytes, HeadPlan] | None
) -> list[Any]:
    """The exchanges on one connection, as ``UpstreamConnection`` uses its reader:
    restarted while reusable, a new reader (a new connection) otherwise."""
    outcomes: list[Any] = []
    reader: Any = None
    for wire, method, pieces in exchanges:
        events = Recorder()
        if reader is not None and reader.reusable:
            reader.restart(method, events)
        else:
            reader = Counting(method, events)
            reader.memo = memo
        try:
            for piece in cut(wire, pieces):
                reader.feed(piece)
        except BadResponse as exc:
            outcomes.append(("bad", exc.reason))
            reader = None
            continue
        outcomes.append(state(reader, events))
    return outcomes


class EquivalenceTests(SynchronousTestCase):
    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(messages, min_size=1, max_size=3),
        st.lists(st.tuples(st.integers(0, 2), st.sampled_from([b"GET", b"HEAD", b"POST"]),
                           st.integers(1, 3)), min_size=1, max_size=10),
    )
    def test_memo_changes_nothing(
        self, pool: list[bytes], drawn: list[tuple[int, bytes, int]]
    ) -> None:
        exchanges = [(pool[i % len(pool)], method, pieces) for i, method, pieces in drawn]
        memo: BoundedMemo[bytes, HeadPlan] = BoundedMemo(64)
        self.assertEqual(converse(exchanges, memo), converse(exchanges, None))
