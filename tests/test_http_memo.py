"""The bounded memo table shared by the hot-path rules (``http/memo.py``)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.memo import BoundedMemo


class BoundedMemoTests(SynchronousTestCase):
    def test_remember_returns_and_keeps_the_value(self) -> None:
        memo: BoundedMemo[str, int] = BoundedMemo(4)
        self.assertEqual(memo.remember("a", 1), 1)
        self.assertEqual(memo.get("a"), 1)
        self.assertEqual(dict(memo), {"a": 1})

    def test_full_table_is_emptied_before_the_next_entry(self) -> None:
        memo: BoundedMemo[int, int] = BoundedMemo(3)
        for n in range(3):
            memo.remember(n, n * 10)
        self.assertEqual(dict(memo), {0: 0, 1: 10, 2: 20})
        memo.remember(3, 30)
        self.assertEqual(dict(memo), {3: 30})

    def test_never_grows_past_its_limit(self) -> None:
        memo: BoundedMemo[int, None] = BoundedMemo(7)
        for n in range(1000):
            memo.remember(n, None)
            self.assertLessEqual(len(memo), 7)

    def test_limit_must_be_positive(self) -> None:
        self.assertRaises(ValueError, BoundedMemo, 0)


class LongValuesNotKeptTests(SynchronousTestCase):
    """Peer-controlled values longer than a real one are judged, never remembered."""

    def test_long_host_judged_not_kept(self) -> None:
        from twisted_netlab.http import host

        value = b"a" * 400 + b".example"
        self.assertFalse(host.is_valid_host(value))
        self.assertNotIn(value, host._valid_memo)
        self.assertTrue(host.is_valid_host(b"example.org:8080"))
        self.assertIn(b"example.org:8080", host._valid_memo)

    def test_long_connection_value_judged_not_kept(self) -> None:
        from twisted_netlab.http import headers

        values = [b"x-" + b"a" * 400]
        self.assertEqual(headers.named_extra(values), frozenset({b"x-" + b"a" * 400}))
        self.assertNotIn(tuple(values), headers._named_memo)
        self.assertEqual(headers.named_extra([b"keep-alive, x-trace"]), frozenset({b"x-trace"}))
        self.assertIn((b"keep-alive, x-trace",), headers._named_memo)
