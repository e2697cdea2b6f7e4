"""The listing page served by a real StaticResource, checked over HTTP and in Chromium.

Chromium (headless) dumps the DOM it built, which we assert on, and takes screenshots
in light and dark mode into the test's temp folder (look at them by hand: the test
prints their paths). ``--force-dark-mode`` makes ``prefers-color-scheme: dark`` match.
"""

from __future__ import annotations

import os

from tests.browser_support import PNG_MAGIC, require_chromium, run_chromium, screenshot
from tests.static_support import StaticTestCase

OLD = 1795979400  # 2026-11-29 19:10:00 UTC


class ListingOverHttpTests(StaticTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.file("d/b.txt", b"bb", mtime=OLD)
        self.file("d/big.bin", b"x" * 2516582, mtime=OLD - 60)
        self.file("d/A.png", b"a" * 10, mtime=OLD - 3600)
        os.makedirs(os.path.join(self.root, "d", "zdir"))
        with open(os.path.join(self.root.encode(), b"d", b"bad\xff.txt"), "wb") as handle:
            handle.write(b"not reachable: the path is decoded as UTF-8")

    async def test_sorted_by_query(self) -> None:
        reply = await self.request("/d/?sort=size&order=desc")
        self.assertEqual(reply.code, 200)
        page = reply.body.decode("utf-8")
        order = [page.index(f'href="{h}"') for h in (
            "zdir/?sort=size&amp;order=desc", "big.bin", "A.png", "b.txt")]
        self.assertEqual(order, sorted(order))
        self.assertIn('<td class="num" title="2516582 bytes">2.4 MiB</td>', page)
        self.assertIn(">2026-11-29 19:10</time>", page)

    async def test_non_utf8_name_neither_breaks_nor_shows(self) -> None:
        for accept in ("text/html", "application/json"):
            reply = await self.request("/d/", headers={"Accept": accept})
            self.assertEqual(reply.code, 200)
            text = reply.body.decode("utf-8")  # strictly valid UTF-8
            self.assertIn("b.txt", text)
            self.assertNotIn("bad", text)

    async def test_bad_sort_values_are_ignored(self) -> None:
        plain = await self.request("/d/")
        odd = await self.request("/d/?sort=%3Cb%3E&order=up&sort")
        self.assertEqual(odd.code, 200)
        self.assertEqual(odd.body, plain.body)


class ListingInChromiumTests(StaticTestCase):
    timeout = 240

    def setUp(self) -> None:
        require_chromium()
        super().setUp()
        for i in range(40):
            self.file(f"docs/note-{i:02d}.md", b"n" * (i * 1000), mtime=OLD - i * 60)
        self.file("docs/photo.jpg", b"j" * 2516582, mtime=OLD)
        self.file('docs/<b>&"quoted".txt', b"q", mtime=OLD)
        os.makedirs(os.path.join(self.root, "docs", "sub folder"))
        self.shots = os.path.abspath(self.mktemp())
        os.makedirs(self.shots)

    async def test_dom_and_screenshots(self) -> None:
        self.serve()
        url = self.url("/docs/?sort=size&order=desc")
        dom = (await run_chromium(self, url, "--dump-dom")).decode("utf-8")
        # The browser built the table we meant: header links, escaped names, sort order.
        self.assertIn('<th class="num" aria-sort="descending">'
                      '<a href="?sort=size&amp;order=asc">Size ▼</a></th>', dom)
        self.assertIn("&lt;b&gt;&amp;\"quoted\".txt</a>", dom)
        self.assertNotIn("<b>&amp;", dom)
        first = dom.index('href="sub%20folder/?sort=size&amp;order=desc"')
        self.assertLess(first, dom.index('href="photo.jpg"'))
        self.assertLess(dom.index('href="photo.jpg"'), dom.index('href="note-39.md"'))
        self.assertLess(dom.index('href="note-39.md"'), dom.index('href="note-00.md"'))
        self.assertIn('<nav aria-label="breadcrumbs"><h1>', dom)
        self.assertIn("1 folder, 42 files", dom)
        shots = {}
        for theme, flags in (("light", ()), ("dark", ("--force-dark-mode",))):
            path = os.path.join(self.shots, f"listing-{theme}.png")
            shots[theme] = await screenshot(self, url, path, *flags, "--window-size=900,700")
            self.assertEqual(shots[theme][:8], PNG_MAGIC)
        self.assertNotEqual(shots["light"], shots["dark"])  # the dark theme really applied
        phone = os.path.join(self.shots, "listing-phone.png")
        await screenshot(self, url, phone, "--window-size=390,800")
        self.assertTrue(os.path.getsize(phone) > 0)
        print(f"\nlisting screenshots in {self.shots}")
