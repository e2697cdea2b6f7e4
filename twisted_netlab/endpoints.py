"""Endpoint-string options shared by every plugin.

Parsing in ``postOptions`` turns a bad description into a usage error instead of a
traceback after the reactor has started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted.application import strports
from twisted.application.service import IService
from twisted.internet.interfaces import IProtocolFactory
from twisted.python import usage

from twisted_netlab.startup_messages import endpoint_problem


def validate_endpoint(description: str) -> str:
    """Return ``description`` unchanged, or raise ``UsageError`` naming what is wrong."""
    # The installed reactor, imported late so loading a plugin does not install one.
    from twisted.internet import endpoints, reactor

    try:
        parse: Callable[[object, str], object] = endpoints.serverFromString
        parse(reactor, description)
    except Exception as exc:  # the parser raises ValueError, KeyError, TypeError, ...
        why = endpoint_problem(exc)  # the part that is wrong, not the parser's internals
        raise usage.UsageError(f"invalid endpoint {description!r}: {why}") from exc
    return description


class PortOptionMixin(usage.Options):
    """A repeatable ``--port``/``-p`` endpoint option for a ``usage.Options``.

    Subclasses set ``default_port``; it is used only when no ``--port`` was given.
    """

    default_port: str

    def opt_port(self, description: str) -> None:
        """Listen on this endpoint (repeatable), e.g. tcp:PORT:interface=127.0.0.1"""
        self.setdefault("ports", []).append(validate_endpoint(description))

    opt_p = opt_port

    def post_options_ports(self) -> None:
        if not self.get("ports"):
            self["ports"] = [validate_endpoint(self.default_port)]


def listen_services(
    descriptions: Iterable[str], factory: IProtocolFactory
) -> list[IService]:
    """One ``strports`` service per endpoint description, all sharing ``factory``."""
    return [strports.service(with_default_backlog(d), factory) for d in descriptions]


#: nginx's listen backlog; Twisted's default (50) drops SYNs under a connection burst.
#: The kernel caps it at net.core.somaxconn.
DEFAULT_BACKLOG = 511


def with_default_backlog(description: str, backlog: int = DEFAULT_BACKLOG) -> str:
    """Add ``backlog=511`` to a ``tcp:``/``tcp6:`` description that does not set one."""
    kind, _, rest = description.partition(":")
    if kind not in ("tcp", "tcp6") or not rest:
        return description
    fields = [f.split("=", 1)[0].strip() for f in rest.split(":")[1:]]
    if "backlog" in fields:
        return description
    return f"{description}:backlog={backlog}"
