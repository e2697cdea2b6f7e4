"""The netlab-web site: ``build_site``, which composes the parts.

``build_site`` takes a ``WebConfig`` (see ``web/config.py``) and nothing else: the
static files behind the hotlink gate by default, proxy and tools mounts by prefix (the
router is ``web/mounts.py``), CORS around the whole root. The CORS policy is handed to
the proxy at construction, so the proxy knows to drop the upstream's own
``Access-Control-*`` headers without a message riding on the request.
"""

from __future__ import annotations

import sys

from twisted.internet.interfaces import IReactorTime

from twisted_netlab.http.replay import MAX_TABLE_BYTES
from twisted_netlab.web.accesslog import NetlabSite, combined_log_line, open_access_log
from twisted_netlab.web.config import WebConfig
from twisted_netlab.web.connections import LimitedSite, body_rule_for
from twisted_netlab.web.cors import wrap_cors
from twisted_netlab.web.hotlink import wrap_hotlink
from twisted_netlab.web.mounts import Mount, MountRoot, render_from, split_prefix
from twisted_netlab.web.proxy import build_proxy_mounts
from twisted_netlab.web.proxy.opener import proxy_body_opener
from twisted_netlab.web.proxy.resource import ProxyResource
from twisted_netlab.web.requestlog import RequestLog
from twisted_netlab.web.static import build_static_resource
from twisted_netlab.web.tools import build_tool_mounts

# Importable from here as before; the router lives in web/mounts.py, the access log in
# web/accesslog.py.
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


def build_site(config: WebConfig, reactor: IReactorTime) -> LimitedSite:
    """The whole netlab-web site for ``config``; ``reactor`` supplies clocks and sockets.

    The static files behind the hotlink gate take every path no mount owns; proxy and
    tools mounts by prefix; CORS around the whole root, told which prefixes (the tools)
    are never read with credentials; the connection limits, the body rule (which
    mounts take request bodies, how large) and the body opener (proxy uploads stream
    upstream as they arrive) in the ``LimitedSite`` around it all.
    """
    static = wrap_hotlink(
        build_static_resource(config.static, reactor), config.hotlink, reactor,
        spa=config.static.spa,
    )
    proxies = build_proxy_mounts(config.proxy, reactor, cors_managed=config.cors is not None)
    tools = build_tool_mounts(config.tools)
    router = MountRoot(static, [*proxies, *tools])
    root = wrap_cors(router, config.cors, uncredentialed=[prefix for prefix, _ in tools])
    rule = body_rule_for([p for p, _ in proxies], [p for p, _ in tools], config.limits)
    wanted = config.request_log
    request_log = None if wanted is None else RequestLog(
        sys.stdout, reactor, colour=wanted.colour, flush_interval=wanted.flush_interval
    )
    # Proxy uploads stream to the upstream as they arrive (routed as ``router`` does).
    opener = proxy_body_opener(router.mounts) if proxies else None
    # Replayed bodies are copies held in memory: the tables (plain and TLS) may each
    # take an eighth of the memory cache's budget, at most MAX_TABLE_BYTES.
    replay_bytes = min(MAX_TABLE_BYTES, config.static.memory_cache_size // 8)
    site = LimitedSite(
        root, config.limits, rule, reactor=reactor, body_opener=opener,
        access_log=open_access_log(config.access_log), request_log=request_log,
        replay_bytes=replay_bytes if config.replay else None,
    )
    # For /metrics (scale.instrument reads them at scrape time): the proxy's pools.
    site.upstream_pools = list({
        id(r.client.pool): r.client.pool for _, r in proxies if isinstance(r, ProxyResource)
    }.values())
    # ... and the shared proxy cache, whose outcomes it counts.
    site.proxy_caches = list({
        id(r.cache): r.cache
        for _, r in proxies if isinstance(r, ProxyResource) and r.cache is not None
    }.values())
    return site
