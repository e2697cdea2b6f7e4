"""Proxy cache benchmark: a cached 1 KiB response against netlab's own static 1 KiB file.

    python bench/cache_bench.py [--quick] [--duration 10]

Hits: one ``twistd netlab-web --proxy-cache`` process serves both a static 1 KiB file
(``/1k.bin``, the anchor) and the same size through a caching proxy mount
(``/p/1k``, warmed first, so every request is a cache hit); ``wrk -t1 -c32`` runs on
each in turn, alternating ``--rounds`` times (best of each kept). Target: cached hit
>= 0.8x static. nginx ``proxy_cache`` serving the same
response from its cache is printed for reference when nginx is installed.

Collapsing: 100 concurrent GETs of one cold 1 MiB URL (the upstream takes 0.5 s to
answer) through our proxy; the upstream counts the requests it got. Target: 1.

``--in-process``: no sockets and no wrk: the whole site from ``build_site`` (a stored
1 KiB entry put in its cache directly) driven through a ``StringTransport`` on one
keep-alive connection; CPU time per request, best of alternating batches, for the
same two paths. It isolates our own code's cost from the kernel's and wrk's, and is
steadier than wrk on a shared machine (pin it: ``taskset -c 0``).

The upstream is a small Twisted script in this run (it must count requests and delay
the cold answer). Servers are pinned like the other benchmarks: ours and nginx on CPU 0,
wrk and the upstream on CPU 1.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    CLIENT_CPU,
    PYTHON,
    TWISTD,
    BenchError,
    Server,
    check,
    endpoint,
    fetch,
    free_port,
    have,
    load_average,
    make_file,
    nginx_argv,
    nginx_conf,
    python_script,
    ratio,
    run_wrk,
    table,
    temp_dir,
)

SMALL = 1024
COLD = 1 << 20
COLLAPSE_CLIENTS = 100

PY_ORIGIN = r"""
import sys
from twisted.internet import endpoints, reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

SMALL = b"x" * 1024
COLD = bytes(range(256)) * 4096
counts = {}

class Origin(Resource):
    isLeaf = True

    def render_GET(self, request):
        path = request.path
        if path == b"/count":
            return b"%d" % counts.get(request.args.get(b"path", [b""])[0], 0)
        counts[path] = counts.get(path, 0) + 1
        request.setHeader(b"cache-control", b"public, max-age=3600")
        request.setHeader(b"content-type", b"application/octet-stream")
        if path.startswith(b"/cold/"):
            request.setHeader(b"content-length", b"%d" % len(COLD))
            gone = []
            request.notifyFinish().addBoth(gone.append)
            def answer():
                if not gone:
                    request.write(COLD)
                    request.finish()
            reactor.callLater(0.5, answer)
            return NOT_DONE_YET
        return SMALL

class QuietSite(Site):
    def log(self, request):
        pass

