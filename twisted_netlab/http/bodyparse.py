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
    """Multi-valued, order-keeping query parsing (blank values kept)."""
    out: dict[str, list[str]] = {}
    pairs = parse_qsl(
        raw, keep_blank_values=True, encoding="utf-8", errors="replace",
        max_num_fields=max_fields,
    )
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def raw_description(body: bytes, limit: int | None = None) -> JSONObject:
    """Text when the bytes are UTF-8, base64 otherwise; cut to ``limit`` bytes."""
    shown = body if limit is None else body[:limit]
    out: JSONObject = {}
    try:
        out["text"] = shown.decode("utf-8")
    except UnicodeDecodeError as exc:
        if limit is not None and exc.start >= len(shown) - 3 and exc.reason == "unexpected end of data":
            # The cut split a character: show the text up to it.
            out["text"] = shown[: exc.start].decode("utf-8")
        else:
            out["base64"] = base64.b64encode(shown).decode("ascii")
    if limit is not None and len(body) > limit:
        out["truncated"] = True
    return out


def _is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes, limit: int) -> JSONObject:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {"error": f"body is not UTF-8: {exc}", **raw_description(body, limit)}
    try:
        return {"json": json.loads(text, parse_constant=_reject_constant)}
    except (ValueError, RecursionError) as exc:
        return {"error": f"malformed JSON: {exc}", **raw_description(body, limit)}


def _decode_text(data: bytes, charset: str | None) -> JSONObject:
    try:
        return {"value": data.decode(charset or "utf-8")}
    except (UnicodeDecodeError, LookupError):
        return {"base64": base64.b64encode(data).decode("ascii")}


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
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
            return parts
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


def _parse_multipart(body: bytes, params: dict[str, str], preview: int) -> JSONObject:
    boundary = params.get("boundary")
    if not boundary:
        return {"error": "multipart/form-data without a boundary parameter", **raw_description(body, preview)}
    try:
        parts = _split_multipart(body, boundary.encode("latin-1", "replace"))
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
    return {"fields": fields, "files": files}


def describe_body(
    content_type: str | None,
    body: bytes,
    *,
    preview: int = DEFAULT_PREVIEW,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_echo: int = DEFAULT_MAX_ECHO,
) -> JSONObject:
    """What the inspector reports about a body: ``kind``, ``size`` and the content."""
    media, params = parse_media_type(content_type)
    out: JSONObject = {"size": len(body), "content_type": content_type}
    if not body:
        out["kind"] = "empty"
    elif _is_json(media):
        out.update(kind="json", **_parse_json(body, max_echo))
    elif media == "application/x-www-form-urlencoded":
        try:
            text = body.decode(params.get("charset") or "utf-8")
            out.update(kind="form", form=parse_query(text, max_fields))
        except (UnicodeDecodeError, LookupError, ValueError) as exc:
            out.update(kind="form", error=f"malformed form body: {exc}", **raw_description(body, max_echo))
    elif media == "multipart/form-data":
        out.update(kind="multipart", **_parse_multipart(body, params, preview))
    else:
        out.update(kind="raw", **raw_description(body, max_echo))
    return out
