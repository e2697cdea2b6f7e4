"""The CORS wrapper around the whole netlab-web root.

Preflights are answered here (204) and never reach the static files or an upstream;
a refused preflight gets 403 with a one-line reason and no CORS header, so the
browser's console error and the network panel agree. Actual requests get their
headers before the inner resource runs. ``build_site`` tells the proxy at construction
that this layer exists, so the proxy drops the upstream's own ``Access-Control-*``
headers and ours are never doubled.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET

from twisted_netlab.http.cors import (
    CorsPolicy,
    actual_response_headers,
    is_preflight,
    preflight_response,
)
from twisted_netlab.web.mounts import render_from
from twisted_netlab.web.vary import add_vary


def _header(request: IRequest, name: bytes) -> str | None:
    values = request.requestHeaders.getRawHeaders(name)
    if not values:
        return None
    return ", ".join(v.decode("latin-1") for v in values)


def _apply(request: IRequest, headers: list[tuple[str, str]]) -> None:
    for name, value in headers:
        if name.lower() == "vary":
            add_vary(request, value)
        else:
            request.responseHeaders.setRawHeaders(name.encode("ascii"), [value.encode("latin-1")])


class CorsResource(Resource):
    isLeaf = True
    log = Logger()

    def __init__(self, inner: IResource, policy: CorsPolicy) -> None:
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.inner = inner
        self.policy = policy

    def render(self, request: IRequest) -> bytes | int:
        origin = _header(request, b"origin")
        method = request.method.decode("latin-1")
        wanted_method = _header(request, b"access-control-request-method")
        present = {"Origin": origin, "Access-Control-Request-Method": wanted_method}
        if is_preflight(method, {k: v for k, v in present.items() if v is not None}):
            return self._preflight(request, origin, wanted_method)
        _apply(request, actual_response_headers(self.policy, origin))
        return render_from(self.inner, request)

    def _preflight(
        self, request: IRequest, origin: str | None, wanted_method: str | None
    ) -> bytes | int:
        wanted_headers = _header(request, b"access-control-request-headers")
        headers = preflight_response(self.policy, origin, wanted_method, wanted_headers)
        if headers is None:
            self.log.info(
                "CORS preflight refused: origin {origin} method {method} headers {headers}",
                origin=origin, method=wanted_method, headers=wanted_headers,
            )
            request.setResponseCode(http.FORBIDDEN)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.setHeader(b"cache-control", b"no-store")
            return (
                f"CORS preflight refused: origin {origin!r}, method {wanted_method!r}, "
                f"headers {wanted_headers!r} are not all allowed here\n"
            ).encode("utf-8", "replace")
        request.setResponseCode(http.NO_CONTENT)
        _apply(request, headers)
        # finish() ourselves: returning b"" would add "Content-Length: 0", which RFC 9110
        # forbids on a 204.
        request.finish()
        return NOT_DONE_YET


def wrap_cors(resource: IResource, policy: CorsPolicy | None) -> IResource:
    """``resource`` behind the CORS ``policy`` (unchanged without one)."""
    if policy is None:
        return resource
    return CorsResource(resource, policy)
