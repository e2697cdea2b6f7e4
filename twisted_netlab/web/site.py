"""The netlab-web site: the access log and ``build_site``, which composes the parts.

``build_site`` takes a ``WebConfig`` (see ``web/config.py``) and nothing else: the
static files behind the hotlink gate by default, proxy and tools mounts by prefix (the
router is ``web/mounts.py``), CORS around the whole root. The CORS policy is handed to
the proxy at construction, so the proxy knows to drop the upstream's own
``Access-Control-*`` headers without a message riding on the request.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from twisted.internet.interfaces import IReactorTime
from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Site

from twisted_netlab.web.config import WebConfig
from twisted_netlab.web.cors import wrap_cors
from twisted_netlab.web.hotlink import wrap_hotlink
from twisted_netlab.web.mounts import Mount, MountRoot, render_from, split_prefix
from twisted_netlab.web.proxy import build_proxy_mounts
from twisted_netlab.web.static import build_static_resource
from twisted_netlab.web.tools import build_tool_mounts

# Importable from here as before; the router itself lives in web/mounts.py.
__all__ = [
    "Mount",
    "MountRoot",
    "NetlabSite",
    "build_site",
    "combined_log_line",
    "open_access_log",
    "render_from",
    "split_prefix",
]


class NetlabSite(Site):
    """A ``Site`` whose access log costs nothing unless asked for."""

    def __init__(
        self, resource: IResource, access_log: IO[bytes] | None = None, **kwargs: Any
    ) -> None:
        Site.__init__(self, resource, **kwargs)  # explicit: mypy cannot see through super()
        self._access_log = access_log

    def log(self, request: http.Request) -> None:
        if self._access_log is None:
            return
        line = combined_log_line(http.datetimeToLogString(), request)
        self._access_log.write(line.encode("utf-8", "replace") + b"\n")
        self._access_log.flush()


def _escape(value: bytes | str) -> str:
    # nginx's escaping: log analysers split on quotes, so no raw quote or control byte.
    raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
    return "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02X}" for b in raw
    )


def combined_log_line(timestamp: str, request: http.Request) -> str:
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


def build_site(config: WebConfig, reactor: IReactorTime) -> NetlabSite:
    """The whole netlab-web site for ``config``; ``reactor`` supplies clocks and sockets."""
    static = wrap_hotlink(build_static_resource(config.static, reactor), config.hotlink, reactor)
    mounts = [
        *build_proxy_mounts(config.proxy, reactor, cors_managed=config.cors is not None),
        *build_tool_mounts(config.tools),
    ]
    root = wrap_cors(MountRoot(static, mounts), config.cors)
    return NetlabSite(root, access_log=open_access_log(config.access_log))
