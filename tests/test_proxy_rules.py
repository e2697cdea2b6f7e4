"""The proxy's grouped header fast paths equal the reference pair rules; deadline sweep.

``forward_request_headers``/``relay_response_headers`` are what the proxy runs per
request; ``request_headers``/``response_headers`` are the readable reference. Both are
fed the same headers and must produce the same ``Headers`` (names, values, order).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from tests.header_reference import ClientHop, request_headers, response_headers
from twisted_netlab.http.headers import (
    CookieRewrite,
    ForwardRules,
    TrustedProxies,
    forward_request_headers,
    parse_trusted,
    relay_response_headers,
    via_value,
)
from twisted_netlab.http.proxymount import ProxyMount, ProxyPathError
from twisted_netlab.http.relay import relay_response_pairs
from twisted_netlab.upstream.deadlines import Deadlines as _Deadlines

REQUEST_NAMES = [
    b"Host", b"Connection", b"Keep-Alive", b"TE", b"Upgrade", b"Content-Length", b"Expect",
    b"X-Forwarded-For", b"X-Forwarded-Proto", b"X-Forwarded-Host", b"Forwarded", b"Via",
    b"Accept", b"X-A", b"Cookie", b"Proxy-Authorization", b"X-Real-Ip", b"True-Client-Ip",
    b"X_forwarded_for", b"X_a",
]
RESPONSE_NAMES = [
    b"Content-Type", b"Location", b"Content-Location", b"Set-Cookie", b"Via", b"Vary",
    b"Access-Control-Allow-Origin", b"Proxy-Authenticate", b"Trailer", b"X-A", b"X-B",
    b"Keep-Alive", b"Date",
]
VALUES = st.sampled_from([
    b"1", b"a, b", b"x-a", b"X-A, Via", b"keep-alive", b"203.0.113.9", b"for=198.51.100.1",
    b"https", b"public.test", b"/base/p?q=1", b"http://up.test:9000/base/x", b"s=1; Path=/base",
    b"s=2; Domain=up.test; Secure; SameSite=None", b"", b"evil.example:1/x?y", b"[::1]:8080",
])


def grouped(names: list[bytes]) -> Any:
    return st.dictionaries(st.sampled_from(names), st.lists(VALUES, min_size=1, max_size=3))


def as_headers(pairs: Any) -> list[tuple[bytes, list[bytes]]]:
    headers = Headers()
    for name, value in pairs:
        headers.addRawHeader(name, value)
    return [(n, list(v)) for n, v in headers.getAllRawHeaders()]


def flatten(raw: dict[bytes, list[bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, values in raw.items() for value in values]


class ForwardEquivalenceTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(
        raw=grouped(REQUEST_NAMES),
        peer=st.sampled_from(["192.0.2.7", "2001:db8::1", "127.0.0.1"]),
        scheme=st.sampled_from(["http", "https"]),
        version=st.sampled_from([b"1.0", b"1.1"]),
        trusted=st.booleans(),
        preserve=st.booleans(),
    )
    def test_same_as_reference(
        self, raw: dict[bytes, list[bytes]], peer: str, scheme: str, version: bytes,
        trusted: bool, preserve: bool,
    ) -> None:
        proxies = parse_trusted(["192.0.2.0/24", "::/0"]) if trusted else TrustedProxies()
        host = raw[b"Host"][-1] if b"Host" in raw else None
        expected = request_headers(
            flatten(raw), ClientHop(peer, scheme, host, version), trusted=proxies,
            upstream_host=b"up:9000", preserve_host=preserve, pseudonym="edge",
        )
        rules = ForwardRules(proxies, b"up:9000", preserve, "edge")
        got = forward_request_headers(raw, peer, scheme, version, rules)
        self.assertEqual(as_headers(flatten(got)), as_headers(expected))
        self.assertEqual(list(Headers(got).getAllRawHeaders()), list(got.items()))

    def test_example(self) -> None:
        raw = {
            b"Host": [b"front.test"],
            b"Connection": [b"keep-alive, X-A"],
            b"X-A": [b"dropped"],
            b"Accept": [b"*/*"],
            b"X-Forwarded-For": [b"203.0.113.1"],
        }
        got = forward_request_headers(
            raw, "192.0.2.7", "http", b"1.1", ForwardRules(TrustedProxies(), b"up")
        )
        self.assertEqual(
            list(got.items()),
            [
                (b"Host", [b"up"]),
                (b"Accept", [b"*/*"]),
                (b"X-Forwarded-For", [b"192.0.2.7"]),
                (b"X-Forwarded-Proto", [b"http"]),
                (b"X-Forwarded-Host", [b"front.test"]),
                (b"Forwarded", [b"for=192.0.2.7;host=front.test;proto=http"]),
                (b"Via", [b"1.1 netlab"]),
            ],
        )


class RelayEquivalenceTests(SynchronousTestCase):
    mount = ProxyMount("/api", "http://up.test:9000/base")

    @settings(max_examples=200, deadline=None)
    @given(
        raw=grouped(RESPONSE_NAMES),
        connection=st.lists(st.sampled_from([b"close", b"X-A", b"x-b, keep-alive"]), max_size=2),
        rewrite=st.booleans(),
        dev=st.sampled_from([None, False, True]),
        drop_cors=st.booleans(),
    )
    def test_same_as_reference(
        self, raw: dict[bytes, list[bytes]], connection: list[bytes], rewrite: bool,
        dev: bool | None, drop_cors: bool,
    ) -> None:
        cookies = None if dev is None else CookieRewrite(self.mount.client_path, "/api", dev)
        location = self.mount.client_location if rewrite else None
        pairs = flatten(raw) + [(b"Connection", v) for v in connection]
        expected = response_headers(
            pairs, version=b"1.1", pseudonym="edge", rewrite_location=location,
            cookies=cookies, drop_cors=drop_cors,
        )
        got = relay_response_headers(
            raw, connection, via=via_value(b"1.1", "edge"), rewrite_location=location,
            cookies=cookies, drop_cors=drop_cors,
        )
        self.assertEqual(as_headers(flatten(dict(got))), as_headers(expected))
        self.assertEqual(len({n.lower() for n, _ in got}), len(got))

    @settings(max_examples=300, deadline=None)
    @given(
        pairs=st.lists(
            st.tuples(
                st.sampled_from(
                    [*RESPONSE_NAMES, b"content-length", b"CONNECTION", b"via", b"x-a", b"Te"]
                ),
                VALUES,
            ),
            max_size=12,
        ),
        connection=st.lists(
            st.sampled_from([b"close", b"X-A", b"x-b, keep-alive", b"Via", b"Location"]),
            max_size=2,
        ),
        rewrite=st.booleans(),
        dev=st.sampled_from([None, False, True]),
        drop_cors=st.booleans(),
    )
    def test_one_pass_same_as_reference(
        self, pairs: list[tuple[bytes, bytes]], connection: list[bytes], rewrite: bool,
        dev: bool | None, drop_cors: bool,
    ) -> None:
        """The one-pass relay on fields as received (any case, repeated, interleaved,
        Content-Length among them) equals the reference rule minus Content-Length."""
        cookies = None if dev is None else CookieRewrite(self.mount.client_path, "/api", dev)
        location = self.mount.client_location if rewrite else None
        pairs = pairs + [(b"Connection", v) for v in connection]
        expected = response_headers(
            [(n, v) for n, v in pairs if n.lower() != b"content-length"],
            version=b"1.1", pseudonym="edge", rewrite_location=location,
            cookies=cookies, drop_cors=drop_cors,
        )
        got = relay_response_pairs(
            pairs, via=via_value(b"1.1", "edge"), rewrite_location=location,
            cookies=cookies, drop_cors=drop_cors,
        )
        self.assertEqual(as_headers(flatten(dict(got))), as_headers(expected))
        self.assertEqual(len({n.lower() for n, _ in got}), len(got))

    def test_via_appended_to_upstream_via(self) -> None:
        got = relay_response_headers(
            {b"Via": [b"1.0 far"], b"Te": [b"x"]}, (), via=b"1.1 netlab"
        )
        self.assertEqual(got, [(b"Via", [b"1.0 far", b"1.1 netlab"])])


class UpstreamPathTests(SynchronousTestCase):
    def test_origin_form(self) -> None:
        mount = ProxyMount("/api", "http://up.test:9000/base/")
        self.assertEqual(mount.upstream_path(b"/api", None), b"/base")
        self.assertEqual(mount.upstream_path(b"/api/", b""), b"/base/?")
        self.assertEqual(mount.upstream_path(b"/api/a%20b", b"x=1"), b"/base/a%20b?x=1")
        self.assertRaises(ProxyPathError, mount.upstream_path, b"/api/a%2Fb", None)
        root = ProxyMount("/", "http://up.test")
        self.assertEqual(root.upstream_path(b"/", None), b"/")
        self.assertEqual(root.upstream_target(b"/x", b"q"), b"http://up.test/x?q")
        kept = ProxyMount("/api", "http://up.test", keep_prefix=True)
        self.assertEqual(kept.upstream_path(b"/api", None), b"/api")
        self.assertRaises(ProxyPathError, mount.upstream_path, b"/api/%2e%2E/x", None)

    @settings(max_examples=200)
    @given(st.lists(st.sampled_from([b"a", b"", b"%20", b"b.c"]), max_size=4),
           st.one_of(st.none(), st.sampled_from([b"", b"q=1"])))
    def test_target_is_origin_plus_path(self, segments: list[bytes], query: bytes | None) -> None:
        mount = ProxyMount("/p", "http://h.test:8080/v1")
        path = b"/".join([b"/p", *segments])
        self.assertEqual(
            mount.upstream_target(path, query),
            b"http://h.test:8080" + mount.upstream_path(path, query),
        )


class _Call:
    def __init__(self) -> None:
        self.seen: list[float] = []

    def check_deadline(self, now: float) -> None:
        self.seen.append(now)


class DeadlineSweepTests(SynchronousTestCase):
    def test_sweeps_while_calls_are_in_flight_then_stops(self) -> None:
        clock = Clock()
        deadlines = _Deadlines(clock)
        first, second = _Call(), _Call()
        deadlines.add(first, 0.5)  # type: ignore[arg-type]
        deadlines.add(second, 0.25)  # type: ignore[arg-type]
        self.assertEqual(len(clock.getDelayedCalls()), 1)  # one timer for both
        clock.advance(0.5)
        self.assertEqual(first.seen, [0.5])
        clock.advance(0.25)
        self.assertEqual(first.seen, [0.5, 0.75])  # the shorter tick wins
        deadlines.discard(first)  # type: ignore[arg-type]
        clock.advance(0.25)
        self.assertEqual((first.seen, second.seen), ([0.5, 0.75], [0.5, 0.75, 1.0]))
        deadlines.discard(second)  # type: ignore[arg-type]
        self.assertEqual(clock.getDelayedCalls(), [])  # nothing in flight: no timer

    def test_close_cancels(self) -> None:
        clock = Clock()
        deadlines = _Deadlines(clock)
        deadlines.add(_Call(), 1.0)  # type: ignore[arg-type]
        deadlines.close()
        self.assertEqual(clock.getDelayedCalls(), [])
