"""Real download clients (curl, wget, aria2c) against the netlab-web site in-process.

The site runs in the test's reactor; each client runs as a child process through
``getProcessOutputAndValue`` so the reactor keeps serving while it downloads. Every
test skips with a reason when its client is not installed.

What the clients send (seen with curl 7.88, wget 1.21, aria2 1.36): ``curl -C -`` and
``wget -c`` resume with ``Range: bytes=N-`` and no validator, and aria2c splits a file
into ``Range`` requests; none of them sends ``If-Range``. So the changed-file test sends
``If-Range`` explicitly with curl (``-H``), and a second one uses curl's own time
condition (``-z -DATE``: ``If-Unmodified-Since``). On a 200 to a resume request curl
exits 33 and leaves the partial file as it was; that is the safe outcome we assert.
wget and aria2c cannot be protected against a file changed between two runs: they send
no validator, so any server answers 206 from the new bytes (and wget, given a 200 to a
resume, drops the first N bytes of the body and keeps its old prefix).
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.utils import getProcessOutputAndValue
from twisted.protocols.policies import WrappingFactory
from twisted.trial.unittest import TestCase

from tests.tls_support import client_env, close_server, require

CLIENT_TIMEOUT = 30  # seconds each client may take (its own option), under the test timeout


def payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RealClientTests(TestCase):
    timeout = 90

    def setUp(self) -> None:
        from twisted.internet import reactor

        from twisted_netlab.web.site import build_site
        from twisted_netlab.web.tap import Options

        self.reactor: Any = reactor
        self.root = Path(self.mktemp()).resolve()
        self.root.mkdir(parents=True)
        self.downloads = Path(self.mktemp()).resolve()
        self.downloads.mkdir(parents=True)
        options = Options()
        options.parseOptions(["--path", str(self.root)])
        site = build_site(options.web_config, reactor)
        # Every response the server sends, as (method, path, Range, status).
        self.served: list[tuple[bytes, bytes, bytes | None, int]] = []
        site.log = lambda request: self.served.append(  # type: ignore[method-assign]
            (request.method, request.path, request.getHeader(b"range"), request.code)
        )
        self.wrapper = WrappingFactory(site)
        listen: Any = self.reactor.listenTCP
        self.port: Any = listen(0, self.wrapper, interface="127.0.0.1")
        self.addCleanup(close_server, self.reactor, self.port, self.wrapper)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port.getHost().port}/{name}"

    def publish(self, name: str, data: bytes, mtime: float | None = None) -> Path:
        """Write ``data`` as a new file (atomic rename, as a deployment would)."""
        target = self.root / name
        tmp = self.root / f".{name}.tmp"
        tmp.write_bytes(data)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, target)
        return target

    async def run_client(self, argv: list[str]) -> tuple[str, str, int]:
        d: Deferred[tuple[bytes, bytes, int]] = getProcessOutputAndValue(
            argv[0], argv[1:], env=client_env(), path=str(self.downloads),
            reactor=self.reactor,
        )
        out, err, code = await d
        return out.decode(errors="replace"), err.decode(errors="replace"), code

    def statuses(self, name: str) -> list[tuple[bytes | None, int]]:
        """(Range, status) of each finished GET of ``name``; an aborted one never logs."""
        return [
            (rng, code)
            for method, path, rng, code in self.served
            if method == b"GET" and path == b"/" + name.encode()
        ]

    async def test_curl_resumes(self) -> None:
        curl = require("curl")
        data = payload(1, 4 * 1024 * 1024)
        self.publish("file.bin", data)
        out = self.downloads / "file.bin"
        out.write_bytes(data[: len(data) // 2])
        _stdout, stderr, code = await self.run_client(
            [curl, "-sS", "--noproxy", "*", "--max-time", str(CLIENT_TIMEOUT), "-C", "-",
             "-o", str(out), self.url("file.bin")]
        )
        self.assertEqual((code, stderr), (0, ""))
        self.assertEqual(self.statuses("file.bin"), [(b"bytes=%d-" % (len(data) // 2), 206)])
        self.assertEqual(sha256(out.read_bytes()), sha256(data))

    async def test_wget_resumes(self) -> None:
        wget = require("wget")
        data = payload(2, 4 * 1024 * 1024 + 123)
        self.publish("file.bin", data)
        out = self.downloads / "file.bin"
        out.write_bytes(data[: len(data) // 2])
        _stdout, stderr, code = await self.run_client(
            [wget, "-q", "--no-config", "-t", "1", "-T", str(CLIENT_TIMEOUT), "-c",
             "-O", str(out), self.url("file.bin")]
        )
        self.assertEqual((code, stderr), (0, ""))
        self.assertEqual(self.statuses("file.bin"), [(b"bytes=%d-" % (len(data) // 2), 206)])
        self.assertEqual(sha256(out.read_bytes()), sha256(data))

    async def test_aria2c_parallel_ranges(self) -> None:
        aria2c = require("aria2c")
        data = payload(3, 8 * 1024 * 1024)
        self.publish("file.bin", data)
        _stdout, stderr, code = await self.run_client(
            [aria2c, "-q", "--no-conf", "-x4", "-s4", "-k1M", "--max-tries=1",
             f"--timeout={CLIENT_TIMEOUT}", "--allow-overwrite=true",
             "--auto-file-renaming=false", "--disable-ipv6=true", "--all-proxy=",
             "-d", str(self.downloads), "-o", "got.bin", self.url("file.bin")]
        )
        self.assertEqual(code, 0, stderr)
        self.assertEqual(sha256((self.downloads / "got.bin").read_bytes()), sha256(data))
        partial = [rng for rng, status in self.statuses("file.bin") if status == 206]
        self.assertGreaterEqual(len(partial), 2, self.served)  # really in parallel ranges

    async def head(self, name: str) -> dict[str, str]:
        """Response headers of ``curl -I`` (lower-cased names)."""
        stdout, stderr, code = await self.run_client(
            [require("curl"), "-sS", "--noproxy", "*", "--max-time", str(CLIENT_TIMEOUT),
             "-I", self.url(name)]
        )
        self.assertEqual(code, 0, stderr)
        return {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in stdout.splitlines()[1:])
            if v
        }

    async def _changed_file(self, validator: str) -> tuple[bytes, str, Path]:
        """Version 1 published and half downloaded, then replaced by a same-size v2.

        Returns v1, v1's ``validator`` header and the partial download.
        """
        v1, v2 = payload(4, 2 * 1024 * 1024), payload(5, 2 * 1024 * 1024)
        self.publish("file.bin", v1, mtime=1_700_000_000)
        headers = await self.head("file.bin")
        self.assertIn(validator, headers)
        out = self.downloads / "file.bin"
        out.write_bytes(v1[: len(v1) // 2])
        self.publish("file.bin", v2, mtime=1_700_000_100)
        return v1, headers[validator], out

    async def test_if_range_after_change_never_corrupts(self) -> None:
        """curl resume with an explicit If-Range of v1's ETag after the file changed."""
        v1, etag, out = await self._changed_file("etag")
        stdout, stderr, code = await self.run_client(
            [require("curl"), "-sS", "--noproxy", "*", "--max-time", str(CLIENT_TIMEOUT),
             "-C", "-", "-H", f"If-Range: {etag}", "-w", "%{http_code}", "-o", str(out),
             self.url("file.bin")]
        )
        # The server answers the full new file with 200; curl refuses to append it to a
        # resume (exit 33, "server doesn't seem to support byte ranges") and keeps the
        # v1 prefix untouched: the next, plain download starts over. Never a v1/v2 mix.
        self.assertEqual((code, stdout), (33, "200"), stderr)
        # Logged only when the server finished writing before curl hung up on the 200.
        resume = (b"bytes=%d-" % (len(v1) // 2), 200)
        self.assertIn(self.statuses("file.bin"), ([], [resume]))
        self.assertEqual(out.read_bytes(), v1[: len(v1) // 2])

    async def test_if_range_unchanged_resumes(self) -> None:
        """The same If-Range while the file is unchanged resumes with 206."""
        curl = require("curl")
        data = payload(6, 2 * 1024 * 1024)
        self.publish("file.bin", data, mtime=1_700_000_000)
        headers = await self.head("file.bin")
        self.assertIn("etag", headers)
        etag = headers["etag"]
        out = self.downloads / "file.bin"
        out.write_bytes(data[: len(data) // 3])
        _stdout, stderr, code = await self.run_client(
            [curl, "-sS", "--noproxy", "*", "--max-time", str(CLIENT_TIMEOUT),
             "-C", "-", "-H", f"If-Range: {etag}", "-o", str(out), self.url("file.bin")]
        )
        self.assertEqual((code, stderr), (0, ""))
        self.assertEqual(self.statuses("file.bin")[-1], (b"bytes=%d-" % (len(data) // 3), 206))
        self.assertEqual(sha256(out.read_bytes()), sha256(data))

    async def test_time_condition_after_change_never_corrupts(self) -> None:
        """curl's own validator: ``-z -DATE`` sends If-Unmodified-Since; a change -> 412."""
        v1, last_modified, out = await self._changed_file("last-modified")
        _stdout, stderr, code = await self.run_client(
            [require("curl"), "-sS", "-f", "--noproxy", "*", "--max-time", str(CLIENT_TIMEOUT),
             "-C", "-", "-z", f"-{last_modified}", "-o", str(out), self.url("file.bin")]
        )
        self.assertEqual(code, 22, stderr)  # -f: HTTP error, nothing written
        self.assertEqual(self.statuses("file.bin")[-1], (b"bytes=%d-" % (len(v1) // 2), 412))
        self.assertEqual(out.read_bytes(), v1[: len(v1) // 2])
