"""Replays change nothing a client can see: a property test against the full path.

Two sites serve the same directory on one fake clock, one with replays and one without
(its tables removed). Hypothesis draws sequences of requests (methods, paths, every
conditional and Range form the static files answer, odd heads) and changes to the
files between them; each request goes to both sites, and the answers must be equal
byte for byte but the Date, with the same connection state after each.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import datetimeToString

from tests.replay_support import PAST, Connection, field, get, make_site, undated, write

FILES = {
    "a.txt": b"alpha\n",
    "b.bin": bytes(range(256)) * 8,
    "dir/index.html": b"<p>index</p>\n",
}
# Weighted to the files that change (a.txt rewritten or removed, b.bin touched).
PATHS = ["/a.txt"] * 6 + ["/b.bin"] * 4 + [
    "/dir/", "/dir", "/missing.txt", "/a.txt?q=1", "/./a.txt", "/%2e%2e/x", "/.hidden", "/a.txt/",
]
# Fields as drawn; "{etag}" and "{modified}" become the path's current validators.
FIELDS = [
    "If-None-Match: {etag}", 'If-None-Match: W/"x", {etag}', 'If-None-Match: "nope"',
    "If-None-Match: *", "If-Modified-Since: {modified}",
    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
    "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT", "If-Modified-Since: garbage",
    "If-Modified-Since: {soon}", "If-Unmodified-Since: {soon}",
    "Range: bytes=0-3", "Range: bytes=5-", "Range: bytes=-3", "Range: bytes=999999-",
    "Range: bytes=x", "If-Range: {etag}", "If-Match: \"nope\"", "If-Match: *",
    "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT", "Accept-Encoding: gzip",
    "Accept-Encoding: br;q=0, gzip;q=0.5", "Accept: text/html", "User-Agent: agent",
    "Connection: close", "Connection: keep-alive",
]
requests = st.tuples(
    st.sampled_from(["GET", "HEAD", "OPTIONS"]),
    st.sampled_from(PATHS),
    st.lists(st.sampled_from(FIELDS), max_size=2, unique=True),
    st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]),
)
changes = st.sampled_from(["rewrite", "touch", "remove", "restore"])
# A few distinct requests per example, each sent several times: replays need repeats.
pools = st.lists(requests, min_size=1, max_size=4)
steps = st.lists(st.one_of(st.integers(0, 3), changes), min_size=1, max_size=30)


class EquivalenceTests(SynchronousTestCase):
    @settings(max_examples=500, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(pools, steps)
    def test_replays_answer_as_the_full_path(self, pool: list[Any], drawn: list[Any]) -> None:
        root = os.path.abspath(self.mktemp())
        for name, data in FILES.items():
            write(root, name, data)
        clock = MemoryReactorClock()
        clock.advance(PAST + 10_000_000)
        fast = make_site(root, clock=clock)
        full = make_site(root, clock=clock)
        full.replays = {}  # no tables: every request takes the full path
        ports = iter(range(41000, 42000))
        conns = [Connection(fast, next(ports)), Connection(full, next(ports))]
        version = 0
        # A date a second ahead: ignored in a precondition until the clock passes it.
        self.soon = datetimeToString(clock.seconds() + 1).decode("latin-1")
        self.replayed = 0
        for step in drawn:
            if isinstance(step, str):
                version += 1
                path = os.path.join(root, "a.txt")
                if step == "rewrite":
                    write(root, "a.txt", b"v" * version, mtime=PAST + version)
                elif step == "touch":
                    os.utime(os.path.join(root, "b.bin"), (PAST + version, PAST + version))
                elif step == "remove" and os.path.exists(path):
                    os.remove(path)
                elif step == "restore":
                    write(root, "a.txt", FILES["a.txt"])
                continue
            request = self.build(pool[step % len(pool)], full)
            answers = [conn.send(request) for conn in conns]
            self.assertEqual(undated(answers[0]), undated(answers[1]), request)
            self.assertEqual(conns[0].closing, conns[1].closing, request)
            if conns[0].closing:
                for conn in conns:
                    conn.close()
                conns = [Connection(fast, next(ports)), Connection(full, next(ports))]
            clock.advance(0.5)

    def build(self, step: tuple[str, str, list[str], str], full: Any) -> bytes:
        method, path, fields, version = step
        probe = Connection(full, 40999)
        answer = probe.send(get(path.partition("?")[0], method="HEAD"))
        probe.close()
        etag = (field(answer, b"etag") or b'"none"').decode("latin-1")
        modified = (field(answer, b"last-modified") or b"Sun, 06 Nov 1994 08:49:37 GMT")
        values = [
            f.format(etag=etag, modified=modified.decode("latin-1"), soon=self.soon)
            for f in fields
        ]
        return get(path, *values, method=method, version=version)
