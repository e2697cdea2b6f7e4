"""Describe a request body for the inspector: parsed where we can, raw otherwise.

Every outcome is a JSON-able dict with a ``kind`` and the byte ``size``; a body that
claims a type but does not parse (bad JSON, multipart without a boundary) is
reported with an ``error`` and its raw form instead of raising, because the
inspector's whole point is to show what the client really sent.

Multipart is split by hand on the exact delimiter bytes (the stdlib ``email``
parser normalises line endings, which would change file hashes); part headers are
then read with ``email``'s header parser for the quoted ``name``/``filename``
parameters.
"""

from __future__ import annotations

import base64
import hashlib
import json
from email.message import Message
from email.parser import HeaderParser
from typing import Any
from urllib.parse import parse_qsl

JSONObject = dict[str, Any]

DEFAULT_PREVIEW = 256
DEFAULT_MAX_FIELDS = 1000
DEFAULT_MAX_ECHO = 1 << 20
#: Bounds that keep the inspector's work and answer proportional to what is useful:
#: 127,099 one-byte multipart parts or an 8 MiB JSON array must not cost seconds of
#: reactor time or a 40 MB answer. Whatever is cut is replaced by a marker that says
#: how much was left out.
DEFAULT_MAX_PARTS = 1000
DEFAULT_MAX_STRING = 1024  # characters of one parsed value
DEFAULT_MAX_ITEMS = 200  # entries of one list/object
DEFAULT_MAX_NODES = 5000  # values in one parsed document
DEFAULT_MAX_DEPTH = 32
#: Larger JSON documents are shown raw, not parsed: json.loads of a few MiB of small
#: objects costs the reactor thread most of a second.
DEFAULT_MAX_JSON_PARSE = 1 << 20


