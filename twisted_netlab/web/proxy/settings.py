"""The upstream client every proxy mount shares, configured from ``ProxySettings``.

The settings themselves are a frozen value in ``web/config.py`` (built from the options
in ``web/options.py``); this module only turns them into a client.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from twisted_netlab.upstream.client import ClientConfig, UpstreamClient
from twisted_netlab.web.config import ProxySettings

__all__ = ["ProxyClient", "ProxySettings", "client_config"]


def client_config(settings: ProxySettings) -> ClientConfig:
    return ClientConfig(
        connect_timeout=settings.connect_timeout,
        response_timeout=settings.response_timeout,
        idle_timeout=settings.idle_timeout,
        pool_floor=settings.pool_size,
        pool_idle_timeout=settings.pool_idle_timeout,
        tls=settings.tls,
    )


class ProxyClient(UpstreamClient):
    """The upstream client every mount shares, configured from ``ProxySettings``."""

    def __init__(
        self, reactor: IReactorTime, settings: ProxySettings, *, clock: IReactorTime | None = None
    ) -> None:
        super().__init__(reactor, client_config(settings), clock=clock)
