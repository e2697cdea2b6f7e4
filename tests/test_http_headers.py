"""Pure proxy header rules and mount path mapping (no sockets, no reactor)."""

from __future__ import annotations

from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.header_reference import (
    ClientHop,
    forwarded_element,
    request_headers,
    response_headers,
)
from twisted_netlab.http.headers import (
    HOP_BY_HOP,
    CookieRewrite,
    ForwardRules,
    TrustedProxies,
    connection_tokens,
    forward_request_headers,
    parse_trusted,
    rewrite_set_cookie,
    strip_hop_by_hop,
)
from twisted_netlab.http.proxymount import (
    ProxyConfigError,
    ProxyMount,
    ProxyPathError,
    check_unique,
    mounts_from_toml,
    parse_mount_spec,
)

HOP = ClientHop(peer="192.0.2.7", scheme="http", host=b"front.test", version=b"1.1")


class HopByHopTests(SynchronousTestCase):
    def test_fixed_set_removed(self) -> None:
        pairs = [(name.title(), b"v") for name in sorted(HOP_BY_HOP)] + [(b"X-A", b"1")]
        self.assertEqual(strip_hop_by_hop(pairs), [(b"X-A", b"1")])

    def test_connection_named_tokens_removed_case_insensitively(self) -> None:
        pairs = [
            (b"Connection", b"Keep-Alive, X-Foo"),
            (b"connection", b" x-bar "),
            (b"x-FOO", b"1"),
            (b"X-Bar", b"2"),
            (b"X-Baz", b"3"),
        ]
        self.assertEqual(connection_tokens(pairs), {b"keep-alive", b"x-foo", b"x-bar"})
        self.assertEqual(strip_hop_by_hop(pairs), [(b"X-Baz", b"3")])

    def test_repeated_headers_and_order_kept(self) -> None:
        pairs = [(b"B", b"1"), (b"A", b"x"), (b"B", b"2"), (b"TE", b"t"), (b"A", b"y")]
        self.assertEqual(
            strip_hop_by_hop(pairs), [(b"B", b"1"), (b"A", b"x"), (b"B", b"2"), (b"A", b"y")]
        )

    @settings(max_examples=200)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from([b"Connection", b"TE", b"X-A", b"x-b", b"Upgrade", b"Via", b"X-C"]),
                st.sampled_from([b"x-a", b"X-C, close", b"v", b""]),
            ),
            max_size=12,
        )
    )
    def test_property_output_is_ordered_subset_without_hop_headers(self, pairs) -> None:  # type: ignore[no-untyped-def]
        out = strip_hop_by_hop(pairs)
        dropped = HOP_BY_HOP | connection_tokens(pairs)
        self.assertEqual(out, [p for p in pairs if p[0].lower() not in dropped])
        for name, _ in out:
            self.assertNotIn(name.lower(), dropped)


