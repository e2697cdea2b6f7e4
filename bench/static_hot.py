"""In-memory per-request cost of static answers, no sockets: us/request, best of 5.

    python bench/static_hot.py [KIND ...] [--full] [--log] [N]
    python bench/static_hot.py --icount KIND [--full]     # valgrind instruction count

The site ``twistd netlab-web --path DIR`` builds (``--no-replay`` with ``--full``), one
keep-alive client on a ``StringTransport`` sending the same head again and again, as
wrk does. Kinds: ``1k`` (a 1 KiB file), ``304-inm`` (If-None-Match: its ETag),
``304-ims`` (If-Modified-Since: its Last-Modified), ``range`` (``bytes=0-1023`` of a
64 KiB file), ``64k`` (the 64 KiB file), ``floor`` (a quiet twisted.web ``Site`` whose
resource returns 1 KiB of constant bytes). Without ``--full`` every request after the
first is a replay (README, "Replays"); with it, each takes twisted.web's full path.
``--log``: the short commands' request log on, written to /dev/null.

Timed in this thread's CPU time (``time.thread_time``): a shared machine adds less
noise, but compare runs made in the same minute; ``--icount`` runs 1000 and 3000
requests under ``valgrind --tool=cachegrind`` and prints instructions per request.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess import floor_site, icount

KINDS = ("1k", "304-inm", "304-ims", "range", "64k", "floor")


def _site(kind: str, root: str, full: bool, log: bool) -> Any:
    if kind == "floor":
        return floor_site()
    from twisted_netlab.web.options import WebOptions
    from twisted_netlab.web.requestlog import RequestLog
    from twisted_netlab.web.site import build_site

    class Options(WebOptions):
        def postOptions(self) -> None:
            self.post_options_web()

    options = Options()
    options.parseOptions(["--path", root, *(["--no-replay"] if full else [])])
    site = build_site(options.web_config, reactor)
    if log:
        site.request_log = RequestLog(open(os.devnull, "w"), reactor)  # noqa: SIM115
    return site


def _request(kind: str, first: bytes) -> bytes:
    path = b"/64k.bin" if kind in ("64k", "range") else b"/1k.bin"
    head = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    fields = first.split(b"\r\n\r\n")[0]
    if kind == "304-inm":
        etag = re.search(rb"(?im)^etag: (.*)$", fields)
        assert etag is not None
        head += b"If-None-Match: " + etag.group(1).strip() + b"\r\n"
    elif kind == "304-ims":
        modified = re.search(rb"(?im)^last-modified: (.*)$", fields)
        assert modified is not None
        head += b"If-Modified-Since: " + modified.group(1).strip() + b"\r\n"
    elif kind == "range":
        head += b"Range: bytes=0-1023\r\n"
    return head + b"\r\n"


def measure(kind: str, n: int, full: bool, log: bool, once: bool) -> str:
    root = tempfile.mkdtemp(prefix="netlab-static-hot-")
    for name, size in (("1k.bin", 1024), ("64k.bin", 64 * 1024)):
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(b"x" * size)
        os.utime(os.path.join(root, name), (1_700_000_000, 1_700_000_000))
    site = _site(kind, root, full, log)
    addr = IPv4Address("TCP", "127.0.0.1", 5555)
    proto = site.buildProtocol(addr)
    transport = StringTransport(peerAddress=addr)
    proto.makeConnection(transport)
    plain = b"GET /" + (b"64k.bin" if kind in ("64k", "range") else b"1k.bin")
    proto.dataReceived(plain + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
    first = transport.value()
    transport.clear()
    request = _request(kind, first) if kind != "floor" else b"GET /1k HTTP/1.1\r\nHost: x\r\n\r\n"
    proto.dataReceived(request)
    reference = transport.value()
    transport.clear()
    status = reference.split(b" ", 2)[1].decode()

    def run(count: int) -> None:
        for _ in range(count):
            proto.dataReceived(request)
            transport.clear()

    run(2000)
    proto.dataReceived(request)  # still the same answer (but the Date)
    assert len(transport.value()) == len(reference), (kind, transport.value()[:200])
    transport.clear()
    if once:
        run(n)
        return ""
    best = 1e9
    for _ in range(5):
        started = time.thread_time()
        run(n)
        best = min(best, (time.thread_time() - started) / n)
    return f"{kind}: {best * 1e6:.2f} us/request  status {status}  {len(reference)} bytes"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    flags = [a for a in sys.argv[1:] if a in ("--full", "--log")]
    numbers = [a for a in args if a.isdigit()]
    kinds = [a for a in args if not a.isdigit()] or list(KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"static_hot: unknown kind {unknown[0]!r}; kinds: {', '.join(KINDS)}")
    if "--icount" in sys.argv:
        for kind in kinds:
            count = icount(__file__, kind, flags)
            print(f"{kind}: {count / 1000:.1f} k instructions/request")
        return
    n = int(numbers[0]) if numbers else 20000
    for kind in kinds:
        line = measure(kind, n, "--full" in flags, "--log" in flags, "--once" in sys.argv)
        if line:
            print(line)


if __name__ == "__main__":
    main()
