"""RFC 9111 conformance: the http-tests/cache-tests suite (cache-tests.fyi) against our cache.

    python bench/cache_conformance.py --suite DIR [--no-nginx] [--only TEST-ID] [--keep]

``DIR`` is a checkout of https://github.com/http-tests/cache-tests (the layout with
``test-engine/``; run ``npm install`` in it once: its command-line client imports
``node-fetch-with-proxy``). The suite is not vendored here: it is someone else's code
under its own licence, fetched by whoever runs this. Without ``--suite`` this prints
where to get it and exits 2.

One run starts the suite's own origin server (``test-engine/server/server.mjs``), then
for each target in turn points the suite's command-line client (``test-engine/cli.mjs``)
at it and saves its JSON results:

``direct``
    The origin itself: no cache at all, the baseline every cache is compared with.
``nginx``
    nginx ``proxy_cache`` configured as the suite's ``docker/nginx/nginx.conf``
    (``proxy_cache_revalidate on``, ``proxy_http_version 1.1``), when nginx is installed.
``netlab``
    ``twistd -n --pidfile= netlab-web --proxy /=ORIGIN --proxy-cache``, at its defaults.

Results are counted the suite's way, by its own ``determineTestResult`` (so a test
whose ``depends_on`` failed counts as ``dependency_fail``, not as a failure): ``pass``
and ``fail`` (required tests), ``optional_fail`` (``kind: optimal``), ``yes`` / ``no``
(``kind: check``: behaviour the spec leaves open), ``setup_fail``. The table gives one
column per target; then our ``fail`` and ``optional_fail`` tests are listed with the
suite's message. Targets run one after another (the suite's tests pause 3 s between
requests and depend on timing, so they are run on their own, not in parallel).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    BenchError,
    Server,
    endpoint,
    free_port,
    have,
    nginx_argv,
    nginx_conf,
    table,
    temp_dir,
)

WHERE = """\
The conformance suite is not part of this repository. Get it with
    git clone https://github.com/http-tests/cache-tests
    cd cache-tests && npm install
then run
    .venv/bin/python bench/cache_conformance.py --suite path/to/cache-tests
