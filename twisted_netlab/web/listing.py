"""Directory listings: collect entries under the site's policies, render HTML or JSON.

Names come from the file system, so everything is escaped for HTML and links are
percent-encoded by segment. Hidden names and symlinks the policy refuses never appear:
a listing must not reveal what a direct request would not serve.
"""

from __future__ import annotations

import json
import os
import stat as stat_module

from twisted_netlab.http.validators import http_date
from twisted_netlab.web.fsinfo import Resolver
from twisted_netlab.web.listing_page import ListingEntry, entry_href, render_page

__all__ = ["ListingEntry", "collect_entries", "render_html", "render_json"]



def _is_utf8(name: str) -> bool:
    """False for names holding undecodable bytes (``os`` gives them as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
            if not _is_utf8(name):
                continue  # paths are decoded as UTF-8: a request could never reach it
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


def render_html(
    url_path: str, entries: list[ListingEntry], *, has_parent: bool, query: bytes = b""
) -> bytes:
    """The browsable page; ``url_path`` is the decoded path (escaped here).

    ``query`` is the request's raw query string: ``sort`` and ``order`` in it choose
    the order (see ``listing_page.parse_sort``); anything else is ignored.
    """
    return render_page(url_path, entries, has_parent=has_parent, query=query)


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
                "href": entry_href(e),
            }
            for e in entries
        ],
    }
    return (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
