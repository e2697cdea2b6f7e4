"""RFC 9112 6.3 response framing and the request-head / interim-head writers (pure)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.interim import InterimError, interim_head
from twisted_netlab.http.msgframing import (
    BodyKind,
    Framing,
    FramingError,
    framing_of,
    keep_alive,
    parse_content_length,
    response_framing,
)
from twisted_netlab.http.reqhead import RequestHeadError, request_head


def framing(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None,
            method: bytes = b"GET", version: bytes = b"1.1") -> Framing:
    return response_framing(method, status, version, headers or [])


class ResponseFramingTests(SynchronousTestCase):
    def test_content_length(self) -> None:
        self.assertEqual(
            framing(200, [(b"Content-Length", b"12")]), Framing(BodyKind.LENGTH, 12, True)
        )
        self.assertEqual(
            framing(200, [(b"content-length", b"0")]), Framing(BodyKind.LENGTH, 0, True)
        )

    def test_repeated_identical_length_accepted(self) -> None:
        self.assertEqual(framing(200, [(b"Content-Length", b"5, 5")]).length, 5)
        self.assertEqual(
            framing(200, [(b"Content-Length", b"5"), (b"Content-Length", b"5")]).length, 5
        )

    def test_chunked(self) -> None:
        self.assertEqual(
            framing(200, [(b"Transfer-Encoding", b" Chunked ")]),
            Framing(BodyKind.CHUNKED, None, True),
        )

    def test_close_delimited(self) -> None:
        self.assertEqual(framing(200), Framing(BodyKind.CLOSE, None, False))
        self.assertEqual(framing(200, version=b"1.0"), Framing(BodyKind.CLOSE, None, False))

    def test_head_204_304_have_no_body(self) -> None:
        self.assertEqual(
            framing(200, [(b"Content-Length", b"1048576")], method=b"HEAD"),
            Framing(BodyKind.NO_BODY, 1048576, True),
        )
        self.assertEqual(
            framing(200, [(b"Transfer-Encoding", b"chunked")], method=b"HEAD"),
            Framing(BodyKind.NO_BODY, None, True),
        )
        self.assertEqual(framing(204, [(b"Content-Length", b"3")]).kind, BodyKind.NO_BODY)
        self.assertEqual(
            framing(304, [(b"Content-Length", b"3")]), Framing(BodyKind.NO_BODY, 3, True)
        )
        self.assertEqual(
            framing(304, [(b"Content-Length", b"x")]), Framing(BodyKind.NO_BODY, None, True)
        )

    def test_interim(self) -> None:
        for status in (100, 102, 103, 199):
            self.assertEqual(framing(status).kind, BodyKind.INTERIM)

    def test_keep_alive_rules(self) -> None:
        self.assertTrue(keep_alive(b"1.1", []))
        self.assertFalse(keep_alive(b"1.1", [b"Close"]))
        self.assertFalse(keep_alive(b"1.0", []))
        self.assertTrue(keep_alive(b"1.0", [b"Keep-Alive"]))
        self.assertFalse(keep_alive(b"1.0", [b"keep-alive, close"]))
        self.assertTrue(keep_alive(b"1.0", [b" keep-alive\t"]))
        self.assertFalse(keep_alive(b"1.1", [b"close "]))
        self.assertTrue(keep_alive(b"1.1", [b"x-a"]))
        self.assertFalse(
            framing(200, [(b"Content-Length", b"1"), (b"Connection", b"close")]).keep_alive
        )

    def test_errors_have_short_reasons(self) -> None:
        cases = [
            (dict(headers=[(b"Transfer-Encoding", b"gzip")]),
             "unsupported Transfer-Encoding: gzip"),
            (dict(headers=[(b"Transfer-Encoding", b"gzip, chunked")]),
             "unsupported Transfer-Encoding: gzip, chunked"),
            (dict(headers=[(b"Transfer-Encoding", b"chunked"), (b"Transfer-Encoding", b"chunked")]),
             "unsupported Transfer-Encoding: chunked, chunked"),
            (dict(headers=[(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"3")]),
             "both Transfer-Encoding and Content-Length"),
            (dict(headers=[(b"Content-Length", b"3"), (b"Content-Length", b"4")]),
             "conflicting Content-Length"),
            (dict(headers=[(b"Content-Length", b"3, 4")]), "conflicting Content-Length"),
            (dict(headers=[(b"Content-Length", b"-1")]), "invalid Content-Length"),
            (dict(headers=[(b"Content-Length", b"")]), "invalid Content-Length"),
            (dict(headers=[(b"Content-Length", b"\xd9\xa3")]), "invalid Content-Length"),
            (dict(version=b"2.0"), "unsupported HTTP version 2.0"),
            (dict(version=b"0.9"), "unsupported HTTP version 0.9"),
            (dict(status=600), "invalid status code 600"),
            (dict(status=99), "invalid status code 99"),
            (dict(status=101), "unexpected 101 Switching Protocols"),
        ]
        for kwargs, reason in cases:
            with self.assertRaises(FramingError) as ctx:
                framing(**kwargs)  # type: ignore[arg-type]
            self.assertEqual(ctx.exception.reason, reason)

    def test_remembered_decisions_stay_apart(self) -> None:
        """``framing_of`` remembers accepted decisions: an absent field, an empty
        value, another method or another value must each be decided on their own."""
        for _ in range(2):
            self.assertEqual(framing_of(b"GET", 200, b"1.1", [], [], []),
                             Framing(BodyKind.CLOSE, None, False))
            with self.assertRaises(FramingError):
                framing_of(b"GET", 200, b"1.1", [b""], [], [])
            self.assertEqual(framing_of(b"HEAD", 200, b"1.1", [b"5"], [], []),
                             Framing(BodyKind.NO_BODY, 5, True))
            self.assertEqual(framing_of(b"GET", 200, b"1.1", [b"5"], [], []),
                             Framing(BodyKind.LENGTH, 5, True))
            self.assertEqual(framing_of(b"GET", 200, b"1.1", [b"5"], [], [b"close"]),
                             Framing(BodyKind.LENGTH, 5, False))
            self.assertEqual(framing_of(b"GET", 200, b"1.0", [b"5"], [], []),
                             Framing(BodyKind.LENGTH, 5, False))
            with self.assertRaises(FramingError):
                framing_of(b"GET", 200, b"1.1", [b"5"], [b"chunked"], [])
            self.assertEqual(framing_of(b"GET", 200, b"1.1", [], [b"chunked"], []),
                             Framing(BodyKind.CHUNKED, None, True))
            with self.assertRaises(FramingError):
                framing_of(b"GET", 200, b"1.1", [], [b"gzip"], [])

    def test_parse_content_length(self) -> None:
        self.assertIsNone(parse_content_length([]))
        self.assertEqual(parse_content_length([b" 007 "]), 7)


class RequestHeadTests(SynchronousTestCase):
    def test_layout_and_framing(self) -> None:
        head = request_head(b"GET", b"/a?b", {b"Host": [b"up"], b"X-M": [b"1", b"2"]}, None, False)
        self.assertEqual(head, b"GET /a?b HTTP/1.1\r\nHost: up\r\nX-M: 1\r\nX-M: 2\r\n\r\n")
        head = request_head(b"POST", b"/", {b"Host": [b"up"]}, 5, True)
        self.assertEqual(head, b"POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 5\r\n\r\n")
        head = request_head(b"PUT", b"/", {b"Host": [b"up"]}, None, True)
        self.assertEqual(head, b"PUT / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n")
        head = request_head(b"POST", b"/", {b"Host": [b"up"]}, None, False)
        self.assertEqual(head, b"POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 0\r\n\r\n")

    def test_callers_framing_headers_are_dropped(self) -> None:
        head = request_head(
            b"GET",
            b"/",
            {b"Host": [b"u"], b"Content-Length": [b"9"], b"transfer-encoding": [b"x"]},
            None,
            False,
        )
        self.assertEqual(head, b"GET / HTTP/1.1\r\nHost: u\r\n\r\n")

    def test_splitting_refused(self) -> None:
        for method, target, headers in [
            (b"GET", b"/a b", {}),
            (b"GET", b"/a\r\nX: y", {}),
            (b"G T", b"/", {}),
            (b"GET", b"/", {b"X-A": [b"v\r\nInjected: 1"]}),
            (b"GET", b"/", {b"X-A": [b"v\nx"]}),
            (b"GET", b"/", {b"X-A": [b"v\x00"]}),
            (b"GET", b"/", {b"Bad Name": [b"v"]}),
            (b"GET", b"/", {b"Transfer-Encoding ": [b"chunked"]}),
            (b"GET", b"/", {b"": [b"v"]}),
        ]:
            with self.assertRaises(RequestHeadError):
                request_head(method, target, headers, None, False)


class InterimHeadTests(SynchronousTestCase):
    def test_early_hints(self) -> None:
        head = interim_head(103, b"Early Hints", [(b"Link", b"</s.css>; rel=preload")])
        self.assertEqual(head, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")

    def test_missing_or_bad_reason_gets_the_standard_phrase(self) -> None:
        self.assertEqual(interim_head(100, b"", []), b"HTTP/1.1 100 Continue\r\n\r\n")
        self.assertEqual(interim_head(102, b"x\ny", []), b"HTTP/1.1 102 Processing\r\n\r\n")
        self.assertEqual(interim_head(150, b"", []), b"HTTP/1.1 150 Informational\r\n\r\n")

    def test_refused(self) -> None:
        for status in (101, 200, 99):
            self.assertRaises(InterimError, interim_head, status, b"", [])
        self.assertRaises(InterimError, interim_head, 103, b"", [(b"Link", b"a\r\nb")])
        self.assertRaises(InterimError, interim_head, 103, b"", [(b"Li nk", b"a")])
