"""The compact request log of the short commands: one cheap line per request.

``netlab-web`` logs every request by default, as ``python -m http.server`` and npm's
``http-server`` do, so the log sits on the hot path of every response. What it costs,
and why it costs little:

- **No syscall per line.** Lines collect in a list and are written (one ``write`` and
  one ``flush``) when a short timer fires (``flush_interval``, 0.2 s: still immediate to
  a person watching) or when 64 KiB are waiting, and at stop (``close``). Twisted's own
  access log writes and flushes each line.
- **No date formatting per request.** The time is formatted once per second and reused;
  ``datetime``/``strftime`` per request was the largest part of Twisted's log cost.
- **No per-line escaping pass unless needed.** One ``bytes.translate`` deleting every
  printable ASCII byte but ``"`` and ``\\`` checks that the target is plain (the usual
  case: nothing is left) before anything is escaped.

The request target is untrusted: quotes, backslashes, control characters and bytes
outside ASCII are written as ``\\xHH`` so a request cannot forge log lines (CR/LF) or
terminal escapes (ESC) in the operator's terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.web.http import Request

__all__ = ["RequestLog", "client_host", "escape_target", "status_text"]

FLUSH_BYTES = 64 * 1024
# The bytes a target may hold as they are (printable ASCII but ``"`` and ``\``).
_PLAIN = bytes(b for b in range(0x21, 0x7F) if b not in (0x22, 0x5C))
_COLOURS = {2: "32", 3: "36", 4: "33", 5: "31"}  # green, cyan, yellow, red
_MAX_METHODS = 32  # methods seen, kept formatted (a client may send any token)
_HOST_ATTRIBUTE = "netlab_log_client"  # per-connection cache, on the channel


def escape_target(raw: bytes) -> str:
    """``raw`` as printable ASCII: anything else (and ``"`` ``\\``) becomes ``\\xHH``."""
    if not raw.translate(None, _PLAIN):  # nothing else in it
        return raw.decode("ascii")
    return "".join(
        chr(b) if 0x21 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02X}" for b in raw
    )


def status_text(code: int, colour: bool) -> str:
    """The status as shown: coloured by class (2xx green ... 5xx red) on a terminal."""
    text = str(code)
    tint = _COLOURS.get(code // 100) if colour else None
    return f"\x1b[{tint}m{text}\x1b[0m" if tint else text


def _cached_host(channel: Any, peer: Callable[[], object]) -> str:
    """The client's address, looked up once per connection (kept on ``channel``)
    rather than per request: a TCP transport builds a new address on each ``getPeer``."""
    host: str | None = getattr(channel, _HOST_ATTRIBUTE, None)
    if host is None:
        host = str(getattr(peer(), "host", None) or "-")
        if channel is not None:  # None once twisted.web has cleaned the request up
            setattr(channel, _HOST_ATTRIBUTE, host)
    return host


def client_host(channel: Any) -> str:
    """The client's address for an HTTP/1.1 ``channel`` (a request answered without a
    ``Request``: a replay or a relay, each of which asks)."""
    host: str | None = getattr(channel, _HOST_ATTRIBUTE, None)
    if host is not None:
        return host
    transport = channel.transport
    return _cached_host(channel, lambda: transport.getPeer() if transport is not None else None)


def _client_host(request: Request) -> str:
    return _cached_host(getattr(request, "channel", None), request.getClientAddress)


class RequestLog:
    """Formats one line per finished request and writes them in batches.

    ``clock`` gives the time (the reactor); ``out`` receives whole batches of lines.
    Call ``close`` when the site stops so nothing waiting is lost.
    """

    def __init__(
        self,
        out: TextIO,
        clock: IReactorTime,
        *,
        colour: bool = False,
        flush_interval: float = 0.2,
        local_time: Callable[[float], time.struct_time] = time.localtime,
    ) -> None:
        self._out = out
        self._clock = clock
        self._seconds = clock.seconds
        self._colour = colour
        self._interval = flush_interval
        self._local_time = local_time
        self._lines: list[str] = []
        self._pending = 0
        self._timer: IDelayedCall | None = None
        self._second = -1
        self._stamp = ""
        self._statuses: dict[int, str] = {}
        self._methods: dict[bytes, str] = {}

    def log(self, request: Request) -> None:
        """Queue the line for ``request`` (called by the site when it has finished)."""
        middle = self.middle(request.method, request.uri, request.code, request.sentLength)
        self.line_with(_client_host(request), middle, getattr(request, "started", None))

    def middle(self, method_raw: bytes, uri: bytes, code: int, sent: int) -> str:
        """The part of a line between the client and the time taken (`` GET /a 200 5B ``):
        a replayed request (``web/replaychannel.py``) keeps it with its plan."""
        status = self._statuses.get(code)
        if status is None:
            status = self._statuses[code] = status_text(code, self._colour)
        method = self._methods.get(method_raw)
        if method is None:
            method = escape_target(method_raw)
            if len(self._methods) < _MAX_METHODS:
                self._methods[method_raw] = method
        return f" {method} {escape_target(uri)} {status} {sent}B "

    def line_with(self, client: str, middle: str, started: float | None) -> None:
        """Queue the line made of ``client``, ``middle`` (see ``middle``) and the time."""
        now = self._seconds()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", self._local_time(second))
        took = f"{(now - started) * 1000:.1f}ms" if started is not None else "-"
        line = f"{self._stamp} {client}{middle}{took}\n"
        self._lines.append(line)
        self._pending += len(line)
        if self._pending >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            self._timer = self._clock.callLater(self._interval, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write what is waiting now (one write, one flush)."""
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        self._pending = 0
        try:
            self._out.write(text)
            self._out.flush()
        except (OSError, ValueError):
            # A closed or broken stdout (the terminal went away) must not take the
            # server down: the lines are dropped, the requests are still served.
            pass

    def close(self) -> None:
        """The site stops: write whatever is still waiting."""
        self.flush()
