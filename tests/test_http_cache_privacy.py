"""The cache never serves one user's private answer to another (issue 13's own suite).

Each test stores what user A's request got (through ``admit``, as the proxy will) and
checks what user B's request is given by ``lookup``.
"""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.decision import CacheConfig, Forward, Hit, admit, lookup
from twisted_netlab.http.cache.entry import Stored
from twisted_netlab.http.cache.fields import Fields
from twisted_netlab.http.cache.storable import SetCookiePolicy, StorePolicy

T0 = 1_700_000_000.0
KEY = "http://origin.test/account"


def _stored_for(
    request: Fields, response: Fields, config: CacheConfig | None = None
) -> list[Stored]:
    admission = admit(KEY, "GET", request, 200, response, T0, T0, config or CacheConfig())
    return [] if admission.meta is None else [Stored("a", admission.meta)]


class PrivacyTests(SynchronousTestCase):
    def test_rfc9111_3_5_authorized_answer_not_reused(self) -> None:
        entries = _stored_for(
            [("Authorization", "Bearer alice")], [("Cache-Control", "max-age=60")]
        )
        self.assertEqual(entries, [])
        self.assertIsInstance(
            lookup("GET", [("Authorization", "Bearer bob")], T0, entries), Forward
        )

    def test_rfc9111_5_2_2_7_private_answer_not_reused(self) -> None:
        self.assertEqual(_stored_for([], [("Cache-Control", "private, max-age=60")]), [])

    def test_rfc9111_5_2_2_7_private_field_never_replayed(self) -> None:
        entries = _stored_for(
            [], [("Cache-Control", 'max-age=60, private="X-Account"'), ("X-Account", "alice")]
        )
        got = lookup("GET", [], T0, entries)
        assert isinstance(got, Hit)
        self.assertNotIn("x-account", {name.lower() for name, _ in got.headers})

    def test_set_cookie_never_replayed_by_default(self) -> None:
        response = [("Cache-Control", "max-age=60"), ("Set-Cookie", "sid=alice")]
        self.assertEqual(_stored_for([], response), [])
        stripped = _stored_for(
            [], response, CacheConfig(store=StorePolicy(SetCookiePolicy.STRIP))
        )
        got = lookup("GET", [], T0, stripped)
        assert isinstance(got, Hit)
        self.assertNotIn("set-cookie", {name.lower() for name, _ in got.headers})

    def test_rfc9111_4_1_vary_cookie_separates_users(self) -> None:
        entries = _stored_for(
            [("Cookie", "sid=alice")], [("Cache-Control", "max-age=60"), ("Vary", "Cookie")]
        )
        self.assertEqual(len(entries), 1)
        self.assertIsInstance(lookup("GET", [("Cookie", "sid=alice")], T0, entries), Hit)
        for other in ([("Cookie", "sid=bob")], [("Cookie", "SID=ALICE")], []):
            self.assertIsInstance(lookup("GET", other, T0, entries), Forward)

    def test_cookie_request_without_vary_not_stored(self) -> None:
        self.assertEqual(
            _stored_for([("Cookie", "sid=alice")], [("Cache-Control", "max-age=60")]), []
        )

    def test_rfc9111_5_2_2_4_no_cache_set_cookie_not_replayed_unvalidated(self) -> None:
        entries = _stored_for(
            [],
            [("Cache-Control", 'max-age=60, no-cache="Set-Cookie"'), ("Set-Cookie", "sid=x")],
            CacheConfig(store=StorePolicy(SetCookiePolicy.STORE)),
        )
        got = lookup("GET", [], T0, entries)
        assert isinstance(got, Hit)
        self.assertNotIn("set-cookie", {name.lower() for name, _ in got.headers})
