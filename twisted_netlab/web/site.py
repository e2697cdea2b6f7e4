"""The netlab-web site: one root that sends each request to its mount.

Mounts (proxy prefixes, the tools under ``/_netlab/``) win by longest prefix; the
static resource takes the rest. The root is a leaf so that a mount sees
``request.postpath`` relative to its own prefix, whatever Twisted's traversal did.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

from twisted.internet.interfaces import IReactorTime
from twisted.python import usage
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource, getChildForRequest
from twisted.web.server import Request, Site

from twisted_netlab.http.host import BadHostError, check_host_fields
from twisted_netlab.web.refusal import refuse

Mount = tuple[list[bytes], IResource]


def split_prefix(prefix: str) -> list[bytes]:
    """``"/api/v1/"`` -> ``[b"api", b"v1"]``: the segments a mount owns."""
    return [s.encode("utf-8") for s in prefix.strip("/").split("/") if s]


class MountRoot(Resource):
    isLeaf = True

    def __init__(self, default: IResource, mounts: Sequence[Mount] = ()) -> None:
        super().__init__()
        self.default = default
        # Longest prefix first so /api/v2 wins over /api.
        self.mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)

    def render(self, request: IRequest) -> bytes | int:
        uri: bytes = request.uri
        if request.method == b"CONNECT" or not (uri.startswith(b"/") or uri == b"*"):
            # A reverse proxy for configured upstreams only: never an open proxy.
            request.setResponseCode(http.BAD_REQUEST)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.setHeader(b"connection", b"close")
            channel = request.channel  # Request drops it when finished
            request.notifyFinish().addBoth(lambda _: channel.loseConnection())
            return b"absolute-form targets and CONNECT are not served here\n"
        try:
            check_host_fields(request.requestHeaders.getRawHeaders(b"host"), request.clientproto)
        except BadHostError as exc:
            request.setHeader(b"connection", b"close")
            channel = request.channel
            request.notifyFinish().addBoth(lambda _: channel.loseConnection())
            return refuse(request, exc.status, str(exc))
        segments = list(request.prepath) + list(request.postpath)
        for prefix, resource in self.mounts:
            if segments[: len(prefix)] == prefix:
                request.prepath = list(prefix)
                request.postpath = segments[len(prefix) :]
                return render_from(resource, request)
        request.prepath = []
        request.postpath = segments
        return render_from(self.default, request)


def render_from(resource: IResource, request: IRequest) -> bytes | int:
    """Traverse from ``resource`` with the request's ``postpath`` and render."""
    return getChildForRequest(resource, request).render(request)


class NetlabSite(Site):
    """A ``Site`` whose access log costs nothing unless asked for."""

    def __init__(
        self, resource: IResource, access_log: IO[bytes] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(resource, **kwargs)
        self._access_log = access_log

    def log(self, request: Request) -> None:
        if self._access_log is None:
            return
        line = combined_log_line(self._logDateTime, request)
        self._access_log.write(line.encode("utf-8", "replace") + b"\n")
        self._access_log.flush()


def _escape(value: bytes | str) -> str:
    # nginx's escaping: log analysers split on quotes, so no raw quote or control byte.
    raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
    return "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02X}" for b in raw
    )


def combined_log_line(timestamp: str, request: Request) -> str:
    """One line of the combined log format, as nginx and Apache write it.

    Twisted's own formatter quotes the client address, which log analysers reject.
    """
    client = request.getClientAddress()
    host = getattr(client, "host", None) or "-"
    length = request.sentLength or "-"
    return (
        f"{host} - - {timestamp} "
        f'"{_escape(request.method)} {_escape(request.uri)} {_escape(request.clientproto)}" '
        f"{request.code} {length} "
        f'"{_escape(request.getHeader(b"referer") or b"-")}" '
        f'"{_escape(request.getHeader(b"user-agent") or b"-")}"'
    )


def open_access_log(target: str | None) -> IO[bytes] | None:
    if not target:
        return None
    if target == "-":
        return sys.stdout.buffer
    return open(target, "ab")


def build_site(options: usage.Options, reactor: IReactorTime) -> NetlabSite:
    from twisted_netlab.web.connections import build_limited_site
    from twisted_netlab.web.cors import wrap_cors
    from twisted_netlab.web.hotlink import wrap_hotlink
    from twisted_netlab.web.proxy import build_proxy_mounts
    from twisted_netlab.web.static import build_static_resource
    from twisted_netlab.web.tools import build_tool_mounts

    static = wrap_hotlink(build_static_resource(options, reactor), options, reactor)
    proxies, tools = build_proxy_mounts(options, reactor), build_tool_mounts(options)
    root = wrap_cors(MountRoot(static, [*proxies, *tools]), options)
    return build_limited_site(root, options, proxies, tools, reactor,
                              access_log=open_access_log(options.get("access-log")))
