"""Pieces shared by the in-process benchmarks (``channel_bench``, ``proxy_hot``,
``static_hot``): the twisted.web floor and the cachegrind instruction count."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Site

ONE_K = b"x" * 1024


class Floor(Resource):
    """A leaf returning 1 KiB of constant bytes: what twisted.web costs by itself."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return ONE_K


class QuietSite(Site):
    def log(self, request: Any) -> None:
        """No access log: the floor."""


def floor_site() -> Site:
    return QuietSite(Floor())


def icount(script: str, kind: str, flags: list[str]) -> float:
    """Instructions per request of ``script KIND N --once FLAGS``: cachegrind runs of
    1000 and 3000 requests, differenced (start-up and warm-up cancel out)."""
    counts = []
    for n in (1000, 3000):
        with tempfile.NamedTemporaryFile(suffix=".cg") as out:
            done = subprocess.run(
                ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                 f"--cachegrind-out-file={out.name}",
                 sys.executable, script, kind, str(n), "--once", *flags],
                capture_output=True, text=True, check=True, timeout=900,
            )
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        assert found is not None, done.stderr[-2000:]
        counts.append(int(found.group(1).replace(",", "")))
    return (counts[1] - counts[0]) / 2000
