#!/usr/bin/env python3
"""Check the package's import graph: no cycle, and every import points down a layer.

Usage: python3 .ci/check_imports.py [PACKAGE_DIR]   (default: twisted_netlab next to .ci)

Every ``import``/``from ... import`` in every module counts, including imports inside
functions: a lazy import is still a dependency, and hiding a cycle behind one is exactly
what this check is for. Layers, lowest first:

0. ``errors``: imports nothing from the package;
1. the sans-IO cores, the ``http/`` and ``framing/`` packages: import only layers 0-1, and nothing
   from Twisted, sockets, logging or event loops;
2. adapters and services (``web/``, ``tcp/``, ``endpoints``, everything else);
3. entry points (``tap`` modules, ``cli``, ``*_cli``): may import anything below.

A module may import its own layer or lower, never higher. Prints one line per
violation and exits 1; prints a summary and exits 0 when the graph is clean.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "twisted_netlab"
# What a sans-IO core must not touch (top-level module names).
IO_MODULES = frozenset(
    {"twisted", "zope", "socket", "ssl", "select", "selectors", "asyncio", "logging"}
)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    rest = module.split(".")[1:]
    if rest[:1] == ["errors"]:
        return 0
    if rest[:1] in (["http"], ["framing"]):
        return 1
    last = rest[-1] if rest else ""
    if last in ("tap", "cli") or last.endswith("_cli"):
        return 3
    return 2


def imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[list[str], int]]:
    """``(candidate module names, line)`` per imported name, relative imports resolved.

    ``from pkg import name`` may import the module ``pkg.name`` or a name from ``pkg``:
    both candidates are listed, most specific last.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield [alias.name], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                yield [target, f"{target}.{alias.name}"], node.lineno


def build_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    modules: dict[str, Path] = {
        module_name(root, p): p for p in sorted(root.rglob("*.py"))
    }
    graph: dict[str, set[str]] = {m: set() for m in modules}
    problems: list[str] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        own_layer = layer(module)
        reported: set[int] = set()  # one problem per import statement
        for candidates, line in imports(tree, module, path.name == "__init__.py"):
            where = f"{path}:{line}"
            top = candidates[0].split(".")[0]
            if own_layer == 1 and top in IO_MODULES and line not in reported:
                reported.add(line)
                problems.append(f"{where}: sans-IO core {module} imports {candidates[0]}")
            found = [c for c in candidates if c in modules and c != module]
            graph[module].update(found)
            if found and layer(found[-1]) > own_layer and line not in reported:
                reported.add(line)
                problems.append(
                    f"{where}: {module} (layer {own_layer}) imports {found[-1]} "
                    f"(layer {layer(found[-1])}), a layer above it"
                )
    return graph, problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def check(root: Path) -> tuple[list[str], int, int]:
    """``(problems, modules, edges)`` for the package at ``root``."""
    graph, problems = build_graph(root)
    for component in cycles(graph):
        problems.append("import cycle: " + " <-> ".join(component))
    return problems, len(graph), sum(len(v) for v in graph.values())


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / PACKAGE
    problems, modules, edges = check(root)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"import graph of {root.name}: {modules} modules, {edges} edges, no cycle, "
          "no upward import, sans-IO cores free of I/O imports")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