class TrustedProxyTests(SynchronousTestCase):
    def test_addresses_and_networks(self) -> None:
        trusted = parse_trusted(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"])
        self.assertIn("10.1.2.3", trusted)
        self.assertIn("192.0.2.7", trusted)
        self.assertIn("2001:db8::1", trusted)
        self.assertIn("::ffff:10.9.9.9", trusted)  # IPv4-mapped peers on dual-stack sockets
        self.assertNotIn("192.0.2.8", trusted)
        self.assertNotIn("not-an-ip", trusted)
        self.assertNotIn("1.2.3.4", TrustedProxies())

    def test_bad_value(self) -> None:
        self.assertRaises(ProxyConfigError, parse_trusted, ["10.0.0.0/33"])


class ForwardingTests(SynchronousTestCase):
    def incoming(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"Host", b"front.test"),
            (b"X-Forwarded-For", b"203.0.113.1"),
            (b"X-Forwarded-For", b"198.51.100.2"),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-Forwarded-Host", b"public.test"),
            (b"Forwarded", b"for=203.0.113.1"),
            (b"Content-Length", b"3"),
            (b"Expect", b"100-continue"),
            (b"Accept", b"*/*"),
        ]

    def test_untrusted_peer_replaces_forwarding_headers(self) -> None:
        out = request_headers(
            self.incoming(), HOP, trusted=TrustedProxies(), upstream_host=b"up:9000"
        )
        self.assertEqual(
            out,
            [
                (b"Host", b"up:9000"),
                (b"Accept", b"*/*"),
                (b"X-Forwarded-For", b"192.0.2.7"),
                (b"X-Forwarded-Proto", b"http"),
                (b"X-Forwarded-Host", b"front.test"),
                (b"Forwarded", b"for=192.0.2.7;host=front.test;proto=http"),
                (b"Via", b"1.1 netlab"),
            ],
        )

    def test_trusted_peer_extends_forwarding_headers(self) -> None:
        out = request_headers(
            self.incoming(),
            HOP,
            trusted=parse_trusted(["192.0.2.0/24"]),
            upstream_host=b"up",
            preserve_host=True,
            pseudonym="edge",
        )
        self.assertEqual(
            out,
            [
                (b"Host", b"front.test"),
                (b"Accept", b"*/*"),
                (b"X-Forwarded-For", b"203.0.113.1, 198.51.100.2, 192.0.2.7"),
                (b"X-Forwarded-Proto", b"https"),
                (b"X-Forwarded-Host", b"public.test"),
                (
                    b"Forwarded",
                    b"for=203.0.113.1, for=192.0.2.7;host=front.test;proto=http",
                ),
                (b"Via", b"1.1 edge"),
            ],
        )

    def test_forwarded_quotes_ipv6_and_ports(self) -> None:
        hop = ClientHop(peer="2001:db8::1", scheme="https", host=b"h.test:8443")
        self.assertEqual(
            forwarded_element(hop), b'for="[2001:db8::1]";host="h.test:8443";proto=https'
        )

    def test_no_host_header(self) -> None:
        hop = ClientHop(peer="127.0.0.1", scheme="http", host=None, version=b"1.0")
        out = request_headers([], hop, trusted=TrustedProxies(), upstream_host=b"up")
        names = [n for n, _ in out]
        self.assertNotIn(b"X-Forwarded-Host", names)
        self.assertEqual(out[-1], (b"Via", b"1.0 netlab"))
        self.assertEqual(out[0], (b"Host", b"up"))


