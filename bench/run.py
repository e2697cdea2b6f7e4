"""One entry point for every benchmark: ``python bench/run.py [tcp|web|proxy|all] [--quick]``.

Each suite starts its anchors in the same run and prints ours / anchor ratios.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SUITES = {"tcp": "tcp_bench.py", "web": "web_bench.py", "proxy": "proxy_bench.py",
          "scale": "scale_bench.py"}


def load(name: str):  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name(SUITES[name])
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while loading
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    which = argv[0] if argv and not argv[0].startswith("-") else "all"
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    if which not in (*SUITES, "all"):
        print(f"usage: run.py [{'|'.join(SUITES)}|all] [suite options]", file=sys.stderr)
        return 2
    status = 0
    for name in SUITES if which == "all" else [which]:
        print(f"===== {name} =====", flush=True)
        status |= load(name).main(rest) or 0
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
