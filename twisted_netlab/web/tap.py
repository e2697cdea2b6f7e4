"""``twistd netlab-web``: options and service wiring only.

Each part of the site contributes an options mixin (``usage.Options`` accumulates
``optParameters``/``optFlags``/``opt_*`` across base classes) and a ``post_options_*``
hook that validates its own values.
"""

from __future__ import annotations

from twisted.application import service
from twisted.python import usage

from twisted_netlab.endpoints import PortOptionMixin
from twisted_netlab.scale import ScaleOptionsMixin, finish_service  # scale
from twisted_netlab.tls_options import TLSOptionsMixin, listen_services_tls  # scale
from twisted_netlab.web.options_hotlink import HotlinkOptionsMixin
from twisted_netlab.web.options_limits import LimitsOptionsMixin
from twisted_netlab.web.options_proxy import ProxyOptionsMixin
from twisted_netlab.web.options_static import StaticOptionsMixin
from twisted_netlab.web.options_tools import ToolsOptionsMixin
from twisted_netlab.web.site import split_prefix

DEFAULT_WEB_PORT = "tcp:8080:interface=127.0.0.1"


class WebOptionsMixin(
    StaticOptionsMixin, HotlinkOptionsMixin, ProxyOptionsMixin, ToolsOptionsMixin,
    LimitsOptionsMixin,
):
    """Every netlab-web option except the listening ports (the combined plugin reuses it)."""

    optParameters = [
        ["access-log", None, None, "Write a combined-format access log to this file ('-': stdout)."],
    ]

    def post_options_web(self) -> None:
        self.post_options_static()
        self.post_options_hotlink()
        self.post_options_proxy()
        self.post_options_tools()
        self.post_options_limits()
        self.check_mounts_apart()

    def check_mounts_apart(self) -> None:
        """A proxy mount inside the tools prefix would be shadowed (or shadow) silently."""
        if not self["tools"]:  # type: ignore[index]
            return
        tools = split_prefix(self["tools-prefix"])  # type: ignore[index]
        for mount in self["proxy-mounts"]:  # type: ignore[index]
            if split_prefix(mount.prefix)[: len(tools)] == tools:
                raise usage.UsageError(
                    f"--proxy {mount.prefix} lies under the tools prefix "
                    f"{self['tools-prefix']}; move the tools with --tools-prefix "  # type: ignore[index]
                    "or leave them off (omit --tools)"
                )


class Options(
    PortOptionMixin, TLSOptionsMixin, ScaleOptionsMixin, WebOptionsMixin, usage.Options
):
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
        self.post_options_scale()  # scale


def build_web_services(options: usage.Options, ports: list[str]) -> list[service.IService]:
    from twisted.internet import reactor

    from twisted_netlab.drain import DrainService
    from twisted_netlab.web.site import build_site

    site = build_site(options, reactor)
    # Last child: MultiService stops children in reverse, so the drain starts first.
    listeners = listen_services_tls(ports, site, options.get("tls-config"))  # scale
    return [*listeners, DrainService([site], reactor)]


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    top = service.MultiService()
    for svc in build_web_services(options, options["ports"]):
        svc.setServiceParent(top)
    return finish_service(top, options["scale"], reactor, __name__)  # scale