class ResponseHeaderTests(SynchronousTestCase):
    mount = ProxyMount("/api", "http://up.test:9000/base")

    def test_location_rewrite_and_cors_drop(self) -> None:
        pairs = [
            (b"Location", b"http://up.test:9000/base/x?y=1"),
            (b"Content-Location", b"/base/doc"),
            (b"Access-Control-Allow-Origin", b"*"),
            (b"Access-Control-Expose-Headers", b"X-A"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Vary", b"Accept"),
        ]
        out = response_headers(
            pairs, version=b"1.1", rewrite_location=self.mount.client_location, drop_cors=True
        )
        self.assertEqual(
            out,
            [
                (b"Location", b"/api/x?y=1"),
                (b"Content-Location", b"/api/doc"),
                (b"Vary", b"Accept"),
                (b"Via", b"1.1 netlab"),
            ],
        )

    def test_cors_kept_when_not_managed(self) -> None:
        pairs = [(b"Access-Control-Allow-Origin", b"*")]
        self.assertEqual(response_headers(pairs, version=b"1.0")[0], pairs[0])

    def test_cookie_rewrite_plain_http(self) -> None:
        rule = CookieRewrite(self.mount.client_path, "/api", secure_client=False)
        self.assertEqual(
            rewrite_set_cookie(
                b"a=b; Domain=.up.test; Path=/base/app; Secure; SameSite=None; HttpOnly", rule
            ),
            b"a=b; Path=/api/app; HttpOnly",
        )
        self.assertEqual(rewrite_set_cookie(b"a=b; path=/elsewhere", rule), b"a=b; Path=/api")
        self.assertEqual(
            rewrite_set_cookie(b"a=b; SameSite=Strict; Max-Age=5", rule),
            b"a=b; SameSite=Strict; Max-Age=5",
        )

    def test_cookie_rewrite_https_keeps_secure(self) -> None:
        rule = CookieRewrite(self.mount.client_path, "/api", secure_client=True)
        self.assertEqual(
            rewrite_set_cookie(b"a=b; Secure; SameSite=None; Domain=x", rule),
            b"a=b; Secure; SameSite=None",
        )


class MountTests(SynchronousTestCase):
    def test_upstream_target(self) -> None:
        m = ProxyMount("/api/v1/", "http://127.0.0.1:9000/base/")
        self.assertEqual(m.prefix, "/api/v1")
        self.assertEqual(m.segments, [b"api", b"v1"])
        self.assertEqual(
            m.upstream_target(b"/api/v1/a%20b/c", b"q=%20&&"),
            b"http://127.0.0.1:9000/base/a%20b/c?q=%20&&",
        )
        self.assertEqual(m.upstream_target(b"/api/v1", None), b"http://127.0.0.1:9000/base")
        root = ProxyMount("/api", "https://up.test")
        self.assertEqual(root.upstream_target(b"/api", None), b"https://up.test/")
        self.assertEqual(root.host_header, b"up.test")
        kept = ProxyMount("/api", "http://up.test:80/x", keep_prefix=True)
        self.assertEqual(kept.upstream_target(b"/api/y", b""), b"http://up.test/x/api/y?")

    def test_dot_segments_refused(self) -> None:
        m = ProxyMount("/api", "http://up.test/base")
        for path in [b"/api/..", b"/api/a/../../etc", b"/api/%2E%2e/x", b"/api/./x"]:
            self.assertRaises(ProxyPathError, m.upstream_target, path, None)

    def test_client_location(self) -> None:
        m = ProxyMount("/api", "http://up.test:9000/base")
        cases = {
            "http://up.test:9000/base": "/api",
            "http://UP.test:9000/base/a?b#c": "/api/a?b#c",
            "//up.test:9000/base/a": "/api/a",
            "/base/": "/api/",
            "/basement": "/basement",
            "http://up.test:9001/base/a": "http://up.test:9001/base/a",
            "https://up.test:9000/base/a": "https://up.test:9000/base/a",
            "relative/x": "relative/x",
            "http://[::1": "http://[::1",
        }
        for upstream, client in cases.items():
            self.assertEqual(m.client_location(upstream), client, upstream)
        kept = ProxyMount("/api", "http://up.test", keep_prefix=True)
        self.assertEqual(kept.client_location("http://up.test/api/x"), "/api/x")
        self.assertEqual(kept.client_location("http://up.test/x"), "http://up.test/x")
        root = ProxyMount("/", "http://up.test/")
        self.assertEqual(root.client_location("http://up.test/x?y"), "/x?y")
        self.assertEqual(root.client_location("http://up.test"), "/")

    def test_bad_mounts(self) -> None:
        for spec in [
            "api=http://x",
            "/api",
            "/api=",
            "/api=ftp://x/",
            "/api=http://",
            "/api=http://x/?q=1",
            "/api=http://u:p@x/",
            "/a/../b=http://x",
            "/a?b=http://x",
            "/api=http://x:0/",
        ]:
            self.assertRaises(ProxyConfigError, parse_mount_spec, spec)
        self.assertRaises(
            ProxyConfigError,
            check_unique,
            [parse_mount_spec("/a=http://x"), parse_mount_spec("/a/=http://y")],
        )

    def test_toml(self) -> None:
        mounts = mounts_from_toml(
            '[[proxy]]\nprefix="/a"\nupstream="http://x:1"\n'
            '[[proxy]]\nprefix="/b"\nupstream="https://y/"\nkeep_prefix=true\n',
            preserve_host=True,
        )
        self.assertEqual(
            [(m.prefix, m.origin, m.keep_prefix, m.preserve_host) for m in mounts],
            [("/a", "http://x:1", False, True), ("/b", "https://y", True, True)],
        )
        for bad in [
            "[[proxy]]\nprefix=1\nupstream='http://x'",
            "[[proxy]]\nprefix='/a'",
            "[[proxy]]\nprefix='/a'\nupstream='http://x'\nkeep_prefix='yes'",
            "[[proxy]]\nprefix='/a'\nupstream='http://x'\ncolour='red'",
            "proxy = 3",
            "other = 1",
            "[[proxy]\n",
        ]:
            self.assertRaises(ProxyConfigError, mounts_from_toml, bad)


class ForwardingHygieneTests(SynchronousTestCase):
    """nginx's defaults for what a client may tell the upstream (issue 7, case 5)."""

    RAW: ClassVar[dict[bytes, list[bytes]]] = {
        b"Host": [b"front.test:8080"],
        b"X_forwarded_for": [b"1.2.3.4"],
        b"X_custom": [b"x"],
        b"X-Real-Ip": [b"6.6.6.6"],
        b"True-Client-Ip": [b"6.6.6.7"],
        b"Cf-Connecting-Ip": [b"6.6.6.8"],
        b"Accept": [b"*/*"],
    }

    def forward(self, raw: dict[bytes, list[bytes]], trusted: bool) -> dict[bytes, list[bytes]]:
        proxies = parse_trusted(["192.0.2.0/24"]) if trusted else TrustedProxies()
        got = forward_request_headers(
            raw, "192.0.2.7", "http", b"1.1", ForwardRules(proxies, b"up:9000")
        )
        pairs = request_headers(
            [(n, v) for n, vs in raw.items() for v in vs],
            ClientHop("192.0.2.7", "http", raw[b"Host"][-1], b"1.1"),
            trusted=proxies, upstream_host=b"up:9000",
        )
        self.assertEqual(
            {n.lower(): [v for m, v in pairs if m.lower() == n.lower()] for n, _ in pairs},
            {n.lower(): vs for n, vs in got.items()},
        )
        return got

    def test_untrusted_peer(self) -> None:
        got = self.forward(self.RAW, trusted=False)
        self.assertEqual(list(got), [b"Host", b"Accept", b"X-Forwarded-For", b"X-Forwarded-Proto",
                                     b"X-Forwarded-Host", b"Forwarded", b"Via"])
        self.assertEqual(got[b"X-Forwarded-For"], [b"192.0.2.7"])
        self.assertEqual(got[b"X-Forwarded-Host"], [b"front.test:8080"])

    def test_trusted_peer_keeps_client_ip_claims(self) -> None:
        got = self.forward(self.RAW, trusted=True)
        self.assertEqual(got[b"X-Real-Ip"], [b"6.6.6.6"])
        self.assertEqual(got[b"True-Client-Ip"], [b"6.6.6.7"])
        self.assertNotIn(b"X_forwarded_for", got)  # underscores go whoever sends them

    def test_invalid_forwarded_host_becomes_the_upstream_host(self) -> None:
        raw = {b"Host": [b"evil.example:1/x?y"]}
        got = self.forward(raw, trusted=False)
        self.assertEqual(got[b"Host"], [b"up:9000"])
        self.assertEqual(got[b"X-Forwarded-Host"], [b"up:9000"])
        self.assertEqual(got[b"Forwarded"], [b'for=192.0.2.7;host="up:9000";proto=http'])
        trusted = self.forward(
            {b"Host": [b"ok.test"], b"X-Forwarded-Host": [b"a b/c"]}, trusted=True
        )
        self.assertEqual(trusted[b"X-Forwarded-Host"], [b"up:9000"])
        kept = self.forward(
            {b"Host": [b"ok.test"], b"X-Forwarded-Host": [b"orig.test:443"]}, trusted=True
        )
        self.assertEqual(kept[b"X-Forwarded-Host"], [b"orig.test:443"])


class TraceOptInTests(SynchronousTestCase):
    def test_trace_refused_unless_opted_in(self) -> None:
        from twisted_netlab.http.proxymount import ProxyMethodError

        mount = ProxyMount("/api", "http://up.test")
        with self.assertRaises(ProxyMethodError) as ctx:
            mount.check_method(b"TRACE")
        self.assertEqual(ctx.exception.status, 405)
        for method in (b"GET", b"POST", b"OPTIONS", b"PROPFIND"):
            mount.check_method(method)
        ProxyMount("/api", "http://up.test", allow_trace=True).check_method(b"TRACE")

    def test_toml_key(self) -> None:
        [plain, opted] = mounts_from_toml(
            '[[proxy]]\nprefix = "/a"\nupstream = "http://up.test"\n'
            '[[proxy]]\nprefix = "/b"\nupstream = "http://up.test"\nallow_trace = true\n'
        )
        self.assertEqual((plain.allow_trace, opted.allow_trace), (False, True))
        with self.assertRaises(ProxyConfigError) as ctx:
            mounts_from_toml(
                '[[proxy]]\nprefix = "/a"\nupstream = "http://u.test"\nallow_trace = 1\n'
            )
        self.assertEqual(str(ctx.exception), "[[proxy]] #1: 'allow_trace' must be true or false")
