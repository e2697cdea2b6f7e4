"""The CORS wrapper around the whole netlab-web root.

Preflights are answered here (204) and never reach the static files or an upstream;
a refused preflight gets 403 with a one-line reason and no CORS header, so the
browser's console error and the network panel agree. Actual requests get their
headers before the inner resource runs. ``build_site`` tells the proxy at construction
that this layer exists, so the proxy drops the upstream's own ``Access-Control-*``
headers and ours are never doubled.

Paths under the request tools' prefix (given at construction) are never readable
cross-origin with credentials: no ``Access-Control-Allow-Credentials`` there, and no
CORS header at all on a request carrying Cookie or Authorization, whatever
``--cors-credentials`` says (the inspector would hand a listed origin the visitor's
session).
"""

from __future__ import annotations

from collections.abc import Sequence

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
    uncredentialed_response_headers,
    without_credentials,
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

    def __init__(
        self,
        inner: IResource,
        policy: CorsPolicy,
        *,
        uncredentialed: Sequence[Sequence[bytes]] = (),
    ) -> None:
        """``uncredentialed``: path prefixes (segments) never read with credentials."""
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.inner = inner
        self.policy = policy
        self.uncredentialed = [list(p) for p in uncredentialed if p]
        self.uncredentialed_policy = without_credentials(policy)

    def _is_uncredentialed(self, request: IRequest) -> bool:
        # Both spellings MountRoot could route by: as sent, and with empty segments merged.
        raw = list(request.postpath)
        merged = [s for s in raw if s]
        return any(
            raw[: len(p)] == p or merged[: len(p)] == p for p in self.uncredentialed
        )

    def render(self, request: IRequest) -> bytes | int:
        origin = _header(request, b"origin")
        method = request.method.decode("latin-1")
        wanted_method = _header(request, b"access-control-request-method")
        present = {"Origin": origin, "Access-Control-Request-Method": wanted_method}
        guarded = bool(self.uncredentialed) and self._is_uncredentialed(request)
        policy = self.uncredentialed_policy if guarded else self.policy
        if is_preflight(method, {k: v for k, v in present.items() if v is not None}):
            return self._preflight(request, policy, origin, wanted_method)
        if guarded:
            credentialed = request.requestHeaders.hasHeader(
                b"cookie"
            ) or request.requestHeaders.hasHeader(b"authorization")
            headers = uncredentialed_response_headers(policy, origin, credentialed=credentialed)
        else:
            headers = actual_response_headers(policy, origin)
        _apply(request, headers)
        return render_from(self.inner, request)

    def _preflight(
        self, request: IRequest, policy: CorsPolicy, origin: str | None, wanted_method: str | None
    ) -> bytes | int:
        wanted_headers = _header(request, b"access-control-request-headers")
        headers = preflight_response(policy, origin, wanted_method, wanted_headers)
        if headers is None:
            self.log.info(
                "CORS preflight refused: origin {origin} method {method} headers {headers}",
                origin=origin or "(none)", method=wanted_method or "(none)",
                headers=wanted_headers or "(none)",
            )
            request.setResponseCode(http.FORBIDDEN)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.setHeader(b"cache-control", b"no-store")
            return (
                f"CORS preflight refused: origin {origin or '(none)'}, method "
                f"{wanted_method or '(none)'}, headers {wanted_headers or '(none)'} "
                "are not all allowed here\n"
            ).encode("utf-8", "replace")
        request.setResponseCode(http.NO_CONTENT)
        _apply(request, headers)
        # finish() ourselves: returning b"" would add "Content-Length: 0", which RFC 9110
        # forbids on a 204.
        request.finish()
        return NOT_DONE_YET


def wrap_cors(
    resource: IResource,
    policy: CorsPolicy | None,
    *,
    uncredentialed: Sequence[Sequence[bytes]] = (),
) -> IResource:
    """``resource`` behind the CORS ``policy`` (unchanged without one).

    ``uncredentialed``: mount prefixes (the request tools) never read with credentials.
    """
    if policy is None:
        return resource
    return CorsResource(resource, policy, uncredentialed=uncredentialed)
