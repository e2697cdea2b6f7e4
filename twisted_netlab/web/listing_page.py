"""The HTML directory listing: pure functions from entries to escaped page bytes.

Why it is built this way:

- Sorting is plain links (``?sort=name|size|mtime&order=asc|desc``), so it works
  without JavaScript and under a CSP that forbids scripts; values are validated and
  anything unknown falls back to the default order (folders first, then by name), so
  a crafted query can neither break the page nor reach the markup.
- Every link is relative (``../``, ``sub/``), so the page stays right when the static
  root is mounted under a prefix; the breadcrumbs are relative too.
- Names come from the file system: they are escaped for HTML and percent-encoded per
  segment for links; a name that is not valid UTF-8 is shown with U+FFFD rather than
  breaking the page (the collector skips such names, but this module does not rely on
  that).
- It must stay fast for 10,000 entries: one pass, one ``join``, no per-row templating
  engine; icons are references to one inline SVG sprite.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from urllib.parse import parse_qsl, quote

from twisted_netlab.web.listing_assets import SPRITE, STYLE, icon_for

__all__ = [
    "SORT_KEYS",
    "ListingEntry",
    "entry_href",
    "human_size",
    "package_version",
    "parse_sort",
    "render_page",
    "sort_entries",
]

SORT_KEYS = ("name", "size", "mtime")
_FIRST_ORDER = {"name": "asc", "size": "desc", "mtime": "desc"}  # first click on a column
_LABELS = {"name": "Name", "size": "Size", "mtime": "Modified"}


@dataclass(frozen=True, slots=True)
class ListingEntry:
    name: str
    is_dir: bool
    size: int
    mtime: float


def _safe_text(name: str) -> str:
    """``name`` with undecodable bytes (surrogate escapes) shown as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def entry_href(entry: ListingEntry) -> str:
    """The entry's relative link: its name percent-encoded as one segment."""
    raw = entry.name.encode("utf-8", "surrogateescape")
    return quote(raw, safe="") + ("/" if entry.is_dir else "")


