"""What the hardened HTTP/1.1 channel costs per request, in process.

    python bench/channel_bench.py [--duration 20] [--batch 2000]

No sockets, no wrk: one keep-alive connection on a ``StringTransport``, each request
fed whole to ``dataReceived`` (the usual case: a request head arrives in one read),
the same leaf resource (1 KiB of constant bytes) behind:

``plain``
    twisted.web's ``Site`` with a no-op log: the floor.
``limited``
    ``LimitedSite`` at ``LimitsConfig()`` defaults (deadlines, head limits, eviction
    index, drain): what ``netlab-web`` serves HTTP/1.1 through.

each with a short head (request line and ``Host``) and a browser-like one (13 header
lines). Batches of each case alternate until ``--duration`` has passed, and the best
batch of each is kept: on a machine shared with other work this is steadier than one
long run. The figure to read is the difference ``limited - plain`` (target: at most
about 2 us); absolute numbers move with the machine. For exact figures count
instructions instead: ``valgrind --tool=cachegrind`` over this script with two
``--batch`` sizes (the README's Performance section).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.web.server import Site

from twisted_netlab.web.connections import LimitedSite, body_rule_for
from twisted_netlab.web.limits import LimitsConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess import Floor, floor_site

SHORT = b"GET /1k HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
BROWSER = (
    b"GET /1k HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\n"
    b"Priority: u=0, i\r\n\r\n"
)


def make_site(kind: str) -> Site:
    if kind == "plain":
        return floor_site()
    limits = LimitsConfig()
    return LimitedSite(Floor(), limits, body_rule_for([], [], limits), reactor=Clock())


def runner(kind: str, request: bytes) -> Callable[[int], float]:
    """A function running ``n`` requests on one connection, returning s/request."""
    site = make_site(kind)
    address = IPv4Address("TCP", "127.0.0.1", 5555)
    protocol = site.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    protocol.makeConnection(transport)
    protocol.dataReceived(request)
    if not transport.value().startswith(b"HTTP/1.1 200 OK\r\n"):
        raise SystemExit(f"{kind}: unexpected answer {transport.value()[:80]!r}")
    transport.clear()

    def run(n: int) -> float:
        receive, clear = protocol.dataReceived, transport.clear
        start = time.perf_counter()
        for _ in range(n):
            receive(request)
            clear()
        return (time.perf_counter() - start) / n

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds in all")
    parser.add_argument("--batch", type=int, default=2000, help="requests per batch")
    args = parser.parse_args(argv)
    cases = {
        (kind, head): runner(kind, request)
        for head, request in (("short", SHORT), ("browser", BROWSER))
        for kind in ("plain", "limited")
    }
    best = dict.fromkeys(cases, float("inf"))
    for run in cases.values():
        run(args.batch)  # warm up
    deadline = time.monotonic() + args.duration
    batches = 0
    while time.monotonic() < deadline:
        for case, run in cases.items():
            best[case] = min(best[case], run(args.batch))
        batches += 1
    print(f"best of {batches} batches of {args.batch} requests, us/request")
    for head in ("short", "browser"):
        plain, limited = best[("plain", head)] * 1e6, best[("limited", head)] * 1e6
        print(f"{head:8} plain {plain:6.2f}  limited {limited:6.2f}  "
              f"limited - plain {limited - plain:+5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
