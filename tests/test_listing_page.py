"""The HTML listing page as a pure function: sorting, escaping, sizes, dates, footer."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.validators import http_date
from twisted_netlab.web.listing_page import (
    ListingEntry,
    human_size,
    package_version,
    parse_sort,
    render_page,
    sort_entries,
)

WHEN = 1795979400.0  # 2026-11-29 19:10:00 UTC

ENTRIES = [
    ListingEntry("b.txt", False, 2, WHEN - 60),
    ListingEntry("big.bin", False, 2516582, WHEN),
    ListingEntry("A.png", False, 10, WHEN - 3600),
    ListingEntry("zdir", True, 0, WHEN - 10),
    ListingEntry("adir", True, 0, WHEN - 5),
]


class _Hrefs(HTMLParser):
    """Every ``href`` in the table body, in order, unescaped by the parser."""

    def __init__(self) -> None:
        super().__init__()
        self.in_body = False
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self.in_body = True
        elif tag == "a" and self.in_body:
            self.hrefs.append(dict(attrs)["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.in_body = False


def body_hrefs(page: bytes) -> list[str]:
    parser = _Hrefs()
    parser.feed(page.decode("utf-8"))
    return parser.hrefs


class SortTests(SynchronousTestCase):
    def test_parse_sort_valid_and_invalid(self) -> None:
        self.assertEqual(parse_sort(b""), ("name", "asc"))
        self.assertEqual(parse_sort(b"sort=size&order=desc"), ("size", "desc"))
        self.assertEqual(parse_sort(b"sort=mtime"), ("mtime", "asc"))
        self.assertEqual(parse_sort(b"sort=%3Cscript%3E&order=sideways"), ("name", "asc"))
        self.assertEqual(parse_sort(b"sort=size&sort=bogus&order=desc&x=\xff"), ("size", "desc"))
        self.assertEqual(parse_sort(b"&&=&sort"), ("name", "asc"))

    def test_folders_first_in_every_order(self) -> None:
        for key in ("name", "size", "mtime"):
            for order in ("asc", "desc"):
                names = [e.name for e in sort_entries(ENTRIES, key, order)]
                self.assertEqual(set(names[:2]), {"adir", "zdir"}, (key, order))

    def test_orders(self) -> None:
        def names(key: str, order: str) -> list[str]:
            return [e.name for e in sort_entries(ENTRIES, key, order)]

        self.assertEqual(names("name", "asc"), ["adir", "zdir", "A.png", "b.txt", "big.bin"])
        self.assertEqual(names("name", "desc"), ["zdir", "adir", "big.bin", "b.txt", "A.png"])
        self.assertEqual(names("size", "desc"), ["zdir", "adir", "big.bin", "A.png", "b.txt"])
        self.assertEqual(names("size", "asc"), ["adir", "zdir", "b.txt", "A.png", "big.bin"])
        self.assertEqual(names("mtime", "desc"), ["adir", "zdir", "big.bin", "b.txt", "A.png"])

    def test_page_rows_follow_query(self) -> None:
        page = render_page("/d/", ENTRIES, has_parent=True, query=b"sort=size&order=desc")
        suffix = "?sort=size&order=desc"
        self.assertEqual(
            body_hrefs(page),
            ["../" + suffix, "zdir/" + suffix, "adir/" + suffix, "big.bin", "A.png", "b.txt"],
        )
        # the active column's link flips the order, the others start at their natural one
        self.assertIn('<th class="num" aria-sort="descending"><a href="?sort=size&amp;order=asc">'
                      "Size \u25bc</a></th>", page.decode())
        self.assertIn('<a href="?sort=name&amp;order=asc">Name</a>', page.decode())
        self.assertIn('<a href="?sort=mtime&amp;order=desc">Modified</a>', page.decode())

    def test_unknown_query_gives_default_page(self) -> None:
        default = render_page("/d/", ENTRIES, has_parent=True)
        self.assertEqual(
            render_page("/d/", ENTRIES, has_parent=True, query=b'sort="><b>&order=%00'), default
        )
        self.assertEqual(
            body_hrefs(default), ["../", "adir/", "zdir/", "A.png", "b.txt", "big.bin"]
        )


class ContentTests(SynchronousTestCase):
    def test_human_size(self) -> None:
        self.assertEqual(
            [human_size(n) for n in (0, 2, 1023, 1024, 2516582, 5 << 30, 3 << 40)],
            ["0 B", "2 B", "1023 B", "1.0 KiB", "2.4 MiB", "5.0 GiB", "3.0 TiB"],
        )

    def test_row_sizes_and_dates(self) -> None:
        page = render_page("/", ENTRIES, has_parent=False).decode()
        self.assertIn('<td class="num" title="2516582 bytes">2.4 MiB</td>', page)
        self.assertIn(
            f'<time datetime="2026-11-29T19:10:00Z" title="{http_date(WHEN)}">'
            "2026-11-29 19:10</time>",
            page,
        )
        self.assertIn('<td class="num mute">\u2014</td>', page)  # folders have no size
        self.assertIn('<p class="mute" id="summary">2 folders, 3 files, 2.4 MiB</p>', page)

    def test_page_frame(self) -> None:
        page = render_page("/", [], has_parent=False).decode()
        self.assertTrue(page.startswith("<!DOCTYPE html>\n<html lang=\"en\">"))
        self.assertIn('<meta name="viewport" content="width=device-width,initial-scale=1">', page)
        self.assertIn("@media (prefers-color-scheme:dark)", page)
        self.assertIn(f"twisted-netlab {package_version()} \u00b7", page)
        self.assertIn("<code>--tools</code>", page)
        self.assertIn("0 folders, 0 files, 0 B", page)
        self.assertNotIn("<script", page)
        # nothing external: no src= and no absolute URL other than the SVG namespace
        self.assertEqual(re.findall(r"\bsrc=|https?://(?!www\.w3\.org/2000/svg)", page), [])

    def test_breadcrumbs_are_relative(self) -> None:
        page = render_page("/a b/c&d/", [], has_parent=True).decode()
        self.assertIn(
            '<a href="../../">/</a><a href="../">a b</a><span class="sep">/</span>'
            '<a href="./" aria-current="page">c&amp;d</a><span class="sep">/</span>',
            page,
        )
        self.assertIn("<title>Index of /a b/c&amp;d/</title>", page)

    def test_hostile_names_escaped(self) -> None:
        names = ['<script>alert("x")&.txt', "it's.txt", "bad\udcff\udcfe.txt", "\u00e9t\u00e9"]
        entries = [ListingEntry(n, False, 1, WHEN) for n in names]
        page = render_page("/<i>/", entries, has_parent=True).decode("utf-8")
        self.assertNotIn("<script>", page)
        self.assertNotIn("<i>", page)
        self.assertIn("&lt;script&gt;alert(&quot;x&quot;)&amp;.txt", page)
        self.assertIn('href="%3Cscript%3Ealert%28%22x%22%29%26.txt"', page)
        self.assertIn("it&#x27;s.txt", page)
        self.assertIn("bad\ufffd\ufffd.txt", page)  # undecodable bytes shown, not crashed on
        self.assertIn('href="bad%FF%FE.txt"', page)
        self.assertIn('href="%C3%A9t%C3%A9"', page)

    def test_dates_match_http_date(self) -> None:
        for when in (0.0, 951782400.0, WHEN + 0.9, 4102444799.0, 1234567890.5):
            page = render_page("/", [ListingEntry("x", False, 1, when)], has_parent=False).decode()
            self.assertIn(f'title="{http_date(when)}"', page)

    def test_unrepresentable_time(self) -> None:
        page = render_page("/", [ListingEntry("x", False, 1, 1e20)], has_parent=False).decode()
        self.assertIn('<td class="num mod">-</td>', page)

    def test_ten_thousand_entries(self) -> None:
        entries = [
            ListingEntry(f"file-{i:05d}.txt", False, i * 37, WHEN - i) for i in range(10_000)
        ]
        # correctness only; the time is measured by bench/listing_bench.py, never asserted
        page = render_page("/big/", entries, has_parent=True, query=b"sort=mtime&order=asc")
        self.assertEqual(len(body_hrefs(page)), 10_001)
        self.assertEqual(body_hrefs(page)[1], "file-09999.txt")
