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
        for bad in ["100", "101", "199", "600", "20", "2000", "abc", "", " 200", "+20",
                    "\u0662\u0660\u0660"]:
            with self.assertRaises(ResponseSpecError, msg=bad):
                parse_status(bad)
        with self.assertRaises(ResponseSpecError):
            parse_status("200", REDIRECT_CODES)
        self.assertEqual(parse_status("307", REDIRECT_CODES), 307)


class SecurityHeaderTests(SynchronousTestCase):
    def test_refused_with_a_reason(self) -> None:
        for name in ["Set-Cookie", "set-cookie2", "Location", "Refresh", "Content-Security-Policy",
                     "Content-Security-Policy-Report-Only", "Strict-Transport-Security",
                     "X-Frame-Options", "Clear-Site-Data", "Permissions-Policy", "Feature-Policy",
                     "X-Content-Type-Options", "Cross-Origin-Opener-Policy",
                     "Cross-Origin-Embedder-Policy", "Cross-Origin-Resource-Policy",
                     "Timing-Allow-Origin", "WWW-Authenticate", "Alt-Svc", "NEL", "Report-To",
                     "Reporting-Endpoints", "Service-Worker-Allowed", "Speculation-Rules",
                     "Access-Control-Allow-Origin", "access-control-allow-credentials",
                     "Access-Control-Expose-Headers"]:
            with self.assertRaises(ResponseSpecError, msg=name) as ctx:
                validate_header_name(name)
            self.assertTrue(str(ctx.exception).startswith(f"header {name} cannot be set here: "))
        with self.assertRaises(ResponseSpecError) as ctx:
            parse_response_spec({"header": ["Access-Control-Allow-Origin: *"]})
        self.assertEqual(
            str(ctx.exception),
            "header Access-Control-Allow-Origin cannot be set here: CORS headers come from the "
            "site's --cors policy only",
        )

    def test_ordinary_headers_pass(self) -> None:
        for name in ["X-Demo", "Cache-Control", "Vary", "Link", "Content-Disposition", "ETag"]:
            self.assertEqual(validate_header_name(name), name)


class CookieTests(SynchronousTestCase):
    def test_prefixes_refused_and_path_scoped(self) -> None:
        self.assertEqual(validate_cookie("sid", "1", "/_netlab/"), "sid=1; Path=/_netlab/")
        for name in ["__Host-sid", "__Secure-sid", "__host-sid", "__SECURE-x"]:
            with self.assertRaises(ResponseSpecError) as ctx:
                validate_cookie(name, "1")
            self.assertIn("__Host-/__Secure- prefix", str(ctx.exception))
        # No attribute (Domain included) can ride in on the value.
        for value in ["1; Domain=example.com", "1;Domain=.example.com"]:
            self.assertRaises(ResponseSpecError, validate_cookie, "sid", value)

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
    def ours(self, url: str, scheme: str = "https", host: bytes | None = b"example.com") -> bytes:
        return validate_redirect(url, scheme=scheme, host=host)

    def test_allowed(self) -> None:
        self.assertEqual(self.ours("/next?x=1"), b"/next?x=1")
        self.assertEqual(self.ours("/caf\u00e9"), b"/caf%C3%A9")
        self.assertEqual(self.ours("https://example.com/caf\u00e9"), b"https://example.com/caf%C3%A9")
        self.assertEqual(self.ours("HTTPS://Example.COM"), b"https://example.com")
        self.assertEqual(self.ours("https://example.com:443/x"), b"https://example.com/x")
        self.assertEqual(self.ours("http://127.0.0.1:8080/x", "http", b"127.0.0.1:8080"),
                         b"http://127.0.0.1:8080/x")
        self.assertEqual(self.ours("/x", "http", None), b"/x")

    def test_refused(self) -> None:
        for bad in ["", "javascript:alert(1)", "data:text/html,x", "file:///etc/passwd",
                    "/a\r\nSet-Cookie: x=1", "http:///nohost", "/a\x00", "next", "?x", "#top",
                    "//evil.example/", "/\\evil.example/", "\\\\evil.example", "/\t/evil.example",
                    "https:evil.example", "https:/evil.example", "http://example.com/",
                    "https://evil.example/", "https://example.com.evil.example/",
                    "https://example.com:8443/", "https://user@example.com/",
                    "https://evil.example\\@example.com/"]:
            with self.assertRaises(ResponseSpecError, msg=bad):
                self.ours(bad)
        with self.assertRaises(ResponseSpecError):
            self.ours("http://127.0.0.1/x", "http", None)
        with self.assertRaises(ResponseSpecError) as ctx:
            self.ours("https://evil.example/")
        self.assertEqual(
            str(ctx.exception),
            "url 'https://evil.example/' is on another origin; only https://example.com may be "
            "redirected to",
        )


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
        self.assertEqual(
            parse_response_spec({}), ResponseSpec(200, [], b"text/plain; charset=utf-8", b"")
        )

    def test_refused(self) -> None:
        for query in [
            {"statuss": ["200"]}, {"status": ["200", "201"]}, {"status": ["99"]},
            {"content_type": ["text/html\r\nX: y"]}, {"header": ["Content-Length: 5"]},
            {"header": ["X-A: 1\nX-B: 2"]},
        ]:
            with self.assertRaises(ResponseSpecError, msg=str(query)):
                parse_response_spec(query)
