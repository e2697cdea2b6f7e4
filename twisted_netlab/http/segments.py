"""Path segments and prefixes: one rule for every place that splits a ``/`` path.

Mount prefixes (``--proxy /api=...``, ``--tools-prefix``), signed-link scopes and the
router all agree that empty segments merge (``/a//b`` is ``/a/b``) and that ``.`` and
``..`` are never part of a configured prefix. Pure: no I/O, no Twisted.
"""

from __future__ import annotations

__all__ = ["DOT_SEGMENTS", "has_dot_segment", "join_segments", "merge_slashes", "path_segments"]

DOT_SEGMENTS = frozenset({".", ".."})


def path_segments(path: str) -> list[str]:
    """``"/api//v1/"`` -> ``["api", "v1"]``: the non-empty segments, in order."""
    return [s for s in path.split("/") if s]


def has_dot_segment(path: str) -> bool:
    """Whether any segment is ``.`` or ``..`` (which would escape a prefix)."""
    return any(s in DOT_SEGMENTS for s in path.split("/"))


def join_segments(segments: list[str], *, trailing_slash: bool = False) -> str:
    """``["api", "v1"]`` -> ``"/api/v1"`` (``"/"`` for none); optionally ``"/api/v1/"``."""
    if not segments:
        return "/"
    return "/" + "/".join(segments) + ("/" if trailing_slash else "")


def merge_slashes(path: str) -> str:
    """Merge empty segments (``a//b``) as the static resource does; keep a trailing slash."""
    return join_segments(path_segments(path), trailing_slash=path.endswith("/"))
