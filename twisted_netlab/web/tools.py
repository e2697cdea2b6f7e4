"""The request inspector and the response setter, mounted under ``/_netlab/``.

``inspect`` answers any method on any subpath with a JSON description of the request
as it arrived. The setter endpoints (``status/N``, ``response-headers``,
``cookies``, ``cookies/set``, ``cookies/delete``, ``redirect-to``, ``response``) build a
response from the query string; everything is validated by
``twisted_netlab.http.respspec`` before a single header is set, so a refused request
(400) leaves no half-made response behind.

The tools are off unless ``--tools`` is given. When on, they answer on the site's
origin with content a link chose, so every answer carries ``Content-Security-Policy:
sandbox`` (the page runs no script, submits no form and gets an opaque origin, so it can
read nothing of ours) and ``X-Content-Type-Options: nosniff``. What the setter may not
set and where ``redirect-to`` may go is decided in ``respspec``. A request made by a
script (``Sec-Fetch-Mode`` other than ``navigate``) sees ``Cookie`` and
``Authorization`` redacted: a script elsewhere on the site must not read HttpOnly
cookies through the inspector; curl and a typed URL see them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qsl, quote

from twisted.logger import Logger
from twisted.web import http, pages
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from twisted_netlab.http.bodyparse import describe_body, query_for_answer
from twisted_netlab.http.respspec import (
    REDIRECT_CODES,
    ResponseSpecError,
    parse_cookie_header,
    parse_response_spec,
    parse_status,
    validate_cookie,
    validate_header_name,
    validate_header_value,
    validate_redirect,
)
from twisted_netlab.web import toolspage
from twisted_netlab.web.config import ToolsConfig
from twisted_netlab.web.mounts import Mount, split_prefix
from twisted_netlab.web.refusal import refuse
from twisted_netlab.web.vary import add_vary

MAX_INSPECT_BODY = 8 << 20
_CHUNK = 1 << 16
JSON_TYPE = b"application/json; charset=utf-8"
SANDBOX = b"sandbox"
REDACTED = "(hidden from scripts)"
_CREDENTIAL_HEADERS = frozenset({b"cookie", b"authorization", b"proxy-authorization"})


def _text(raw: bytes) -> str:
    """Header bytes as text: UTF-8 when valid (obs-text), Latin-1 otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _raw_query(request: IRequest) -> str:
    uri: bytes = request.uri
    return _text(uri.partition(b"?")[2]) if b"?" in uri else ""


def _strict_query(request: IRequest) -> dict[str, list[str]]:
    """The percent-decoded query for the setter; 400 when it is not UTF-8."""
    out: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(
            request.uri.partition(b"?")[2].decode("ascii"),
            keep_blank_values=True, errors="strict", max_num_fields=200,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ResponseSpecError(f"query string is not valid percent-encoded UTF-8: {exc}") from exc
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _json(request: IRequest, obj: object) -> bytes:
    request.setHeader(b"content-type", JSON_TYPE)
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def _wants_html(request: IRequest) -> bool:
    """Browsers get HTML; JSON stays the answer for everyone else (see toolspage)."""
    add_vary(request, "Accept")
    return toolspage.prefers_html(request.getHeader(b"accept"))


def _html(request: IRequest, body: bytes, csp: bytes) -> bytes:
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"content-security-policy", csp)
    request.setHeader(b"x-content-type-options", b"nosniff")
    return body


def _address(addr: Any) -> dict[str, Any]:
    if hasattr(addr, "host"):
        return {"host": addr.host, "port": addr.port}
    return {"name": str(getattr(addr, "name", addr))}


