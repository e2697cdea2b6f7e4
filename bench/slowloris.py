"""Slowloris and soak: does a hostile crowd keep real clients out?

    python bench/slowloris.py [--quick] [--drips 1000] [--duration 60] [--servers ours,nginx]
    python bench/slowloris.py --soak [--duration 60] [--connections 256]
                              [--soak-targets static,proxy,echo] [--servers ours,nginx]

Slowloris: ``--drips`` connections each send a request line and then one header line
every ``--interval`` seconds, never ending the head. Meanwhile a well-behaved client
opens a fresh connection once a second and fetches a small file. Printed per server:
how many drip connections the server closed and when (seconds after their first byte),
and the polite client's success rate and p99 latency. Every server runs at its default
limits (ours: ``--header-timeout 20``; nginx: ``client_header_timeout 60s``); the same
run against nginx gives the anchor.

With ``--server-fds N`` each server runs under ``ulimit -n N``: with more drips than
that, ours evicts the oldest drip for each polite client (its connection cap is derived
from the fd limit) where a server without a cap runs out of descriptors.

Soak (``--soak [SECONDS]``, else ``--duration``): ``--connections`` clients for that
long against each target; printed per target: responses, errors, and the server's RSS
and open fds at start, middle and end.
- ``static``: keep-alive clients fetch a 64 KiB file in a loop (each of ``--servers``).
- ``proxy``: the same through a netlab-web ``--proxy`` mount in front of a second
  netlab-web (the proxy's RSS and fds: its upstream pool shows in the fds).
- ``echo``: netlab-tcp; each client sends a 4,000-byte frame and reads its echo, in a
  loop on one connection.

``--quick`` (25 s, 100 drips) checks the harness; it is no figure. The client side
raises its own fd limit to the hard limit; the server inherits it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    TWISTD,
    BenchError,
    Server,
    free_port,
    have,
    nginx_argv,
    nginx_conf,
    proc_status,
)

SMALL = b"ok\n" * 100
MEDIUM_SIZE = 64 << 10


def server_argv(name: str, port: int, root: Path, work: Path) -> list[str] | None:
    if name == "ours":
        return [TWISTD, "-n", "--pidfile=", "netlab-web", "--port",
                f"tcp:{port}:interface=127.0.0.1", "--path", str(root)]
    if name == "nginx":
        if not have("nginx"):
            return None
        tmp = work / f"nginx-{port}"
        tmp.mkdir(exist_ok=True)
        conf = nginx_conf(tmp, f"""
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}""")
        return nginx_argv(tmp, conf)
    raise ValueError(name)


@dataclass
class DripResult:
    closed_at: list[float] = field(default_factory=list)  # seconds after first byte
    answered: dict[str, int] = field(default_factory=dict)  # status line -> count
    open_at_end: int = 0
    failed_to_connect: int = 0


@dataclass
class PoliteResult:
    latencies: list[float] = field(default_factory=list)
    worst: tuple[float, float] = (0.0, 0.0)  # (latency, seconds into the run)
    failures: int = 0


async def drip(port: int, interval: float, stop_at: float, result: DripResult) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except (TimeoutError, OSError):
        result.failed_to_connect += 1
        return
    start = time.monotonic()
    writer.write(b"GET / HTTP/1.1\r\nHost: drip\r\n")
    n = 0
    try:
        while time.monotonic() < stop_at:
            try:
                data = await asyncio.wait_for(reader.read(4096), interval)
            except TimeoutError:
                n += 1
                writer.write(b"X-Drip-%d: x\r\n" % n)
                continue
            if data:
                line = data.split(b"\r\n", 1)[0].decode("latin-1")
                result.answered[line] = result.answered.get(line, 0) + 1
                while await reader.read(4096):
                    pass
            result.closed_at.append(time.monotonic() - start)
            return
        result.open_at_end += 1
    except OSError:
        result.closed_at.append(time.monotonic() - start)
    finally:
        writer.close()


async def polite(port: int, stop_at: float, result: PoliteResult) -> None:
    began = time.monotonic()
    request = b"GET /small.txt HTTP/1.1\r\nHost: polite\r\nConnection: close\r\n\r\n"
    while time.monotonic() < stop_at:
        tick = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            writer.write(request)
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            if data.startswith(b"HTTP/1.1 200") and data.endswith(SMALL):
                latency = time.monotonic() - tick
                result.latencies.append(latency)
                result.worst = max(result.worst, (latency, tick - began))
            else:
                result.failures += 1
        except (TimeoutError, OSError):
            result.failures += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


async def slowloris(
    port: int, drips: int, duration: float, interval: float
) -> tuple[DripResult, PoliteResult]:
    stop_at = time.monotonic() + duration
    drip_result, polite_result = DripResult(), PoliteResult()
    tasks = []
    for i in range(drips):
        tasks.append(asyncio.ensure_future(drip(port, interval, stop_at, drip_result)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # a burst, not a SYN flood
    tasks.append(asyncio.ensure_future(polite(port, stop_at, polite_result)))
    await asyncio.gather(*tasks)
    return drip_result, polite_result


def p99(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def report(name: str, drips: int, d: DripResult, p: PoliteResult) -> dict[str, float]:
    closed = sorted(d.closed_at)
    when = (f"first {closed[0]:.1f} s, median {statistics.median(closed):.1f} s, "
            f"last {closed[-1]:.1f} s") if closed else "none"
    total = len(p.latencies) + p.failures
    rate = 100.0 * len(p.latencies) / total if total else 0.0
    tail = p99(p.latencies)
    print(f"{name}: drip connections closed by the server: {len(closed)}/{drips} ({when}); "
          f"still open at the end: {d.open_at_end}; could not connect: {d.failed_to_connect}")
    print(f"{name}:   answers to drips: {d.answered or 'none'}")
    print(f"{name}: polite client: {len(p.latencies)}/{total} ok ({rate:.1f} %), "
          f"p99 {'-' if tail is None else f'{tail * 1000:.1f} ms'}, worst "
          f"{p.worst[0] * 1000:.1f} ms at {p.worst[1]:.0f} s into the run")
    return {"closed": len(closed), "rate": rate, "p99": tail or 0.0}


class SoakCounts:
    def __init__(self) -> None:
        self.done = 0
        self.errors = 0


async def http_session(port: int, path: str, size: int, stop_at: float, n: SoakCounts) -> None:
    """One keep-alive client: GET ``path`` (``size`` bytes) until ``stop_at``."""
    request = f"GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode()
    reader = writer = None
    while time.monotonic() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            if not head.startswith(b"HTTP/1.1 200"):
                n.errors += 1
            await asyncio.wait_for(reader.readexactly(size), 10)
            n.done += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            n.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


ECHO_BODY = os.urandom(4000)


async def echo_session(port: int, stop_at: float, n: SoakCounts) -> None:
    """One echo client: a 4,000-byte seed frame, its echo, again, until ``stop_at``."""
    serial = 0
    reader = writer = None
    while time.monotonic() < stop_at:
        serial = serial % 65535 + 1
        frame = struct.pack(">HH", serial, len(ECHO_BODY)) + ECHO_BODY
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(frame)
            echoed = await asyncio.wait_for(reader.readexactly(len(frame)), 10)
            if echoed != frame:
                n.errors += 1
            n.done += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            n.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


SessionFactory = Callable[[float, SoakCounts], Awaitable[None]]


async def soak(name: str, pid: int, connections: int, duration: float,
               session: SessionFactory) -> None:
    counts = SoakCounts()
    stop_at = time.monotonic() + duration

    def sample(label: str) -> None:
        status = proc_status(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd")) if os.path.isdir(f"/proc/{pid}/fd") else -1
        print(f"{name} soak {label}: responses {counts.done}, errors {counts.errors}, "
              f"RSS {status.get('VmRSS', 0) // 1024} MiB, fds {fds}", flush=True)

    sample("start")
    tasks = [asyncio.ensure_future(session(stop_at, counts)) for _ in range(connections)]
    await asyncio.sleep(duration / 2)
    sample("middle")
    await asyncio.gather(*tasks)
    sample("end")


def run_soaks(args: argparse.Namespace, root: Path, work: Path) -> None:
    seconds = args.soak if args.soak > 0 else args.duration
    targets = [t for t in args.soak_targets.split(",") if t]
    for target in targets:
        if target == "static":
            for name in args.servers.split(","):
                port = free_port()
                cmd = server_argv(name, port, root, work)
                if cmd is None:
                    print(f"{name}: not installed, skipped")
                    continue
                with Server(f"{name}-static", cmd, port, work) as server:
                    asyncio.run(soak(f"{name} static", server.pid, args.connections, seconds,
                                     partial(http_session, port, "/64k.bin", MEDIUM_SIZE)))
        elif target == "proxy":
            origin, front = free_port(), free_port()
            upstream = server_argv("ours", origin, root, work)
            assert upstream is not None
            proxy = [TWISTD, "-n", "--pidfile=", "netlab-web", "--port",
                     f"tcp:{front}:interface=127.0.0.1", "--path", str(root),
                     "--proxy", f"/up/=http://127.0.0.1:{origin}/"]
            with Server("origin", upstream, origin, work), \
                    Server("proxy", proxy, front, work) as server:
                asyncio.run(soak("ours proxy", server.pid, args.connections, seconds,
                                 partial(http_session, front, "/up/64k.bin", MEDIUM_SIZE)))
        elif target == "echo":
            port = free_port()
            echo = [TWISTD, "-n", "--pidfile=", "netlab-tcp", "--port",
                    f"tcp:{port}:interface=127.0.0.1"]
            with Server("echo", echo, port, work) as server:
                asyncio.run(soak("ours echo", server.pid, args.connections, seconds,
                                 partial(echo_session, port)))
        else:
            raise SystemExit(f"unknown soak target {target!r}: static, proxy, echo")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--drips", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--servers", default="ours,nginx")
    parser.add_argument("--soak", type=float, nargs="?", const=-1.0, default=0.0,
                        help="soak instead (for N seconds; without N: --duration)")
    parser.add_argument("--soak-targets", default="static,proxy,echo")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--server-fds", type=int, default=0,
                        help="run each server under this fd limit (the fd-exhaustion case, "
                        "e.g. 4096 with --drips 5000)")
    args = parser.parse_args(argv)
    if args.quick:
        # Long enough to see our 20 s head deadline act (nginx: 60 s, so not in --quick).
        args.drips, args.duration = min(args.drips, 100), min(args.duration, 25.0)
        args.soak = min(args.soak if args.soak > 0 else args.duration, 4.0) if args.soak else 0.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"fd limit: {hard} (was {soft}); machine load {os.getloadavg()[0]:.2f}; "
          "figures need a quiet machine")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="netlab-slowloris-") as tmp:
        work = Path(tmp)
        root = work / "www"
        root.mkdir()
        (root / "small.txt").write_bytes(SMALL)
        (root / "64k.bin").write_bytes(os.urandom(MEDIUM_SIZE))
        if args.soak:
            try:
                run_soaks(args, root, work)
            except BenchError as exc:
                print(f"soak: INVALID: {exc}")
                return 1
            return 0
        for name in args.servers.split(","):
            port = free_port()
            cmd = server_argv(name, port, root, work)
            if cmd is None:
                print(f"{name}: not installed, skipped")
                continue
            if args.server_fds:
                if not have("prlimit"):
                    print("--server-fds needs prlimit (util-linux)")
                    return 2
                cmd = ["prlimit", f"--nofile={args.server_fds}:{args.server_fds}", *cmd]
            try:
                with Server(name, cmd, port, work):
                    d, p = asyncio.run(slowloris(port, args.drips, args.duration, args.interval))
                    results[name] = report(name, args.drips, d, p)
            except BenchError as exc:
                print(f"{name}: INVALID: {exc}")
    if "ours" in results and "nginx" in results:
        ours, nginx = results["ours"], results["nginx"]
        ratio = f"{ours['p99'] / nginx['p99']:.2f}" if nginx["p99"] else "-"
        print(f"ours/nginx: drips closed {ours['closed']:.0f}/{nginx['closed']:.0f}, "
              f"polite success {ours['rate']:.1f} %/{nginx['rate']:.1f} %, p99 ratio {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