def human_size(size: int) -> str:
    """``2 B``, ``2.4 MiB``: binary units, one decimal above bytes."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


@lru_cache(maxsize=1)
def package_version() -> str:
    """The installed distribution's version (the checkout's, when not installed)."""
    try:
        return metadata.version("twisted-netlab")
    except metadata.PackageNotFoundError:
        from twisted_netlab import __version__

        return __version__


def parse_sort(query: bytes) -> tuple[str, str]:
    """``(key, order)`` from a raw query string; unknown or repeated junk is ignored."""
    key, order = "name", "asc"
    text = query.decode("latin-1")
    try:
        pairs = parse_qsl(text, max_num_fields=50)
    except ValueError:
        return key, order
    for name, value in pairs:
        if name == "sort" and value in SORT_KEYS:
            key = value
        elif name == "order" and value in ("asc", "desc"):
            order = value
    return key, order


def sort_entries(entries: Iterable[ListingEntry], key: str, order: str) -> list[ListingEntry]:
    """Folders first whatever the order; ties broken by name so the order is total."""
    def by_name(e: ListingEntry) -> tuple[str, str]:
        return (e.name.lower(), e.name)

    if key == "size":
        def sort_key(e: ListingEntry) -> tuple[object, ...]:
            return (e.size, *by_name(e))
    elif key == "mtime":
        def sort_key(e: ListingEntry) -> tuple[object, ...]:
            return (e.mtime, *by_name(e))
    else:
        def sort_key(e: ListingEntry) -> tuple[object, ...]:
            return by_name(e)
    items = list(entries)
    reverse = order == "desc"
    dirs = sorted((e for e in items if e.is_dir), key=sort_key, reverse=reverse)
    files = sorted((e for e in items if not e.is_dir), key=sort_key, reverse=reverse)
    return dirs + files


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _dates(mtime: float) -> tuple[str, str, str]:
    """(short UTC text, ISO 8601, IMF-fixdate) or dashes for an unrepresentable time.

    One ``datetime`` per row, formatted by hand (locale-proof, and half the cost of
    ``email.utils.formatdate`` on a 10,000-row page); equal to ``http_date``.
    """
    try:
        w = datetime.fromtimestamp(int(mtime), UTC)
    except (OverflowError, OSError, ValueError):
        return "-", "", ""
    day, clock = f"{w.year:04d}-{w.month:02d}-{w.day:02d}", f"{w.hour:02d}:{w.minute:02d}"
    seconds = f"{clock}:{w.second:02d}"
    rfc = f"{_DAYS[w.weekday()]}, {w.day:02d} {_MONTHS[w.month - 1]} {w.year:04d} {seconds} GMT"
    return f"{day} {clock}", f"{day}T{seconds}Z", rfc


def _breadcrumbs(url_path: str) -> str:
    segments = [s for s in url_path.split("/") if s]
    depth = len(segments)
    root = f'<a href="{"../" * depth}">/</a>' if depth else '<a href="./" aria-current="page">/</a>'
    parts = [root]
    for i, segment in enumerate(segments):
        label = html.escape(_safe_text(segment))
        up = depth - i - 1
        if up:
            parts.append(f'<a href="{"../" * up}">{label}</a><span class="sep">/</span>')
        else:
            parts.append(f'<a href="./" aria-current="page">{label}</a><span class="sep">/</span>')
    return "".join(parts)


def _header(column: str, key: str, order: str) -> str:
    active = column == key
    if active:
        next_order = "desc" if order == "asc" else "asc"
        arrow = " \u25b2" if order == "asc" else " \u25bc"
        aria = f' aria-sort="{"ascending" if order == "asc" else "descending"}"'
    else:
        next_order, arrow, aria = _FIRST_ORDER[column], "", ""
    cls = {"name": "", "size": ' class="num"', "mtime": ' class="num mod"'}[column]
    return (
        f'<th{cls}{aria}><a href="?sort={column}&amp;order={next_order}">'
        f"{_LABELS[column]}{arrow}</a></th>"
    )


def _row(entry: ListingEntry, suffix: str) -> str:
    label = html.escape(_safe_text(entry.name) + ("/" if entry.is_dir else ""))
    href = html.escape(entry_href(entry) + (suffix if entry.is_dir else ""), quote=True)
    if entry.is_dir:
        size = '<td class="num mute">\u2014</td>'
    else:
        size = f'<td class="num" title="{entry.size} bytes">{human_size(entry.size)}</td>'
    short, iso, rfc = _dates(entry.mtime)
    when = f'<time datetime="{iso}" title="{rfc}">{short}</time>' if iso else short
    return (
        f'<tr><td class="name">{icon_for(entry.name, entry.is_dir)}<a href="{href}">{label}</a>'
        f'</td>{size}<td class="num mod">{when}</td></tr>'
    )


def _summary(entries: list[ListingEntry]) -> str:
    dirs = sum(1 for e in entries if e.is_dir)
    files = len(entries) - dirs
    total = sum(e.size for e in entries if not e.is_dir)
    folder_word = "folder" if dirs == 1 else "folders"
    file_word = "file" if files == 1 else "files"
    return f"{dirs:,} {folder_word}, {files:,} {file_word}, {human_size(total)}"


def render_page(
    url_path: str, entries: list[ListingEntry], *, has_parent: bool, query: bytes = b""
) -> bytes:
    """The whole page as UTF-8 bytes; ``url_path`` is decoded (``/a b/``), escaped here."""
    key, order = parse_sort(query)
    ordered = sort_entries(entries, key, order)
    default = (key, order) == ("name", "asc")
    # keep the chosen order while browsing into folders and back up
    suffix = "" if default else f"?sort={key}&order={order}"
    title = html.escape(f"Index of {_safe_text(url_path)}")
    rows: list[str] = []
    if has_parent:
        up = html.escape("../" + suffix, quote=True)
        rows.append(
            '<tr><td class="name"><svg class="i dir" aria-hidden="true"><use href="#i-up"/>'
            f'</svg><a href="{up}">../</a></td><td class="num"></td><td class="num mod"></td></tr>'
        )
    rows.extend(_row(entry, suffix) for entry in ordered)
    version = html.escape(package_version())
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>{SPRITE}<main>"
        f'<nav aria-label="breadcrumbs"><h1><span class="mute">Index of </span>'
        f"{_breadcrumbs(url_path)}</h1></nav>\n"
        f'<table><thead><tr>{_header("name", key, order)}{_header("size", key, order)}'
        f'{_header("mtime", key, order)}</tr></thead><tbody>\n'
        + "\n".join(rows)
        + f'\n</tbody></table>\n<p class="mute" id="summary">{_summary(entries)}</p>'
        f'<footer>twisted-netlab {version} \u00b7 times in UTC \u00b7 '
        "request tools (inspector, response setter) are off by default: start the "
        "server with <code>--tools</code>, then open <code>/_netlab/</code></footer>"
        "</main></body></html>\n"
    )
    return page.encode("utf-8")
