# mypy: disallow-untyped-calls=False
"""curl, a real client, reads our early refusals instead of a connection reset."""

from __future__ import annotations

import os
import shutil

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, TestCase

from tests.limits_support import Hello, LimitsHarness


class CurlRefusalTests(TestCase):
    def setUp(self) -> None:
        curl = shutil.which("curl")
        if curl is None:
            raise SkipTest("curl is not installed")
        self.curl = curl
        self.body = os.path.abspath(self.mktemp())
        with open(self.body, "wb") as f:
            f.write(b"b" * (16 << 20))

    async def post(self, url: str, *extra: str) -> bytes:
        out, err, code = await getProcessOutputAndValue(
            self.curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                        *extra, "--data-binary", "@" + self.body, url],
            env=dict(os.environ), reactor=reactor)
        self.assertEqual(code, 0, err)
        status: bytes = out
        return status

    async def test_body_sent_without_expect_still_gets_the_answer(self) -> None:
        h = LimitsHarness(self, Hello())
        base = f"http://127.0.0.1:{h.port_number}"
        self.assertEqual(await self.post(base + "/file.txt", "-H", "Expect:"), b"405")
        # 16 MiB > 10 MiB, mid-stream
        self.assertEqual(await self.post(base + "/_netlab/x", "-H", "Expect:",
                                         "-H", "Transfer-Encoding: chunked"), b"413")

    async def test_expect_100_continue_gets_413_before_any_body_byte(self) -> None:
        from twisted_netlab.web.limits import LimitsConfig

        h = LimitsHarness(self, Hello(), LimitsConfig(max_connections=10, max_body=1 << 20))
        base = f"http://127.0.0.1:{h.port_number}"
        self.assertEqual(await self.post(base + "/_netlab/x"), b"413")
        self.assertLess(h.site.received, 4096)  # the head only: no body byte was read
