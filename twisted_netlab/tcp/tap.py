"""``twistd netlab-tcp``: options and service wiring only.

The option table and ``echo_config`` (in ``tcp/config.py``) and ``build_tcp_services``
are shared with the combined ``netlab`` plugin, which spells the same options
``--tcp-*``.
"""

from __future__ import annotations

from typing import cast

from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorFromThreads,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python import usage
from zope.interface import implementer

from twisted_netlab.endpoints import PortOptionMixin, listen_services
from twisted_netlab.scale import ScaleOptionsMixin, finish_service  # scale
from twisted_netlab.tcp.config import FRAMINGS, EchoConfig, echo_config, option_parameters
from twisted_netlab.twistd_errors import OneLineUsage

__all__ = ["FRAMINGS", "Options", "build_tcp_services", "echo_config", "makeService"]

DEFAULT_TCP_PORT = "tcp:9000:interface=127.0.0.1"

log = Logger()


@implementer(IStreamServerEndpoint)
class _LoggingEndpoint:
    """Log Node's ``listening`` event with the real address (port 0 resolved)."""

    def __init__(self, inner: IStreamServerEndpoint, description: str) -> None:
        self._inner = inner
        self._description = description

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        def listening(port: IListeningPort) -> IListeningPort:
            host = port.getHost()
            log.info(
                "listening on {address} ({description})",
                address=f"{getattr(host, 'host', host)}:{getattr(host, 'port', '')}",
                description=self._description,
            )
            return port

        return self._inner.listen(factory).addCallback(listening)


def build_tcp_services(ports: list[str], config: EchoConfig) -> list[service.IService]:
    """One ``EchoService`` (listeners + graceful stop) in a list, for a parent to adopt."""
    from twisted.internet import reactor

    from twisted_netlab.tcp.factory import EchoFactory
    from twisted_netlab.tcp.service import EchoService

    factory = EchoFactory(reactor, config)
    listeners = listen_services(ports, factory)
    for svc, description in zip(listeners, ports, strict=True):
        svc.endpoint = _LoggingEndpoint(svc.endpoint, description)  # type: ignore[attr-defined]
    return [EchoService(factory, listeners, cast(IReactorFromThreads, reactor))]


class Options(OneLineUsage, PortOptionMixin, ScaleOptionsMixin, usage.Options):
    synopsis = "[netlab-tcp options]"
    longdesc = (
        "A framed TCP echo: every frame comes back with the same serial and body. "
        "Default wire: the course's 2-byte serial + 2-byte length, big-endian."
    )
    optParameters = option_parameters()
    optFlags = [
        ["trace", None, "Log every read at debug level (floods the log under load)."],
    ]

    default_port = DEFAULT_TCP_PORT

    def postOptions(self) -> None:
        self.post_options_ports()
        self["config"] = echo_config(self)
        self.post_options_scale(web=False)  # scale


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    top = service.MultiService()
    for svc in build_tcp_services(options["ports"], options["config"]):
        svc.setServiceParent(top)
    return finish_service(top, options["scale"], reactor, __name__)  # scale