endpoints.serverFromString(reactor, sys.argv[1]).listen(QuietSite(Origin()))
reactor.run()
"""


def ours_argv(port: int, upstream: int, root: Path) -> list[str]:
    return [TWISTD, "-n", "--pidfile=", "netlab-web", "--port", endpoint(port),
            "--path", str(root), "--max-age", "3600",
            "--proxy", f"/p=http://127.0.0.1:{upstream}", "--proxy-cache"]


def nginx_cache_argv(port: int, upstream: int, work: Path) -> list[str]:
    tmp = work / "nginx-cache"
    tmp.mkdir()
    conf = nginx_conf(tmp, f"""
    proxy_cache_path {tmp}/cache keys_zone=bench:10m;
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
            proxy_cache bench;
        }}
    }}""")
    return nginx_argv(tmp, conf)


def collapse(port: int, upstream: int, path: str) -> tuple[int, int]:
    """``COLLAPSE_CLIENTS`` concurrent GETs of ``path``: (complete answers, upstream count)."""
    start = threading.Barrier(COLLAPSE_CLIENTS)
    complete = [0]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            start.wait(timeout=30)
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status == 200 and len(body) == COLD:
                with lock:
                    complete[0] += 1
        except (OSError, threading.BrokenBarrierError):
            pass
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(COLLAPSE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    upstream_path = path.removeprefix("/p")
    conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=10)
    try:
        conn.request("GET", f"/count?path={upstream_path}")
        count = int(conn.getresponse().read())
    finally:
        conn.close()
    return complete[0], count


def in_process(rounds: int, batch: int = 2000) -> tuple[float, float]:
    """CPU us per request (cached hit, static file), best of ``rounds`` batches each."""
    from twisted.internet import reactor
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from twisted_netlab.http.cache.decision import admit
    from twisted_netlab.http.proxymount import ProxyMount
    from twisted_netlab.web.config import (
        ProxyCacheConfig,
        ProxyConfig,
        StaticConfig,
        WebConfig,
    )
    from twisted_netlab.web.site import build_site

    root = Path(tempfile.mkdtemp(prefix="netlab-cache-inproc-"))
    try:
        make_file(root / "1k.bin", SMALL)
        mount = ProxyMount("/p", "http://127.0.0.1:9")
        proxy = ProxyConfig(mounts=(mount,), cache=ProxyCacheConfig(enabled=True))
        site = build_site(WebConfig(static=StaticConfig(root=str(root)), proxy=proxy), reactor)
        cache = site.proxy_caches[0]
        key = cache.key_for(mount, b"/1k")
        now = cache.now()
        stored = (("Date", formatdate(now, usegmt=True)),
                  ("Cache-Control", "public, max-age=3600"),
                  ("Content-Type", "application/octet-stream"), ("Content-Length", str(SMALL)))
        meta = admit(key, "GET", (), 200, stored, now, now, cache.rules).meta
        if key is None or meta is None:
            raise BenchError("in process: the 1 KiB entry was not admitted")
        writer = cache.store.begin(meta)
        writer.append(b"x" * SMALL)
        writer.commit()
        peer = IPv4Address("TCP", "127.0.0.1", 40000)
        proto = site.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer)
        proto.makeConnection(transport)

        def one(path: bytes) -> Callable[[], None]:
            line = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\n\r\n"

            def send() -> None:
                proto.dataReceived(line)
                transport.clear()

            return send

        def cost(send: Callable[[], None]) -> float:
            for _ in range(100):
                send()
            start = time.process_time()
            for _ in range(batch):
                send()
            return (time.process_time() - start) / batch * 1e6

        hit, static = one(b"/p/1k"), one(b"/1k.bin")
        hit()
        if cache.outcomes["hit"] != 1:
            raise BenchError(f"in process: /p/1k was not a hit: {dict(cache.outcomes)}")
        hits, statics = [], []
        for _ in range(rounds):
            hits.append(cost(hit))
            statics.append(cost(static))
        return min(hits), min(statics)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per wrk run")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run (10)")
    parser.add_argument("--no-nginx", action="store_true", help="skip the nginx reference")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating static/hit runs; the best of each is kept (2)")
    parser.add_argument("--in-process", action="store_true",
                        help="CPU us per request without sockets (rounds x 2,000; see above)")
    args = parser.parse_args(argv)
    if args.in_process:
        rounds = max(args.rounds, 15 if not args.quick else 5)
        try:
            hit_us, static_us = in_process(rounds)
        except BenchError as exc:
            print(f"FAILED: {exc}")
            return 1
        print(f"in process, best of {rounds} x 2,000 (CPU time, load average {load_average()}):")
        print(f"cached 1 KiB hit {hit_us:.1f} us, static 1 KiB file {static_us:.1f} us; "
              f"hit / static throughput: {static_us / hit_us:.2f}x (target >= 0.8x)")
        return 0
    duration = args.duration or (2.0 if args.quick else 10.0)
    if not Path(TWISTD).exists():
        parser.error(f"no twistd next to {sys.executable}: run this with the venv's Python")
    if not have("wrk"):
        parser.error("wrk is not installed (Debian package wrk)")
    work = temp_dir("netlab-cache-bench-")
    root = work / "root"
    root.mkdir()
    make_file(root / "1k.bin", SMALL)
    results: dict[str, float] = {}

    def say(line: str) -> None:
        print(line, flush=True)

    def bench(name: str, port: int, path: str) -> None:
        res = run_wrk(port, path, {}, duration)
        bad = "" if res.valid else "  INVALID: " + "; ".join(res.errors)
        say(f"[{name}] {res.rps:,.0f} req/s{bad}")
        if res.valid:
            results[name] = max(res.rps, results.get(name, 0.0))

    try:
        up_port = free_port()
        origin = [PYTHON, str(python_script(work, "origin", PY_ORIGIN)), endpoint(up_port)]
        with Server("origin", origin, up_port, work, cpu=CLIENT_CPU):
            say(f"python {sys.version.split()[0]}, load average {load_average()}; "
                f"ours and nginx on CPU 0, wrk and the origin on CPU 1")
            port = free_port()
            with Server("ours", ours_argv(port, up_port, root), port, work):
                check("ours", port, "/1k.bin", {}, 200, SMALL)
                check("ours", port, "/p/1k", {}, 200, SMALL)
                status = fetch(port, "/p/1k").headers.get("cache-status", "")
                if "hit" not in status:
                    raise BenchError(f"ours: /p/1k is not a cache hit: Cache-Status {status!r}")
                say(f"\n== requests: wrk -t1 -c32 -d{duration:g}s, 1 KiB")
                # Alternated, best of each: on a shared machine the load drifts.
                for _ in range(args.rounds):
                    bench("ours-static", port, "/1k.bin")
                    bench("ours-cache-hit", port, "/p/1k")
                say(f"\n== collapsing: {COLLAPSE_CLIENTS} concurrent GETs of one cold 1 MiB URL")
                complete, count = collapse(port, up_port, "/p/cold/1")
                say(f"ours: {complete}/{COLLAPSE_CLIENTS} complete answers, "
                    f"{count} upstream request(s) (target: 1)")
            if have("nginx") and not args.no_nginx:
                port = free_port()
                with Server("nginx", nginx_cache_argv(port, up_port, work), port, work):
                    check("nginx", port, "/p/1k", {}, 200, SMALL)
                    bench("nginx-proxy-cache-hit", port, "/p/1k")
            else:
                say("[nginx] not installed or skipped: no reference row")
        say("")
        rows = [["case", "req/s"]] + [[n, f"{v:,.0f}"] for n, v in results.items()]
        if len(rows) > 1:
            say(table(rows))
        hit = results.get("ours-cache-hit")
        say(f"cache hit / static: {ratio(hit, results.get('ours-static'))} (target >= 0.8x); "
            f"cache hit / nginx proxy_cache: {ratio(hit, results.get('nginx-proxy-cache-hit'))}")
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
