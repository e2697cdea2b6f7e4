"""Scale benchmarks: workers, HTTP/2 over TLS, and the HAProxy kill test.

``python bench/scale_bench.py [--quick] [--duration 10] [--only workers,h2,haproxy]``

- ``workers``: wrk on the 1 KiB static file against ``--workers 2`` and ``--workers 1``
  (same client, nothing pinned), printing the ratio and the server's CPU seconds per
  1,000 requests (supervisor + workers, from /proc).  The machine has 2 cores and wrk
  runs on them too: two workers compete with the client, so the ratio is a floor of
  what 2 workers give on a machine where the client lives elsewhere.
- ``h2``: a page of 50 small files fetched by one curl over TLS, HTTP/2 (one connection,
  multiplexed) vs HTTP/1.1 (``--parallel``, at most 6 connections like a browser);
  best wall time of several rounds and the ratio.
- ``haproxy``: wrk through HAProxy in front of two instances (``--lame-duck``); SIGTERM,
  then (fresh instances) SIGKILL to one a third of the way in; requests sent, failed
  (non-2xx and socket errors), and the time until traffic moved (HAProxy's DOWN; for
  SIGTERM also when the stopped instance served its last request).

Every process is ended by PID; every wait is bounded.  Figures need a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import (
    TWISTD,
    BenchError,
    Server,
    endpoint,
    free_port,
    have,
    load_average,
    make_file,
    temp_dir,
)

ALL = ("workers", "h2", "haproxy")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root_pid: int) -> float:
    """utime + stime of ``root_pid`` and its live children (the workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def wrk(url: str, duration: float, connections: int = 32) -> tuple[int, float, list[str]]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--timeout", "5s", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    out = done.stdout
    requests = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or requests is None or rps is None:
        raise BenchError(f"wrk failed ({done.returncode}): {out}{done.stderr}")
    errors = []
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors.append(f"{m.group(1)} non-2xx/3xx")
    if m := re.search(r"Socket errors:(.*)", out):
        errors.append("socket errors:" + m.group(1))
    return int(requests.group(1)), float(rps.group(1)), errors


def netlab(name: str, port: int, root: Path, work: Path, *extra: str) -> Server:
    argv = [TWISTD, "-n", "--pidfile=", "netlab-web", "--port", endpoint(port),
            "--path", str(root), *extra]
    return Server(name, argv, port, work, cpu="0,1")


def bench_workers(root: Path, work: Path, duration: float) -> None:
    results: dict[int, tuple[float, float]] = {}
    for count in (2, 1):
        port = free_port()
        with netlab(f"workers{count}", port, root, work, "--workers", str(count)) as server:
            url = f"http://127.0.0.1:{port}/1k.bin"
            wrk(url, 1)  # warm up (and let every worker start)
            before = cpu_seconds(server.pid)
            requests, rps, errors = wrk(url, duration)
            used = cpu_seconds(server.pid) - before
            if errors:
                print(f"  --workers {count}: INVALID ({'; '.join(errors)})")
                continue
            results[count] = (rps, 1000 * used / max(requests, 1))
            print(f"  --workers {count}: {rps:9.0f} req/s, "
                  f"{results[count][1]:.3f} CPU s per 1,000 requests")
    if 1 in results and 2 in results:
        print(f"  ratio workers 2 / workers 1: {results[2][0] / results[1][0]:.2f}x")


def bench_h2(root: Path, work: Path, rounds: int) -> None:
    page = root / "page"
    page.mkdir(exist_ok=True)
    for i in range(50):
        make_file(page / f"f{i:02d}.css", 2048)
    data_home = work / "xdg"
    port = free_port()
    env_before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(data_home)  # the bench's own certificate
    try:
        with netlab("h2", port, root, work, "--tls"):
            cert = data_home / "twisted-netlab" / "localhost-cert.pem"
            urls = [f"https://localhost:{port}/page/f{i:02d}.css" for i in range(50)]
            best: dict[str, float] = {}
            for label, flags in (("HTTP/2", ["--http2"]),
                                 ("HTTP/1.1", ["--http1.1", "--parallel-max", "6"])):
                for _ in range(rounds):
                    argv = ["curl", "-sS", "--fail", "--parallel", "--cacert", str(cert),
                            *flags, "-w", "%{http_version}\n"]
                    for url in urls:
                        argv += ["-o", "/dev/null", url]
                    start = time.perf_counter()
                    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                    took = time.perf_counter() - start
                    versions = set(done.stdout.split())
                    want = "2" if label == "HTTP/2" else "1.1"
                    if done.returncode != 0 or versions != {want}:
                        raise BenchError(
                            f"curl {label}: {done.returncode} {versions} {done.stderr}"
                        )
                    best[label] = min(best.get(label, took), took)
                print(f"  {label}: 50 files in {best[label] * 1000:.0f} ms (best of {rounds})")
            print(f"  ratio HTTP/1.1 time / HTTP/2 time: {best['HTTP/1.1'] / best['HTTP/2']:.2f}x")
    finally:
        if env_before is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = env_before


HAPROXY_CFG = """\
global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 15s
    timeout server 15s
    retries 3
    option redispatch
frontend www
    bind 127.0.0.1:{front}
    default_backend netlab
backend netlab
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    server a 127.0.0.1:{a} check port {ma} inter 200ms fall 2 rise 2
    server b 127.0.0.1:{b} check port {mb} inter 200ms fall 2 rise 2
"""


def served_count(metrics_port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return None
    found = re.findall(r"netlab_http_requests_total\{[^}]*\} ([\d.e+]+)", text)
    return sum(float(v) for v in found)


def log_has(server: Server, text: str) -> bool:
    if server.log_path is None or not server.log_path.exists():
        return False
    return text in server.log_path.read_text(errors="replace")


def bench_haproxy(root: Path, work: Path, duration: float) -> None:
    haproxy = "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else "haproxy"
    if not have(haproxy):
        print("  haproxy not installed: skipped")
        return
    for how in ("SIGTERM", "SIGKILL"):
        haproxy_kill_case(haproxy, how, root, work, duration)


def haproxy_kill_case(haproxy: str, how: str, root: Path, work: Path, duration: float) -> None:
    """wrk through HAProxy; ``how`` to instance a a third of the way in.

    "Traffic moved": for SIGTERM, when a served its last request (its /metrics stops
    counting; the lame duck keeps it serving until HAProxy's checks take it out); for
    both, when HAProxy logged a DOWN (meanwhile, after SIGKILL, HAProxy's connects to a
    are refused and redispatched to b).
    """
    ports = {k: free_port() for k in ("a", "ma", "b", "mb", "front")}
    lame = "1.5"
    a = netlab(f"a-{how}", ports["a"], root, work, "--metrics", endpoint(ports["ma"]),
               "--lame-duck", lame)
    b = netlab(f"b-{how}", ports["b"], root, work, "--metrics", endpoint(ports["mb"]),
               "--lame-duck", lame)
    conf = work / f"haproxy-{how}.cfg"
    conf.write_text(HAPROXY_CFG.format(**ports))
    proxy = Server(f"haproxy-{how}", [haproxy, "-db", "-f", str(conf)], ports["front"], work,
                   cpu="0,1")
    with a, b, proxy:
        result: dict[str, tuple[int, float, list[str]]] = {}
        load = threading.Thread(target=lambda: result.update(
            run=wrk(f"http://127.0.0.1:{ports['front']}/1k.bin", duration, connections=16)))
        load.start()
        time.sleep(duration / 3)
        signalled = time.monotonic()
        assert a.proc is not None
        if how == "SIGTERM":
            a.proc.terminate()
        else:
            a.proc.kill()
        last_change, last = signalled, served_count(ports["ma"])
        down_at: float | None = None
        while time.monotonic() - signalled < 30:
            now_t = time.monotonic()
            if down_at is None and log_has(proxy, "Server netlab/a is DOWN"):
                down_at = now_t
            if a.proc.poll() is not None and down_at is not None:
                break
            now = served_count(ports["ma"]) if a.proc.poll() is None else None
            if now is not None and now != last:
                last, last_change = now, now_t
            time.sleep(0.05)
        load.join(timeout=duration + 40)
        requests, rps, errors = result["run"]
        down = f"{1000 * (down_at - signalled):.0f} ms" if down_at is not None else "never"
        moved = (f"; a served its last request {1000 * (last_change - signalled):.0f} ms after "
                 f"(lame duck {lame} s)" if how == "SIGTERM" else "")
        print(f"  {how}: sent {requests} requests ({rps:.0f}/s), failed: "
              f"{'; '.join(errors) or 0}; HAProxy marked a DOWN {down} after {how}{moved}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs, 2 rounds")
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--only", default=",".join(ALL))
    args = parser.parse_args(argv)
    duration = args.duration or (2.0 if args.quick else 10.0)
    rounds = 2 if args.quick else 5
    only = [o for o in args.only.split(",") if o]
    if set(only) - set(ALL):
        parser.error(f"unknown case; choose from {', '.join(ALL)}")
    for tool in ("wrk", "curl"):
        if not have(tool):
            parser.error(f"{tool} is not installed")
    print(f"load average {load_average()}; {os.cpu_count()} CPUs; nothing pinned")
    work = temp_dir("netlab-scale-")
    root = work / "root"
    root.mkdir()
    make_file(root / "1k.bin", 1024)
    status = 0
    cases: list[tuple[str, Callable[[], None]]] = [
        ("workers", lambda: bench_workers(root, work, duration)),
        ("h2", lambda: bench_h2(root, work, rounds)),
        ("haproxy", lambda: bench_haproxy(root, work, duration)),
    ]
    for case, run in cases:
        if case not in only:
            continue
        print(f"== {case}", flush=True)
        try:
            run()
        except BenchError as exc:
            print(f"  FAILED: {exc}")
            status = 1
    subprocess.run(["rm", "-rf", str(work)], check=False, timeout=60)
    return status


if __name__ == "__main__":
    sys.exit(main())
