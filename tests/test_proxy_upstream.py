"""The proxy on its own client, end to end on loopback: 1xx forwarding (raw clients and
curl), framing errors as clean 502s, HEAD, no invented Content-Type, the pool under
concurrent load, TLS upstreams, and no log line per upstream connection."""

from __future__ import annotations

import shutil
from typing import Any, cast

from twisted.internet import defer, reactor, ssl
from twisted.internet.interfaces import IReactorSSL
from twisted.internet.testing import StringTransport
from twisted.logger import ILogObserver, globalLogPublisher
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.server import Site

from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.web.proxy.interim import send_interim

from ._proxy_support import ProxyTestCase, wait_until
from ._upstream_support import CraftedUpstream, self_signed_pem

EARLY = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
FINAL = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nfinal\n"


def _port(port: Any) -> int:
    return int(port.getHost().port)


class CraftedTestCase(ProxyTestCase):
    def crafted(self, reply: Any = FINAL) -> CraftedUpstream:
        factory = CraftedUpstream(reply)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[arg-type]
        self.addCleanup(port.stopListening)
        self.crafted_url = f"http://127.0.0.1:{_port(port)}"
        self.start_proxy([ProxyMount("/c", self.crafted_url + "/")])
        return factory

    async def exchange(self, request: bytes) -> bytes:
        client = await self.raw(request)
        await client.closed
        return bytes(client.data)


class InterimTests(CraftedTestCase):
    async def test_early_hints_reach_an_http11_client_first(self) -> None:
        self.crafted(b"HTTP/1.1 102 Processing\r\n\r\n" + EARLY + FINAL)
        data = await self.exchange(b"GET /c/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(
            data.startswith(b"HTTP/1.1 102 Processing\r\n\r\n" + EARLY + b"HTTP/1.1 200 OK\r\n"),
            data[:200],
        )
        self.assertTrue(data.endswith(b"\r\n\r\nfinal\n"))

    async def test_no_interim_for_http10_clients(self) -> None:
        self.crafted(EARLY + FINAL)
        data = await self.exchange(b"GET /c/x HTTP/1.0\r\nHost: x\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.0 200 OK\r\n"), data[:80])
        self.assertNotIn(b"103", data)

    async def test_hop_by_hop_headers_dropped_from_interim(self) -> None:
        self.crafted(
            b"HTTP/1.1 103 Early Hints\r\nConnection: X-Hop\r\nX-Hop: 1\r\nLink: </a>\r\n\r\n"
            + FINAL
        )
        data = await self.exchange(b"GET /c/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(
            data.startswith(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK"),
            data[:120],
        )

    async def test_curl_sees_early_hints(self) -> None:
        curl = shutil.which("curl")
        if curl is None:
            raise SkipTest("curl not installed")
        self.crafted(EARLY + FINAL)
        url = f"http://127.0.0.1:{self.proxy_port}/c/page"
        out, err, code = await _run(curl, "-sv", "--max-time", "10", url)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"final\n")
        lines = [line.strip() for line in err.splitlines() if line.startswith(b"< ")]
        self.assertIn(b"< HTTP/1.1 103 Early Hints", lines)
        self.assertIn(b"< Link: </style.css>; rel=preload; as=style", lines)
        self.assertLess(
            lines.index(b"< HTTP/1.1 103 Early Hints"), lines.index(b"< HTTP/1.1 200 OK")
        )


async def _run(*argv: str) -> tuple[bytes, bytes, int]:
    from twisted.internet.utils import getProcessOutputAndValue

    out, err, code = await getProcessOutputAndValue(argv[0], argv[1:], reactor=reactor)
    return out, err, code


def _factory_lines(events: list[dict[str, Any]]) -> list[str]:
    """"Starting/Stopping factory" lines about the proxy's upstream connections (the
    test's own clients and listening sites log theirs; those are not the proxy's)."""
    return [
        repr(e.get("factory"))
        for e in events
        if "factory" in str(e.get("log_format"))
        and not isinstance(e.get("factory"), Site)
        and not type(e.get("factory")).__name__.startswith(
            ("_HTTP11ClientFactory", "ClientFactory")
        )
    ]


class FramingErrorTests(CraftedTestCase):
    async def check_502(self, reply: bytes, reason: str) -> None:
        upstream = self.crafted(reply)
        for _ in range(2):
            data = await self.exchange(b"GET /c/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 502 Bad Gateway"), head)
            self.assertEqual(
                body, f"502 Bad Gateway: upstream {self.crafted_url} {reason}\n".encode()
            )
        await wait_until(lambda: upstream.lost == 2)
        self.assertEqual(upstream.connections, 2)  # dropped from the pool each time
        self.flushLoggedErrors()

    async def test_unknown_transfer_encoding(self) -> None:
        await self.check_502(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
                             "unsupported Transfer-Encoding: gzip")

    async def test_conflicting_content_length(self) -> None:
        await self.check_502(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nxx",
                             "Duplicate Content-Length")

    async def test_garbage_status_line(self) -> None:
        await self.check_502(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "invalid status line")

    async def test_future_version(self) -> None:
        await self.check_502(b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                             "unsupported HTTP version 2.0")


