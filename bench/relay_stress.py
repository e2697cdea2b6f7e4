"""Relays under hostile clients: every answer must be right, the proxy must stay up.

    python bench/relay_stress.py [--seconds 20] [--clients 32]

Starts ``netlab-web --quiet`` on a small and a large file (the upstream) and a second
``netlab-web --quiet --proxy /p=...`` in front of it, then runs ``--clients`` asyncio
clients for ``--seconds``, each picking at random, over and over:

- ``repeat``: the same GET three times on one connection (the 2nd and 3rd relayed);
- ``pipelined``: two GETs in one write (never relayed: not one head);
- ``overlap``: a GET, then a second one 0-2 ms later, before the first is answered (a
  relay in flight falls back to the full path, which orders both);
- ``abort``: a GET, then the connection closed before the answer (the relay cancels
  its upstream request);
- ``large``: a GET of the 256 KiB file (never whole in one read: the full path);
- ``head``: a HEAD (never relayed).

Each answer's status and body are checked against the files. Printed: how many of each
ran, how many answers were wrong (must be 0), the proxy's request and relay counters
(its ``/metrics``), and its RSS before and after.
Ends both servers by their PIDs. Loopback only; bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import VENV_BIN, Server, free_port, proc_status, temp_dir

NETLAB_WEB = str(VENV_BIN / "netlab-web")
SMALL = b"relayed answer\n" * 60
LARGE = bytes(range(256)) * 1024


class Wrong(Exception):
    pass


async def read_answer(reader: asyncio.StreamReader, head_only: bool = False) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        if name.lower() == b"transfer-encoding":
            raise Wrong(f"unexpected framing {line!r}")
    body = b"" if head_only else await reader.readexactly(length)
    return status, body


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: stress\r\n\r\n".encode()


def check(answer: tuple[int, bytes], body: bytes) -> None:
    status, got = answer
    if status != 200 or got != body:
        raise Wrong(f"status {status}, {len(got)} bytes")


async def one(port: int, kind: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if kind == "repeat":
            for _ in range(3):
                writer.write(get("/p/small.txt"))
                check(await read_answer(reader), SMALL)
        elif kind == "pipelined":
            writer.write(get("/p/small.txt") + get("/p/small.txt"))
            check(await read_answer(reader), SMALL)
            check(await read_answer(reader), SMALL)
        elif kind == "overlap":
            writer.write(get("/p/small.txt"))
            await asyncio.sleep(random.random() * 0.002)
            writer.write(get("/p/small.txt"))
            check(await read_answer(reader), SMALL)
            check(await read_answer(reader), SMALL)
        elif kind == "abort":
            writer.write(get("/p/small.txt"))
            await asyncio.sleep(random.random() * 0.001)
        elif kind == "large":
            writer.write(get("/p/large.bin"))
            check(await read_answer(reader), LARGE)
        elif kind == "head":
            writer.write(get("/p/small.txt", "HEAD"))
            status, _ = await read_answer(reader, head_only=True)
            if status != 200:
                raise Wrong(f"HEAD status {status}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def client(port: int, until: float, counts: Counter[str], wrong: list[str]) -> None:
    kinds = ["repeat", "repeat", "pipelined", "overlap", "abort", "large", "head"]
    while time.monotonic() < until:
        kind = random.choice(kinds)
        try:
            await asyncio.wait_for(one(port, kind), 10)
            counts[kind] += 1
        except (Wrong, asyncio.IncompleteReadError, TimeoutError, OSError) as exc:
            wrong.append(f"{kind}: {type(exc).__name__}: {exc}")


async def run(port: int, seconds: float, clients: int) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(client(port, until, counts, wrong) for _ in range(clients)))
    return counts, wrong


def relay_counts(port: int) -> str:
    """The proxy's request and relay counters, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    wanted = ("netlab_http_requests_total{", "netlab_http_replays_total{")
    lines = [line for line in text.splitlines() if line.startswith(wanted)]
    return "metrics: " + "; ".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(argv)
    work = temp_dir("netlab-relay-stress-")
    try:
        root = work / "www"
        root.mkdir()
        (root / "small.txt").write_bytes(SMALL)
        (root / "large.bin").write_bytes(LARGE)
        upstream, port, metrics = free_port(), free_port(), free_port()
        with contextlib.ExitStack() as stack:
            stack.enter_context(Server(
                "upstream", [NETLAB_WEB, str(root), "-p", str(upstream), "--quiet"],
                upstream, work))
            server = stack.enter_context(Server(
                "proxy", [NETLAB_WEB, str(root), "-p", str(port), "--quiet",
                          "--proxy", f"/p=http://127.0.0.1:{upstream}",
                          "--metrics", f"tcp:{metrics}:interface=127.0.0.1"], port, work))
            before = proc_status(server.pid)["VmRSS"] / 1024
            counts, wrong = asyncio.run(run(port, args.seconds, args.clients))
            after = proc_status(server.pid)
            print("ran: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
            print(f"wrong answers: {len(wrong)}")
            for line in wrong[:10]:
                print("  " + line)
            print(relay_counts(metrics))
            print(f"proxy RSS {before:.1f} MiB before, {after['VmRSS'] / 1024:.1f} after "
                  f"(peak {after['VmHWM'] / 1024:.1f})")
            # The proxy still answers.
            alive = asyncio.run(run(port, 0.5, 1))
            print(f"after the run: {sum(alive[0].values())} more rounds, "
                  f"{len(alive[1])} wrong")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
