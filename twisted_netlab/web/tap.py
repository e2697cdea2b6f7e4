"""``twistd netlab-web``: the listening ports plus ``WebOptions``, and service wiring.

Every option is parsed and validated in ``postOptions`` (``web/options.py``) into one
``WebConfig``; ``makeService`` hands that config to ``build_site`` and nothing reads an
option name afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from twisted.application import service
from twisted.internet.interfaces import IReactorTime

from twisted_netlab.endpoints import PortOptionMixin, listen_services
from twisted_netlab.web.config import WebConfig
from twisted_netlab.web.options import WebOptions
from twisted_netlab.web.site import build_site

__all__ = ["DEFAULT_WEB_PORT", "Options", "WebOptions", "build_web_services", "makeService"]

DEFAULT_WEB_PORT = "tcp:8080:interface=127.0.0.1"


class Options(PortOptionMixin, WebOptions):
    synopsis = "[netlab-web options]"
    longdesc = (
        "Serve a directory correctly (validators, ranges, compression, hotlink "
        "protection), reverse-proxy prefixes to upstreams with CORS, and offer "
        "request-inspection tools under /_netlab/."
    )

    default_port = DEFAULT_WEB_PORT

    def postOptions(self) -> None:
        self.post_options_ports()
        self.post_options_web()


def build_web_services(
    config: WebConfig, ports: Iterable[str], reactor: IReactorTime | None = None
) -> list[service.IService]:
    """One listening service per endpoint, all serving the site ``config`` describes."""
    if reactor is None:
        # The reactor twistd installed: imported here, not at module load, so that
        # loading the plugin never installs the default reactor first.
        from twisted.internet import reactor as installed

        reactor = cast(IReactorTime, installed)
    return listen_services(ports, build_site(config, reactor))


def makeService(options: Options) -> service.MultiService:
    top = service.MultiService()
    for svc in build_web_services(options.web_config, options["ports"]):
        svc.setServiceParent(top)
    return top
