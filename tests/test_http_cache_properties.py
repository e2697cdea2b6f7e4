"""Properties (hypothesis): parsers never raise, metadata round-trips, bodies survive
any chunking, ages never go negative or backwards."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.cache.memory import MemoryStore
from twisted_netlab.http.cache.age import AgeInputs, current_age, parse_age
from twisted_netlab.http.cache.decision import admit, lookup
from twisted_netlab.http.cache.entry import EntryMeta, Stored
from twisted_netlab.http.cache.fields import split_list
from twisted_netlab.http.cache.vary import normalise

_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=30)
_pairs = st.lists(st.tuples(_text, _text), max_size=6)
_times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


class PropertyTests(SynchronousTestCase):
    @given(st.lists(_text, max_size=4))
    def test_rfc9110_5_6_1_split_list_never_raises_or_yields_empty(self, lines: list[str]) -> None:
        self.assertNotIn("", split_list(lines))

    @given(st.lists(_text, max_size=3))
    def test_rfc9111_5_1_parse_age_never_raises(self, lines: list[str]) -> None:
        age = parse_age(lines)
        self.assertTrue(age is None or 0 <= age <= 2**31)

    @given(_pairs, st.sampled_from(["accept-encoding", "cookie", "x-a"]))
    def test_rfc9111_4_1_normalise_idempotent(self, headers: list[tuple[str, str]],
                                              name: str) -> None:
        once = normalise(name, headers)
        if once is not None:
            self.assertEqual(normalise(name, [(name, once)]), once)

    @given(_times, st.integers(min_value=0, max_value=2**31), _times, _times, _times, _times)
    def test_rfc9111_4_2_3_age_non_negative_and_monotonic(
        self, date: float, age: int, request: float, response: float, now: float, later: float
    ) -> None:
        inputs = AgeInputs(date, age, request, response)
        self.assertGreaterEqual(current_age(inputs, now), 0.0)
        self.assertGreaterEqual(current_age(inputs, now + later), current_age(inputs, now))

    @given(_pairs, _pairs, st.integers(min_value=100, max_value=599), _times, _times)
    def test_admit_and_lookup_never_raise_and_meta_round_trips(
        self,
        request: list[tuple[str, str]],
        response: list[tuple[str, str]],
        status: int,
        request_time: float,
        response_time: float,
    ) -> None:
        admission = admit("http://h/p", "GET", request, status, response, request_time,
                          response_time)
        if admission.meta is not None:
            meta = admission.meta
            self.assertEqual(EntryMeta.from_json(json.loads(json.dumps(meta.to_json()))), meta)
            lookup("GET", request, response_time + 1, [Stored("x", meta)])

    @given(
        st.sampled_from(["format", "key", "status", "headers", "vary", "age", "lifetime"]),
        _json,
    )
    def test_from_json_rejects_garbage_with_value_error_only(self, field: str, junk: Any) -> None:
        meta = EntryMeta("http://h/p", 200, (("A", "b"),), (("c", None),),
                         AgeInputs(1.0, 2, 3.0, 4.0), 5.0)
        data = meta.to_json()
        data[field] = junk
        with contextlib.suppress(ValueError):
            self.assertEqual(EntryMeta.from_json(data).to_json(), data)

    @given(st.lists(st.binary(max_size=50), max_size=10), st.integers(min_value=1, max_value=64))
    def test_memory_body_survives_any_chunking(self, chunks: list[bytes], size: int) -> None:
        store = MemoryStore(1 << 20)
        meta = EntryMeta("http://h/p", 200, (), (), AgeInputs(0.0, 0, 0.0, 0.0), 1.0)
        writer = store.begin(meta)
        for chunk in chunks:
            self.assertTrue(writer.append(chunk))
        stored = writer.commit()
        assert stored is not None
        reader = store.open(stored.ident)
        assert reader is not None
        pieces = list(reader.chunks(size))
        self.assertEqual(b"".join(pieces), b"".join(chunks))
        self.assertTrue(all(0 < len(piece) <= size for piece in pieces))


class TimeFieldTests(SynchronousTestCase):
    def test_integer_time_a_float_cannot_hold_is_refused(self) -> None:
        """2**53 + 1 would come back as 2**53: refused rather than silently changed."""
        meta = EntryMeta("http://h/p", 200, (), (), AgeInputs(1.0, 2, 3.0, 4.0), 5.0)
        data = meta.to_json()
        data["lifetime"] = (1 << 53) + 1
        with self.assertRaises(ValueError):
            EntryMeta.from_json(data)
        data["lifetime"] = 1 << 53
        self.assertEqual(EntryMeta.from_json(data).lifetime, float(1 << 53))
