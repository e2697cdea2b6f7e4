"""Upstream failures to client answers: which status, which words.

Timeouts are 504 (the upstream did not answer in time), everything else 502 (it
answered wrongly or not at all). The page says which upstream and why in a few words;
the detail goes to the log only.
"""

from __future__ import annotations

from twisted.python.failure import Failure
from twisted.web import http

from twisted_netlab.upstream.errors import (
    ConnectTimeout,
    ResponseTimeout,
    UpstreamError,
    connect_error,
)


def status_for(error: UpstreamError) -> tuple[int, str]:
    """(status, reason) for an exchange that failed before the response head."""
    if isinstance(error, ConnectTimeout | ResponseTimeout):
        return http.GATEWAY_TIMEOUT, error.reason
    return http.BAD_GATEWAY, error.reason


def describe_failure(failure: Failure) -> tuple[int, str]:
    """(status, reason) for a Twisted failure from connecting (nested reasons walked)."""
    return status_for(connect_error(failure))


def error_body(status: int, origin: str, reason: str) -> bytes:
    phrase = http.RESPONSES.get(status, b"Error").decode("latin-1")
    return f"{status} {phrase}: upstream {origin} {reason}\n".encode("utf-8", "replace")
