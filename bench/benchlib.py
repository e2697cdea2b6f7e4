"""Shared machinery for the benchmarks: servers as subprocesses, wrk, RSS, checks.

Every server runs as its own process pinned with ``taskset`` so its CPU time is not
shared with the load generator; every wait is bounded; every process we start is ended
by its PID (never by name). Servers are checked with one real request (status and
length) before they are loaded, because a wrong 404 would bench fast and mean nothing.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
TWISTD = str(VENV_BIN / "twistd")
PYTHON = sys.executable
SERVER_CPU = "0"
CLIENT_CPU = "1"


class BenchError(Exception):
    """A server did not start, answered wrongly, or a tool failed: the figure is void."""


def have(program: str) -> bool:
    return shutil.which(program) is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


@dataclass
class Server:
    """A server process pinned to one CPU; ``stop()`` ends it by PID."""

    name: str
    argv: list[str]
    port: int
    workdir: Path
    cpu: str = SERVER_CPU
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self, timeout: float = 20.0) -> Server:
        self.log_path = self.workdir / f"{self.name}.log"
        cmd = ["taskset", "-c", self.cpu, *self.argv] if have("taskset") else list(self.argv)
        # The child keeps its own copy of the descriptor; ours can close at once.
        with open(self.log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                )
            except OSError as exc:  # e.g. no twistd next to this Python
                raise BenchError(f"{self.name}: cannot start {self.argv[0]}: {exc}") from exc
        try:
            wait_port(self.port, self.proc, timeout)
        except BenchError as exc:
            self.stop()
            raise BenchError(f"{self.name}: {exc}\n{self.log_tail()}") from exc
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join("    | " + line for line in text[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in KiB."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    length: int


def fetch(port: int, path: str, headers: Mapping[str, str] | None = None,
          timeout: float = 10.0) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        resp = conn.getresponse()
        body = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, len(body))
    finally:
        conn.close()


def check(server: str, port: int, path: str, headers: Mapping[str, str],
          status: int, length: int) -> Reply:
    try:
        reply = fetch(port, path, headers)
    except OSError as exc:
        raise BenchError(f"{server}: GET {path} failed: {exc}") from exc
    if reply.status != status or reply.length != length:
        raise BenchError(
            f"{server}: GET {path} {dict(headers)} gave {reply.status} with {reply.length} "
            f"bytes, expected {status} with {length}"
        )
    return reply


def revalidation_headers(port: int, path: str) -> tuple[dict[str, str], str]:
    """Headers that make ``path`` a 304, preferring the ETag; and which one was used."""
    first = fetch(port, path)
    if "etag" in first.headers:
        return {"If-None-Match": first.headers["etag"]}, "If-None-Match"
    if "last-modified" in first.headers:
        return {"If-Modified-Since": first.headers["last-modified"]}, "If-Modified-Since"
    return {}, "none"


@dataclass
class WrkResult:
    rps: float
    transfer: str
    errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def run_wrk(port: int, path: str, headers: Mapping[str, str], duration: float,
            connections: int = 32, cpu: str = CLIENT_CPU) -> WrkResult:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--timeout", "5s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"http://127.0.0.1:{port}{path}")
    if have("taskset"):
        argv = ["taskset", "-c", cpu, *argv]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {' '.join(argv)}") from exc
    out = done.stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({done.returncode}): {out}{done.stderr}")
    transfer = re.search(r"Transfer/sec:\s+(\S+)", out)
    errors = []
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors.append(f"{non2xx.group(1)} non-2xx/3xx")
    sock = re.search(r"Socket errors:(.*)", out)
    if sock:
        errors.append("socket errors:" + sock.group(1))
    return WrkResult(float(match.group(1)), transfer.group(1) if transfer else "?", errors)


def nginx_conf(tmp: Path, http_body: str) -> Path:
    """A self-contained nginx config under ``tmp`` (prefix), one process, no access log."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    types {{ text/html html; }}
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{http_body}
}}
""")
    return conf


def nginx_argv(tmp: Path, conf: Path) -> list[str]:
    return ["nginx", "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf),
            "-g", "daemon off;"]


PY_QUIET_FILE = r"""
import sys
from twisted.internet import endpoints, reactor
from twisted.web.server import Site
from twisted.web.static import File

class QuietSite(Site):
    def log(self, request):
        pass

endpoints.serverFromString(reactor, sys.argv[1]).listen(QuietSite(File(sys.argv[2])))
reactor.run()
"""

PY_FLOOR = r"""
import sys, os
from twisted.internet import endpoints, reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

sizes = {b"/" + name.encode(): int(size) for name, size in
         (item.split("=") for item in sys.argv[2:])}
bodies = {path: b"x" * size for path, size in sizes.items()}
one_k = b"x" * 1024

class Floor(Resource):
    isLeaf = True
    def render_GET(self, request):
        return bodies.get(request.path, one_k)

class QuietSite(Site):
    def log(self, request):
        pass

endpoints.serverFromString(reactor, sys.argv[1]).listen(QuietSite(Floor()))
reactor.run()
"""

PY_REVERSE_PROXY = r"""
import sys
from twisted.internet import endpoints, reactor
from twisted.web.proxy import ReverseProxyResource
from twisted.web.resource import Resource
from twisted.web.server import Site

class QuietSite(Site):
    def log(self, request):
        pass

root = Resource()
root.putChild(b"p", ReverseProxyResource("127.0.0.1", int(sys.argv[2]), b""))
endpoints.serverFromString(reactor, sys.argv[1]).listen(QuietSite(root))
reactor.run()
"""


def python_script(workdir: Path, name: str, source: str) -> Path:
    path = workdir / f"{name}.py"
    path.write_text(source)
    return path


def endpoint(port: int) -> str:
    return f"tcp:{port}:interface=127.0.0.1"


def make_file(path: Path, size: int, sparse: bool = False) -> None:
    """Deterministic content; ``sparse`` makes a hole-only file (reads cost no disk I/O)."""
    if sparse:
        with open(path, "wb") as f:
            f.truncate(size)
        return
    block = bytes(range(256)) * 256  # 64 KiB
    with open(path, "wb") as f:
        left = size
        while left > 0:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            left -= len(chunk)


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.2f}x"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"
