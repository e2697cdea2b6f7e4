"""RFC 9213 targeted cache control (and Surrogate-Control); RFC 8941 dictionaries."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.decision import admit
from twisted_netlab.http.cache.directives import parse_response_directives
from twisted_netlab.http.cache.targeted import directive_values
from twisted_netlab.http.sfdict import Token, parse_dictionary

KEY = "http://o.example/x"


class DictionaryTests(SynchronousTestCase):
    def test_rfc8941_3_2_members_and_types(self) -> None:
        self.assertEqual(
            parse_dictionary(
                ['max-age=60, private, a="x\\"y"', "b=?0;p=1, c=1.5, d=tok, e=:AQI=:"]
            ),
            [("max-age", 60), ("private", True), ("a", 'x"y'), ("b", False), ("c", 1.5),
             ("d", "tok"), ("e", b"\x01\x02")],
        )
        self.assertIsInstance(dict(parse_dictionary(["d=tok"]) or [])["d"], Token)
        self.assertEqual(parse_dictionary(["l=(1 2);q=3"]), [("l", (1, 2))])
        self.assertEqual(parse_dictionary(["a=1, a=2"]), [("a", 2)])
        self.assertEqual(parse_dictionary([""]), [])

    def test_rfc8941_4_2_any_error_fails_the_field(self) -> None:
        for text in ("max-age=10000, &&&&&", "MaX-aGe=3600", "max-age =100", "max-age= 100",
                     "a=1,", "a=\"open", "a=1 b", "a=1234567890123456", "a=?2"):
            self.assertIsNone(parse_dictionary([text]), text)


class TargetedTests(SynchronousTestCase):
    def directives(self, *headers: tuple[str, str]) -> list[str]:
        return directive_values(list(headers))

    def test_rfc9213_2_1_cdn_cache_control_replaces_cache_control(self) -> None:
        self.assertEqual(
            self.directives(("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=600")),
            ["max-age=600"],
        )
        self.assertEqual(
            self.directives(("Cache-Control", "max-age=600"), ("CDN-Cache-Control", "no-cache")),
            ["no-cache"],
        )

    def test_rfc9213_2_1_invalid_field_ignored_wrong_type_member_ignored(self) -> None:
        cc = ("Cache-Control", "no-store")
        self.assertEqual(self.directives(cc, ("CDN-Cache-Control", "max-age=1, &&&")), ["no-store"])
        self.assertEqual(self.directives(cc, ("CDN-Cache-Control", 'max-age="10000"')), [])
        self.assertEqual(self.directives(cc, ("CDN-Cache-Control", "no-store=5, public")),
                         ["public"])

    def test_rfc9213_private_in_cache_control_is_never_dropped(self) -> None:
        self.assertEqual(
            self.directives(("Cache-Control", "private"), ("CDN-Cache-Control", "max-age=60")),
            ["max-age=60", "private"],
        )
        verdict = admit(KEY, "GET", [], 200, [("Cache-Control", "private, max-age=60"),
                                              ("CDN-Cache-Control", "max-age=60")], 0.0, 0.0)
        self.assertFalse(verdict.store)

    def test_surrogate_control_untargeted_directives_only(self) -> None:
        cc = ("Cache-Control", "max-age=10000")
        self.assertEqual(self.directives(cc, ("Surrogate-Control", "no-store")), ["no-store"])
        self.assertEqual(self.directives(cc, ("Surrogate-Control", "max-age=60+30")),
                         ["max-age=60"])
        self.assertEqual(self.directives(cc, ("Surrogate-Control", "max-age=60;dev")),
                         ["max-age=10000"])
        self.assertEqual(self.directives(cc, ("Surrogate-Control", "foo")), ["max-age=10000"])

    def test_rfc9213_stores_and_refuses_by_the_targeted_field(self) -> None:
        stored = admit(KEY, "GET", [], 200, [("Cache-Control", "no-store"),
                                             ("CDN-Cache-Control", "max-age=600")], 0.0, 0.0)
        self.assertTrue(stored.store)
        assert stored.meta is not None
        self.assertEqual(stored.meta.lifetime, 600.0)
        refused = admit(KEY, "GET", [], 200, [("Cache-Control", "max-age=600"),
                                              ("CDN-Cache-Control", "no-store")], 0.0, 0.0)
        self.assertFalse(refused.store)
        self.assertEqual(
            parse_response_directives(self.directives(("Cache-Control", "max-age=5"))).max_age, 5
        )
