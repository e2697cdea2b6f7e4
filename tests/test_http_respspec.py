"""Pure validation for the response setter: names, values, statuses, cookies, redirects."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.respspec import (
    REDIRECT_CODES,
    ResponseSpec,
    ResponseSpecError,
    parse_cookie_header,
    parse_header_param,
    parse_response_spec,
    parse_status,
    validate_cookie,
    validate_header_name,
    validate_header_value,
    validate_redirect,
)


class HeaderTests(SynchronousTestCase):
    def test_names(self) -> None:
        self.assertEqual(validate_header_name("X-Custom_1.a~"), "X-Custom_1.a~")
        for bad in ["", "X Foo", "X:Foo", "X\r\nSet-Cookie", "é", "X(", "Content-Length",
                    "transfer-encoding", "Connection"]:
            with self.assertRaises(ResponseSpecError, msg=bad):
                validate_header_name(bad)

    def test_values(self) -> None:
        self.assertEqual(validate_header_value("  a b\tc  "), b"a b\tc")
        self.assertEqual(validate_header_value(""), b"")
        self.assertEqual(validate_header_value("caf\u00e9"), b"caf\xc3\xa9")
        for bad in ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00", "\x7f", "a\x1bb", "\udc80"]:
            with self.assertRaises(ResponseSpecError, msg=repr(bad)) as caught:
                validate_header_value(bad)
            self.assertEqual(caught.exception.status, 400)

    def test_header_param(self) -> None:
        self.assertEqual(parse_header_param("X-A: 1, 2"), ("X-A", b"1, 2"))
        self.assertEqual(parse_header_param("X-A:"), ("X-A", b""))
        for bad in ["X-A", "X-A : v", " X-A: v", "X-A: a\r\nb"]:
            with self.assertRaises(ResponseSpecError, msg=bad):
                parse_header_param(bad)

    @settings(max_examples=200)
    @given(st.text(max_size=30))
    def test_accepted_values_are_safe(self, value: str) -> None:
        try:
            raw = validate_header_value(value)
        except ResponseSpecError:
            return
        self.assertFalse(set(raw) & {0x0A, 0x0D, 0x00})
        self.assertEqual(raw, raw.strip(b" \t"))


class StatusTests(SynchronousTestCase):
    def test_parse(self) -> None:
        self.assertEqual(parse_status("200"), 200)
        self.assertEqual(parse_status("418"), 418)
        self.assertEqual(parse_status("599"), 599)
        for bad in ["100", "101", "199", "600", "20", "2000", "abc", "", " 200", "+20", "\u0662\u0660\u0660"]:
            with self.assertRaises(ResponseSpecError, msg=bad):
                parse_status(bad)
        with self.assertRaises(ResponseSpecError):
            parse_status("200", REDIRECT_CODES)
        self.assertEqual(parse_status("307", REDIRECT_CODES), 307)


class CookieTests(SynchronousTestCase):
    def test_set(self) -> None:
        self.assertEqual(validate_cookie("sid", "abc123"), "sid=abc123; Path=/")
        for name, value in [("s id", "v"), ("sid", "a b"), ("sid", "a;b"), ("sid", 'a"'),
                            ("sid", "a\r\nb"), ("", "v"), ("sid", "a,b"), ("sid", "a\\b")]:
            with self.assertRaises(ResponseSpecError, msg=(name, value)):
                validate_cookie(name, value)

    def test_parse_header(self) -> None:
        self.assertEqual(
            parse_cookie_header(["a=1; b = 2;c=", "a=9; junk; d=x=y"]),
            {"a": "1", "b": "2", "c": "", "d": "x=y"},
        )


class RedirectTests(SynchronousTestCase):
    def test_allowed(self) -> None:
        self.assertEqual(validate_redirect("/next?x=1"), b"/next?x=1")
        self.assertEqual(validate_redirect("next"), b"next")
        self.assertEqual(validate_redirect("https://example.com/caf\u00e9"), b"https://example.com/caf%C3%A9")
        self.assertEqual(validate_redirect("HTTP://example.com"), b"http://example.com")

    def test_refused(self) -> None:
        for bad in ["", "javascript:alert(1)", "data:text/html,x", "file:///etc/passwd",
                    "/a\r\nSet-Cookie: x=1", "http:///nohost", "/a\x00"]:
            with self.assertRaises(ResponseSpecError, msg=bad):
                validate_redirect(bad)


class ResponseSpecTests(SynchronousTestCase):
    def test_full(self) -> None:
        spec = parse_response_spec({
            "status": ["201"], "content_type": ["application/json"], "body": ['{"a":1}'],
            "header": ["X-A: 1", "X-A: 2", "Cache-Control: no-cache"],
        })
        self.assertEqual(spec, ResponseSpec(
            201, [("X-A", b"1"), ("X-A", b"2"), ("Cache-Control", b"no-cache")],
            b"application/json", b'{"a":1}',
        ))

    def test_defaults(self) -> None:
        self.assertEqual(parse_response_spec({}), ResponseSpec(200, [], b"text/plain; charset=utf-8", b""))

    def test_refused(self) -> None:
        for query in [
            {"statuss": ["200"]}, {"status": ["200", "201"]}, {"status": ["99"]},
            {"content_type": ["text/html\r\nX: y"]}, {"header": ["Content-Length: 5"]},
            {"header": ["X-A: 1\nX-B: 2"]},
        ]:
            with self.assertRaises(ResponseSpecError, msg=str(query)):
                parse_response_spec(query)
