"""What can go wrong talking to an upstream, as types the caller can map to a status.

The client turns every failure (a Twisted connect error, a parser error, a timeout, a
connection lost mid-body) into one of these, so the proxy maps classes to 502/504
instead of walking Twisted's nested failures, and a log line carries a short reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from twisted.internet import error as ierror
from twisted.python.failure import Failure

from twisted_netlab.errors import NetlabError


class UpstreamError(NetlabError):
    """Base: ``reason`` is short and fit for an error page; ``detail`` is for logs."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


class ConnectFailed(UpstreamError):
    """No connection: refused, DNS, unreachable, TLS handshake."""


class ConnectTimeout(UpstreamError):
    """The connection was not established within the connect timeout."""


class ClosedEarly(UpstreamError):
    """The upstream closed the connection before sending a response byte."""


class BadResponse(UpstreamError):
    """The response head was unparseable or unsafe to relay (framing, size, version)."""


class ResponseTimeout(UpstreamError):
    """No final response head within the response timeout."""


class RequestBodyFailed(UpstreamError):
    """The request body source failed or did not match its declared length."""


class BodyFailed(UpstreamError):
    """The response body broke after the head was delivered (the caller has to abort)."""


class IdleTimeout(BodyFailed):
    """The response body stalled (not paused by us) for longer than the idle timeout."""


class InternalError(UpstreamError):
    """A bug in the handler or in the client; already logged with its traceback."""


def reasons(failure: Failure) -> Iterator[Failure]:
    """The failure and every failure wrapped in it (``.reasons`` lists, as Twisted's
    ``ResponseNeverReceived`` and endpoint errors carry)."""
    yield failure
    for inner in getattr(failure.value, "reasons", None) or ():
        if isinstance(inner, Failure):
            yield from reasons(inner)


def failure_text(failure: Failure) -> str:
    return "; ".join(f"{type(r.value).__name__}: {r.getErrorMessage()}" for r in reasons(failure))


def connect_error(failure: Failure) -> UpstreamError:
    """The typed error for a failed connection attempt (or a loss before any byte)."""
    if isinstance(failure.value, UpstreamError):
        return failure.value
    detail = failure_text(failure)
    for reason in reasons(failure):
        if isinstance(reason.value, (ierror.TimeoutError)):
            return ConnectTimeout("connect timeout", detail)
    for reason in reasons(failure):
        if isinstance(reason.value, (ierror.DNSLookupError)):
            return ConnectFailed("DNS lookup failed", detail)
        if isinstance(reason.value, (ierror.ConnectionRefusedError)):
            return ConnectFailed("connection refused", detail)
        if isinstance(reason.value, (ierror.ConnectionLost, ierror.ConnectionDone)):
            return ClosedEarly("connection closed before a response", detail)
        if isinstance(reason.value, (ierror.ConnectError)):
            return ConnectFailed("connect failed", detail)
    return ConnectFailed("connect failed", detail)
