# mypy: disallow-untyped-calls=False
"""The inspector's work and answer stay bounded whatever the client sends."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.http.bodyparse import (
    DEFAULT_MAX_PARTS,
    bound_json,
    describe_body,
    parse_query_bounded,
    query_for_answer,
)


class BoundJsonTests(SynchronousTestCase):
    def test_long_string_keeps_head_and_says_how_much_is_left_out(self) -> None:
        self.assertEqual(bound_json("a" * 1030), "a" * 1024 + "… [6 more characters]")

    def test_long_list_and_object(self) -> None:
        self.assertEqual(bound_json(list(range(203))), [*range(200), "… [3 more items]"])
        out = bound_json({str(i): i for i in range(201)})
        self.assertEqual(len(out), 201)
        self.assertEqual(out["…"], "[1 more keys]")

    def test_depth_and_node_budget(self) -> None:
        deep: list[object] = []
        node = deep
        for _ in range(40):
            child: list[object] = []
            node.append(child)
            node = child
        out = bound_json(deep)
        for _ in range(31):
            out = out[0]
        self.assertEqual(out, ["… [nested deeper than 32 levels]"])
        wide = [[0] * 200 for _ in range(100)]
        out = bound_json(wide)
        # 5000 values: lists count too
        self.assertEqual(json.dumps(out, ensure_ascii=False).count("0"), 24 * 200 + 174)
        self.assertEqual(out[24][-1], "… [26 more items]")
        self.assertEqual(out[-1], "… [75 more items]")


class QueryTests(SynchronousTestCase):
    def test_1001_fields_answer_clearly(self) -> None:
        raw = "&".join(f"f{i}=v" for i in range(1001))
        query, left_out = parse_query_bounded(raw)
        self.assertEqual((len(query), left_out), (1000, 1))
        answer = query_for_answer(raw)
        self.assertEqual(answer["…"], ["[1 more fields not parsed; the limit is 1000]"])
        self.assertEqual(answer["f999"], ["v"])
        self.assertNotIn("f1000", answer)

    def test_small_query_unchanged(self) -> None:
        self.assertEqual(query_for_answer("a=1&a=2&b="), {"a": ["1", "2"], "b": [""]})


class MultipartBoundTests(SynchronousTestCase):
    def test_many_tiny_parts_are_capped(self) -> None:
        parts = b"".join(b"--B\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nx\r\n"
                         for _ in range(127_099))
        out = describe_body("multipart/form-data; boundary=B", parts + b"--B--\r\n")
        self.assertEqual(out["parts_left_out"], 127_099 - DEFAULT_MAX_PARTS)
        self.assertEqual(out["note"], f"only the first {DEFAULT_MAX_PARTS} parts are parsed")
        self.assertEqual(out["fields"]["p"][:2], ["x", "x"])
        self.assertEqual(out["fields"]["p"][-1], f"… [{DEFAULT_MAX_PARTS - 200} more items]")

    def test_big_json_array_answer_is_bounded(self) -> None:
        body = json.dumps(["y" * 40] * 20_000).encode()
        out = describe_body("application/json", body)
        self.assertEqual(out["json"][-1], f"… [{20_000 - 200} more items]")
        self.assertLess(len(json.dumps(out)), 20_000)

    def test_json_over_the_parse_limit_is_shown_raw(self) -> None:
        body = json.dumps(["y" * 40] * 200_000).encode()
        out = describe_body("application/json", body)
        self.assertEqual(out["note"], f"JSON bodies over {1 << 20} bytes are shown raw, not parsed")
        self.assertEqual((out["truncated"], out["bytes_left_out"]), (True, len(body) - (1 << 20)))
        self.assertEqual(len(out["text"]), 1 << 20)
        self.assertNotIn("json", out)

    def test_form_body_over_the_field_limit(self) -> None:
        body = "&".join(f"k{i}=v" for i in range(1005)).encode()
        out = describe_body("application/x-www-form-urlencoded", body)
        self.assertEqual(out["fields_left_out"], 5)
        self.assertEqual(out["form"]["…"], "[800 more keys]")
