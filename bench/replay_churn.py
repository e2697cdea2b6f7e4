"""Replay tables under churn: every request a head never seen before, RSS must stay flat.

    python bench/replay_churn.py [--requests 30000] [--rounds 2] [--proxy]

Starts ``netlab-web DIR -p PORT --quiet`` on a 1 KiB file, then sends ``--requests``
GETs on one keep-alive connection, each with a ``User-Agent`` of its own (so each head
is a new replay key and each answer is recorded as a plan), ``--rounds`` times, and
prints how many were answered 200 and the server's RSS before and after each round.
The tables are bounded (README, "Replays"): the RSS grows until they are full, then
stays. ``--proxy``: the same GETs to ``/p/1k.bin`` on a second ``netlab-web`` that
proxies ``/p`` to the first, so each answer is recorded as a relay plan (README,
"Relays"); the RSS printed is the proxy's. Ends the servers by their PIDs.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import VENV_BIN, Server, free_port, proc_status, temp_dir

NETLAB_WEB = str(VENV_BIN / "netlab-web")


def round_trip(port: int, count: int, salt: int, timeout: float, path: bytes) -> int:
    """``count`` GETs with distinct heads on one connection; how many got a 200."""
    ok = 0
    buffer = b""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for i in range(count):
            if time.monotonic() > deadline:
                break
            sock.sendall(
                b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"User-Agent: churn-%d-%d-%s\r\n\r\n" % (path, salt, i, b"x" * 200)
            )
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end >= 0:
                    head = buffer[:end]
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                    if len(buffer) >= end + 4 + length:
                        ok += head.startswith(b"HTTP/1.1 200 ")
                        buffer = buffer[end + 4 + length :]
                        break
                chunk = sock.recv(65536)
                if not chunk:
                    return ok
                buffer += chunk
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per round, at most")
    parser.add_argument("--proxy", action="store_true", help="churn a proxy's relay plans")
    args = parser.parse_args(argv)
    work = temp_dir("netlab-replay-churn-")
    try:
        root = work / "www"
        root.mkdir()
        (root / "1k.bin").write_bytes(b"x" * 1024)
        port = free_port()
        argv = [NETLAB_WEB, str(root), "-p", str(port), "--quiet"]
        path = b"/1k.bin"
        with contextlib.ExitStack() as stack:
            if args.proxy:
                stack.enter_context(Server("upstream", argv, port, work))
                upstream, port = port, free_port()
                argv = [NETLAB_WEB, str(root), "-p", str(port), "--quiet",
                        "--proxy", f"/p=http://127.0.0.1:{upstream}"]
                path = b"/p/1k.bin"
            server = stack.enter_context(Server("ours", argv, port, work))
            pid = server.pid
            print(f"RSS at start: {proc_status(pid)['VmRSS'] / 1024:.1f} MiB")
            for n in range(args.rounds):
                started = time.monotonic()
                ok = round_trip(port, args.requests, n, args.timeout, path)
                took = time.monotonic() - started
                status = proc_status(pid)
                print(
                    f"round {n + 1}: {ok:,}/{args.requests:,} answered 200 in {took:.1f} s; "
                    f"RSS {status['VmRSS'] / 1024:.1f} MiB (peak {status['VmHWM'] / 1024:.1f})"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
