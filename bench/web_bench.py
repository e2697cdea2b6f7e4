"""Static serving benchmark: ours against the anchors, same directory, same Twisted.

    python bench/web_bench.py [--quick] [--duration 10] [--servers ours,nginx] ...

Small requests: ``wrk -t1 -c32`` for ``--duration`` seconds per case, each server
pinned to CPU 0 and wrk to CPU 1. Servers, each started the way its users start it:

- ``ours``: ``netlab-web DIR -p PORT --quiet`` (the short command, request log off);
- ``ours-log``: ``netlab-web DIR -p PORT`` (the short command with its default request
  log, written to a file here as it would be to a terminal or a pipe);
- ``twistd-web``: ``twistd -n web --path DIR`` at its defaults (it logs every request);
- ``static-file``: static.File in a Site with the access log switched off;
- ``floor``: a twisted.web leaf resource returning constant bytes of the same length,
  no log (what any twisted.web server pays per request);
- ``nginx`` when installed (one process, access_log off, sendfile on).

Cases: a 1 KiB file, a 64 KiB file, a 304 revalidation with ``If-None-Match`` (servers
that send an ETag) and with ``If-Modified-Since`` (servers that send Last-Modified), and
``Range: bytes=0-1023`` on the 64 KiB file. Every case is checked with one real request
(status and length) before it is loaded.

The targets (issue 12) are printed with their ratios, from the same run:
304 (each kind) >= 1.2x our own 1 KiB 200 and >= 2.0x quiet static.File; our 1 KiB 200
>= 0.9x the floor; with the request log on, ``ours-log`` >= 2.5x ``twistd-web``; with
logging off, ``ours`` >= 2.0x quiet static.File on every case. They are printed twice:
from req/s, and from the server process's CPU time per request (``/proc/PID/stat``
before and after each wrk run), which a busy machine disturbs much less than req/s.

Large download: a 2 GiB file (sparse: reading its holes costs no disk I/O, so this
measures the server, not the disk) fetched by curl pinned to CPU 1, reporting MB/s
(10^6 bytes per second) and the server's peak RSS (VmHWM, and VmRSS polled during
the transfer) against its RSS before the download.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    CLIENT_CPU,
    PY_FLOOR,
    PY_QUIET_FILE,
    PYTHON,
    TWISTD,
    VENV_BIN,
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
    proc_status,
    python_script,
    ratio,
    run_wrk,
    table,
    temp_dir,
)

SMALL = 1024
MEDIUM = 64 * 1024
CASES = ("1k", "64k", "304-inm", "304-ims", "range")
ALL_SERVERS = ("ours", "ours-log", "twistd-web", "static-file", "floor", "nginx")
NETLAB_WEB = str(VENV_BIN / "netlab-web")
LARGE_SERVERS = ("ours", "nginx", "static-file")
FLOOR_CASES = ("1k", "64k")  # the floor has no validators or ranges: its 1k is the reference


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


@dataclass
class Case:
    name: str
    path: str
    headers: dict[str, str]
    status: int
    length: int
    note: str = ""


def server_argv(name: str, port: int, root: Path, work: Path) -> list[str] | None:
    """The command line of one server, or None when it is not installed."""
    if name == "ours":
        return [NETLAB_WEB, str(root), "-p", str(port), "--quiet"]
    if name == "ours-log":
        return [NETLAB_WEB, str(root), "-p", str(port)]
    if name == "twistd-web":
        return [TWISTD, "-n", "--pidfile=", "web", "--listen", endpoint(port),
                "--path", str(root)]
    if name == "static-file":
        return [PYTHON, str(python_script(work, "quiet_static_file", PY_QUIET_FILE)),
                endpoint(port), str(root)]
    if name == "floor":
        return [PYTHON, str(python_script(work, "floor", PY_FLOOR)), endpoint(port),
                f"1k.bin={SMALL}", f"64k.bin={MEDIUM}"]
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


def cases_for(name: str, port: int) -> list[Case]:
    """The cases a server runs: the revalidations it supports (by its own validators)."""
    cases = [
        Case("1k", "/1k.bin", {}, 200, SMALL),
        Case("64k", "/64k.bin", {}, 200, MEDIUM),
    ]
    if name == "floor":
        return cases
    first = fetch(port, "/1k.bin")
    etag, modified = first.headers.get("etag"), first.headers.get("last-modified")
    if etag is None and modified is None:
        raise BenchError(f"{name}: no ETag nor Last-Modified on /1k.bin")
    if etag is not None:
        cases.append(Case("304-inm", "/1k.bin", {"If-None-Match": etag}, 304, 0))
    if modified is not None:
        cases.append(Case("304-ims", "/1k.bin", {"If-Modified-Since": modified}, 304, 0))
    cases.append(Case("range", "/64k.bin", {"Range": "bytes=0-1023"}, 206, SMALL))
    return cases


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_small(names: Sequence[str], case_names: Sequence[str], root: Path, work: Path,
                duration: float, say: Callable[[str], None], rounds: int = 1,
                costs: dict[str, dict[str, float]] | None = None,
                ) -> dict[str, dict[str, float]]:
    """Best req/s per server and case over ``rounds`` sweeps of every server.

    Interleaving rounds (all servers, then all again) spreads a burst of load from
    other processes over every server instead of penalising one. ``costs`` receives
    the lowest server CPU time per request (us), which other processes on the machine
    disturb far less than req/s.
    """
    results: dict[str, dict[str, float]] = {}
    for round_no in range(rounds):
        if rounds > 1:
            say(f"-- round {round_no + 1} of {rounds} (load average {load_average()})")
        bench_round(names, case_names, root, work, duration, say, results,
                    {} if costs is None else costs)
    return results


def bench_round(names: Sequence[str], case_names: Sequence[str], root: Path, work: Path,
                duration: float, say: Callable[[str], None],
                results: dict[str, dict[str, float]],
                costs: dict[str, dict[str, float]]) -> None:
    for name in names:
        port = free_port()
        argv = server_argv(name, port, root, work)
        if argv is None:
            say(f"[{name}] not installed: skipped")
            continue
        try:
            with Server(name, argv, port, work) as server:
                cases = [c for c in cases_for(name, port) if c.name in case_names]
                for case in cases:  # verify everything before loading anything
                    check(name, port, case.path, case.headers, case.status, case.length)
                for case in cases:
                    cpu_before = cpu_seconds(server.pid)
                    res = run_wrk(port, case.path, case.headers, duration)
                    used = cpu_seconds(server.pid) - cpu_before
                    requests = res.rps * max(1, round(duration))
                    cost = used / requests * 1e6 if requests else 0.0
                    status = "" if res.valid else "  INVALID: " + "; ".join(res.errors)
                    note = f" ({case.note})" if case.note else ""
                    say(f"[{name}] {case.name}{note}: {res.rps:,.0f} req/s, "
                        f"{res.transfer}/s, server CPU {cost:.1f} us/request{status}")
                    if res.valid:
                        best = results.setdefault(name, {})
                        best[case.name] = max(best.get(case.name, 0.0), res.rps)
                        if cost > 0:
                            low = costs.setdefault(name, {})
                            low[case.name] = min(low.get(case.name, cost), cost)
        except BenchError as exc:
            say(f"[{name}] FAILED: {exc}")


def _same_kind(case: str, results: dict[str, float]) -> float | None:
    """An anchor's figure for ``case``; a 304 it only makes by date stands for both."""
    value = results.get(case)
    if value is None and case.startswith("304"):
        value = results.get("304-ims")
    return value


