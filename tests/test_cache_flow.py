"""The wiring contract, walked end to end without a network: decision core + store.

This is the sequence the proxy package will run per request (see the report / the
``twisted_netlab.http.cache`` docstring): lookup -> (hit: open the body) or (forward /
revalidate: go "upstream" -> admit / freshen -> stream into the store -> commit).
"""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.cache.disk import DiskStore
from twisted_netlab.cache.memory import MemoryStore
from twisted_netlab.cache.tiered import TieredStore
from twisted_netlab.http.cache.cache_status import FwdReason
from twisted_netlab.http.cache.decision import (
    Forward,
    Hit,
    Revalidate,
    admit,
    freshen,
    lookup,
    stale_on_error,
)
from twisted_netlab.http.cache.entry import primary_key
from twisted_netlab.http.validators import http_date

T0 = 1_700_000_000.0
URI = "http://Origin.test:80/big?x=1"


class FlowTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.disk_dir = self.mktemp()
        self.store = TieredStore(
            MemoryStore(1 << 20), DiskStore(self.disk_dir, 1 << 22), spill_threshold=1024
        )
        self.key = primary_key(URI)

    def _fetch(self, now: float, body: bytes, response: list[tuple[str, str]]) -> None:
        """Simulate a forwarded request whose response streams to client and store."""
        admission = admit(self.key, "GET", [], 200, response, now, now)
        assert admission.meta is not None, admission.reason
        writer = self.store.begin(admission.meta)
        for start in range(0, len(body), 500):
            self.assertTrue(writer.append(body[start : start + 500]))
        self.assertIsNotNone(writer.commit())

    def test_miss_store_hit_stale_304_hit_and_restart(self) -> None:
        body = bytes(range(256)) * 20  # 5120 bytes: spills to disk
        self.assertEqual(
            lookup("GET", [], T0, self.store.entries(self.key)),
            Forward(FwdReason.URI_MISS, "not stored"),
        )
        self._fetch(
            T0,
            body,
            [("Date", http_date(T0)), ("Cache-Control", "max-age=10, stale-if-error=100"),
             ("ETag", '"v1"'), ("Content-Length", str(len(body)))],
        )
        hit = lookup("GET", [], T0 + 5, self.store.entries(self.key))
        assert isinstance(hit, Hit)
        reader = self.store.open(hit.entry.ident)
        assert reader is not None
        self.assertEqual(b"".join(reader.chunks(1000)), body)

        stale = lookup("GET", [], T0 + 20, self.store.entries(self.key))
        assert isinstance(stale, Revalidate)
        self.assertEqual(stale.conditional, (("If-None-Match", '"v1"'),))
        # Upstream down: stale-if-error lets the stored body be served.
        self.assertIsNotNone(stale_on_error(stale.candidates[0], [], T0 + 20, None))
        # Upstream answers 304 with a new max-age.
        updated = freshen(
            stale.candidates,
            [("ETag", '"v1"'), ("Cache-Control", "max-age=100"), ("Date", http_date(T0 + 20))],
            T0 + 20,
            T0 + 20,
        )
        self.assertEqual(len(updated), 1)
        self.assertTrue(self.store.update(updated[0]))
        again = lookup("GET", [], T0 + 50, self.store.entries(self.key))
        assert isinstance(again, Hit)
        self.assertIn(("Cache-Control", "max-age=100"), again.headers)
        self.assertIn(("Content-Length", str(len(body))), again.headers)

        # A restart keeps the large entry and its freshened metadata.
        restarted = TieredStore(MemoryStore(1 << 20), DiskStore(self.disk_dir, 1 << 22))
        after = lookup("GET", [], T0 + 60, restarted.entries(self.key))
        assert isinstance(after, Hit)
        reader = restarted.open(after.entry.ident)
        assert reader is not None
        self.assertEqual(b"".join(reader.chunks()), body)

    def test_unsafe_method_invalidates_stored_entry(self) -> None:
        self._fetch(T0, b"small", [("Cache-Control", "max-age=60")])
        self.assertIsInstance(lookup("GET", [], T0 + 1, self.store.entries(self.key)), Hit)
        admission = admit(self.key, "POST", [], 204, [], T0 + 2, T0 + 2)
        for key in admission.invalidate:
            self.store.invalidate(key)
        self.assertEqual(admission.invalidate, ("http://origin.test/big?x=1",))
        self.assertEqual(self.store.entries(self.key), [])

    def test_aborted_stream_leaves_nothing(self) -> None:
        admission = admit(self.key, "GET", [], 200, [("Cache-Control", "max-age=60")], T0, T0)
        assert admission.meta is not None
        writer = self.store.begin(admission.meta)
        writer.append(b"x" * 2000)  # spilled to disk
        writer.abort()
        self.assertEqual(self.store.entries(self.key), [])
        self.assertEqual(self.store.size, 0)