(needs node >= 18; nginx is compared when installed)."""

# The suite's result types, in the order they are printed.
KINDS = ("pass", "fail", "optional_fail", "yes", "no", "setup_fail", "harness_fail",
         "dependency_fail", "retry", "untested")

# Classifies one results file with the suite's own code (run with cwd = the suite).
CLASSIFY = """
import { pathToFileURL } from 'node:url'
import fs from 'node:fs'
const suite = process.argv[1]
const engine = pathToFileURL(suite + '/test-engine/lib/results.mjs')
const { determineTestResult, resultTypes } = await import(engine)
const tests = (await import(pathToFileURL(suite + '/tests/index.mjs'))).default
const results = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const names = new Map(Object.entries(resultTypes).map(([k, v]) => [v, k]))
const out = []
for (const s of tests) {
  for (const t of s.tests) {
    if (!(t.id in results)) continue
    const r = determineTestResult(tests, t.id, results)
    const detail = results[t.id] === true ? '' : (results[t.id][1] || '')
    out.push([t.id, t.kind || 'required', names.get(r), detail])
  }
}
console.log(JSON.stringify(out))
"""


def check_suite(suite: Path) -> None:
    for rel in ("test-engine/cli.mjs", "test-engine/server/server.mjs",
                "test-engine/lib/results.mjs", "tests/index.mjs"):
        if not (suite / rel).is_file():
            raise BenchError(f"{suite} is not a cache-tests checkout: no {rel}\n{WHERE}")
    if not have("node"):
        raise BenchError("node is not installed (the suite runs on Node.js >= 18)")


def origin(suite: Path, workdir: Path) -> Server:
    port = free_port()
    env_argv = ["env", f"npm_config_port={port}", "npm_config_protocol=http",
                f"npm_config_pidfile={workdir / 'origin.pid'}"]
    return Server("origin", [*env_argv, "node", str(suite / "test-engine/server/server.mjs")],
                  port, workdir, cpu="1")


def netlab(origin_port: int, workdir: Path) -> Server:
    port = free_port()
    twistd = Path(sys.executable).with_name("twistd")
    argv = [str(twistd), "-n", "--pidfile=", f"--logfile={workdir / 'netlab-twistd.log'}",
            "netlab-web", "--port", endpoint(port),
            "--proxy", f"/=http://127.0.0.1:{origin_port}", "--proxy-cache"]
    return Server("netlab", argv, port, workdir, cpu="0")


def nginx(origin_port: int, workdir: Path) -> Server:
    port = free_port()
    tmp = workdir / "nginx"
    tmp.mkdir()
    (tmp / "cache").mkdir()
    conf = nginx_conf(tmp, f"""
    proxy_cache_path {tmp}/cache levels=1:2 keys_zone=my-cache:8m max_size=1000m inactive=600m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{origin_port};
            proxy_cache my-cache;
            proxy_cache_revalidate on;
            proxy_http_version 1.1;
        }}
    }}""")
    return Server("nginx", nginx_argv(tmp, conf), port, workdir, cpu="0")


def run_suite(suite: Path, base: str, out: Path, only: str, timeout: float) -> None:
    env = dict(os.environ, npm_config_base=base, npm_config_id=only)
    with open(out, "wb") as stdout:
        try:
            proc = subprocess.run(
                ["node", "--no-warnings", str(suite / "test-engine/cli.mjs")],
                cwd=suite, env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"the suite did not finish against {base} in {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise BenchError(f"the suite failed against {base}:\n{proc.stderr.decode()[-2000:]}")


def classify(suite: Path, results: Path) -> list[tuple[str, str, str, str]]:
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", CLASSIFY, str(suite), str(results)],
        cwd=suite, capture_output=True, timeout=60, check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"classifying {results} failed:\n{proc.stderr.decode()[-2000:]}")
    return [tuple(row) for row in json.loads(proc.stdout)]  # type: ignore[misc]


def counts(rows: list[tuple[str, str, str, str]]) -> dict[str, int]:
    out = dict.fromkeys(KINDS, 0)
    for _, _, result, _ in rows:
        out[result] = out.get(result, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, help="a checkout of http-tests/cache-tests")
    parser.add_argument("--no-nginx", action="store_true", help="skip nginx even if installed")
    parser.add_argument("--only", default="", help="run one test id (the suite dumps it)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds one target's run may take")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, JSON)")
    args = parser.parse_args(argv)
    if args.suite is None:
        print(WHERE, file=sys.stderr)
        return 2
    suite = args.suite.resolve()
    try:
        check_suite(suite)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    workdir = temp_dir("netlab-conformance-")
    rows: dict[str, list[tuple[str, str, str, str]]] = {}
    try:
        with origin(suite, workdir) as org:
            targets = [("direct", None)]
            if args.no_nginx or not have("nginx"):
                print("nginx: skipped (not installed or --no-nginx)")
            else:
                targets.append(("nginx", nginx))
            targets.append(("netlab", netlab))
            for name, make in targets:
                out = workdir / f"{name}.json"
                if make is None:
                    run_suite(suite, f"http://127.0.0.1:{org.port}", out, args.only,
                              args.timeout)
                else:
                    with make(org.port, workdir) as server:
                        run_suite(suite, f"http://127.0.0.1:{server.port}", out, args.only,
                                  args.timeout)
                if args.only:
                    print(f"== {name}\n{out.read_text()}")
                    continue
                rows[name] = classify(suite, out)
                print(f"{name}: done ({len(rows[name])} tests)", flush=True)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.only:
        return 0
    names = list(rows)
    tallies = {name: counts(rows[name]) for name in names}
    lines = [["result", *names]]
    for kind in KINDS:
        if any(tallies[n][kind] for n in names):
            lines.append([kind, *(str(tallies[n][kind]) for n in names)])
    print()
    print(table(lines))
    ours = rows.get("netlab", [])
    for label, kind in (("failures (required)", "fail"), ("optional failures", "optional_fail"),
                        ("setup failures", "setup_fail")):
        listed = [r for r in ours if r[2] == kind]
        print(f"\nnetlab {label}: {len(listed)}")
        for test_id, _, _, detail in listed:
            print(f"  {test_id}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
