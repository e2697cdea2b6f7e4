"""Cache stores: memory LRU, disk (restart, corruption), tiered spill, collapsing."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.cache.collapse import Collapser, Role
from twisted_netlab.cache.disk import DiskStore
from twisted_netlab.cache.memory import MemoryStore
from twisted_netlab.cache.store import BodyReader, CacheStore, meta_size
from twisted_netlab.cache.tiered import TieredStore
from twisted_netlab.http.cache.age import AgeInputs
from twisted_netlab.http.cache.entry import EntryMeta, Stored

T0 = 1_700_000_000.0


def _meta(key: str = "http://o/a", vary: tuple[tuple[str, str | None], ...] = ()) -> EntryMeta:
    return EntryMeta(key, 200, (("Content-Type", "text/plain"),), vary,
                     AgeInputs(T0, 0, T0, T0), 60.0)


def _put(store: CacheStore, meta: EntryMeta, *chunks: bytes) -> Stored:
    writer = store.begin(meta)
    for chunk in chunks:
        assert writer.append(chunk)
    stored = writer.commit()
    assert stored is not None
    return stored


def _body(reader: BodyReader | None, size: int = 65536) -> bytes:
    assert reader is not None
    try:
        return b"".join(reader.chunks(size))
    finally:
        reader.close()


if TYPE_CHECKING:
    _ContractBase = SynchronousTestCase
else:
    _ContractBase = object


class StoreContract(_ContractBase):
    """Behaviour every store shares; mixed into one TestCase per store (not collected
    on its own: at run time it is a plain class)."""

    def make(self, max_bytes: int = 1 << 20) -> CacheStore:
        raise NotImplementedError

    def test_entry_invisible_until_commit(self) -> None:
        store = self.make()
        writer = store.begin(_meta())
        writer.append(b"abc")
        self.assertEqual(store.entries("http://o/a"), [])
        stored = writer.commit()
        assert stored is not None
        self.assertEqual(store.entries("http://o/a"), [stored])
        self.assertEqual(_body(store.open(stored.ident), 2), b"abc")

    def test_abort_discards(self) -> None:
        store = self.make()
        writer = store.begin(_meta())
        writer.append(b"abc")
        writer.abort()
        self.assertIsNone(writer.commit())
        self.assertEqual((store.entries("http://o/a"), store.size), ([], 0))

    def test_same_key_and_vary_replaced_other_variant_kept(self) -> None:
        store = self.make()
        gzip = _meta(vary=(("accept-encoding", "gzip"),))
        first = _put(store, gzip, b"1")
        other = _put(store, _meta(vary=(("accept-encoding", None),)), b"2")
        second = _put(store, gzip, b"3")
        self.assertEqual(
            sorted(s.ident for s in store.entries("http://o/a")),
            sorted([other.ident, second.ident]),
        )
        self.assertIsNone(store.open(first.ident))

    def test_invalidate_drops_entries_and_in_flight_writes(self) -> None:
        store = self.make()
        _put(store, _meta(), b"x")
        writer = store.begin(_meta())
        writer.append(b"y")
        self.assertEqual(store.invalidate("http://o/a"), 1)
        self.assertIsNone(writer.commit())
        self.assertEqual(store.entries("http://o/a"), [])
        fresh = _put(store, _meta(), b"z")
        self.assertEqual(store.entries("http://o/a"), [fresh])

    def test_update_replaces_metadata(self) -> None:
        store = self.make()
        stored = _put(store, _meta(), b"body")
        newer = Stored(stored.ident, EntryMeta(
            "http://o/a", 200, (("X", "y"),), (), AgeInputs(T0, 0, T0 + 5, T0 + 5), 99.0))
        self.assertTrue(store.update(newer))
        self.assertEqual(store.entries("http://o/a"), [newer])
        self.assertFalse(store.update(Stored("0" * 32, newer.meta)))
        self.assertEqual(_body(store.open(stored.ident)), b"body")

    def test_lru_eviction_bounded_in_bytes(self) -> None:
        budget = 3 * (1000 + meta_size(_meta("http://o/0")))
        store = self.make(budget)
        a = _put(store, _meta("http://o/0"), b"a" * 1000)
        b = _put(store, _meta("http://o/1"), b"b" * 1000)
        c = _put(store, _meta("http://o/2"), b"c" * 1000)
        _body(store.open(a.ident))  # a is now most recently used
        _put(store, _meta("http://o/3"), b"d" * 1000)
        self.assertLessEqual(store.size, budget)
        self.assertIsNone(store.open(b.ident))
        self.assertEqual(_body(store.open(c.ident)), b"c" * 1000)
        self.assertEqual(_body(store.open(a.ident)), b"a" * 1000)

    def test_oversized_entry_refused_while_streaming(self) -> None:
        store = self.make(4000)
        writer = store.begin(_meta())
        self.assertTrue(writer.append(b"x" * 1000))
        self.assertFalse(writer.append(b"x" * 1000))
        self.assertFalse(writer.append(b"x"))
        self.assertIsNone(writer.commit())
        self.assertEqual(store.size, 0)

    def test_clear(self) -> None:
        store = self.make()
        _put(store, _meta("http://o/0"), b"a")
        _put(store, _meta("http://o/1"), b"b")
        store.clear()
        self.assertEqual((store.size, store.entries("http://o/0")), (0, []))


class MemoryStoreTests(StoreContract, SynchronousTestCase):
    def make(self, max_bytes: int = 1 << 20) -> CacheStore:
        return MemoryStore(max_bytes)

    def test_pending_writes_bounded(self) -> None:
        store = MemoryStore(10_000, max_entry_bytes=10_000, max_pending_bytes=1500)
        one, two = store.begin(_meta("http://o/1")), store.begin(_meta("http://o/2"))
        self.assertTrue(one.append(b"x" * 1000))
        self.assertFalse(two.append(b"x" * 1000))
        self.assertEqual(store.pending, 1000)
        self.assertIsNotNone(one.commit())
        self.assertEqual(store.pending, 0)

    def test_reader_survives_eviction(self) -> None:
        store = MemoryStore(1 << 20)
        stored = _put(store, _meta(), b"abc", b"def")
        reader = store.open(stored.ident)
        store.clear()
        self.assertEqual(_body(reader, 4), b"abcdef")

    def test_small_body_kept_in_one_piece(self) -> None:
        store = MemoryStore(1 << 20)
        small = _put(store, _meta("http://o/s"), b"abc", b"def")
        large = _put(store, _meta("http://o/l"), b"x" * 65536, b"y")
        self.assertEqual(store.sole_body("http://o/s", small), b"abcdef")
        self.assertIsNone(store.sole_body("http://o/l", large))  # two chunks: read it
        self.assertEqual(_body(store.open(large.ident)), b"x" * 65536 + b"y")
        empty = _put(store, _meta("http://o/e"))
        self.assertEqual(store.sole_body("http://o/e", empty), b"")

    def test_sole_body_only_for_the_keys_one_current_entry(self) -> None:
        store = MemoryStore(1 << 20)
        first = _put(store, _meta(vary=(("accept", "a"),)), b"a")
        self.assertEqual(store.sole_body("http://o/a", first), b"a")
        self.assertIsNone(store.sole_body("http://o/b", first))
        second = _put(store, _meta(vary=(("accept", "b"),)), b"b")
        self.assertIsNone(store.sole_body("http://o/a", first))  # two variants
        store.remove(second.ident)
        fresher = Stored(first.ident, _meta(vary=(("accept", "a"),)))
        self.assertTrue(store.update(fresher))
        self.assertIsNone(store.sole_body("http://o/a", first))  # replaced metadata
        self.assertEqual(store.sole_body("http://o/a", fresher), b"a")
        store.invalidate("http://o/a")
        self.assertIsNone(store.sole_body("http://o/a", fresher))

    def test_sole_body_marks_the_entry_used(self) -> None:
        meta_cost = meta_size(_meta("http://o/1"))
        store = MemoryStore(2 * (100 + meta_cost) + 10)
        one = _put(store, _meta("http://o/1"), b"1" * 100)
        _put(store, _meta("http://o/2"), b"2" * 100)
        self.assertIsNotNone(store.sole_body("http://o/1", one))
        _put(store, _meta("http://o/3"), b"3" * 100)  # evicts the least recently used
        self.assertEqual(store.entries("http://o/1"), [one])
        self.assertEqual(store.entries("http://o/2"), [])

    def test_chunk_size_validated(self) -> None:
        stored_store = MemoryStore(1 << 20)
        reader = stored_store.open(_put(stored_store, _meta(), b"a").ident)
        assert reader is not None
        with self.assertRaises(ValueError):
            list(reader.chunks(0))


class DiskStoreTests(StoreContract, SynchronousTestCase):
    def make(self, max_bytes: int = 1 << 20) -> CacheStore:
        return DiskStore(self.mktemp(), max_bytes)

    def test_survives_restart(self) -> None:
        directory = self.mktemp()
        first = DiskStore(directory, 1 << 20)
        stored = _put(first, _meta(vary=(("accept", "x"),)), b"abc", b"def")
        second = DiskStore(directory, 1 << 20)
        self.assertEqual(second.entries("http://o/a"), [stored])
        reader = second.open(stored.ident)
        assert reader is not None
        self.assertEqual(reader.file.read(), b"abcdef")
        reader.close()
        self.assertEqual(second.size, first.size)

    def test_metadata_update_survives_restart(self) -> None:
        directory = self.mktemp()
        store = DiskStore(directory, 1 << 20)
        stored = _put(store, _meta(), b"abc")
        newer = Stored(stored.ident, EntryMeta(
            "http://o/a", 200, (("ETag", '"2"'),), (), AgeInputs(T0, 0, T0 + 9, T0 + 9), 7.0))
        self.assertTrue(store.update(newer))
        self.assertEqual(DiskStore(directory, 1 << 20).entries("http://o/a"), [newer])

    def test_restart_discards_corrupt_and_partial_files(self) -> None:
        directory = Path(self.mktemp())
        store = DiskStore(directory, 1 << 20)
        good = _put(store, _meta("http://o/good"), b"good")
        short = _put(store, _meta("http://o/short"), b"longer body")
        garbled = _put(store, _meta("http://o/garbled"), b"g")
        badmeta = _put(store, _meta("http://o/badmeta"), b"m")
        (directory / f"{short.ident}.body").write_bytes(b"cut")
        (directory / f"{garbled.ident}.meta").write_bytes(b"{not json")
        record = json.loads((directory / f"{badmeta.ident}.meta").read_text())
        record["meta"]["status"] = "200"
        (directory / f"{badmeta.ident}.meta").write_text(json.dumps(record))
        orphan = directory / ("f" * 32 + ".body")
        orphan.write_bytes(b"orphan")
        (directory / "tmp" / ("e" * 32 + ".body")).write_bytes(b"partial")
        unrelated = directory / "notes.txt"
        unrelated.write_bytes(b"keep me")
        again = DiskStore(directory, 1 << 20)
        self.assertEqual(again.entries("http://o/good"), [good])
        for key in ("short", "garbled", "badmeta"):
            self.assertEqual(again.entries(f"http://o/{key}"), [])
        self.assertEqual(again.discarded_at_load, 3)
        self.assertFalse(orphan.exists())
        self.assertEqual(list((directory / "tmp").iterdir()), [])
        self.assertTrue(unrelated.exists())
        self.assertEqual(
            sorted(p.name for p in directory.iterdir()),
            sorted([f"{good.ident}.body", f"{good.ident}.meta", "notes.txt", "tmp"]),
        )

    def test_aborted_write_leaves_no_file(self) -> None:
        directory = Path(self.mktemp())
        store = DiskStore(directory, 1 << 20)
        writer = store.begin(_meta())
        writer.append(b"abc")
        self.assertEqual(len(list((directory / "tmp").iterdir())), 1)
        writer.abort()
        self.assertEqual(list((directory / "tmp").iterdir()), [])

    def test_restart_respects_smaller_budget(self) -> None:
        directory = self.mktemp()
        store = DiskStore(directory, 1 << 20)
        for index in range(4):
            _put(store, _meta(f"http://o/{index}"), b"x" * 1000)
        per_entry = 1000 + meta_size(_meta("http://o/0"))
        smaller = DiskStore(directory, 2 * per_entry)
        self.assertEqual(len(smaller), 2)
        self.assertLessEqual(smaller.size, 2 * per_entry)

    def test_reader_survives_removal(self) -> None:
        store = DiskStore(self.mktemp(), 1 << 20)
        stored = _put(store, _meta(), b"abc")
        reader = store.open(stored.ident)
        store.remove(stored.ident)
        self.assertEqual(_body(reader), b"abc")

    def test_unwritable_directory_discards_write_without_raising(self) -> None:
        directory = Path(self.mktemp())
        store = DiskStore(directory, 1 << 20)
        (directory / "tmp").rmdir()
        writer = store.begin(_meta())
        self.assertFalse(writer.append(b"abc"))
        self.assertIsNone(writer.commit())
        self.assertEqual(store.entries("http://o/a"), [])

    def test_fsync_option_writes(self) -> None:
        store = DiskStore(self.mktemp(), 1 << 20, fsync=True)
        stored = _put(store, _meta(), b"abc")
        self.assertTrue(os.path.exists(store.directory / f"{stored.ident}.meta"))


class TieredStoreTests(StoreContract, SynchronousTestCase):
    def make(self, max_bytes: int = 1 << 20) -> CacheStore:
        return TieredStore(MemoryStore(max_bytes), None)

    def test_spills_large_bodies_to_disk(self) -> None:
        memory = MemoryStore(1 << 20)
        disk = DiskStore(self.mktemp(), 1 << 20)
        store = TieredStore(memory, disk, spill_threshold=100)
        small = _put(store, _meta("http://o/small"), b"s" * 100)
        large = _put(store, _meta("http://o/large"), b"l" * 60, b"l" * 60, b"l" * 60)
        self.assertEqual(memory.entries("http://o/small"), [small])
        self.assertEqual(disk.entries("http://o/large"), [large])
        self.assertEqual(memory.pending, 0)
        self.assertEqual(_body(store.open(large.ident)), b"l" * 180)
        self.assertEqual(store.size, memory.size + disk.size)
        self.assertEqual(store.invalidate("http://o/large"), 1)
        self.assertEqual(disk.entries("http://o/large"), [])

    def test_sole_body_refused_while_disk_holds_the_key(self) -> None:
        memory = MemoryStore(1 << 20)
        disk = DiskStore(self.mktemp(), 1 << 20)
        store = TieredStore(memory, disk, spill_threshold=100)
        small = _put(store, _meta(vary=(("accept", "a"),)), b"s" * 10)
        self.assertEqual(store.sole_body("http://o/a", small), b"s" * 10)
        _put(store, _meta(vary=(("accept", "b"),)), b"l" * 200)
        self.assertIsNone(store.sole_body("http://o/a", small))

    def test_threshold_clamped_to_memory_entry_limit(self) -> None:
        memory = MemoryStore(1000, max_entry_bytes=10)
        disk = DiskStore(self.mktemp(), 1000)
        store = TieredStore(memory, disk, spill_threshold=500)
        self.assertEqual(store.spill_threshold, 10)
        stored = _put(store, _meta(), b"x" * 11)
        self.assertEqual(disk.entries("http://o/a"), [stored])


class CollapserTests(SynchronousTestCase):
    def test_one_leader_followers_notified_once(self) -> None:
        collapser: Collapser[str] = Collapser(max_waiters=2)
        seen: list[tuple[str, str]] = []
        self.assertEqual(collapser.join("k", lambda o: seen.append(("lead", o))), Role.LEADER)
        self.assertEqual(collapser.join("k", lambda o: seen.append(("a", o))), Role.FOLLOWER)
        self.assertEqual(collapser.join("k", lambda o: seen.append(("b", o))), Role.FOLLOWER)
        self.assertEqual(collapser.join("k", lambda o: seen.append(("c", o))), Role.BYPASS)
        self.assertEqual(collapser.waiting("k"), 2)
        self.assertEqual(collapser.release("k", "entry"), 2)
        self.assertEqual(seen, [("a", "entry"), ("b", "entry")])
        self.assertFalse(collapser.in_flight("k"))
        self.assertEqual(collapser.join("k", lambda o: seen.append(("next", o))), Role.LEADER)

    def test_timed_out_follower_leaves(self) -> None:
        collapser: Collapser[int] = Collapser()
        seen: list[int] = []
        collapser.join("k", seen.append)
        collapser.join("k", seen.append)
        self.assertTrue(collapser.leave("k", seen.append))
        self.assertFalse(collapser.leave("k", seen.append))
        self.assertEqual(collapser.release("k", 1), 0)
        self.assertEqual(seen, [])

    def test_raising_waiter_does_not_strand_others(self) -> None:
        collapser: Collapser[int] = Collapser()
        seen: list[int] = []

        def broken(outcome: int) -> None:
            raise RuntimeError("boom")

        collapser.join("k", seen.append)
        collapser.join("k", broken)
        collapser.join("k", seen.append)
        with self.assertRaises(RuntimeError):
            collapser.release("k", 7)
        self.assertEqual(seen, [7])
