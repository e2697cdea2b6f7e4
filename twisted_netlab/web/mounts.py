"""The mount router: one leaf root that sends each request to its mount.

Mounts (proxy prefixes, the tools under ``/_netlab/``) win by longest prefix; the
default resource (the static files) takes the rest. Before any of them, the target
form and the Host fields are checked (RFC 9112 3.2: one valid ``host[:port]``). The
root is a leaf so that a mount sees ``request.postpath`` relative to its own prefix,
whatever Twisted's traversal did. The routing decision itself is pure (``routable``,
``target_segments``, ``pick_mount``): the streaming-upload opener routes a request
with it before twisted.web has made a ``Request`` of it.

Why a module of its own: every wrapper (CORS, hotlink) and mount delegates through
``render_from``; keeping it here, below ``site.py``, lets ``site.py`` import the
wrappers at the top without a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource, getChildForRequest
from twisted.web.server import Request

from twisted_netlab.http.host import BadHostError, check_host_fields, is_valid_host
from twisted_netlab.http.segments import path_segments
from twisted_netlab.web.refusal import refuse

Mount = tuple[list[bytes], IResource]

__all__ = [
    "Mount",
    "MountRoot",
    "pick_mount",
    "render_from",
    "routable",
    "split_prefix",
    "target_segments",
]


def split_prefix(prefix: str) -> list[bytes]:
    """``"/api/v1/"`` -> ``[b"api", b"v1"]``: the segments a mount owns."""
    return [s.encode("utf-8") for s in path_segments(prefix)]


def render_from(resource: IResource, request: IRequest) -> bytes | int:
    """Traverse from ``resource`` with the request's ``postpath`` and render."""
    child: IResource = getChildForRequest(resource, request)
    result: bytes | int = child.render(request)
    return result


def routable(method: bytes, uri: bytes) -> bool:
    """Origin-form (or ``*``) and not CONNECT: what this reverse proxy serves at all."""
    return method != b"CONNECT" and (uri.startswith(b"/") or uri == b"*")


def target_segments(uri: bytes) -> list[bytes]:
    """The path segments twisted.web makes of ``uri`` (``Request.process``): split on
    ``/`` after the first, each percent-decoded. Used where no Request has been
    processed yet (the streaming-upload opener runs when the head is in)."""
    path = uri.split(b"?", 1)[0]
    return [unquote_to_bytes(s) for s in path[1:].split(b"/")]


def pick_mount(mounts: Sequence[Mount], segments: Sequence[bytes]) -> Mount | None:
    """The mount owning ``segments``: the first whose prefix matches, ``mounts`` being
    sorted longest prefix first (as ``MountRoot.mounts`` is); None for the default."""
    for mount in mounts:
        prefix = mount[0]
        if list(segments[: len(prefix)]) == prefix:
            return mount
    return None


class MountRoot(Resource):
    isLeaf = True

    def __init__(self, default: IResource, mounts: Sequence[Mount] = ()) -> None:
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.default = default
        # Longest prefix first so /api/v2 wins over /api.
        self.mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)

    def render(self, request: Request) -> bytes | int:
        uri: bytes = request.uri
        if not routable(request.method, uri):
            # A reverse proxy for configured upstreams only: never an open proxy.
            request.setResponseCode(http.BAD_REQUEST)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.setHeader(b"connection", b"close")
            channel = request.channel  # Request drops it when finished
            request.notifyFinish().addBoth(lambda _: channel.loseConnection())
            return b"absolute-form targets and CONNECT are not served here\n"
        hosts = request.requestHeaders.getRawHeaders(b"host")
        try:
            # One valid Host line (every request but a faulty one) is decided by the
            # memoised validity test alone; check_host_fields words the refusal.
            if hosts is None or len(hosts) != 1 or not is_valid_host(hosts[0]):
                check_host_fields(hosts, request.clientproto)
        except BadHostError as exc:
            request.setHeader(b"connection", b"close")
            channel = request.channel
            request.notifyFinish().addBoth(lambda _: channel.loseConnection())
            return refuse(request, exc.status, str(exc))
        # As the root leaf, Twisted left everything in ``postpath`` (a wrapper that
        # traversed may have moved some to ``prepath``: put it back in front).
        prepath = request.prepath
        segments = request.postpath or []
        if prepath:
            segments = list(prepath) + list(segments)
        if self.mounts:
            mount = pick_mount(self.mounts, segments)
            if mount is not None:
                prefix, resource = mount
                request.prepath = list(prefix)
                request.postpath = segments[len(prefix) :]
                return render_from(resource, request)
        request.prepath = []
        request.postpath = segments
        default = self.default
        if default.isLeaf:
            # What ``getChildForRequest`` would return (a leaf is never traversed),
            # without the call: this is every static request.
            result: bytes | int = default.render(request)
            return result
        return render_from(default, request)
