"""Content types by extension: fixed table, charsets, safe default."""

from __future__ import annotations

import mimetypes

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http import mediatypes
from twisted_netlab.http.mediatypes import guess_type

U = "; charset=utf-8"


class GuessTypeTests(SynchronousTestCase):
    def test_table(self) -> None:
        cases = {
            "index.html": "text/html" + U,
            "a.htm": "text/html" + U,
            "a.css": "text/css" + U,
            "a.txt": "text/plain" + U,
            "a.js": "text/javascript" + U,
            "a.mjs": "text/javascript" + U,
            "a.json": "application/json" + U,
            "a.js.map": "application/json" + U,
            "a.webmanifest": "application/manifest+json" + U,
            "a.svg": "image/svg+xml" + U,
            "a.xml": "application/xml" + U,
            "a.md": "text/markdown" + U,
            "a.csv": "text/csv" + U,
            "a.wasm": "application/wasm",
            "a.png": "image/png",
            "a.jpg": "image/jpeg",
            "A.JPEG": "image/jpeg",
            "a.gif": "image/gif",
            "a.webp": "image/webp",
            "a.avif": "image/avif",
            "a.ico": "image/x-icon",
            "a.woff": "font/woff",
            "a.woff2": "font/woff2",
            "a.ttf": "font/ttf",
            "a.mp4": "video/mp4",
            "a.webm": "video/webm",
            "a.mp3": "audio/mpeg",
            "a.pdf": "application/pdf",
            "a.zip": "application/zip",
            "a.tar.gz": "application/gzip",
            "a.js.gz": "application/gzip",
            "a.css.br": "application/octet-stream",
            "a.zst": "application/zstd",
        }
        failures = {
            name: guess_type(name)
            for name, want in cases.items()
            if guess_type(name) != (want, False)
        }
        self.assertEqual(failures, {})

    def test_unknown(self) -> None:
        for name in ["README", "a.unknownext", ".env", ".git", "dir/", "a.", ""]:
            self.assertEqual(guess_type(name), ("application/octet-stream", True), name)

    def test_paths(self) -> None:
        self.assertEqual(guess_type("static/v1.2/app.js")[0], "text/javascript" + U)
        self.assertEqual(guess_type("dir.html/file")[1], True)
        self.assertEqual(guess_type("dir\\a.css")[0], "text/css" + U)

    def test_system_table_not_consulted(self) -> None:
        # A type registered globally (as /etc/mime.types would) does not leak in.
        mimetypes.add_type("text/x-netlab-test", ".netlabtest")
        self.addCleanup(mimetypes.types_map.pop, ".netlabtest", None)
        self.assertEqual(guess_type("a.netlabtest"), ("application/octet-stream", True))

    def test_no_database_work_per_call(self) -> None:
        # The table is built at import; a lookup must not build or read a MimeTypes.
        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("MimeTypes constructed during a lookup")

        self.patch(mediatypes.mimetypes, "MimeTypes", refuse)
        self.assertEqual(guess_type("a.css"), ("text/css" + U, False))
