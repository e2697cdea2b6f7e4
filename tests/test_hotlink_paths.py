"""The hotlink gate and the static lookup judge one canonical path (issue 7, case 1).

A whole netlab-web site (``build_site`` from real options) over a temporary directory,
driven in memory with exact request bytes: ``//private/p.txt``, ``/./private/p.txt`` and
``/%70rivate/p.txt`` must get the gate's answer for ``/private/p.txt``; a sidecar, a
directory's index and the SPA fallback are gated as the file they stand for.
"""

from __future__ import annotations

import gzip
import os
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.web_memory import body, get, header, status
from twisted_netlab.http.hotlink import mint_url
from twisted_netlab.web.site import NetlabSite, build_site
from twisted_netlab.web.tap import Options

SECRET = "0123456789abcdef-secret"
NOW = 1000
FILES = {
    "private/p.txt": b"private bytes",
    "private/q.txt": b"more private bytes",
    "media/logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "docs/index.html": b"<p>docs</p>",
    "index.html": b"<p>app</p>",
    "pub/a.txt": b"public",
}
SVG_GZ = gzip.compress(FILES["media/logo.svg"], mtime=0)


def make_tree(root: str) -> None:
    for name, data in {**FILES, "media/logo.svg.gz": SVG_GZ}.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    later = os.stat(os.path.join(root, "media/logo.svg")).st_mtime + 10
    os.utime(os.path.join(root, "media/logo.svg.gz"), (later, later))


def make_site(root: str, *extra: str) -> NetlabSite:
    options = Options()
    options.parseOptions([
        "--path", root, "--hotlink-mode", "signed", "--sign-key", f"k1={SECRET}",
        "--hotlink-pattern", "/private/*", "--hotlink-pattern", "*.svg",
        "--hotlink-pattern", "/docs/index.html", *extra,
    ])
    clock = Clock()
    clock.advance(NOW)
    return build_site(options.web_config, clock)


def signed_query(path: str) -> bytes:
    return urlsplit(mint_url(path, key_id="k1", secret=SECRET, expires_at=NOW + 60)).query.encode()


class CanonicalGateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        make_tree(self.root)
        self.site = make_site(self.root)

    def test_doubled_slash_does_not_bypass(self) -> None:
        for target in (b"/private/p.txt", b"//private/p.txt", b"/private//p.txt",
                       b"/./private/p.txt", b"/%70rivate/p.txt", b"/private/%2e/p.txt"):
            raw = get(self.site, target)
            self.assertEqual(status(raw), 403, target)
            self.assertNotIn(b"private bytes", raw)

    def test_doubled_slash_does_not_list_a_protected_folder(self) -> None:
        for target in (b"//private/", b"/private/", b"/private/.", b"//private//"):
            raw = get(self.site, target)
            self.assertEqual(status(raw), 403, target)
            self.assertNotIn(b"p.txt", raw)

    def test_signed_link_works_for_every_spelling(self) -> None:
        query = signed_query("/private/p.txt")
        for target in (b"/private/p.txt", b"//private/p.txt", b"/./private/p.txt"):
            raw = get(self.site, target + b"?" + query)
            self.assertEqual((status(raw), body(raw)), (200, b"private bytes"), target)

    def test_sidecar_is_gated_as_its_source(self) -> None:
        raw = get(self.site, b"/media/logo.svg.gz")
        self.assertEqual(status(raw), 403)
        explained = make_site(self.root, "--explain")
        self.assertEqual(
            header(get(explained, b"/media/logo.svg.gz"), b"x-netlab-explain"),
            [b"403 signature: missing signature (judged as /media/logo.svg)"],
        )
        self.assertNotIn(SVG_GZ, raw)
        # The link minted for the SVG also serves its sidecar (same content).
        raw = get(self.site, b"/media/logo.svg.gz?" + signed_query("/media/logo.svg"))
        self.assertEqual((status(raw), body(raw)), (200, SVG_GZ))
        # And the negotiated sidecar of a signed SVG request still works.
        raw = get(self.site, b"/media/logo.svg?" + signed_query("/media/logo.svg"),
                  b"Accept-Encoding: gzip")
        self.assertEqual((status(raw), header(raw, b"content-encoding")), (200, [b"gzip"]))

    def test_index_file_is_gated_as_itself(self) -> None:
        for target in (b"/docs/", b"//docs/", b"/docs/index.html"):
            raw = get(self.site, target)
            self.assertEqual(status(raw), 403, target)
            self.assertNotIn(b"<p>docs</p>", raw)
        raw = get(self.site, b"/docs/?" + signed_query("/docs/index.html"))
        self.assertEqual((status(raw), body(raw)), (200, b"<p>docs</p>"))

    def test_unprotected_paths_pass(self) -> None:
        raw = get(self.site, b"//pub//a.txt")
        self.assertEqual((status(raw), body(raw)), (200, b"public"))

    def test_bad_paths_refused_by_the_gate_too(self) -> None:
        raw = get(self.site, b"/private/..%2fp.txt")
        self.assertEqual(status(raw), 400)
        self.assertEqual(body(raw), b"400 Bad Request: encoded path separator (%2F) refused\n")
        raw = get(self.site, b"/media/%2e%2e/logo.svg")
        self.assertEqual(body(raw), b"400 Bad Request: '..' path segments are refused\n")

    def test_spa_fallback_is_gated_as_index(self) -> None:
        site = make_site(self.root, "--spa", "--hotlink-pattern", "/index.html")
        raw = get(site, b"/app/route", b"Accept: text/html")
        self.assertEqual(status(raw), 403)
        self.assertNotIn(b"<p>app</p>", raw)
        raw = get(site, b"/app/route?" + signed_query("/index.html"), b"Accept: text/html")
        self.assertEqual((status(raw), body(raw)), (200, b"<p>app</p>"))


