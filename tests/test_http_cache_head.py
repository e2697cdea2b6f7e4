"""RFC 9111 4.3.5: freshening stored GET responses with a HEAD response."""

# mypy: disallow-untyped-calls=False
# (trial's assert* methods are untyped.)
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.cache.decision import Forward, Hit, admit, lookup
from twisted_netlab.http.cache.entry import Stored
from twisted_netlab.http.cache.head import HeadFreshening, freshen_from_head
from twisted_netlab.http.validators import http_date

T0 = 1_700_000_000.0
KEY = "http://origin.test/h"


def _stored(ident: str, etag: str, vary_value: str | None = None) -> Stored:
    response = [("Date", http_date(T0)), ("Cache-Control", "max-age=5"), ("ETag", etag),
                ("Content-Length", "10")]
    request: list[tuple[str, str]] = []
    if vary_value is not None:
        response.append(("Vary", "Accept-Language"))
        request.append(("Accept-Language", vary_value))
    admission = admit(KEY, "GET", request, 200, response, T0, T0)
    assert admission.meta is not None
    return Stored(ident, admission.meta)


class HeadTests(SynchronousTestCase):
    def test_rfc9111_4_3_5_matching_head_freshens(self) -> None:
        entry = _stored("a", '"v"')
        self.assertIsInstance(lookup("HEAD", [], T0 + 9, [entry]), Forward)
        got = freshen_from_head(
            [entry], [], 200,
            [("ETag", '"v"'), ("Content-Length", "10"), ("Cache-Control", "max-age=60"),
             ("Date", http_date(T0 + 9))],
            T0 + 9, T0 + 9,
        )
        self.assertEqual(got.outdated, ())
        self.assertEqual(len(got.updated), 1)
        self.assertEqual(got.updated[0].meta.lifetime, 60.0)
        self.assertIsInstance(lookup("GET", [], T0 + 20, list(got.updated)), Hit)

    def test_rfc9111_4_3_5_different_validator_or_length_outdates(self) -> None:
        entry = _stored("a", '"v"')
        for head in ([("ETag", '"w"')], [("ETag", '"v"'), ("Content-Length", "11")]):
            got = freshen_from_head([entry], [], 200, head, T0, T0)
            self.assertEqual(got, HeadFreshening((), ("a",)))

    def test_rfc9111_4_3_5_only_variants_that_could_be_chosen(self) -> None:
        en, fr = _stored("en", '"e"', "en"), _stored("fr", '"f"', "fr")
        got = freshen_from_head([en, fr], [("Accept-Language", "fr")], 200, [("ETag", '"x"')],
                                T0, T0)
        self.assertEqual(got, HeadFreshening((), ("fr",)))

    def test_rfc9111_4_3_5_non_200_changes_nothing(self) -> None:
        self.assertEqual(
            freshen_from_head([_stored("a", '"v"')], [], 404, [], T0, T0), HeadFreshening((), ())
        )
