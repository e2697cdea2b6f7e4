"""Replays seen by a real client: curl fetching one file three times on one connection.

Over plain TCP and over TLS (HTTP/1.1 forced; ALPN would pick HTTP/2, which replays do
not touch): every answer is the same but the Date, the file's bytes arrive whole each
time, and the second and third were replays (the static resource rendered once).
"""

from __future__ import annotations

from twisted.internet.utils import getProcessOutputAndValue
from twisted.protocols.policies import WrappingFactory

from tests.config_support import web_options
from tests.replay_support import RenderCount
from tests.tls_support import TLSServerCase, client_env, close_server, require
from twisted_netlab.web.site import build_site

BODY = b"replayed over a real socket\n" * 40


def answers(raw: bytes) -> list[bytes]:
    """curl ``--include`` output of several responses, split into responses."""
    parts = []
    rest = raw
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        parts.append(head + b"\r\n\r\n" + rest[: len(BODY)])
        rest = rest[len(BODY) :]
    return parts


async def fetch_three(case: TLSServerCase, url: str, *extra: str) -> list[bytes]:
    """curl fetching ``url`` three times on one HTTP/1.1 connection: the responses."""
    curl = require("curl")
    out, err, code = await getProcessOutputAndValue(
        curl,
        ["--silent", "--show-error", "--max-time", "20", "--include", "--http1.1",
         *extra, url, url, url],
        env=client_env(),
        reactor=case.reactor,
    )
    case.assertEqual((code, err), (0, b""))
    return answers(out)


class CurlReplayTests(TLSServerCase):

    def undated(self, response: bytes) -> bytes:
        head, _, body = response.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Date: ")]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def check(self, url: str, *extra: str) -> None:
        got = await fetch_three(self, url, *extra)
        self.assertEqual(len(got), 3)
        self.assertTrue(got[0].startswith(b"HTTP/1.1 200 OK\r\n"), got[0][:60])
        self.assertTrue(got[0].endswith(b"\r\n\r\n" + BODY))
        self.assertEqual({self.undated(g) for g in got}, {self.undated(got[0])})

    async def test_plain_tcp(self) -> None:
        (self.root / "f.txt").write_bytes(BODY)
        renders = RenderCount(self)
        site = build_site(web_options("--path", str(self.root)).web_config, self.reactor)
        wrapper = WrappingFactory(site)
        port = self.reactor.listenTCP(0, wrapper, interface="127.0.0.1")
        self.addCleanup(close_server, self.reactor, port, wrapper)
        await self.check(f"http://127.0.0.1:{port.getHost().port}/f.txt")
        self.assertEqual(renders.count, 1)

    async def test_tls(self) -> None:
        (self.root / "f.txt").write_bytes(BODY)
        renders = RenderCount(self)
        self.serve(["--tls"])
        await self.check(self.url("/f.txt"), "--cacert", self.cafile)
        self.assertEqual(renders.count, 1)
