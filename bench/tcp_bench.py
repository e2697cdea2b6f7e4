"""Framed TCP benchmarks: ``python bench/tcp_bench.py`` (``--quick`` for a smoke run).

1. Decode, in this process: 64-byte frames fed as one buffer (frames/s) and 1 MiB
   frames arriving in 64 KiB chunks (MB/s), our ``Decoder`` vs Twisted's
   ``Int32StringReceiver`` on the same 4-byte-length wire (``len32``).  Both sides only
   count the frames they produce.
2. Echo, across processes: 32 connections each keeping 100 frames of 64 bytes
   outstanding, for 10 s, against each server in its own process: ours (``len32``),
   an ``Int32StringReceiver`` echo, an asyncio ``Protocol`` echo with the same framing,
   and an unframed Twisted echo (bytes straight back: the ceiling).  One load-client
   process drives them all.  With ``taskset`` the server runs on CPU 0, the client on 1.
3. Drip memory, across processes: N connections each dripping one large ``len32`` frame
   one byte per send (the slowloris shape), bounded in time (below the echo's 30 s frame
   deadline); prints the server's RSS growth per pending byte, ours vs the asyncio echo
   (whose ``bytearray`` buffer is the anchor).  Before the one-buffer decoder this cost
   79 bytes of RSS per pending byte.

Internal roles (spawned by the bench itself): ``--serve KIND`` and ``--load PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
FRAME_BODY = 60
FRAME = struct.pack(">I", FRAME_BODY) + bytes(range(FRAME_BODY))  # 64 bytes on the wire
SERVERS = ("ours", "int32", "asyncio", "raw")


# -- 1. decode -------------------------------------------------------------------


def _best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return best, count


def bench_decode(quick: bool) -> dict[str, float]:
    from twisted.internet.testing import StringTransport
    from twisted.protocols.basic import Int32StringReceiver

    from twisted_netlab.framing import Decoder

    class Counting(Int32StringReceiver):
        MAX_LENGTH = 16 << 20
        count = 0

        def stringReceived(self, string: bytes) -> None:
            self.count += 1

    def theirs(chunks: list[bytes]) -> int:
        proto = Counting()
        proto.makeConnection(StringTransport())  # type: ignore[no-untyped-call]
        for chunk in chunks:
            proto.dataReceived(chunk)  # type: ignore[no-untyped-call]
        return proto.count

    def ours(chunks: list[bytes]) -> int:
        decoder = Decoder("len32", max_frame=16 << 20)
        n = 0
        for chunk in chunks:
            n += len(decoder.feed(chunk))
        return n

    small_n = 50_000 if quick else 200_000
    small = [FRAME * small_n]
    repeat = 3 if quick else 5

    def chunked(frame_size: int, count: int) -> tuple[list[bytes], int]:
        stream = (struct.pack(">I", frame_size) + b"b" * frame_size) * count
        return [stream[i : i + 65536] for i in range(0, len(stream), 65536)], len(stream)

    out: dict[str, float] = {}
    t_ours, n_ours = _best(partial(ours, small), repeat)
    t_theirs, n_theirs = _best(partial(theirs, small), repeat)
    assert n_ours == n_theirs == small_n, (n_ours, n_theirs)
    out["small_ours"] = small_n / t_ours
    out["small_theirs"] = small_n / t_theirs
    # 1 MiB (the target) and 8 MiB frames (to show the quadratic growth), 64 KiB chunks.
    for key, frame_size, count in (("big", 1 << 20, 4 if quick else 16), ("huge", 8 << 20, 2)):
        chunks, nbytes = chunked(frame_size, count)
        t_ours, n_ours = _best(partial(ours, chunks), repeat)
        t_theirs, n_theirs = _best(partial(theirs, chunks), 1 if key == "huge" else repeat)
        assert n_ours == n_theirs == count, (key, n_ours, n_theirs)
        out[f"{key}_ours"] = nbytes / t_ours / 1e6
        out[f"{key}_theirs"] = nbytes / t_theirs / 1e6
    return out


# -- 2. echo servers (each runs in its own process) ------------------------------------


def serve(kind: str) -> None:
    if kind == "asyncio":
        _serve_asyncio()
        return
    from twisted.internet import reactor
    from twisted.internet.protocol import Protocol, ServerFactory
    from twisted.protocols.basic import Int32StringReceiver

    if kind == "ours":
        from twisted_netlab.tcp.config import EchoConfig
        from twisted_netlab.tcp.factory import EchoFactory

        factory: ServerFactory[Any] = EchoFactory(
            reactor, EchoConfig(framing="len32", max_frame=1 << 20)
        )
    elif kind == "int32":

        class Int32Echo(Int32StringReceiver):
            def stringReceived(self, string: bytes) -> None:
                self.sendString(string)  # type: ignore[no-untyped-call]

        factory = ServerFactory()
        factory.protocol = Int32Echo
    elif kind == "raw":

        class RawEcho(Protocol):
            def dataReceived(self, data: bytes) -> None:
                assert self.transport is not None
                self.transport.write(data)

        factory = ServerFactory()
        factory.protocol = RawEcho
    else:
        raise SystemExit(f"unknown server {kind!r}")
    factory.noisy = False
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    print(port.getHost().port, flush=True)  # type: ignore[attr-defined]
    reactor.run()


def _serve_asyncio() -> None:
    import asyncio

    unpack_from = struct.Struct(">I").unpack_from

    class Echo(asyncio.Protocol):
        """A careful asyncio echo: one buffer, a parse loop, one write per read."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buf = bytearray()

        def data_received(self, data: bytes) -> None:
            buf = self.buf
            buf += data
            n = len(buf)
            off = 0
            replies = []
            while n - off >= 4:
                (length,) = unpack_from(buf, off)
                end = off + 4 + length
                if end > n:
                    break
                body = buf[off + 4 : end]
                replies.append(struct.pack(">I", length) + body)
                off = end
            del buf[:off]
            if replies:
                self.transport.write(b"".join(replies))  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


