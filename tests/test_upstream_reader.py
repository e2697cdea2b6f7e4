"""The response reader (httptools + the framing rule), fed whole and byte by byte."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.msgframing import BodyKind
from twisted_netlab.upstream.errors import BadResponse
from twisted_netlab.upstream.message import ResponseHead
from twisted_netlab.upstream.reader import ResponseReader


class Recorder:
    def __init__(self) -> None:
        self.interims: list[ResponseHead] = []
        self.heads: list[ResponseHead] = []
        self.data = bytearray()

    def interim(self, head: ResponseHead) -> None:
        self.interims.append(head)

    def head(self, head: ResponseHead) -> None:
        self.heads.append(head)

    def body(self, data: bytes) -> None:
        self.data += data


def read(wire: bytes, method: bytes = b"GET", split: bool = False,
         eof: bool = False, max_head: int = 65536) -> tuple[ResponseReader, Recorder]:
    events = Recorder()
    reader = ResponseReader(method, events, max_head)
    pieces = [wire[i : i + 1] for i in range(len(wire))] if split else [wire]
    for piece in pieces:
        reader.feed(piece)
    if eof:
        reader.eof()
    return reader, events


class FramingCases(SynchronousTestCase):
    """Each case whole and byte by byte: same events, same end state."""

    def both(self, wire: bytes, **kw: object) -> list[tuple[ResponseReader, Recorder]]:
        return [read(wire, split=split, **kw) for split in (False, True)]  # type: ignore[arg-type]

    def test_content_length(self) -> None:
        for reader, events in self.both(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"
        ):
            [head] = events.heads
            self.assertEqual((head.status, head.reason, head.version), (200, b"OK", b"1.1"))
            self.assertEqual(head.headers, [(b"Content-Length", b"5"), (b"X-A", b"b")])
            self.assertEqual(head.framing.kind, BodyKind.LENGTH)
            self.assertEqual(bytes(events.data), b"hello")
            self.assertTrue(reader.complete)
            self.assertTrue(reader.reusable)

    def test_chunked_with_extension_and_trailers(self) -> None:
        wire = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n")
        for reader, events in self.both(wire):
            self.assertEqual(bytes(events.data), b"hello!")
            self.assertEqual(events.heads[0].headers, [(b"Transfer-Encoding", b"chunked")])
            self.assertTrue(reader.reusable)

    def test_close_delimited_ends_at_eof(self) -> None:
        for reader, events in self.both(b"HTTP/1.0 200 OK\r\n\r\nall of it", eof=True):
            self.assertEqual(bytes(events.data), b"all of it")
            self.assertTrue(reader.complete)
            self.assertFalse(reader.reusable)

    def test_truncated_length_body_is_not_complete_at_eof(self) -> None:
        reader, events = read(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        self.assertFalse(reader.eof())
        self.assertEqual(bytes(events.data), b"abc")

    def test_head_response_has_no_body(self) -> None:
        for headers in (b"Content-Length: 1048576\r\n", b"Transfer-Encoding: chunked\r\n", b""):
            wire = b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n"
            for reader, events in self.both(wire, method=b"HEAD"):
                self.assertEqual(events.heads[0].framing.kind, BodyKind.NO_BODY)
                self.assertTrue(reader.reusable, headers)
                self.assertEqual(bytes(events.data), b"")
        reader, events = read(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", method=b"HEAD")
        self.assertEqual(events.heads[0].framing.length, 3)

    def test_head_response_followed_by_bytes_is_not_reusable(self) -> None:
        for reader, events in self.both(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", method=b"HEAD"
        ):
            self.assertTrue(reader.complete)
            self.assertFalse(reader.reusable)
            self.assertEqual(bytes(events.data), b"")

    def test_204_and_304(self) -> None:
        for status in (b"204 No Content", b"304 Not Modified"):
            for reader, events in self.both(
                b"HTTP/1.1 " + status + b"\r\nContent-Length: 9\r\n\r\n"
            ):
                self.assertTrue(reader.reusable)
                self.assertEqual(bytes(events.data), b"")

    def test_interim_heads_come_first(self) -> None:
        wire = (b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 102 Processing\r\n\r\n"
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
                b"Link: </b.js>; rel=preload\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        for method in (b"GET", b"HEAD"):
            for reader, events in self.both(wire if method == b"GET" else wire[:-2], method=method):
                self.assertEqual([h.status for h in events.interims], [100, 102, 103])
                self.assertEqual(events.interims[2].headers, [
                    (b"Link", b"</a.css>; rel=preload"), (b"Link", b"</b.js>; rel=preload")])
                self.assertEqual(events.heads[0].status, 200)
                self.assertEqual(bytes(events.data), b"ok" if method == b"GET" else b"")
                self.assertTrue(reader.reusable)

    def test_bytes_after_the_response_make_it_unusable(self) -> None:
        for reader, events in self.both(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n"
        ):
            self.assertTrue(reader.complete)
            self.assertFalse(reader.reusable)
            self.assertEqual(len(events.heads), 1)

    def test_connection_close_is_not_reusable(self) -> None:
        reader, _ = read(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.assertTrue(reader.complete)
        self.assertFalse(reader.reusable)


class ErrorCases(SynchronousTestCase):
    def assertBad(self, wire: bytes, reason: str, method: bytes = b"GET") -> None:
        for split in (False, True):
            with self.assertRaises(BadResponse) as ctx:
                read(wire, method=method, split=split, max_head=200)
            self.assertEqual(ctx.exception.reason, reason, (split, wire))

    def test_unknown_transfer_encoding(self) -> None:
        self.assertBad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
                       "unsupported Transfer-Encoding: gzip")

    def test_conflicting_lengths(self) -> None:
        self.assertBad(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
                       "Duplicate Content-Length")
        self.assertBad(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n",
                       "Transfer-Encoding can't be present with Content-Length")

    def test_garbage_status_line(self) -> None:
        self.assertBad(b"garbage\r\n\r\n", "invalid status line")
        self.assertBad(b"HTTP/1.1 2x0 OK\r\n\r\n", "Invalid status code")
        self.assertBad(b"HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version 2.0")
        self.assertBad(b"HTTP/1.1 600 Nope\r\n\r\n", "invalid status code 600")
        self.assertBad(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
                       "unexpected 101 Switching Protocols")

    def test_bad_header_and_chunk(self) -> None:
        self.assertBad(b"HTTP/1.1 200 OK\r\nX Y: 1\r\n\r\n", "Invalid header token")
        self.assertBad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                       "Invalid character in chunk size")

    def test_head_too_large(self) -> None:
        big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300 + b"\r\n\r\n"
        self.assertBad(big, "response head too large")
        self.assertBad(big, "response head too large", method=b"HEAD")


class Restart(SynchronousTestCase):
    """One reader per connection: ``restart`` for each response, whatever came before."""

    OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-N: %d\r\n\r\nok"

    def restart_and_read(self, reader: ResponseReader, wire: bytes, split: bool,
                         method: bytes = b"GET") -> Recorder:
        events = Recorder()
        reader.restart(method, events)
        for piece in [wire[i : i + 1] for i in range(len(wire))] if split else [wire]:
            reader.feed(piece)
        return events

    def test_keep_alive_responses_one_after_another(self) -> None:
        for split in (False, True):
            reader, _ = read(self.OK % 0, split=split)
            for n in range(1, 4):
                events = self.restart_and_read(reader, self.OK % n, split)
                [head] = events.heads
                self.assertEqual(head.headers, [(b"Content-Length", b"2"), (b"X-N", b"%d" % n)])
                self.assertEqual(head.framing.length, 2)
                self.assertEqual(bytes(events.data), b"ok")
                self.assertTrue(reader.reusable)

    def test_after_a_head_answer_the_next_body_is_read(self) -> None:
        # The HEAD answer is cut by the reader (llhttp would wait for 2 body bytes);
        # the next response must not be read as that body.
        for split in (False, True):
            reader, _ = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", method=b"HEAD")
            events = self.restart_and_read(reader, self.OK % 7, split)
            self.assertEqual(events.heads[0].headers[1], (b"X-N", b"7"))
            self.assertEqual(bytes(events.data), b"ok")
            self.assertTrue(reader.complete)

    def test_after_204_and_304_the_next_response_is_read(self) -> None:
        for status in (b"204 No Content", b"304 Not Modified"):
            reader, _ = read(b"HTTP/1.1 " + status + b"\r\nContent-Length: 9\r\n\r\n")
            events = self.restart_and_read(reader, self.OK % 1, False)
            self.assertEqual(bytes(events.data), b"ok")
            self.assertTrue(reader.reusable)

    def test_a_failed_reader_starts_clean(self) -> None:
        reader = ResponseReader(b"GET", Recorder())
        with self.assertRaises(BadResponse):
            reader.feed(b"HTTP/1.1 200 OK\r\nX Y: 1\r\n\r\n")
        events = self.restart_and_read(reader, self.OK % 2, False)
        self.assertEqual(bytes(events.data), b"ok")
        self.assertTrue(reader.reusable)

    def test_a_stopped_reader_starts_clean(self) -> None:
        reader, events = read(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        reader.stop()
        events = self.restart_and_read(reader, self.OK % 3, False)
        self.assertEqual(bytes(events.data), b"ok")
        self.assertTrue(reader.reusable)

    def test_interim_fields_stay_with_the_interim_head(self) -> None:
        # An empty reason phrase: nothing in the status says a new head began.
        wire = (b"HTTP/1.1 103 \r\nLink: </a.css>; rel=preload\r\n\r\n"
                b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok")
        for split in (False, True):
            _, events = read(wire, split=split)
            self.assertEqual(events.interims[0].headers, [(b"Link", b"</a.css>; rel=preload")])
            self.assertEqual(events.heads[0].headers, [(b"Content-Length", b"2")])
            self.assertEqual(events.heads[0].framing.length, 2)
