"""Directory listing render time for a large folder: ours vs Twisted's DirectoryLister.

    .venv/bin/python bench/listing_bench.py [--entries 10000] [--repeat 5]

Creates a temporary folder with N empty files, then times (best of --repeat, in one
process) our collect + HTML page (``web.listing``) against the anchor,
``twisted.web.static.DirectoryLister`` rendering the same folder, and prints the
ratio ours / anchor. Measures CPU work in-process only (no sockets): the page is built
in one reactor turn, so this is the time the server is blocked for one listing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted_netlab.web.fsinfo import Resolver, SymlinkPolicy
from twisted_netlab.web.listing import collect_entries, render_html


def best(repeat: int, work: Callable[[], bytes]) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = len(work())
        times.append(time.perf_counter() - start)
    return min(times), size


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="listing_bench")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 entries, 2 repeats")
    args = parser.parse_args(argv)
    entries, repeat = (1000, 2) if args.quick else (args.entries, args.repeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from twisted.web.static import DirectoryLister
        from twisted.web.test.requesthelper import DummyRequest
    folder = tempfile.mkdtemp(prefix="listing-bench-")
    try:
        for i in range(entries):
            with open(os.path.join(folder, f"file-{i:05d}.txt"), "wb") as handle:
                handle.write(b"x" * (i % 4096))
        resolver = Resolver(folder, SymlinkPolicy.INSIDE)

        def ours() -> bytes:
            found = collect_entries(folder, resolver, allow_dotfiles=False)
            return render_html("/big/", found, has_parent=True, query=b"sort=size&order=desc")

        def anchor() -> bytes:
            page: bytes = DirectoryLister(folder).render(DummyRequest([b""]))  # type: ignore[no-untyped-call]
            return page

        ours_s, ours_bytes = best(repeat, ours)
        anchor_s, anchor_bytes = best(repeat, anchor)
    finally:
        shutil.rmtree(folder)
    print(f"entries={entries} repeat={repeat} (best of)")
    print(f"netlab listing     {ours_s * 1000:8.1f} ms  {ours_bytes:>9,} bytes")
    print(f"DirectoryLister    {anchor_s * 1000:8.1f} ms  {anchor_bytes:>9,} bytes")
    print(f"ratio ours/anchor  {ours_s / anchor_s:8.2f}  (lower is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
