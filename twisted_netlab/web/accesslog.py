"""The access logs and the ``Site`` they belong to.

``NetlabSite`` is twisted.web's ``Site`` with two optional logs that cost nothing
unless asked for: the combined-format access log (``--access-log``, the format nginx
and Apache write; Twisted's own formatter quotes the client address, which log
analysers reject) and the compact request log of the short commands
(``web/requestlog.py``, buffered). A leaf of ``web/``: the limited site
(``connections.py``) builds on it and ``site.py`` composes both.

``noisy = False``: a ``Factory`` logs "Starting factory <...NetlabSite object at
0x...>" and "Stopping factory ..." otherwise, under twistd too; that told a user
nothing (the short commands print a banner with the URLs instead).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from twisted_netlab.http.relayplan import ResponsePlan
from twisted_netlab.http.replay import ReplayPlan, field_value
from twisted_netlab.web.requestlog import RequestLog, client_host

__all__ = [
    "NetlabSite", "TimedRequest", "combined_line", "combined_log_line", "open_access_log",
]


class TimedRequest(Request):
    """A ``Request`` that knows when its head was complete (the request log's "ms").

    ``gotLength`` is called once per request, by HTTP/1.1 and HTTP/2 alike, as soon as
    the head is parsed: one clock read there, none in ``__init__``.
    """

    started: float | None = None

    def gotLength(self, length: int | None) -> None:
        channel: Any = self.channel  # HTTPChannel or H2Stream: both have the site
        self.started = channel.site.reactor.seconds()
        Request.gotLength(self, length)


class NetlabSite(Site):
    """A ``Site`` whose access logs cost nothing unless asked for."""

    noisy = False
    requestFactory: type[Request] = TimedRequest

    def __init__(
        self,
        resource: IResource,
        access_log: IO[bytes] | None = None,
        *,
        request_log: RequestLog | None = None,
        **kwargs: Any,
    ) -> None:
        Site.__init__(self, resource, **kwargs)  # explicit: mypy cannot see through super()
        self._access_log = access_log
        self.request_log = request_log
        self._log_second = -1
        self._log_stamp = ""

    def log(self, request: http.Request) -> None:
        if self.request_log is not None:
            self.request_log.log(request)
        if self._access_log is None:
            return
        line = combined_log_line(self._combined_stamp(), request)
        self._access_log.write(line.encode("utf-8", "replace") + b"\n")
        self._access_log.flush()

    def log_replayed(
        self, channel: Any, plan: ReplayPlan | ResponsePlan, head: bytes, started: float
    ) -> None:
        """The log lines of a request answered by a replay (``web/replaychannel.py``),
        the same as the full path writes for it; ``head`` is the request's head."""
        method, target, code, sent = plan.method, plan.target, plan.code, plan.sent
        request_log = self.request_log
        if request_log is not None:
            text = plan.log_text
            if text is None:
                text = plan.log_text = request_log.middle(method, target, code, sent)
            request_log.line_with(client_host(channel), text, started)
        if self._access_log is None:
            return
        line = combined_line(
            self._combined_stamp(), client_host(channel), method, target, plan.version, code,
            sent, field_value(head, b"referer"), field_value(head, b"user-agent"),
        )
        self._access_log.write(line.encode("utf-8", "replace") + b"\n")
        self._access_log.flush()

    def _combined_stamp(self) -> str:
        # The combined timestamp, formatted once per second rather than per request.
        second = int(time.time())
        if second != self._log_second:
            self._log_second = second
            self._log_stamp = http.datetimeToLogString(second)
        return self._log_stamp

    def stopFactory(self) -> None:
        """The last port closed: write out what the request log still holds."""
        Site.stopFactory(self)
        if self.request_log is not None:
            self.request_log.flush()


def _escape(value: bytes | str) -> str:
    # nginx's escaping: log analysers split on quotes, so no raw quote or control byte.
    raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
    return "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02X}" for b in raw
    )


def combined_log_line(timestamp: str, request: http.Request) -> str:
    """One line of the combined log format, as nginx and Apache write it.

    Twisted's own formatter quotes the client address, which log analysers reject.
    """
    client = request.getClientAddress()
    return combined_line(
        timestamp, getattr(client, "host", None) or "-", request.method, request.uri,
        request.clientproto, request.code, request.sentLength,
        request.getHeader(b"referer"), request.getHeader(b"user-agent"),
    )


def combined_line(
    timestamp: str, host: str, method: bytes, uri: bytes, version: bytes, code: int,
    sent: int, referer: bytes | None, agent: bytes | None,
) -> str:
    """The combined-format line from its fields (a replayed request has no ``Request``)."""
    return (
        f"{host} - - {timestamp} "
        f'"{_escape(method)} {_escape(uri)} {_escape(version)}" '
        f"{code} {sent or '-'} "
        f'"{_escape(referer or b"-")}" '
        f'"{_escape(agent or b"-")}"'
    )


def open_access_log(target: str | None) -> IO[bytes] | None:
    if not target:
        return None
    if target == "-":
        return sys.stdout.buffer
    return open(target, "ab")