def _read_body(request: IRequest, content_type: str | None) -> dict[str, Any]:
    content = request.content
    if content is None:
        return describe_body(content_type, b"")
    content.seek(0)
    head = content.read(MAX_INSPECT_BODY + 1)
    if len(head) <= MAX_INSPECT_BODY:
        return describe_body(content_type, head)
    digest = hashlib.sha256(head)
    size = len(head)
    while chunk := content.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return {
        "size": size, "content_type": content_type, "kind": "too-large",
        "sha256": digest.hexdigest(),
        "note": f"bodies over {MAX_INSPECT_BODY} bytes are hashed, not parsed",
    }


def from_script(request: IRequest) -> bool:
    """Whether a browser says a script made this request (fetch, XHR, a subresource)."""
    mode = request.getHeader(b"sec-fetch-mode")
    return mode is not None and mode != b"navigate"


def inspect_request(request: IRequest) -> dict[str, Any]:
    """Everything the inspector reports, as JSON-able values."""
    content_type = request.getHeader(b"content-type")
    query_raw = _raw_query(request)
    hide = from_script(request)
    return {
        "method": _text(request.method),
        "uri": _text(request.uri),
        "path": _text(request.path),
        "query_raw": query_raw,
        "query": query_for_answer(query_raw),
        "headers": [
            [
                _text(name),
                REDACTED if hide and name.lower() in _CREDENTIAL_HEADERS else _text(value),
            ]
            for name, values in request.requestHeaders.getAllRawHeaders()
            for value in values
        ],
        "client": _address(request.getClientAddress()),
        "server": _address(request.getHost()),
        "http_version": _text(cast(Request, request).clientproto),
        "tls": bool(request.isSecure()),
        "body": _read_body(request, None if content_type is None else _text(content_type)),
    }


def _set_header(request: IRequest, name: str, values: list[bytes], *, replace: bool) -> None:
    """Set a requested header; ``Vary`` is merged so the CORS layer's token survives."""
    if name.lower() == "vary":
        add_vary(request, *values)
    elif replace:
        request.responseHeaders.setRawHeaders(name.encode("ascii"), values)
    else:
        request.responseHeaders.addRawHeader(name.encode("ascii"), values[0])


Handler = Callable[[IRequest, list[bytes]], bytes | int]


def _render_page(page: IResource, request: IRequest) -> bytes | int:
    """Render one of ``twisted.web.pages`` (its ``render`` is untyped)."""
    result: bytes | int = page.render(request)
    return result


