"""``twistd netlab``: the framed TCP echo and the web service under one reactor.

Every netlab-web option keeps its name; the TCP options get a ``--tcp-`` prefix and
each service has its own repeatable port option.
"""

from __future__ import annotations

from twisted.application import service

from twisted_netlab.endpoints import validate_endpoint
from twisted_netlab.tcp.tap import (
    DEFAULT_TCP_PORT,
    build_tcp_services,
    parse_tcp_settings,
)
from twisted_netlab.web.options import WebOptions
from twisted_netlab.web.tap import DEFAULT_WEB_PORT, build_web_services


class Options(WebOptions):
    synopsis = "[netlab options]"
    longdesc = (
        "Run the framed TCP echo (--tcp-* options) and the web service (static files, "
        "proxy, tools) in one process."
    )
    optParameters = [
        ["tcp-framing", None, "seed", "TCP frame layout (see netlab-tcp --framing)."],
        ["tcp-max-frame", None, None, "Largest TCP frame body accepted, in bytes."],
        ["tcp-idle-timeout", None, None, "Close idle TCP connections after N seconds (0: never)."],
    ]

    def __init__(self) -> None:
        super().__init__()
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
        self["tcp-settings"] = parse_tcp_settings(
            self["tcp-framing"], self["tcp-max-frame"], self["tcp-idle-timeout"]
        )
        self.post_options_web()


def makeService(options: Options) -> service.MultiService:
    top = service.MultiService()
    for svc in build_tcp_services(options["tcp-ports"], options["tcp-settings"]):
        svc.setServiceParent(top)
    for svc in build_web_services(options.web_config, options["web-ports"]):
        svc.setServiceParent(top)
    return top