class ResponseShapeTests(CraftedTestCase):
    async def test_no_content_type_invented(self) -> None:
        self.crafted(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        data = await self.exchange(b"GET /c/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertNotIn(b"content-type", head.lower())
        self.assertIn(b"\r\nContent-Length: 3", head)
        self.assertEqual(body, b"abc")

    async def test_head_keeps_length_and_connection(self) -> None:
        upstream = self.crafted(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")
        for _ in range(3):
            data = await self.exchange(
                b"HEAD /c/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertIn(b"\r\nContent-Length: 1048576", head)
            self.assertEqual(body, b"")
        self.assertEqual(upstream.connections, 1)

    async def test_chunked_upstream_relayed(self) -> None:
        self.crafted(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        response = await self.http.get(f"http://127.0.0.1:{self.proxy_port}/c/x")
        self.assertEqual(await self.content(response), b"abcde")


class PoolLoadTests(ProxyTestCase):
    async def test_concurrent_rounds_reuse_the_peak_connections(self) -> None:
        """48 concurrent requests, 4 rounds: the upstream sees 48 connections, not more
        (the old fixed pool of 32 closed 16 per round and reopened them)."""
        base = self.start_proxy([self.mount()], pool_size=4)
        del base
        request = b"GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        for _ in range(4):
            clients = [await self.raw(request) for _ in range(48)]
            await defer.gatherResults([c.closed for c in clients])
            for c in clients:
                self.assertTrue(c.data.startswith(b"HTTP/1.1 200 OK"), c.data[:40])
        self.assertLessEqual(self.upstream_site.connections, 48)
        self.assertEqual(self.proxy_client.pool.opened, self.upstream_site.connections)


class QuietTests(ProxyTestCase):
    async def test_no_log_line_per_upstream_connection(self) -> None:
        events: list[dict[str, Any]] = []
        observer = cast(ILogObserver, events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        base = self.start_proxy([self.mount()], pool_size=1)
        for _ in range(3):
            clients = [
                await self.raw(b"GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                for _ in range(5)
            ]
            await defer.gatherResults([c.closed for c in clients])
        del base
        self.assertGreaterEqual(self.upstream_site.connections, 5)
        self.assertEqual(_factory_lines(events), [])


class TLSUpstreamTests(ProxyTestCase):
    async def test_https_upstream_verified_and_quiet(self) -> None:
        key, cert = self_signed_pem()
        server = ssl.PrivateCertificate.loadPEM(key + cert).options()
        port = cast(IReactorSSL, reactor).listenSSL(
            0, self.upstream_site, server, interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        trust = ssl.Certificate.loadPEM(cert)
        events: list[dict[str, Any]] = []
        observer = cast(ILogObserver, events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        base = self.start_proxy(
            [ProxyMount("/s", f"https://127.0.0.1:{_port(port)}/rec")],
            tls=lambda host: ssl.optionsForClientTLS(host, trustRoot=trust),
        )
        for i in range(3):
            response = await self.http.get(base + f"/s/t{i}")
            self.assertEqual(response.code, 200)
            self.assertEqual(await self.content(response), b"upstream says hi\n")
        self.assertEqual([r.uri for r in self.recorded], [b"/rec/t0", b"/rec/t1", b"/rec/t2"])
        self.assertEqual(self.upstream_site.connections, 1)
        self.assertEqual(_factory_lines(events), [])

    async def test_untrusted_certificate_is_502(self) -> None:
        key, cert = self_signed_pem()
        server = ssl.PrivateCertificate.loadPEM(key + cert).options()
        port = cast(IReactorSSL, reactor).listenSSL(
            0, self.upstream_site, server, interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        base = self.start_proxy([ProxyMount("/s", f"https://127.0.0.1:{_port(port)}/rec")])
        response = await self.http.get(base + "/s/x")
        self.assertEqual(response.code, 502)
        await self.content(response)
        self.assertEqual(self.recorded, [])


class SendInterimTests(SynchronousTestCase):
    def request(self, proto: bytes = b"HTTP/1.1") -> tuple[http.Request, StringTransport]:
        transport = StringTransport()
        channel = http.HTTPChannel()
        channel.makeConnection(transport)
        request = http.Request(channel)
        request.clientproto = proto
        return request, transport

    def test_written_before_the_final_head(self) -> None:
        request, transport = self.request()
        self.assertTrue(
            send_interim(cast(IRequest, request), 103, b"Early Hints", [(b"Link", b"</a>")])
        )
        self.assertEqual(transport.value(), b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")

    def test_not_for_http10_nor_after_the_head(self) -> None:
        request, transport = self.request(b"HTTP/1.0")
        self.assertFalse(send_interim(cast(IRequest, request), 103, b"", []))
        request, transport = self.request()
        request.write(b"x")
        transport.clear()
        self.assertFalse(send_interim(cast(IRequest, request), 103, b"", []))
        self.assertEqual(transport.value(), b"")