# -- the property ---------------------------------------------------------------------

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


@st.composite
def spelling(draw: st.DrawFn, plain: str) -> bytes:
    """Another spelling of ``plain`` that the static server resolves to the same file."""
    directory = plain.endswith("/")
    out: list[str] = []
    for segment in [s for s in plain.split("/") if s]:
        for _ in range(draw(st.integers(0, 2))):
            out.append(draw(st.sampled_from(["", ".", "%2e", "%2E"])))
        chars = []
        for char in segment:
            if char in _UNRESERVED and draw(st.booleans()):
                code = f"%{ord(char):02X}"
                chars.append(code if draw(st.booleans()) else code.lower())
            else:
                chars.append(char)
        out.append("".join(chars))
    for _ in range(draw(st.integers(0, 2))):
        out.append(draw(st.sampled_from(["", "."])) if directory else "")
    if directory:
        out.append(draw(st.sampled_from(["", ".", "%2e"])))
    elif out and out[-1] == "":
        out.pop()  # "/file/" names no file: not a spelling of it
        while out and out[-1] == "":
            out.pop()
    text = "/" + "/".join(out)
    if not directory:
        text = text.rstrip("/")
    return text.encode("ascii")


PROTECTED = ["/private/p.txt", "/private/", "/media/logo.svg", "/media/logo.svg.gz", "/docs/"]


class PropertyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        make_tree(self.root)
        self.site = make_site(self.root)
        self.answers: dict[tuple[str, bool], tuple[int, bytes]] = {}
        for plain in PROTECTED:
            for signed in (False, True):
                self.answers[plain, signed] = self.answer(plain.encode(), plain, signed)
        self.assertEqual(self.answers["/private/p.txt", False][0], 403)
        self.assertEqual(self.answers["/private/p.txt", True], (200, b"private bytes"))

    def answer(self, target: bytes, plain: str, signed: bool) -> tuple[int, bytes]:
        if signed:
            source = "/docs/index.html" if plain == "/docs/" else plain.removesuffix(".gz")
            target += b"?" + signed_query(source)
        raw = get(self.site, target)
        return status(raw), body(raw) if status(raw) == 200 else b""

    @given(st.data())
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def test_every_spelling_gets_the_plain_answer(self, data: st.DataObject) -> None:
        plain = data.draw(st.sampled_from(PROTECTED))
        signed = data.draw(st.booleans())
        target = data.draw(spelling(plain))
        got = self.answer(target, plain, signed)
        if plain.endswith("/") and got[0] == 200:
            # A listing or index body can differ in nothing but the links it prints.
            got = (got[0], self.answers[plain, signed][1])
        self.assertEqual(got, self.answers[plain, signed], target)
