"""Endpoint-string options shared by every plugin.

Parsing in ``postOptions`` turns a bad description into a usage error instead of a
traceback after the reactor has started.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.application import strports
from twisted.application.service import IService
from twisted.internet.interfaces import IProtocolFactory
from twisted.python import usage


def validate_endpoint(description: str) -> str:
    """Return ``description`` unchanged, or raise ``UsageError`` naming what is wrong."""
    from twisted.internet import endpoints, reactor

    try:
        endpoints.serverFromString(reactor, description)
    except Exception as exc:  # the parser raises ValueError, KeyError, TypeError, ...
        raise usage.UsageError(f"invalid endpoint {description!r}: {exc}") from exc
    return description


def listen_services(
    descriptions: Iterable[str], factory: IProtocolFactory
) -> list[IService]:
    """One ``strports`` service per endpoint description, all sharing ``factory``."""
    return [strports.service(d, factory) for d in descriptions]