# -- 2. the load client (one process for every server) ---------------------------------


def load(port: int, conns: int, depth: int, seconds: float) -> None:
    """Keep ``depth`` frames outstanding per connection; print frames/s as JSON."""
    size = len(FRAME)
    sel = selectors.DefaultSelector()
    state: dict[int, list[Any]] = {}
    socks = []
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
        # [socket, carry bytes, pending output, first reply bytes, write interest]
        state[s.fileno()] = [s, 0, FRAME * depth, b"", True]
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    received = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        for key, events in sel.select(deadline - now):
            st = state[key.fd]
            s = st[0]
            if events & selectors.EVENT_READ:
                data = s.recv(262144)
                if not data:
                    raise SystemExit("server closed a connection")
                if len(st[3]) < size:
                    st[3] += data[: size - len(st[3])]
                    if not FRAME.startswith(st[3]):
                        raise SystemExit(f"bad echo: {st[3]!r}")
                total = st[1] + len(data)
                done, st[1] = divmod(total, size)
                received += done
                if done:
                    st[2] += FRAME * done
            if st[2]:
                try:
                    sent = s.send(st[2])
                except BlockingIOError:
                    sent = 0
                st[2] = st[2][sent:]
            want = bool(st[2])
            if want != st[4]:
                st[4] = want
                sel.modify(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0))
    elapsed = time.perf_counter() - start
    for s in socks:
        s.close()
    print(json.dumps({"frames": received, "seconds": elapsed, "rate": received / elapsed}))


# -- 3. drip memory ----------------------------------------------------------------------


def _proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmRSS")


