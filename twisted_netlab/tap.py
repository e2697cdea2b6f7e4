"""``twistd netlab``: the framed TCP echo and the web service under one reactor.

Every netlab-web option keeps its name; the TCP options get a ``--tcp-`` prefix and
each service has its own repeatable port option.
"""

from __future__ import annotations

from twisted.application import service

from twisted_netlab.endpoints import validate_endpoint
from twisted_netlab.scale import ScaleOptionsMixin, finish_service  # scale
from twisted_netlab.tcp.config import echo_config, option_parameters
from twisted_netlab.tcp.tap import DEFAULT_TCP_PORT, build_tcp_services
from twisted_netlab.tls_options import TLSOptionsMixin  # scale
from twisted_netlab.twistd_errors import OneLineUsage
from twisted_netlab.web.options import WebOptions
from twisted_netlab.web.tap import DEFAULT_WEB_PORT, build_web_services


class Options(OneLineUsage, TLSOptionsMixin, ScaleOptionsMixin, WebOptions):
    synopsis = "[netlab options]"
    longdesc = (
        "Run the framed TCP echo (--tcp-* options) and the web service (static files, "
        "proxy, tools) in one process."
    )
    optParameters = option_parameters("tcp-")  # the netlab-tcp options, --tcp- prefixed

    def __init__(self) -> None:
        WebOptions.__init__(self)  # explicit: mypy cannot see through super() here
        self["web-ports"] = []
        self["tcp-ports"] = []

    def opt_web_port(self, description: str) -> None:
        """Web endpoint (repeatable), default tcp:8080:interface=127.0.0.1"""
        self["web-ports"].append(validate_endpoint(description))

    def opt_tcp_port(self, description: str) -> None:
        """TCP echo endpoint (repeatable), default tcp:9000:interface=127.0.0.1"""
        self["tcp-ports"].append(validate_endpoint(description))

    def postOptions(self) -> None:
        if not self["web-ports"]:
            self["web-ports"].append(validate_endpoint(DEFAULT_WEB_PORT))
        if not self["tcp-ports"]:
            self["tcp-ports"].append(validate_endpoint(DEFAULT_TCP_PORT))
        self["tcp-config"] = echo_config(self, prefix="tcp-")
        self.post_options_web()
        self.post_options_tls()  # scale: --tls applies to the web ports
        self.post_options_scale(mounts=self.web_config.mount_prefixes())  # scale


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    top = service.MultiService()
    for svc in build_tcp_services(options["tcp-ports"], options["tcp-config"]):
        svc.setServiceParent(top)
    for svc in build_web_services(
        options.web_config, options["web-ports"], tls=options.get("tls-config")
    ):
        svc.setServiceParent(top)
    return finish_service(top, options["scale"], reactor, __name__)  # scale
