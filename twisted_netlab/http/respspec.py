"""Validate what a client asks the response setter to send back.

Every value arrives percent-decoded from the query string, so CR, LF and NUL reach
us as real characters: names must be RFC 9110 tokens, values RFC 9110 field-values
(no CTLs except HTAB), cookies RFC 6265 cookie-octets. Framing and hop-by-hop headers
(Content-Length, Transfer-Encoding, Connection, ...) cannot be set: they would
desynchronise the connection rather than demonstrate anything.

The setter answers on the site's own origin, to whoever follows a link, so it must not
hand a link-maker the origin's security controls. ``SECURITY_HEADERS`` cannot be set
(why, per name, below), nor any ``Access-Control-*`` header (CORS is the CORS layer's
job; a forged ``Access-Control-Allow-Origin`` would open the tools to any page). Cookies
come only from ``cookies/set``: no ``Domain`` attribute (the cookie stays on this host),
no ``__Host-``/``__Secure-`` names (those prefixes promise a cookie set by the site
itself over HTTPS), and a ``Path`` limited to the tools' prefix, so a link cannot fix the
session cookie of the application beside them. ``redirect-to`` goes only to this origin
(``validate_redirect``): a path starting with one ``/``, or an absolute URL with the
request's own scheme and host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import hyperlink

from twisted_netlab.errors import HTTPRuleError
from twisted_netlab.http.host import split_host
from twisted_netlab.http.tokens import CONNECTION_FIELDS, TOKEN

_DEFAULT_PORTS = {"http": 80, "https": 443}

# field-value: VCHAR, obs-text, SP and HTAB inside; no leading/trailing whitespace.
_VCHAR = "\\x21-\\x7e\\x80-\\ud7ff\\ue000-\\U0010ffff"
_FIELD_VALUE = re.compile(f"^(?:[{_VCHAR}](?:[\\t {_VCHAR}]*[{_VCHAR}])?)?$")
_COOKIE_OCTETS = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$")

FORBIDDEN_HEADERS = frozenset(n.decode("ascii") for n in CONNECTION_FIELDS) | {"content-length"}
# Name -> why a link must not set it on our origin.
SECURITY_HEADERS: dict[str, str] = {
    "set-cookie": "cookies are set with cookies/set, which checks them",
    "set-cookie2": "cookies are set with cookies/set, which checks them",
    "location": "redirects go through redirect-to, which allows only this origin",
    "refresh": "it redirects like Location, to any origin",
    "content-security-policy": "it would loosen the sandbox the tools answer with",
    "content-security-policy-report-only": "it reports this origin's pages to a collector",
    "x-content-type-options": "the tools always send nosniff",
    "strict-transport-security": "it would pin or unpin HTTPS for this host",
    "x-frame-options": "it controls framing (clickjacking) of this origin",
    "clear-site-data": "it wipes this origin's cookies and storage",
    "permissions-policy": "it grants or removes powerful browser features",
    "feature-policy": "it grants or removes powerful browser features",
    "cross-origin-opener-policy": "it controls this origin's window isolation",
    "cross-origin-embedder-policy": "it controls this origin's isolation",
    "cross-origin-resource-policy": "it controls who may embed this origin's responses",
    "timing-allow-origin": "it exposes timing to other origins, like CORS",
    "www-authenticate": "a credentials prompt on this origin is a phishing page",
    "alt-svc": "it moves this origin's future traffic to another server",
    "nel": "it makes browsers report this origin's traffic to a collector",
    "report-to": "it makes browsers report this origin's traffic to a collector",
    "reporting-endpoints": "it makes browsers report this origin's traffic to a collector",
    "service-worker-allowed": "it widens what a service worker may control",
    "speculation-rules": "it makes browsers fetch other URLs",
}
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
    lower = name.lower()
    if lower in FORBIDDEN_HEADERS:
        raise ResponseSpecError(f"header {name} controls message framing and cannot be set")
    why = SECURITY_HEADERS.get(lower)
    if why is None and lower.startswith("access-control-"):
        why = "CORS headers come from the site's --cors policy only"
    if why is not None:
        raise ResponseSpecError(f"header {name} cannot be set here: {why}")
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


def validate_cookie(name: str, value: str, path: str = "/") -> str:
    """A ``Set-Cookie`` value (``name=value; Path=...``) or ``ResponseSpecError``.

    No attribute can be smuggled in (the value cannot hold ``;``), so no ``Domain``.
    """
    if not TOKEN.fullmatch(name):
        raise ResponseSpecError(f"cookie name '{_printable(name)}' is not a token")
    if name.lower().startswith(("__host-", "__secure-")):
        raise ResponseSpecError(
            f"cookie name {name} uses a __Host-/__Secure- prefix, which promises a cookie "
            "the site set itself over HTTPS"
        )
    if not _COOKIE_OCTETS.fullmatch(value):
        raise ResponseSpecError(
            f"cookie value '{_printable(value)}' has characters outside RFC 6265 cookie-octets "
            "(no space, quote, comma, semicolon, backslash or controls)"
        )
    return f"{name}={value}; Path={path}"


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


def validate_redirect(url: str, *, scheme: str, host: bytes | None) -> bytes:
    """A ``Location`` on this origin: ``/path`` or ``scheme://host/...`` of the request.

    ``scheme`` and ``host`` (the request's Host value, ``None`` if it had none) name
    this origin. Anything else (``//evil``, ``/\\evil``, ``https:evil``, another host or
    scheme, a relative ``next``) is refused: an open redirect lends our name to phishing.
    """
    if not url:
        raise ResponseSpecError("url parameter is required")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ResponseSpecError(f"url '{_printable(url)}' contains control characters")
    if "\\" in url:
        raise ResponseSpecError("url must not contain a backslash (browsers read it as '/')")
    try:
        parsed = hyperlink.URL.from_text(url)
    except (hyperlink.URLParseError, ValueError) as exc:
        raise ResponseSpecError(f"url '{_printable(url)}' is not a valid URL: {exc}") from exc
    if url.startswith("/"):
        if url.startswith("//"):
            raise ResponseSpecError("url must be a path on this site ('//host' names another host)")
        location = parsed.to_uri().to_text()
    else:
        ours = split_host(host) if host is not None else None
        if not parsed.scheme or not parsed.host or ours is None:
            raise ResponseSpecError(
                "url must be a path starting with '/' or an absolute URL on this site"
            )
        their_scheme = parsed.scheme.lower()
        their_port = parsed.port or _DEFAULT_PORTS.get(their_scheme)
        wanted = (their_scheme, parsed.host.lower(), their_port)
        if parsed.userinfo or wanted != (scheme, ours[0], ours[1] or _DEFAULT_PORTS.get(scheme)):
            raise ResponseSpecError(
                f"url '{_printable(url)}' is on another origin; only {scheme}://"
                f"{host.decode('ascii') if host else ''} may be redirected to"
            )
        location = parsed.replace(scheme=wanted[0]).to_uri().to_text()
    if not location.startswith("/") and not location.lower().startswith(f"{scheme}://"):
        raise ResponseSpecError("url must stay on this site")
    if location.startswith("//"):
        raise ResponseSpecError("url must stay on this site")
    return location.encode("ascii")


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
