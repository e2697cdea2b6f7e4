"""``twistd netlab-tcp``: options and service wiring only.

``parse_tcp_settings`` and ``build_tcp_services`` are shared with the combined
``netlab`` plugin, which spells the same options ``--tcp-*``.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage
from zope.interface import implementer

from twisted_netlab.endpoints import PortOptionMixin, listen_services
from twisted_netlab.framing import DEFAULT_MAX_FRAME, LAYOUTS
from twisted_netlab.scale import ScaleOptionsMixin, finish_service  # scale

DEFAULT_TCP_PORT = "tcp:9000:interface=127.0.0.1"
DEFAULT_TCP_FRAMING = "seed"
DEFAULT_TCP_MAX_FRAME = DEFAULT_MAX_FRAME
# framing is pure stdlib and cheap to import; ``twistd --help`` imports no tap module.
FRAMINGS = tuple(LAYOUTS)

log = Logger()


@dataclass(frozen=True)
class TCPSettings:
    framing: str
    max_frame: int
    idle_timeout: float | None
    trace: bool = False


def parse_tcp_settings(
    framing: str | None, max_frame: str | int | None, idle_timeout: str | float | None
) -> TCPSettings:
    """Validate option values; raise ``UsageError`` saying which one is wrong and why.

    ``None`` means "not given": the defaults apply (seed, 1 MiB capped to the layout,
    no idle timeout).
    """
    if framing is None:
        framing = DEFAULT_TCP_FRAMING
    if max_frame is None:
        max_frame = DEFAULT_TCP_MAX_FRAME
    if framing not in FRAMINGS:
        raise usage.UsageError(
            f"--framing must be one of {', '.join(FRAMINGS)}, not {framing!r}"
        )
    try:
        limit = int(max_frame)
    except (TypeError, ValueError):
        raise usage.UsageError(
            f"--max-frame must be a whole number of bytes, not {max_frame!r}"
        ) from None
    if limit < 0:
        raise usage.UsageError(f"--max-frame must be >= 0, not {limit}")
    seed_max = LAYOUTS["seed"].length_max
    if framing == "seed" and limit > seed_max:
        limit = seed_max  # the seed wire cannot carry more (int16 length)
    timeout: float | None
    if idle_timeout is None or str(idle_timeout).strip().lower() in ("", "0", "off", "none"):
        timeout = None
    else:
        try:
            timeout = float(idle_timeout)
        except (TypeError, ValueError):
            raise usage.UsageError(
                f"--idle-timeout must be seconds or 'off', not {idle_timeout!r}"
            ) from None
        if not timeout > 0 or timeout == float("inf"):
            raise usage.UsageError(
                f"--idle-timeout must be a positive number of seconds or 'off', not {idle_timeout!r}"
            )
    return TCPSettings(framing=framing, max_frame=limit, idle_timeout=timeout)


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


def build_tcp_services(ports: list[str], settings: TCPSettings) -> list[service.IService]:
    from twisted.internet import reactor

    from twisted_netlab.tcp.protocol import EchoFactory

    factory = EchoFactory(
        reactor,
        framing=settings.framing,
        max_frame=settings.max_frame,
        idle_timeout=settings.idle_timeout,
        trace=settings.trace,
    )
    services = listen_services(ports, factory)
    for svc, description in zip(services, ports, strict=True):
        svc.endpoint = _LoggingEndpoint(svc.endpoint, description)
    return services


class Options(PortOptionMixin, ScaleOptionsMixin, usage.Options):
    synopsis = "[netlab-tcp options]"
    longdesc = (
        "A framed TCP echo: every frame comes back with the same serial and body. "
        "Default wire: the course's 2-byte serial + 2-byte length, big-endian."
    )
    optParameters = [
        ["framing", "f", DEFAULT_TCP_FRAMING,
         "Header layout: seed (int16 serial + int16 length), wide (int32 serial + "
         "uint32 length), len32 (uint32 length), none (raw stream)."],
        ["max-frame", "m", str(DEFAULT_TCP_MAX_FRAME),
         "Largest body accepted, in bytes (seed caps it at 32767)."],
        ["idle-timeout", "t", "off",
         "Close a connection idle for this many seconds ('off' or 0: never)."],
    ]
    optFlags = [
        ["trace", None, "Log every read at debug level (floods the log under load)."],
    ]

    default_port = DEFAULT_TCP_PORT

    def postOptions(self) -> None:
        self.post_options_ports()
        settings = parse_tcp_settings(
            self["framing"], self["max-frame"], self["idle-timeout"]
        )
        if self["trace"]:
            settings = TCPSettings(
                settings.framing, settings.max_frame, settings.idle_timeout, True
            )
        self["settings"] = settings
        self.post_options_scale(web=False)  # scale


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    top = service.MultiService()
    for svc in build_tcp_services(options["ports"], options["settings"]):
        svc.setServiceParent(top)
    return finish_service(top, options["scale"], reactor, __name__)  # scale