def targets(results: dict[str, dict[str, float]],
            case_names: Sequence[str]) -> list[tuple[str, float | None, float]]:
    """(description, measured ratio or None, target) for every issue-12 target."""
    ours = results.get("ours", {})
    logged = results.get("ours-log", {})
    quiet_file = results.get("static-file", {})
    twistd_web = results.get("twistd-web", {})
    floor = results.get("floor", {})

    def over(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    rows: list[tuple[str, float | None, float]] = []
    for kind in ("304-inm", "304-ims"):
        if kind in case_names:
            rows.append((f"ours {kind} / ours 1k", over(ours.get(kind), ours.get("1k")), 1.2))
            rows.append((f"ours {kind} / quiet static.File 304",
                         over(ours.get(kind), _same_kind(kind, quiet_file)), 2.0))
    rows.append(("ours 1k / floor 1k", over(ours.get("1k"), floor.get("1k")), 0.9))
    for case in case_names:
        rows.append((f"ours-log {case} / twistd-web (default logs)",
                     over(logged.get(case), _same_kind(case, twistd_web)), 2.5))
    for case in case_names:
        rows.append((f"ours {case} / quiet static.File (no logs)",
                     over(ours.get(case), _same_kind(case, quiet_file)), 2.0))
    return rows


def report_costs(costs: dict[str, dict[str, float]], case_names: Sequence[str],
                 say: Callable[[str], None]) -> None:
    """Server CPU per request, and the targets read as cost ratios (anchor / ours).

    On a busy machine req/s swing with whatever else runs; the CPU time the server
    process itself used per request moves much less. With one server process on one
    CPU, req/s ratios and inverse cost ratios agree when the machine is quiet.
    """
    names = [n for n in ALL_SERVERS if n in costs]
    if not names:
        return
    rows = [["server CPU us/request", *names]]
    for case in case_names:
        rows.append([case, *(f"{costs[n][case]:.1f}" if case in costs[n] else "-"
                             for n in names)])
    say("")
    say(table(rows))
    speed = {n: {c: 1e6 / v for c, v in by_case.items()} for n, by_case in costs.items()}
    rows = [["target, from CPU per request", "measured", "wanted", ""]]
    for text, value, wanted in targets(speed, case_names):
        verdict = "-" if value is None else ("ok" if value >= wanted else "MISSED")
        rows.append([text, "-" if value is None else f"{value:.2f}x", f">= {wanted:g}x", verdict])
    say("")
    say(table(rows))


def report_small(results: dict[str, dict[str, float]], case_names: Sequence[str],
                 say: Callable[[str], None]) -> None:
    names = [n for n in ALL_SERVERS if n in results]
    rows = [["req/s", *names]]
    for case in case_names:
        rows.append([case, *(f"{results[n][case]:,.0f}" if case in results[n] else "-"
                             for n in names)])
    say(table(rows))
    ours = results.get("ours", {})
    logged = results.get("ours-log", {})
    floor = results.get("floor", {})
    rows = [["ratio", "ours-log/twistd-web", "ours/quiet-static.File", "ours/floor",
             "ours/nginx", "ours-log/ours"]]
    for case in case_names:
        floor_ref = floor.get(case) if case in FLOOR_CASES else floor.get("1k")
        rows.append([
            case,
            ratio(logged.get(case), _same_kind(case, results.get("twistd-web", {}))),
            ratio(ours.get(case), _same_kind(case, results.get("static-file", {}))),
            ratio(ours.get(case), floor_ref),
            ratio(ours.get(case), _same_kind(case, results.get("nginx", {}))),
            ratio(logged.get(case), ours.get(case)),
        ])
    say("")
    say(table(rows))
    say("(floor for 304 and range: its 1 KiB 200 figure; an anchor without ETags is "
        "compared on its If-Modified-Since 304; ours-log/ours is what the request log costs)")
    say("")
    rows = [["target (issue 12)", "measured", "wanted", ""]]
    for text, value, wanted in targets(results, case_names):
        verdict = "-" if value is None else ("ok" if value >= wanted else "MISSED")
        rows.append([text, "-" if value is None else f"{value:.2f}x", f">= {wanted:g}x", verdict])
    say(table(rows))


def download(port: int, path: str, size: int, pid: int, timeout: float) -> dict[str, float]:
    """curl the file to /dev/null, polling the server's VmRSS; MB/s and RSS figures."""
    before = proc_status(pid).get("VmRSS", 0)
    argv = ["curl", "-s", "-o", "/dev/null", "--max-time", str(int(timeout)),
            "-w", "%{http_code} %{size_download} %{time_total}",
            f"http://127.0.0.1:{port}{path}"]
    if have("taskset"):
        argv = ["taskset", "-c", CLIENT_CPU, *argv]
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_rss = before
    deadline = time.monotonic() + timeout + 10
    while client.poll() is None and time.monotonic() < deadline:
        peak_rss = max(peak_rss, proc_status(pid).get("VmRSS", 0))
        time.sleep(0.1)
    if client.poll() is None:
        client.kill()
        client.wait()
        raise BenchError("curl did not finish in time")
    out, err = client.communicate()
    fields = out.decode().split()
    if client.returncode != 0 or len(fields) != 3:
        raise BenchError(f"curl failed ({client.returncode}): {out!r} {err!r}")
    code, got, seconds = int(fields[0]), int(fields[1]), float(fields[2])
    if code != 200 or got != size:
        raise BenchError(f"large download gave {code} with {got} bytes, expected 200 with {size}")
    hwm = proc_status(pid).get("VmHWM", 0)
    return {"mbps": size / seconds / 1e6, "seconds": seconds, "rss_before": before,
            "rss_peak": max(peak_rss, hwm), "hwm": hwm}


def warm_page_cache(path: Path) -> None:
    """Read the file once so the first server measured does not pay a cold cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass


def bench_large(names: Sequence[str], root: Path, work: Path, size: int,
                say: Callable[[str], None], repeat: int = 3) -> dict[str, dict[str, float]]:
    """Best MB/s and highest RSS over ``repeat`` downloads from one server process.

    Repeating on the same process also shows whether RSS creeps up download after
    download.
    """
    if not have("curl"):
        say("[large] curl not installed: skipped")
        return {}
    big = root / "big.bin"
    make_file(big, size, sparse=True)
    warm_page_cache(big)
    results: dict[str, dict[str, float]] = {}
    try:
        for name in names:
            port = free_port()
            argv = server_argv(name, port, root, work)
            if argv is None:
                say(f"[{name}] not installed: skipped")
                continue
            try:
                with Server(name, argv, port, work) as server:
                    check(name, port, "/1k.bin", {}, 200, SMALL)
                    for _ in range(repeat):
                        res = download(port, "/big.bin", size, server.pid,
                                       timeout=max(120.0, size / 20e6))
                        say(f"[{name}] large: {res['mbps']:,.0f} MB/s in "
                            f"{res['seconds']:.1f}s, RSS {res['rss_before'] / 1024:.1f} MiB "
                            f"before, peak {res['rss_peak'] / 1024:.1f} MiB "
                            f"(VmHWM {res['hwm'] / 1024:.1f} MiB)")
                        best = results.setdefault(name, dict(res))
                        best["mbps"] = max(best["mbps"], res["mbps"])
                        best["rss_peak"] = max(best["rss_peak"], res["rss_peak"])
            except BenchError as exc:
                say(f"[{name}] large FAILED: {exc}")
    finally:
        big.unlink(missing_ok=True)
    return results


def report_large(results: dict[str, dict[str, float]], size: int,
                 say: Callable[[str], None]) -> None:
    if not results:
        return
    rows = [["large download", "best MB/s", "RSS before MiB", "peak RSS MiB"]]
    for name in LARGE_SERVERS:
        if name in results:
            r = results[name]
            rows.append([name, f"{r['mbps']:,.0f}", f"{r['rss_before'] / 1024:.1f}",
                         f"{r['rss_peak'] / 1024:.1f}"])
    say(table(rows))
    ours, nginx = results.get("ours"), results.get("nginx")
    say(f"ours/nginx MB/s: {ratio(ours['mbps'] if ours else None, nginx['mbps'] if nginx else None)} "
        f"(target >= 1.0x); file {size / (1 << 30):.2f} GiB, sparse")
    if ours:
        grew = (ours["rss_peak"] - ours["rss_before"]) / 1024
        say(f"ours: RSS grew {grew:.1f} MiB while serving {size / (1 << 20):,.0f} MiB")


def describe_environment(say: Callable[[str], None]) -> None:
    import twisted

    nginx = "absent"
    if have("nginx"):
        done = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=10)
        nginx = done.stderr.strip().removeprefix("nginx version: ")
    say(f"python {platform.python_version()}, Twisted {twisted.__version__}, {nginx}, "
        f"{os.cpu_count()} CPUs, load average {load_average()}")
    say(f"servers pinned to CPU 0, clients (wrk, curl) to CPU 1; twistd: {TWISTD}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 s per case and a 256 MiB large file")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run (10)")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS),
                        help="comma-separated subset of " + ",".join(ALL_SERVERS))
    parser.add_argument("--cases", default=",".join(CASES),
                        help="comma-separated subset of " + ",".join(CASES))
    parser.add_argument("--large-size", type=parse_size, default=None,
                        help="size of the large download (2G; 256M with --quick)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="sweep all servers this many times, keep each best (1)")
    parser.add_argument("--large-repeat", type=int, default=3,
                        help="downloads per server, keeping the best MB/s (3)")
    parser.add_argument("--no-large", action="store_true", help="skip the large download")
    parser.add_argument("--no-small", action="store_true", help="skip the wrk cases")
    args = parser.parse_args(argv)
    duration = args.duration or (2.0 if args.quick else 10.0)
    size = args.large_size or ((256 << 20) if args.quick else (2 << 30))
    servers = [s for s in args.servers.split(",") if s]
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(servers) - set(ALL_SERVERS) | set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown server or case: {', '.join(sorted(unknown))}")
    if not Path(TWISTD).exists():
        parser.error(f"no twistd next to {sys.executable}: run this with the venv's Python")
    for tool in ("wrk",) if not args.no_small else ():
        if not have(tool):
            parser.error(f"{tool} is not installed (Debian package {tool})")

    def say(line: str) -> None:
        print(line, flush=True)

    describe_environment(say)
    work = temp_dir("netlab-bench-")
    root = work / "root"
    root.mkdir()
    make_file(root / "1k.bin", SMALL)
    make_file(root / "64k.bin", MEDIUM)
    try:
        if not args.no_small:
            say(f"\n== small requests: wrk -t1 -c32 -d{duration:g}s")
            costs: dict[str, dict[str, float]] = {}
            small = bench_small(servers, cases, root, work, duration, say, max(1, args.rounds),
                                costs)
            say("")
            report_small(small, cases, say)
            report_costs(costs, cases, say)
        if not args.no_large:
            say(f"\n== large download: {size / (1 << 20):,.0f} MiB sparse file, curl")
            large = bench_large([s for s in LARGE_SERVERS if s in servers], root, work, size,
                                say, max(1, args.large_repeat))
            say("")
            report_large(large, size, say)
        say(f"\nload average at the end: {load_average()} (other processes share these CPUs "
            f"unless the machine is quiet)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
