"""Validate what a client asks the response setter to send back.

Every value arrives percent-decoded from the query string, so CR, LF and NUL reach
us as real characters: names must be RFC 9110 tokens, values RFC 9110 field-values
(no CTLs except HTAB), cookies RFC 6265 cookie-octets. Framing and hop-by-hop headers
(Content-Length, Transfer-Encoding, Connection, ...) cannot be set: they would
desynchronise the connection rather than demonstrate anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import hyperlink

from twisted_netlab.errors import HTTPRuleError
from twisted_netlab.http.tokens import CONNECTION_FIELDS, TOKEN

# field-value: VCHAR, obs-text, SP and HTAB inside; no leading/trailing whitespace.
_VCHAR = "\\x21-\\x7e\\x80-\\ud7ff\\ue000-\\U0010ffff"
_FIELD_VALUE = re.compile(f"^(?:[{_VCHAR}](?:[\\t {_VCHAR}]*[{_VCHAR}])?)?$")
_COOKIE_OCTETS = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$")

FORBIDDEN_HEADERS = frozenset(n.decode("ascii") for n in CONNECTION_FIELDS) | {"content-length"}
REDIRECT_CODES = frozenset({300, 301, 302, 303, 305, 307, 308})
MIN_STATUS, MAX_STATUS = 200, 599
DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"


class ResponseSpecError(HTTPRuleError):
    """The client asked for a response we refuse to produce (400)."""

    status = 400


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


def validate_header_name(name: str) -> str:
    if not TOKEN.fullmatch(name):
        raise ResponseSpecError(
            f"header name '{_printable(name)}' is not an RFC 9110 token"
        )
    if name.lower() in FORBIDDEN_HEADERS:
        raise ResponseSpecError(f"header {name!r} controls message framing and cannot be set")
    return name


def validate_header_value(value: str) -> bytes:
    """Strip surrounding blanks; refuse CR, LF, NUL and other controls; UTF-8 encode."""
    stripped = value.strip(" \t")
    if not _FIELD_VALUE.fullmatch(stripped):
        raise ResponseSpecError(
            f"header value '{_printable(value)}' contains CR, LF or another control character"
        )
    return stripped.encode("utf-8")


def parse_header_param(text: str) -> tuple[str, bytes]:
    """``"Name: value"`` -> validated ``(name, value)``."""
    name, sep, value = text.partition(":")
    if not sep:
        raise ResponseSpecError(f"header '{_printable(text)}' must look like Name:value")
    return validate_header_name(name), validate_header_value(value)


def parse_status(text: str, allowed: frozenset[int] | None = None) -> int:
    if not (text.isascii() and text.isdigit() and len(text) == 3):
        raise ResponseSpecError(f"status '{_printable(text)}' is not a three-digit number")
    code = int(text)
    if not MIN_STATUS <= code <= MAX_STATUS:
        raise ResponseSpecError(
            f"status {code} is outside {MIN_STATUS}..{MAX_STATUS} (1xx cannot be a final answer)"
        )
    if allowed is not None and code not in allowed:
        raise ResponseSpecError(f"status {code} is not one of {sorted(allowed)}")
    return code


def validate_cookie(name: str, value: str) -> str:
    """A ``Set-Cookie`` value (``name=value; Path=/``) or ``ResponseSpecError``."""
    if not TOKEN.fullmatch(name):
        raise ResponseSpecError(f"cookie name '{_printable(name)}' is not a token")
    if not _COOKIE_OCTETS.fullmatch(value):
        raise ResponseSpecError(
            f"cookie value '{_printable(value)}' has characters outside RFC 6265 cookie-octets "
            "(no space, quote, comma, semicolon, backslash or controls)"
        )
    return f"{name}={value}; Path=/"


def parse_cookie_header(values: Sequence[str]) -> dict[str, str]:
    """``Cookie`` header lines -> name/value pairs (the first of a repeated name wins)."""
    cookies: dict[str, str] = {}
    for line in values:
        for item in line.split(";"):
            name, sep, value = item.strip().partition("=")
            name = name.strip()
            if sep and name and name not in cookies:
                cookies[name] = value.strip()
    return cookies


def validate_redirect(url: str) -> bytes:
    """A ``Location`` value: a relative reference or an absolute http(s) URL."""
    if not url:
        raise ResponseSpecError("url parameter is required")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ResponseSpecError(f"url '{_printable(url)}' contains control characters")
    try:
        parsed = hyperlink.URL.from_text(url)
    except hyperlink.URLParseError as exc:
        raise ResponseSpecError(f"url {url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme and parsed.scheme.lower() not in ("http", "https"):
        raise ResponseSpecError(f"only relative or http(s) URLs may be redirected to, not {parsed.scheme}:")
    if parsed.scheme and not parsed.host:
        raise ResponseSpecError(f"url {url!r} has no host")
    if parsed.scheme:
        parsed = parsed.replace(scheme=parsed.scheme.lower())
    return parsed.to_uri().to_text().encode("ascii")


@dataclass
class ResponseSpec:
    status: int = 200
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    content_type: bytes = DEFAULT_CONTENT_TYPE.encode("ascii")
    body: bytes = b""


RESPONSE_PARAMS = ("status", "content_type", "body", "header")


def parse_response_spec(query: Mapping[str, Sequence[str]]) -> ResponseSpec:
    """The ``/response`` endpoint: ``status``, ``content_type``, ``body``, ``header``*."""
    unknown = sorted(set(query) - set(RESPONSE_PARAMS))
    if unknown:
        raise ResponseSpecError(
            f"unknown parameter(s) {', '.join(unknown)}; use {', '.join(RESPONSE_PARAMS)}"
        )
    for single in ("status", "content_type", "body"):
        if len(query.get(single, ())) > 1:
            raise ResponseSpecError(f"parameter {single} given more than once")
    spec = ResponseSpec()
    if "status" in query:
        spec.status = parse_status(query["status"][0])
    if "content_type" in query:
        spec.content_type = validate_header_value(query["content_type"][0])
    if "body" in query:
        spec.body = query["body"][0].encode("utf-8")
    spec.headers = [parse_header_param(h) for h in query.get("header", ())]
    return spec
