"""The proxy's knobs (one frozen value shared by every mount) and the client they build.

``settings_from_options`` is the one place option names are read; everything below
takes ``ProxySettings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet.interfaces import IReactorTime

from twisted_netlab.http.headers import TrustedProxies, parse_trusted
from twisted_netlab.upstream.client import ClientConfig, UpstreamClient
from twisted_netlab.upstream.endpoints import TLSPolicy, default_tls


@dataclass(frozen=True)
class ProxySettings:
    """``pool_size``: idle connections an upstream keeps whatever the load (more are
    kept while the recent peak concurrency needs them); ``pool_idle_timeout``: an idle
    upstream connection is closed after this long."""

    pool_size: int = 32
    connect_timeout: float = 10.0
    response_timeout: float = 60.0
    idle_timeout: float = 60.0
    pool_idle_timeout: float = 50.0
    trusted: TrustedProxies = field(default_factory=TrustedProxies)
    pseudonym: str = "netlab"
    dev: bool = False
    tls: TLSPolicy = default_tls


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

    def __init__(self, reactor: IReactorTime, settings: ProxySettings) -> None:
        super().__init__(reactor, client_config(settings))


_DEFAULT = ProxySettings()


def settings_from_options(options: Any) -> ProxySettings:
    trusted = options.get("proxy-trusted")
    if not isinstance(trusted, TrustedProxies):
        trusted = parse_trusted(options.get("trusted-proxy") or [])
    return ProxySettings(
        pool_size=int(options.get("proxy-pool-size") or _DEFAULT.pool_size),
        connect_timeout=float(options.get("proxy-connect-timeout") or _DEFAULT.connect_timeout),
        response_timeout=float(options.get("proxy-response-timeout") or _DEFAULT.response_timeout),
        idle_timeout=float(options.get("proxy-idle-timeout") or _DEFAULT.idle_timeout),
        trusted=trusted,
        pseudonym=str(options.get("proxy-via") or _DEFAULT.pseudonym),
        dev=bool(options.get("proxy-dev")),
    )
