"""Real processes for the scale tests: a log-line collector with bounded waits."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

reactor: Any = _reactor
TWISTD = ["-c", "from twisted.scripts.twistd import run; run()"]


class ProcessLines(ProcessProtocol):
    """Collects twistd's log lines; ``expect`` fires when enough lines match."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._buffer = b""
        self._waiters: list[tuple[Callable[[], bool], Deferred[None]]] = []
        self.ended: Deferred[tuple[int | None, int | None]] = Deferred()

    def childDataReceived(self, fd: int, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        self.lines.extend(lines)
        self._check()

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        self.ended.callback((getattr(value, "exitCode", None), getattr(value, "signal", None)))

    def matches(self, pattern: bytes) -> list[re.Match[bytes]]:
        regex = re.compile(pattern)
        return [m for m in map(regex.search, self.lines) if m]

    def expect(self, pattern: bytes, count: int = 1, timeout: float = 40) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self._waiters.append((lambda: len(self.matches(pattern)) >= count, d))
        self._check()
        return d.addTimeout(timeout, reactor).addErrback(self._explain, pattern)

    def _explain(self, failure: Failure, pattern: bytes) -> None:
        tail = b"\n".join(self.lines[-30:]).decode(errors="replace")
        raise AssertionError(f"no line matched {pattern!r}; last lines:\n{tail}")

    def _check(self) -> None:
        for waiter in list(self._waiters):
            ready, d = waiter
            if ready():
                self._waiters.remove(waiter)
                d.callback(None)
