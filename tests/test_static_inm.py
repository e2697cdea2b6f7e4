"""If-None-Match without the full evaluation decides exactly as evaluate() would.

Besides our own ETag sent back as is, the static path compares any If-None-Match value
with the representation's tag through ``conditional.none_match`` (memoised per value):
a match is a 304, no match is the full 200 when there is no Range, and everything else
(an empty value, a Range beside a value that matches nothing, If-Match or
If-Unmodified-Since) goes through ``evaluate()``.
"""

from __future__ import annotations

from tests.static_support import StaticTestCase, raw_header, status_of
from twisted_netlab.http.conditional import evaluate, none_match
from twisted_netlab.http.validators import ETag, http_date

OLD = 1_700_000_000


class NoneMatchTests(StaticTestCase):
    async def _etag(self) -> str:
        self.file("a.txt", b"hello world", mtime=OLD)
        etag = (await self.request("/a.txt")).header("etag")
        assert etag is not None and etag.startswith('"')
        return etag

    async def _code(self, headers: dict[str, str], method: str = "GET") -> tuple[int, bytes]:
        reply = await self.request("/a.txt", headers, method)
        return reply.code, reply.body

    async def test_our_tag_is_a_304_with_the_304_headers(self) -> None:
        etag = await self._etag()
        reply = await self.request("/a.txt", {"If-None-Match": etag})
        self.assertEqual((reply.code, reply.body), (304, b""))
        self.assertEqual(reply.header("etag"), etag)
        self.assertIsNone(reply.header("content-type"))

    async def test_weak_form_of_our_tag_matches(self) -> None:
        etag = await self._etag()
        self.assertEqual(await self._code({"If-None-Match": "W/" + etag}), (304, b""))
        self.assertEqual(await self._code({"If-None-Match": " W/" + etag + " "}), (304, b""))
        self.assertEqual(await self._code({"If-None-Match": "W/" + etag}, "HEAD"), (304, b""))

    async def test_a_list_holding_our_tag_matches(self) -> None:
        etag = await self._etag()
        for value in (f'"a", {etag}', f'{etag}, "b"', f'W/"a",W/{etag}', f'"a, b", {etag}'):
            self.assertEqual(await self._code({"If-None-Match": value}), (304, b""), value)

    async def test_star_matches(self) -> None:
        await self._etag()
        self.assertEqual(await self._code({"If-None-Match": "*"}), (304, b""))

    async def test_other_tags_are_the_full_200(self) -> None:
        etag = await self._etag()
        for value in ('"other"', 'W/"other"', '"a", "b"', etag[:-2] + '"', etag + "x"):
            self.assertEqual(
                await self._code({"If-None-Match": value}), (200, b"hello world"), value
            )

    async def test_malformed_values_match_nothing(self) -> None:
        etag = await self._etag()
        for value in (etag.strip('"'), "**", "W/", '"unterminated', "w/" + etag):
            self.assertEqual(
                await self._code({"If-None-Match": value}), (200, b"hello world"), value
            )

    async def test_an_empty_value_is_absent_so_if_modified_since_applies(self) -> None:
        await self._etag()
        raw = await self.raw_get(
            b"/a.txt", b"If-None-Match: \r\nIf-Modified-Since: " + http_date(OLD).encode() + b"\r\n"
        )
        self.assertEqual(status_of(raw), 304)
        raw = await self.raw_get(b"/a.txt", b"If-None-Match:  \r\n")
        self.assertEqual(status_of(raw), 200)

    async def test_if_none_match_takes_precedence_over_if_modified_since(self) -> None:
        etag = await self._etag()
        equal = http_date(OLD)
        older = http_date(OLD - 3600)
        # A match is a 304 even with a date that would say "modified".
        self.assertEqual(
            await self._code({"If-None-Match": "W/" + etag, "If-Modified-Since": older}), (304, b"")
        )
        # No match is a 200 even with a date that would say "not modified".
        self.assertEqual(
            await self._code({"If-None-Match": '"other"', "If-Modified-Since": equal}),
            (200, b"hello world"),
        )

    async def test_with_a_range(self) -> None:
        etag = await self._etag()
        # A match: the 304 wins over the Range.
        self.assertEqual(
            await self._code({"If-None-Match": "W/" + etag, "Range": "bytes=0-1"}), (304, b"")
        )
        # No match: the Range is honoured (the full rules, step 5).
        reply = await self.request("/a.txt", {"If-None-Match": '"other"', "Range": "bytes=0-1"})
        self.assertEqual(
            (reply.code, reply.body, reply.header("content-range")), (206, b"he", "bytes 0-1/11")
        )
        # No match, If-Range that does not match: the full 200.
        reply = await self.request(
            "/a.txt", {"If-None-Match": '"other"', "Range": "bytes=0-1", "If-Range": '"nope"'}
        )
        self.assertEqual((reply.code, reply.body), (200, b"hello world"))

    async def test_if_match_and_if_unmodified_since_come_first(self) -> None:
        etag = await self._etag()
        self.assertEqual((await self._code({"If-None-Match": "*", "If-Match": '"other"'}))[0], 412)
        self.assertEqual(
            (
                await self._code(
                    {"If-None-Match": "W/" + etag, "If-Unmodified-Since": http_date(OLD - 10)}
                )
            )[0],
            412,
        )

    async def test_explain_names_the_tag_matched(self) -> None:
        self.serve(explain=True)
        etag = await self._etag()
        raw = await self.raw_get(b"/a.txt", b'If-None-Match: "x", W/' + etag.encode() + b"\r\n")
        self.assertEqual(
            raw_header(raw, b"x-netlab-explain"), b"304 If-None-Match matched W/" + etag.encode()
        )
        raw = await self.raw_get(b"/a.txt", b"If-None-Match: *\r\n")
        self.assertEqual(raw_header(raw, b"x-netlab-explain"), b"304 If-None-Match matched *")
        raw = await self.raw_get(b"/a.txt", b'If-None-Match: "x"\r\n')
        self.assertEqual(
            raw_header(raw, b"x-netlab-explain"),
            b"200 preconditions passed; no Range; identity representation",
        )

    async def test_the_memo_is_bounded_and_per_version(self) -> None:
        resource = self.serve()
        etag = await self._etag()
        for i in range(100):
            self.assertEqual((await self._code({"If-None-Match": f'"t{i}"'}))[0], 200)
        rep = next(iter(resource.table.values())).identity
        self.assertLessEqual(len(rep.inm_memo), 32)
        long_value = ", ".join(f'"t{i}"' for i in range(40)) + ", " + etag
        self.assertEqual(await self._code({"If-None-Match": long_value}), (304, b""))
        self.assertNotIn(long_value.encode(), rep.inm_memo)
        # A new version of the file has a new tag: the old one no longer matches.
        self.file("a.txt", b"hello again", mtime=OLD + 60)
        self.assertEqual(await self._code({"If-None-Match": "W/" + etag}), (200, b"hello again"))


class NoneMatchFunctionTests(StaticTestCase):
    def test_none_match_is_what_evaluate_decides(self) -> None:
        ours = ETag("abc")
        cases = ['"abc"', 'W/"abc"', '"x", "abc"', "*", '"x"', "abc", "", "  ", 'W/"x", W/"abc"']
        for value in cases:
            decision = evaluate(method="GET", etag=ours, last_modified=OLD, if_none_match=value)
            matched = none_match(value, ours)
            self.assertEqual(decision.status == 304, matched is not None, value)
        self.assertEqual(none_match('"x", W/"abc"', ours), 'W/"abc"')
        self.assertEqual(none_match("*", ours), "*")
        self.assertIsNone(none_match("*", ours, exists=False))
        self.assertIsNone(none_match('"abc"', None))
