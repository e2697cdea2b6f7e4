"""Pure body description for the inspector."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.bodyparse import (
    describe_body,
    parse_media_type,
    parse_query,
    raw_description,
)


def multipart(boundary: bytes, parts: list[tuple[bytes, bytes]]) -> bytes:
    out = b""
    for headers, data in parts:
        out += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


class MediaTypeTests(SynchronousTestCase):
    def test_parse(self) -> None:
        self.assertEqual(parse_media_type('Multipart/Form-Data; boundary="a b"; charset=UTF-8'),
                         ("multipart/form-data", {"boundary": "a b", "charset": "UTF-8"}))
        self.assertEqual(parse_media_type(None), ("", {}))
        self.assertEqual(parse_media_type("text/plain"), ("text/plain", {}))


class QueryTests(SynchronousTestCase):
    def test_multi_valued_in_order(self) -> None:
        self.assertEqual(parse_query("x=1&y=&x=2&z&x=%C3%A9+b"),
                         {"x": ["1", "2", "\u00e9 b"], "y": [""], "z": [""]})


class DescribeTests(SynchronousTestCase):
    def test_empty(self) -> None:
        self.assertEqual(describe_body("application/json", b""),
                         {"size": 0, "content_type": "application/json", "kind": "empty"})

    def test_json(self) -> None:
        self.assertEqual(describe_body("application/json; charset=utf-8",
                                       b'{"a": [1, "\xc3\xa9"]}'),
                         {"size": 16, "content_type": "application/json; charset=utf-8",
                          "kind": "json", "json": {"a": [1, "\u00e9"]}})
        self.assertEqual(describe_body("application/problem+json", b"3")["json"], 3)

    def test_malformed_json(self) -> None:
        out = describe_body("application/json", b"'name':'chm'")
        self.assertEqual(out["kind"], "json")
        self.assertEqual(out["error"], "malformed JSON: Expecting value: line 1 column 1 (char 0)")
        self.assertEqual(out["text"], "'name':'chm'")
        self.assertIn("NaN", describe_body("application/json", b"[NaN]")["error"])
        self.assertIn("recursion", describe_body("application/json", b"[" * 100000)["error"])
        self.assertEqual(describe_body("application/json", b"\xff")["base64"], "/w==")

    def test_form(self) -> None:
        out = describe_body("application/x-www-form-urlencoded", b"a=1&a=2&b=&name=%27chm%27")
        self.assertEqual(out["form"], {"a": ["1", "2"], "b": [""], "name": ["'chm'"]})
        # The course's curl -d "'name':'chm'" sends this form type.
        self.assertEqual(describe_body("application/x-www-form-urlencoded",
                                       b"'name':'chm'")["form"],
                         {"'name':'chm'": [""]})

    def test_multipart_with_file(self) -> None:
        data = bytes(range(256)) + b"\r\n--not-a-boundary\r\n\n\r"
        body = b"preamble\r\n" + multipart(b"XyZ", [
            (b'Content-Disposition: form-data; name="title"', b"hello \xc3\xa9"),
            (b'Content-Disposition: form-data; name="title"', b"again"),
            (b'Content-Disposition: form-data; name="upload"; filename="a \\"b\\".bin"\r\n'
             b"Content-Type: application/octet-stream", data),
            (b'Content-Disposition: form-data; name="note"; filename="n.txt"\r\n'
             b"Content-Type: text/plain", b"x" * 300),
        ])
        out = describe_body("multipart/form-data; boundary=XyZ", body)
        self.assertEqual(out["kind"], "multipart")
        self.assertEqual(out["fields"], {"title": ["hello \u00e9", "again"]})
        self.assertEqual(out["files"][0], {
            "field": "upload", "filename": 'a "b".bin', "content_type": "application/octet-stream",
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "preview": {"base64": base64.b64encode(data[:256]).decode(), "truncated": True,
                        "bytes_left_out": len(data) - 256},
        })
        self.assertEqual(out["files"][1]["preview"],
                         {"text": "x" * 256, "truncated": True, "bytes_left_out": 44})

    def test_multipart_errors(self) -> None:
        self.assertIn("boundary", describe_body("multipart/form-data", b"--x\r\n")["error"])
        self.assertIn("closing", describe_body("multipart/form-data; boundary=b",
                                               b"--b\r\n\r\nunterminated")["error"])
        self.assertIn("no boundary",
                      describe_body("multipart/form-data; boundary=b", b"junk")["error"])

    def test_raw(self) -> None:
        self.assertEqual(describe_body(None, b"\x00\xff"),
                         {"size": 2, "content_type": None, "kind": "raw", "base64": "AP8="})
        self.assertEqual(describe_body("application/x-unknown", b"hi"),
                         {"size": 2, "content_type": "application/x-unknown", "kind": "raw",
                          "text": "hi"})
        big = describe_body("text/plain", b"a" * 50, max_echo=10)
        self.assertEqual((big["text"], big["truncated"], big["size"]), ("a" * 10, True, 50))

    def test_preview_cut_inside_character(self) -> None:
        self.assertEqual(raw_description("\u00e9\u00e9".encode(), 3),
                         {"text": "\u00e9", "truncated": True, "bytes_left_out": 2})

    @settings(max_examples=200)
    @given(st.text(max_size=20), st.binary(max_size=200))
    def test_never_raises(self, content_type: str, body: bytes) -> None:
        for ct in (content_type, "multipart/form-data; boundary=" + content_type,
                   "application/json", "application/x-www-form-urlencoded"):
            out = describe_body(ct, body)
            self.assertEqual(out["size"], len(body))
            self.assertIn("kind", out)

    @settings(max_examples=100)
    @given(st.lists(st.binary(max_size=100), min_size=1, max_size=4))
    def test_multipart_files_round_trip(self, blobs: list[bytes]) -> None:
        boundary = b"----netlab7MA4YWxkTrZu0gW"
        body = multipart(boundary, [
            (b'Content-Disposition: form-data; name="f%d"; filename="f%d"' % (i, i), blob)
            for i, blob in enumerate(blobs)
        ])
        out = describe_body("multipart/form-data; boundary=" + boundary.decode(), body)
        self.assertEqual([f["sha256"] for f in out["files"]],
                         [hashlib.sha256(b).hexdigest() for b in blobs])
