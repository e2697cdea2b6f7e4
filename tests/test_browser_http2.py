# mypy: disallow-untyped-calls=False
"""A real headless Chromium speaks HTTP/2 to netlab-web over ``--tls``.

No DevTools: the proof comes from the browser's own Resource Timing.  A static page
(``probe.html``) is loaded as the navigation; its script fetches a directory listing
and a static file, then writes ``nextHopProtocol`` of the navigation and of both
fetches (the ALPN protocol Chromium negotiated), their status and a piece of each body
into the DOM, which ``--dump-dom`` prints.  The certificate is the self-signed one
``--tls`` makes; Chromium is told to accept it (``--ignore-certificate-errors``: a
throwaway profile, loopback only).
"""

from __future__ import annotations

import re

from twisted.trial.unittest import SkipTest

from tests.browser_support import dump_dom, require_chromium
from tests.tls_support import TLSServerCase, client_env
from twisted_netlab.tls_options import h2_available

PROBE = """<!doctype html>
<html><head><meta charset="utf-8"><title>h2 probe</title></head><body>
<pre id="out">pending</pre>
<script>
async function get(path) {
  const response = await fetch(path, {cache: "no-store"});
  const text = await response.text();
  return [response.status, text];
}
async function probe() {
  const [listingStatus, listing] = await get("/files/");
  const [fileStatus, file] = await get("/files/note.txt");
  const proto = (path) => performance.getEntriesByType("resource")
    .filter(e => new URL(e.name).pathname === path).map(e => e.nextHopProtocol).join(",");
  return [
    "nav=" + performance.getEntriesByType("navigation")[0].nextHopProtocol,
    "listing=" + proto("/files/") + ":" + listingStatus
      + (listing.includes("note.txt") ? ":lists-note" : ":no-note"),
    "file=" + proto("/files/note.txt") + ":" + fileStatus + ":" + file.trim(),
  ].join(" ");
}
probe().then(r => "RESULT " + r, e => "ERROR " + e)
  .then(r => { document.getElementById("out").textContent = r; });
</script></body></html>
"""


class BrowserHTTP2Tests(TLSServerCase):
    timeout = 240

    def setUp(self) -> None:
        require_chromium()
        if not h2_available():
            raise SkipTest("Twisted's HTTP/2 extra (h2, priority) is not installed")
        super().setUp()
        (self.root / "probe.html").write_text(PROBE, encoding="utf-8")
        (self.root / "files").mkdir()
        (self.root / "files" / "note.txt").write_bytes(b"static over h2\n")
        self.serve(["--tls"])

    async def test_listing_and_static_file_over_h2(self) -> None:
        dom = await dump_dom(
            self, self.url("/probe.html"), "--ignore-certificate-errors",
            "--virtual-time-budget=5000", reactor=self.reactor, env=client_env(),
        )
        found = re.search(r"RESULT [^<]*|ERROR [^<]*", dom)
        self.assertIsNotNone(found, dom[-2000:])
        assert found is not None
        self.assertEqual(
            found.group(0),
            "RESULT nav=h2 listing=h2:200:lists-note file=h2:200:static over h2",
        )
