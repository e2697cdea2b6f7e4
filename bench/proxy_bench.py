"""Reverse proxy benchmark: ours against ReverseProxyResource and nginx, same upstream.

    python bench/proxy_bench.py [--quick] [--duration 10] [--slow-size 1G]

Requests: ``wrk -t1 -c32`` for ``--duration`` seconds through each proxy to the same
upstream serving a 1 KiB file: ours (``twistd netlab-web --proxy /p=URL``), Twisted's
``ReverseProxyResource`` in a quiet Site, and nginx ``proxy_pass`` with an upstream
keepalive pool (when installed). The upstream is nginx when installed, else static.File
in a quiet Site. Only two cores: the proxy is pinned to CPU 0, wrk and the upstream
share CPU 1.

Context row ``web-floor``: a twisted.web resource returning 1 KiB of constant bytes in
the same quiet ``Site`` (no upstream at all): what the server stack itself costs per
request, so ``ours / web-floor`` is the share of it left after proxying (target >= 0.6x).

Slow client: a client reading a large upstream body (``--slow-size``, 1 GiB; 100 MiB
with ``--quick``) at about 10 MB/s through our proxy, while the proxy's RSS is polled;
its peak (VmHWM) must stay bounded (target < 100 MiB) because the proxy pauses the
upstream while the client is slow.

Upload: a client sends ``--upload-size`` bytes (1 GiB; 100 MiB with ``--quick``) with
Content-Length through our proxy to a sink upstream in this process; printed: when the
upstream saw its first body byte and when the client had sent its last one (the
anchor: that is the moment a store-and-forward proxy sends its first byte; the ratio
first byte / client done is printed, well below 1 when the upload streams), and the
proxy's RSS before and at its peak: the growth must stay flat (a few MiB of buffers
whatever the size, target < 64 MiB for 1 GiB). ``--upload-only`` runs just this part
(no wrk needed), for a short check:

    python bench/proxy_bench.py --upload-only --upload-size 200M
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    CLIENT_CPU,
    PY_FLOOR,
    PY_QUIET_FILE,
    PY_REVERSE_PROXY,
    PYTHON,
    TWISTD,
    BenchError,
    Server,
    check,
    endpoint,
    free_port,
    have,
    load_average,
    make_file,
    nginx_argv,
    nginx_conf,
    proc_status,
    python_script,
    ratio,
    run_wrk,
    table,
    temp_dir,
)
from web_bench import parse_size

SMALL = 1024
PROXIES = ("ours", "reverse-proxy-resource", "nginx", "web-floor")



def upstream_server(root: Path, work: Path) -> Server:
    port = free_port()
    if have("nginx"):
        tmp = work / "nginx-upstream"
        tmp.mkdir()
        conf = nginx_conf(tmp, f"""
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}""")
        return Server("upstream-nginx", nginx_argv(tmp, conf), port, work, cpu=CLIENT_CPU)
    argv = [PYTHON, str(python_script(work, "quiet_static_file", PY_QUIET_FILE)),
            endpoint(port), str(root)]
    return Server("upstream-static-file", argv, port, work, cpu=CLIENT_CPU)


def proxy_argv(name: str, port: int, upstream: int, empty: Path, work: Path) -> list[str] | None:
    if name == "ours":
        return [TWISTD, "-n", "--pidfile=", "netlab-web", "--port", endpoint(port),
                "--path", str(empty), "--proxy", f"/p=http://127.0.0.1:{upstream}"]
    if name == "reverse-proxy-resource":
        return [PYTHON, str(python_script(work, "reverse_proxy", PY_REVERSE_PROXY)),
                endpoint(port), str(upstream)]
    if name == "web-floor":
        return [PYTHON, str(python_script(work, "web_floor", PY_FLOOR)), endpoint(port)]
    if name == "nginx":
        if not have("nginx"):
            return None
        tmp = work / f"nginx-proxy-{port}"
        tmp.mkdir()
        conf = nginx_conf(tmp, f"""
    upstream backend {{
        server 127.0.0.1:{upstream};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location /p/ {{
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""")
        return nginx_argv(tmp, conf)
    raise ValueError(name)


def slow_read(port: int, path: str, size: int, rate: float, pid: int,
              timeout: float) -> dict[str, float]:
    """Read ``path`` at about ``rate`` bytes/s with small recvs, polling the proxy's RSS."""
    peak = [proc_status(pid).get("VmRSS", 0)]
    before = peak[0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.25):
            peak[0] = max(peak[0], proc_status(pid).get("VmRSS", 0))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    received = 0
    started = time.monotonic()
    deadline = started + timeout
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         f"Connection: close\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise BenchError(f"connection closed in headers: {head!r}")
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            status_line = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status_line + b" ":
                raise BenchError(f"slow download got {status_line!r}")
            received = len(rest)
            while True:
                chunk = sock.recv(16384)
                if not chunk:
                    break
                received += len(chunk)
                now = time.monotonic()
                if now > deadline:
                    raise BenchError(f"slow download not done after {timeout:.0f}s "
                                     f"({received} of {size} bytes)")
                ahead = received / rate - (now - started)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        stop.set()
        poller.join(timeout=2)
    seconds = time.monotonic() - started
    hwm = proc_status(pid).get("VmHWM", 0)
    return {"received": received, "seconds": seconds, "rss_before": before,
            "rss_peak": max(peak[0], hwm), "hwm": hwm}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 s per wrk run and a 100 MiB slow download")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run (10)")
    parser.add_argument("--slow-size", type=parse_size, default=None,
                        help="body size for the slow client (1G; 100M with --quick)")
    parser.add_argument("--slow-rate", type=parse_size, default=10_000_000,
                        help="slow client's read rate in bytes/s (10000000)")
    parser.add_argument("--proxies", default=",".join(PROXIES),
                        help="comma-separated subset of " + ",".join(PROXIES))
    parser.add_argument("--slow-anchor", action="store_true",
                        help="also run the slow client through ReverseProxyResource, which "
                             "buffers the whole body (its RSS grows by about --slow-size)")
    parser.add_argument("--no-slow", action="store_true", help="skip the slow download")
    parser.add_argument("--upload-size", type=parse_size, default=None,
                        help="upload body size (1G; 100M with --quick)")
    parser.add_argument("--no-upload", action="store_true", help="skip the upload")
    parser.add_argument("--upload-only", action="store_true",
                        help="only the upload (no wrk runs, no slow download)")
    args = parser.parse_args(argv)
    duration = args.duration or (2.0 if args.quick else 10.0)
    slow_size = args.slow_size or ((100 << 20) if args.quick else (1 << 30))
    upload_size = args.upload_size or ((100 << 20) if args.quick else (1 << 30))
    names = [p for p in args.proxies.split(",") if p]
    if set(names) - set(PROXIES):
        parser.error(f"unknown proxy: {', '.join(sorted(set(names) - set(PROXIES)))}")
    if not Path(TWISTD).exists():
        parser.error(f"no twistd next to {sys.executable}: run this with the venv's Python")
    if not have("wrk") and not args.upload_only:
        parser.error("wrk is not installed (Debian package wrk)")

    def say(line: str) -> None:
        print(line, flush=True)

    work = temp_dir("netlab-proxy-bench-")
    root, empty = work / "upstream-root", work / "empty"
    root.mkdir()
    empty.mkdir()
    # The same bytes with and without the /p prefix: whichever way a proxy maps the
    # path, it reaches a file, and the check below still insists on 200 and 1 KiB.
    (root / "p").mkdir()
    make_file(root / "1k.bin", SMALL)
    make_file(root / "p" / "1k.bin", SMALL)
    results: dict[str, float] = {}
    if args.upload_only:
        try:
            say(f"python {sys.version.split()[0]}, load average {load_average()}")
            upload_through(empty, work, upload_size, say)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    try:
        with upstream_server(root, work) as upstream:
            say(f"python {sys.version.split()[0]}, load average {load_average()}; upstream "
                f"{upstream.name}; proxy pinned to CPU 0, wrk and upstream to CPU 1")
            check(upstream.name, upstream.port, "/1k.bin", {}, 200, SMALL)
            say(f"\n== requests: wrk -t1 -c32 -d{duration:g}s, GET /p/1k.bin (1 KiB)")
            for name in names:
                port = free_port()
                pargv = proxy_argv(name, port, upstream.port, empty, work)
                if pargv is None:
                    say(f"[{name}] not installed: skipped")
                    continue
                try:
                    with Server(name, pargv, port, work):
                        check(name, port, "/p/1k.bin", {}, 200, SMALL)
                        res = run_wrk(port, "/p/1k.bin", {}, duration)
                        bad = "" if res.valid else "  INVALID: " + "; ".join(res.errors)
                        say(f"[{name}] {res.rps:,.0f} req/s{bad}")
                        if res.valid:
                            results[name] = res.rps
                except BenchError as exc:
                    say(f"[{name}] FAILED: {exc}")
            say("")
            rows = [["proxy", "req/s"]] + [[n, f"{results[n]:,.0f}"] for n in PROXIES
                                           if n in results]
            if len(rows) > 1:
                say(table(rows))
            ours = results.get("ours")
            say(f"ours/ReverseProxyResource: "
                f"{ratio(ours, results.get('reverse-proxy-resource'))} (target >= 4x); "
                f"ours/nginx: {ratio(ours, results.get('nginx'))}")
            say(f"ours/web-floor: {ratio(ours, results.get('web-floor'))} (target >= 0.6x)")
            if not args.no_slow and "ours" in names:
                slow_names = ["ours", "reverse-proxy-resource"] if args.slow_anchor else ["ours"]
                slow_download(root, empty, work, upstream.port, slow_size, args.slow_rate, say,
                              slow_names)
        if not args.no_upload and "ours" in names:
            upload_through(empty, work, upload_size, say)
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def slow_download(root: Path, empty: Path, work: Path, upstream: int, size: int,
                  rate: float, say: Callable[[str], None],
                  names: Sequence[str] = ("ours",)) -> None:
    make_file(root / "p" / "big.bin", size, sparse=True)
    (root / "big.bin").symlink_to(root / "p" / "big.bin")
    try:
        for name in names:
            slow_through(name, empty, work, upstream, size, rate, say)
    finally:
        (root / "p" / "big.bin").unlink(missing_ok=True)
        (root / "big.bin").unlink(missing_ok=True)


def slow_through(name: str, empty: Path, work: Path, upstream: int, size: int,
                 rate: float, say: Callable[[str], None]) -> None:
    say(f"\n== slow client through {name}: {size / (1 << 20):,.0f} MiB (sparse) at "
        f"{rate / 1e6:g} MB/s")
    port = free_port()
    try:
        with Server(f"{name}-slow", proxy_argv(name, port, upstream, empty, work) or [],
                    port, work) as proxy:
            check(name, port, "/p/1k.bin", {}, 200, SMALL)
            res = slow_read(port, "/p/big.bin", size, rate, proxy.pid,
                            timeout=size / rate * 2 + 60)
            if res["received"] < size:
                raise BenchError(f"slow download stopped at {res['received']} of {size} "
                                 f"bytes (plus headers)")
            say(f"{name}: {res['received'] / res['seconds'] / 1e6:.1f} MB/s over "
                f"{res['seconds']:.0f}s; RSS {res['rss_before'] / 1024:.1f} MiB before, "
                f"peak {res['rss_peak'] / 1024:.1f} MiB (VmHWM {res['hwm'] / 1024:.1f} MiB"
                f"{'; target < 100 MiB' if name == 'ours' else ''})")
    except BenchError as exc:
        say(f"[{name}] slow download FAILED: {exc}")


class UploadSink(threading.Thread):
    """An upstream that reads one request body and notes when its first byte came."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(120)
        self.port = self.listener.getsockname()[1]
        self.first_byte: float | None = None
        self.received = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(120)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise BenchError("upstream: closed in the request head")
                    head += chunk
                head, _, rest = head.partition(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                if rest:
                    self.first_byte = time.monotonic()
                self.received = len(rest)
                while self.received < length:
                    chunk = conn.recv(1 << 20)
                    if not chunk:
                        raise BenchError(f"upstream: body cut at {self.received} of {length}")
                    if self.first_byte is None:
                        self.first_byte = time.monotonic()
                    self.received += len(chunk)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        except (OSError, BenchError, StopIteration) as exc:
            self.error = str(exc) or type(exc).__name__
        finally:
            self.listener.close()


def upload_through(empty: Path, work: Path, size: int, say: Callable[[str], None]) -> None:
    say(f"\n== upload through ours: {size / (1 << 20):,.0f} MiB with Content-Length")
    sink = UploadSink()
    sink.start()
    port = free_port()
    argv = [TWISTD, "-n", "--pidfile=", "netlab-web", "--port", endpoint(port),
            "--path", str(empty), "--proxy", f"/p=http://127.0.0.1:{sink.port}"]
    try:
        with Server("ours-upload", argv, port, work) as proxy:
            peak = [proc_status(proxy.pid).get("VmRSS", 0)]
            before = peak[0]
            stop = threading.Event()

            def poll() -> None:
                while not stop.wait(0.1):
                    peak[0] = max(peak[0], proc_status(proxy.pid).get("VmRSS", 0))

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            block = bytes(1 << 20)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
                    started = time.monotonic()
                    sock.sendall(f"POST /p/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode())
                    left = size
                    while left > 0:
                        n = min(left, len(block))
                        sock.sendall(block[:n])
                        left -= n
                    sent = time.monotonic()
                    reply = b""
                    while chunk := sock.recv(65536):
                        reply += chunk
                    done = time.monotonic()
            finally:
                stop.set()
                poller.join(timeout=2)
            sink.join(timeout=30)
            if sink.error or not reply.startswith(b"HTTP/1.1 200"):
                raise BenchError(f"upload failed: {sink.error or reply[:60]!r}")
            hwm = proc_status(proxy.pid).get("VmHWM", 0)
            first = (sink.first_byte or done) - started
            client_done = sent - started
            when = ("while the client was still sending" if first < client_done
                    else "after the client had finished: store-and-forward")
            say(f"client sent {size / (1 << 20):,.0f} MiB in {client_done:.2f}s; upstream's "
                f"first body byte at {first * 1000:.1f} ms ({when}); done at "
                f"{done - started:.2f}s")
            say(f"first byte / client done (store-and-forward anchor = 1.0): "
                f"{first / client_done:.4f}" if client_done > 0 else "n/a")
            top = max(peak[0], hwm)
            say(f"proxy RSS {before / 1024:.1f} MiB before, peak {top / 1024:.1f} MiB "
                f"(growth {(top - before) / 1024:.1f} MiB for {size / (1 << 20):,.0f} MiB "
                f"uploaded; target < 64 MiB)")
    except BenchError as exc:
        say(f"[ours] upload FAILED: {exc}")


if __name__ == "__main__":
    sys.exit(main())
