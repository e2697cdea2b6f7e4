"""The Host rule of RFC 9112 3.2 and the host[:port] syntax, on plain values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.host import BadHostError, check_host_fields, is_valid_host, split_host


class SyntaxTests(SynchronousTestCase):
    def test_valid(self) -> None:
        self.assertEqual(split_host(b"Example.COM"), ("example.com", None))
        self.assertEqual(split_host(b"example.com:8080"), ("example.com", 8080))
        self.assertEqual(split_host(b"127.0.0.1:1"), ("127.0.0.1", 1))
        self.assertEqual(split_host(b"[::1]:8080"), ("[::1]", 8080))
        self.assertEqual(split_host(b"[2001:DB8::1]"), ("[2001:db8::1]", None))
        self.assertEqual(split_host(b"my_host.internal."), ("my_host.internal.", None))
        self.assertEqual(split_host("localhost:65535"), ("localhost", 65535))

    def test_invalid(self) -> None:
        for value in (
            b"", b"evil.example:1/x?y", b"a b", b"a,b", b"host:", b"host:99999", b"host:8x",
            b"host:-1", b"user@host", b"[::1", b"[::1]x", b"[fe80::1%25eth0]", b"[zzz]",
            b"..", b"a..b", b".a", b"h\xc3\xa9", b"a" * 254, b"a:1:2", b"host\r\nx: y",
            b"host\x00", b"%65vil",
        ):
            self.assertFalse(is_valid_host(value), value)
            self.assertIsNone(split_host(value))

    @given(st.binary(max_size=40))
    def test_valid_values_are_safe_to_forward(self, value: bytes) -> None:
        if is_valid_host(value):
            for byte in b"/?#@ ,;\\\"\r\n\t\x00%":
                self.assertNotIn(byte, value)


class FieldTests(SynchronousTestCase):
    def refused(self, values: list[bytes] | None, version: bytes = b"HTTP/1.1") -> str:
        with self.assertRaises(BadHostError) as ctx:
            check_host_fields(values, version)
        self.assertEqual(ctx.exception.status, 400)
        return str(ctx.exception)

    def test_one_valid_host(self) -> None:
        self.assertEqual(check_host_fields([b"a.test:80"], b"HTTP/1.1"), b"a.test:80")

    def test_two_host_fields(self) -> None:
        self.assertEqual(self.refused([b"a.test", b"b.test"]), "more than one Host header")
        self.assertEqual(
            self.refused([b"a.test", b"a.test"], b"HTTP/1.0"), "more than one Host header"
        )

    def test_missing(self) -> None:
        self.assertEqual(self.refused(None), "an HTTP/1.1 request needs a Host header")
        self.assertEqual(self.refused([]), "an HTTP/1.1 request needs a Host header")
        self.assertIsNone(check_host_fields(None, b"HTTP/1.0"))

    def test_invalid_value(self) -> None:
        self.assertEqual(
            self.refused([b"evil.example:1/x?y"]), "the Host header is not a valid host[:port]"
        )