def bound_json(
    value: Any,
    *,
    max_string: int = DEFAULT_MAX_STRING,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """A copy of a JSON-able ``value`` whose size is bounded; cuts carry markers.

    A long string keeps its head and ends with ``"… [N more characters]"``; a long
    list ends with a ``"… [N more items]"`` element; a long object gets a ``"…"`` key
    saying how many keys were left out. Past ``max_nodes`` values the rest of each
    open list/object is cut the same way; past ``max_depth`` levels a nested value is
    replaced by a marker.
    """
    budget = [max_nodes]

    def walk(item: Any, depth: int) -> Any:
        if budget[0] <= 0:
            return "… [left out: answer size limit]"
        budget[0] -= 1
        if isinstance(item, str):
            if len(item) > max_string:
                return item[:max_string] + f"… [{len(item) - max_string} more characters]"
            return item
        if depth >= max_depth and isinstance(item, (list, dict)):
            return f"… [nested deeper than {max_depth} levels]"
        if isinstance(item, list):
            out: list[Any] = []
            for v in item[:max_items]:
                if budget[0] <= 0:
                    break
                out.append(walk(v, depth + 1))
            if len(item) > len(out):
                out.append(f"… [{len(item) - len(out)} more items]")
            return out
        if isinstance(item, dict):
            obj: dict[str, Any] = {}
            for k in list(item)[:max_items]:
                if budget[0] <= 0:
                    break
                obj[k] = walk(item[k], depth + 1)
            if len(item) > len(obj):
                obj["…"] = f"[{len(item) - len(obj)} more keys]"
            return obj
        return item

    return walk(value, 0)


def parse_media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``"Text/HTML; charset=UTF-8"`` -> ``("text/html", {"charset": "UTF-8"})``."""
    if not value:
        return "", {}
    msg = Message()
    msg["content-type"] = value
    params = msg.get_params(header="content-type") or []
    media = value.split(";", 1)[0].strip().lower()
    return media, {k.lower(): str(v) for k, v in params[1:]}


def parse_query(raw: str, max_fields: int = DEFAULT_MAX_FIELDS) -> dict[str, list[str]]:
    """Multi-valued, order-keeping query parsing (blank values kept).

    At most ``max_fields`` fields are parsed; see ``parse_query_bounded`` for how many
    were left out. Never raises on a long query (``parse_qsl``'s own limit would).
    """
    return parse_query_bounded(raw, max_fields)[0]


def parse_query_bounded(
    raw: str, max_fields: int = DEFAULT_MAX_FIELDS
) -> tuple[dict[str, list[str]], int]:
    """``parse_query`` plus the number of fields beyond ``max_fields`` left unparsed."""
    fields = [f for f in raw.split("&", max_fields) if f]
    rest = fields.pop() if len(fields) > max_fields else ""
    left_out = len([f for f in rest.split("&") if f]) if rest else 0
    out: dict[str, list[str]] = {}
    pairs = parse_qsl(
        "&".join(fields), keep_blank_values=True, encoding="utf-8", errors="replace",
    )
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out, left_out


def query_for_answer(raw: str, max_fields: int = DEFAULT_MAX_FIELDS) -> dict[str, list[str]]:
    """The inspector's ``query``: bounded, with a ``"…"`` entry when fields were left out."""
    query, left_out = parse_query_bounded(raw, max_fields)
    out: dict[str, list[str]] = bound_json(query, max_items=max_fields)
    if left_out:
        out["…"] = [f"[{left_out} more fields not parsed; the limit is {max_fields}]"]
    return out


def raw_description(body: bytes, limit: int | None = None) -> JSONObject:
    """Text when the bytes are UTF-8, base64 otherwise; cut to ``limit`` bytes."""
    shown = body if limit is None else body[:limit]
    kept = len(shown)
    out: JSONObject = {}
    try:
        out["text"] = shown.decode("utf-8")
    except UnicodeDecodeError as exc:
        if (
            limit is not None
            and exc.start >= len(shown) - 3
            and exc.reason == "unexpected end of data"
        ):
            # The cut split a character: show the text up to it.
            out["text"] = shown[: exc.start].decode("utf-8")
            kept = exc.start
        else:
            out["base64"] = base64.b64encode(shown).decode("ascii")
    if limit is not None and len(body) > limit:
        out["truncated"] = True
        out["bytes_left_out"] = len(body) - kept
    return out


def _is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes, limit: int) -> JSONObject:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {"error": f"body is not UTF-8: {exc}", **raw_description(body, limit)}
    try:
        return {"json": bound_json(json.loads(text, parse_constant=_reject_constant))}
    except (ValueError, RecursionError) as exc:
        return {"error": f"malformed JSON: {exc}", **raw_description(body, limit)}


def _decode_text(data: bytes, charset: str | None) -> JSONObject:
    try:
        return {"value": data.decode(charset or "utf-8")}
    except (UnicodeDecodeError, LookupError):
        return {"base64": base64.b64encode(data).decode("ascii")}


def _split_multipart(body: bytes, boundary: bytes, max_parts: int) -> tuple[list[bytes], int]:
    """The first ``max_parts`` parts, and how many more the body holds."""
    delimiter = b"--" + boundary
    if body.startswith(delimiter):
        pos = 0
    else:
        pos = body.find(b"\r\n" + delimiter)
        if pos < 0:
            raise ValueError("no boundary delimiter in the body")
        pos += 2
    parts: list[bytes] = []
    while True:
        after = pos + len(delimiter)
        if body[after : after + 2] == b"--":
            return parts, 0
        if len(parts) >= max_parts:
            # Counting the rest is one C-speed scan; parsing it is what costs.
            return parts, body.count(b"\r\n" + delimiter, after)
        eol = body.find(b"\r\n", after)
        if eol < 0 or body[after:eol].strip(b" \t"):
            raise ValueError("malformed boundary line")
        start = eol + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise ValueError("missing closing boundary")
        parts.append(body[start:end])
        pos = end + 2


def _parse_part(part: bytes, preview: int) -> tuple[str, JSONObject, bool]:
    head, sep, data = part.partition(b"\r\n\r\n")
    if not sep:
        if part.startswith(b"\r\n"):
            head, data = b"", part[2:]
        else:
            raise ValueError("part without a blank line after its headers")
    msg = HeaderParser().parsestr(head.decode("utf-8", "replace"))
    name = msg.get_param("name", header="content-disposition")
    filename = msg.get_param("filename", header="content-disposition")
    name_text = "" if name is None else str(name)
    part_type = msg.get("content-type")
    if filename is not None:
        entry: JSONObject = {
            "field": name_text,
            "filename": str(filename),
            "content_type": part_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "preview": raw_description(data, preview),
        }
        return name_text, entry, True
    _, params = parse_media_type(part_type)
    return name_text, _decode_text(data, params.get("charset")), False


def _parse_multipart(
    body: bytes, params: dict[str, str], preview: int, max_parts: int
) -> JSONObject:
    boundary = params.get("boundary")
    if not boundary:
        return {
            "error": "multipart/form-data without a boundary parameter",
            **raw_description(body, preview),
        }
    try:
        parts, left_out = _split_multipart(body, boundary.encode("latin-1", "replace"), max_parts)
        fields: dict[str, list[Any]] = {}
        files: list[JSONObject] = []
        for part in parts:
            name, entry, is_file = _parse_part(part, preview)
            if is_file:
                files.append(entry)
            else:
                fields.setdefault(name, []).append(entry.get("value", entry))
    except ValueError as exc:
        return {"error": f"malformed multipart body: {exc}", **raw_description(body, preview)}
    out: JSONObject = {"fields": bound_json(fields), "files": files}
    if left_out:
        out["parts_left_out"] = left_out
        out["note"] = f"only the first {max_parts} parts are parsed"
    return out


def describe_body(
    content_type: str | None,
    body: bytes,
    *,
    preview: int = DEFAULT_PREVIEW,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_echo: int = DEFAULT_MAX_ECHO,
    max_parts: int = DEFAULT_MAX_PARTS,
    max_json_parse: int = DEFAULT_MAX_JSON_PARSE,
) -> JSONObject:
    """What the inspector reports about a body: ``kind``, ``size`` and the content."""
    media, params = parse_media_type(content_type)
    out: JSONObject = {"size": len(body), "content_type": content_type}
    if not body:
        out["kind"] = "empty"
    elif _is_json(media) and len(body) > max_json_parse:
        out.update(kind="json", note=f"JSON bodies over {max_json_parse} bytes are shown raw, "
                   "not parsed", **raw_description(body, max_echo))
    elif _is_json(media):
        out.update(kind="json", **_parse_json(body, max_echo))
    elif media == "application/x-www-form-urlencoded":
        try:
            text = body.decode(params.get("charset") or "utf-8")
            form, left_out = parse_query_bounded(text, max_fields)
            out.update(kind="form", form=bound_json(form))
            if left_out:
                out.update(fields_left_out=left_out)
        except (UnicodeDecodeError, LookupError, ValueError) as exc:
            out.update(
                kind="form", error=f"malformed form body: {exc}", **raw_description(body, max_echo)
            )
    elif media == "multipart/form-data":
        out.update(kind="multipart", **_parse_multipart(body, params, preview, max_parts))
    else:
        out.update(kind="raw", **raw_description(body, max_echo))
    return out