class ToolsResource(Resource):
    """One leaf for the whole prefix: the first path segment names the tool."""

    isLeaf = True
    log = Logger()

    def __init__(self) -> None:
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.handlers: dict[bytes, Handler] = {
            b"inspect": self.inspect,
            b"status": self.status,
            b"response-headers": self.response_headers,
            b"cookies": self.cookies,
            b"redirect-to": self.redirect_to,
            b"response": self.response,
        }

    def render(self, request: IRequest) -> bytes | int:
        request.setHeader(b"content-security-policy", SANDBOX)
        request.setHeader(b"x-content-type-options", b"nosniff")
        segments = list(request.postpath)
        name = segments[0] if segments else b""
        if name == b"" and len(segments) <= 1:
            return self.index(request, [])
        handler = self.handlers.get(name)
        if handler is None:
            known = ", ".join(sorted(h.decode() for h in self.handlers))
            return _render_page(pages.notFound("No Such Tool", f"known tools: {known}"), request)
        try:
            return handler(request, segments[1:])
        except ResponseSpecError as exc:
            self.log.info(
                "tool request refused {uri}: {reason}", uri=_text(request.uri), reason=str(exc)
            )
            request.responseHeaders.removeHeader(b"set-cookie")
            request.responseHeaders.removeHeader(b"location")
            return refuse(request, exc.status, str(exc))

    def _cookie_path(self, request: IRequest) -> str:
        """``/_netlab/``: cookies the tools set never reach the application beside them."""
        return "/" + "".join(quote(_text(s), safe="") + "/" for s in request.prepath)

    def _tool_path(self, request: IRequest, *names: str) -> str:
        segments = [quote(_text(s), safe="") for s in request.prepath] + list(names)
        return "/" + "/".join(segments)

    def index(self, request: IRequest, rest: list[bytes]) -> bytes:
        tools = {name.decode(): self._tool_path(request, name.decode()) for name in self.handlers}
        if _wants_html(request):
            return _html(request, toolspage.render_index(tools), toolspage.INDEX_CSP)
        return _json(request, {"tools": tools})

    def inspect(self, request: IRequest, rest: list[bytes]) -> bytes:
        report = inspect_request(request)
        if _wants_html(request):
            return _html(request, toolspage.render_inspection(report), toolspage.INSPECT_CSP)
        return _json(request, report)

    def status(self, request: IRequest, rest: list[bytes]) -> bytes | int:
        if len(rest) != 1:
            raise ResponseSpecError("use status/N with N in 200..599")
        code = parse_status(_text(rest[0]))
        request.setResponseCode(code)
        if code in http.NO_BODY_CODES:
            request.finish()  # no Content-Length on 204/304
            return NOT_DONE_YET
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        phrase = http.RESPONSES.get(code, b"").decode("latin-1")
        return f"{code} {phrase}\n".encode()

    def response_headers(self, request: IRequest, rest: list[bytes]) -> bytes:
        query = _strict_query(request)
        validated = {
            validate_header_name(name): [validate_header_value(v) for v in values]
            for name, values in query.items()
        }
        body = _json(request, query)
        for name, raw_values in validated.items():
            _set_header(request, name, raw_values, replace=True)
        return body

    def cookies(self, request: IRequest, rest: list[bytes]) -> bytes:
        if not rest:
            sent = request.requestHeaders.getRawHeaders(b"cookie", [])
            cookies = parse_cookie_header([_text(v) for v in sent])
            if from_script(request):
                cookies = dict.fromkeys(cookies, REDACTED)
            return _json(request, {"cookies": cookies})
        if rest not in ([b"set"], [b"delete"]):
            raise ResponseSpecError("use cookies, cookies/set?name=value or cookies/delete?name")
        query = _strict_query(request)
        path = self._cookie_path(request)
        if rest == [b"set"]:
            lines = [validate_cookie(n, v, path) for n, values in query.items() for v in values]
        else:
            lines = [validate_cookie(n, "", path) + "; Max-Age=0" for n in query]
        for line in lines:
            request.responseHeaders.addRawHeader(b"set-cookie", line.encode("ascii"))
        return self._redirect(request, self._tool_path(request, "cookies").encode("ascii"), 302)

    def redirect_to(self, request: IRequest, rest: list[bytes]) -> bytes:
        query = _strict_query(request)
        urls = query.get("url", [])
        if len(urls) != 1:
            raise ResponseSpecError("give exactly one url parameter")
        code = 302
        if "status_code" in query:
            code = parse_status(query["status_code"][0], REDIRECT_CODES)
        scheme = "https" if request.isSecure() else "http"
        host = request.getHeader(b"host")
        return self._redirect(request, validate_redirect(urls[0], scheme=scheme, host=host), code)

    def _redirect(self, request: IRequest, location: bytes, code: int) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"location", location)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"redirecting to " + location + b"\n"

    def response(self, request: IRequest, rest: list[bytes]) -> bytes | int:
        spec = parse_response_spec(_strict_query(request))
        request.setResponseCode(spec.status)
        for name, value in spec.headers:
            _set_header(request, name, [value], replace=False)
        if spec.status in http.NO_BODY_CODES:
            request.finish()  # no body and no Content-Length on 204/304
            return NOT_DONE_YET
        request.setHeader(b"content-type", spec.content_type)
        return spec.body


def build_tool_mounts(config: ToolsConfig) -> list[Mount]:
    """The tools mount with ``--tools``; nothing by default (they are opt-in)."""
    if not config.enabled:
        return []
    return [(split_prefix(config.prefix), ToolsResource())]
