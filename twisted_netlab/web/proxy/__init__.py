"""The streaming reverse proxy, built on ``twisted_netlab.upstream``.

Modules by job: ``resource`` (the twisted.web resource per mount and the mounts from
options), ``call`` (one proxied request's state machine), ``interim`` (1xx to the
client), ``errors`` (failures to 502/504 pages), ``settings`` (the client the frozen
``web.config.ProxySettings`` configure). Header rules stay pure in ``twisted_netlab.http.headers``.
"""

from twisted_netlab.web.proxy.errors import describe_failure, status_for
from twisted_netlab.web.proxy.resource import (
    ProxyResource,
    build_proxy_mounts,
    make_proxy_mounts,
)
from twisted_netlab.web.proxy.settings import ProxyClient, ProxySettings

__all__ = [
    "ProxyClient",
    "ProxyResource",
    "ProxySettings",
    "build_proxy_mounts",
    "describe_failure",
    "make_proxy_mounts",
    "status_for",
]
