"""``twistd netlab-web``: the listening ports plus ``WebOptions``, and service wiring.

Every option is parsed and validated in ``postOptions`` (``web/options.py``) into one
``WebConfig``; ``makeService`` hands that config to ``build_site`` and nothing reads an
option name afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from twisted.application import service
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime

from twisted_netlab.drain import DrainService
from twisted_netlab.endpoints import PortOptionMixin
from twisted_netlab.scale import ScaleOptionsMixin, finish_service  # scale
from twisted_netlab.tls_options import TLSConfig, TLSOptionsMixin, listen_services_tls  # scale
from twisted_netlab.twistd_errors import OneLineUsage
from twisted_netlab.web.config import WebConfig
from twisted_netlab.web.options import WebOptions
from twisted_netlab.web.site import build_site

__all__ = ["DEFAULT_WEB_PORT", "Options", "WebOptions", "build_web_services", "makeService"]

DEFAULT_WEB_PORT = "tcp:8080:interface=127.0.0.1"


class Options(OneLineUsage, PortOptionMixin, TLSOptionsMixin, ScaleOptionsMixin, WebOptions):
    synopsis = "[netlab-web options]"
    longdesc = (
        "Serve a directory correctly (validators, ranges, compression, hotlink "
        "protection), reverse-proxy prefixes to upstreams with CORS, and (with --tools) "
        "offer request-inspection tools under /_netlab/."
    )

    default_port = DEFAULT_WEB_PORT

    def postOptions(self) -> None:
        self.post_options_ports()
        self.post_options_web()
        self.post_options_tls()  # scale
        self.post_options_scale(mounts=self.web_config.mount_prefixes())  # scale


def build_web_services(
    config: WebConfig,
    ports: Iterable[str],
    reactor: IReactorTime | None = None,
    *,
    tls: TLSConfig | None = None,
) -> list[service.IService]:
    """One listening service per endpoint, all serving the site ``config`` describes,
    then the service that drains the site on stop; ``tls`` wraps the plain ports."""
    if reactor is None:
        # The reactor twistd installed: imported here, not at module load, so that
        # loading the plugin never installs the default reactor first.
        from twisted.internet import reactor as installed

        reactor = cast(IReactorTime, installed)
    site = build_site(config, reactor)
    # Last child: MultiService stops children in reverse, so the drain starts first.
    listeners = listen_services_tls(ports, site, tls)  # scale
    return [*listeners, DrainService([site], cast(IReactorFromThreads, reactor))]


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    top = service.MultiService()
    for svc in build_web_services(
        options.web_config, options["ports"], tls=options.get("tls-config")
    ):
        svc.setServiceParent(top)
    return finish_service(top, options["scale"], reactor, __name__)  # scale