def _proc_cpu(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in ticks


def _settle(pid: int, limit: float) -> None:
    """Wait (bounded) until the server uses no CPU for 0.3 s: it has read everything."""
    deadline = time.monotonic() + limit
    last, still = _proc_cpu(pid), 0
    while still < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = _proc_cpu(pid)
        still = still + 1 if now == last else 0
        last = now


def bench_drip(kind: str, conns: int, frame_body: int, seconds: float) -> dict[str, float]:
    """Drip one frame per connection, one byte per send; RSS growth per pending byte."""
    me = os.path.abspath(__file__)
    server = subprocess.Popen(
        [*_pin(0), sys.executable, me, "--serve", kind], stdout=subprocess.PIPE, text=True
    )
    socks: list[socket.socket] = []
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.strip():
            raise SystemExit(f"server {kind} did not start")
        port = int(line)
        _settle(server.pid, 5)
        empty = _proc_rss(server.pid)
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            socks.append(s)
        _settle(server.pid, 5)
        before = _proc_rss(server.pid)
        frame = struct.pack(">I", frame_body) + b"d" * frame_body
        sent = [0] * conns
        stop = time.monotonic() + seconds
        last = len(frame) - 1  # never complete the frame: everything stays pending
        while time.monotonic() < stop and min(sent) < last:
            for i, s in enumerate(socks):
                if sent[i] < last:
                    with contextlib.suppress(BlockingIOError):
                        sent[i] += s.send(frame[sent[i] : sent[i] + 1])
        _settle(server.pid, 10)
        after = _proc_rss(server.pid)
        pending = sum(sent)
        return {"pending": pending, "before": before, "after": after,
                "per_conn": (before - empty) / conns,
                "per_byte": (after - before) / pending if pending else float("nan")}
    finally:
        for s in socks:
            s.close()
        server.terminate()
        server.wait(timeout=10)


# -- driver ----------------------------------------------------------------------------


def _pin(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def bench_echo(kind: str, seconds: float, conns: int, depth: int) -> float:
    me = os.path.abspath(__file__)
    server = subprocess.Popen(
        [*_pin(0), sys.executable, me, "--serve", kind],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.strip():
            raise SystemExit(f"server {kind} did not start")
        port = int(line)
        client = subprocess.run(
            [*_pin(1), sys.executable, me, "--load", str(port), "--conns", str(conns),
             "--depth", str(depth), "--seconds", str(seconds)],
            capture_output=True, text=True, timeout=seconds + 60,
        )
        if client.returncode != 0:
            raise SystemExit(f"load client failed against {kind}: {client.stderr.strip()}")
        return float(json.loads(client.stdout)["rate"])
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--seconds", type=float, default=None, help="echo run length")
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--only", choices=("decode", "echo", "drip"), default=None)
    parser.add_argument("--drip-conns", type=int, default=60)
    parser.add_argument("--drip-frame", type=int, default=32000, help="frame body bytes")
    parser.add_argument("--drip-seconds", type=float, default=None,
                        help="how long to drip (default 20, quick 4; keep it under the "
                             "echo's 30 s frame deadline)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the echo series, interleaved; keep each server's best "
                             "(the CPU is shared: a single round is noisy)")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--load", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    if args.load:
        load(args.load, args.conns, args.depth, seconds)
        return 0

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"pinning: {'taskset' if _pin(0) else 'none'}")
    if args.only in (None, "decode"):
        d = bench_decode(args.quick)
        print("decode, len32 wire, ours vs Int32StringReceiver:")
        print(f"  64-byte frames, one buffer : {d['small_ours']:>12,.0f} vs "
              f"{d['small_theirs']:>12,.0f} frames/s  "
              f"ratio {d['small_ours'] / d['small_theirs']:.2f}x"
              "  (target >= 2.5x)")
        print(f"  1 MiB frames, 64 KiB chunks: {d['big_ours']:>12,.1f} vs "
              f"{d['big_theirs']:>12,.1f} MB/s      ratio {d['big_ours'] / d['big_theirs']:.1f}x"
              "  (target >= 20x)")
        print(f"  8 MiB frames, 64 KiB chunks: {d['huge_ours']:>12,.1f} vs "
              f"{d['huge_theirs']:>12,.1f} MB/s      ratio {d['huge_ours'] / d['huge_theirs']:.1f}x"
              "  (quadratic growth)")
    if args.only in (None, "echo"):
        print(f"echo, {args.conns} connections x {args.depth} outstanding 64-byte frames, "
              f"{seconds:g} s each, best of {max(1, args.rounds)} round(s):")
        rates = dict.fromkeys(SERVERS, 0.0)
        for _ in range(max(1, args.rounds)):
            for kind in SERVERS:
                rates[kind] = max(rates[kind], bench_echo(kind, seconds, args.conns, args.depth))
        labels = {
            "ours": "netlab EchoProtocol (len32)",
            "int32": "Int32StringReceiver echo",
            "asyncio": "asyncio Protocol echo",
            "raw": "unframed Twisted echo",
        }
        for kind in SERVERS:
            print(f"  {labels[kind]:<28}: {rates[kind]:>12,.0f} msgs/s")
        print(f"  ours / Int32StringReceiver : {rates['ours'] / rates['int32']:.2f}x  "
              "(target >= 2x)")
        print(f"  ours / asyncio             : {rates['ours'] / rates['asyncio']:.2f}x  "
              "(target >= 1.0x)")
        print(f"  ours / unframed ceiling    : {rates['ours'] / rates['raw']:.2f}x")
    if args.only in (None, "drip"):
        drip_seconds = args.drip_seconds or (4.0 if args.quick else 20.0)
        print(f"drip memory, {args.drip_conns} connections each dripping a "
              f"{args.drip_frame}-byte len32 frame one byte per send, {drip_seconds:g} s:")
        per = {}
        for kind in ("ours", "asyncio"):
            r = bench_drip(kind, args.drip_conns, args.drip_frame, drip_seconds)
            per[kind] = r["per_byte"]
            print(f"  {kind:<8}: {r['pending']:>10,} bytes pending, RSS "
                  f"{r['before'] / 1e6:.1f} -> {r['after'] / 1e6:.1f} MB, "
                  f"{r['per_byte']:.2f} bytes of RSS per pending byte; "
                  f"{r['per_conn'] / 1e3:.1f} kB per idle connection")
        print("  (target <= 2 bytes per byte; the asyncio bytearray echo is the anchor)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    sys.exit(main())
