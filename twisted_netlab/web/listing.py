"""Directory listings: collect entries under the site's policies, render HTML or JSON.

Names come from the file system, so everything is escaped for HTML and links are
percent-encoded by segment. Hidden names and symlinks the policy refuses never appear:
a listing must not reveal what a direct request would not serve.
"""

from __future__ import annotations

import html
import json
import os
import stat as stat_module
from dataclasses import dataclass
from urllib.parse import quote

from twisted_netlab.http.validators import http_date
from twisted_netlab.web.fsinfo import Resolver

__all__ = ["ListingEntry", "collect_entries", "render_html", "render_json"]


@dataclass(frozen=True, slots=True)
class ListingEntry:
    name: str
    is_dir: bool
    size: int
    mtime: float


def collect_entries(
    directory: str, resolver: Resolver, *, allow_dotfiles: bool
) -> list[ListingEntry]:
    """Entries sorted: directories first, then by name (case-insensitive, then exact)."""
    entries: list[ListingEntry] = []
    with os.scandir(directory) as scan:
        for entry in scan:
            name = entry.name
            if name.startswith(".") and not allow_dotfiles:
                continue
            if "\\" in name or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
                continue  # the path rules would refuse a request for it anyway
            if not resolver.listable(entry):
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue  # dangling symlink or vanished file
            is_dir = stat_module.S_ISDIR(st.st_mode)
            if not is_dir and not stat_module.S_ISREG(st.st_mode):
                continue  # sockets, FIFOs, devices are never served
            entries.append(ListingEntry(name, is_dir, 0 if is_dir else st.st_size, st.st_mtime))
    entries.sort(key=lambda e: (not e.is_dir, e.name.lower(), e.name))
    return entries


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


# The request tools are opt-in (issue 7): say how to get them where people look.
TOOLS_HINT = (
    "Request tools (inspector, response setter under /_netlab/) are opt-in: "
    "start netlab-web with --tools."
)


def _href(entry: ListingEntry) -> str:
    return quote(entry.name, safe="") + ("/" if entry.is_dir else "")


def render_html(url_path: str, entries: list[ListingEntry], *, has_parent: bool) -> bytes:
    """``url_path`` is the decoded path shown as the title (escaped here)."""
    title = html.escape(f"Index of {url_path}")
    rows: list[str] = []
    if has_parent:
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for entry in entries:
        label = html.escape(entry.name + ("/" if entry.is_dir else ""))
        size = "-" if entry.is_dir else html.escape(_human(entry.size))
        rows.append(
            f'<tr><td><a href="{html.escape(_href(entry), quote=True)}">{label}</a></td>'
            f'<td>{size}</td><td>{html.escape(http_date(entry.mtime))}</td></tr>'
        )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{title}</title></head><body><h1>{title}</h1>\n"
        "<table><thead><tr><th>Name</th><th>Size</th><th>Last modified</th></tr></thead>"
        "<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        f"<footer><small>{TOOLS_HINT}</small></footer></body></html>\n"
    )
    return page.encode("utf-8")


def render_json(url_path: str, entries: list[ListingEntry], *, has_parent: bool) -> bytes:
    body = {
        "path": url_path,
        "parent": "../" if has_parent else None,
        "entries": [
            {
                "name": e.name,
                "type": "directory" if e.is_dir else "file",
                "size": e.size,
                "modified": http_date(e.mtime),
                "href": _href(e),
            }
            for e in entries
        ],
    }
    return (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
