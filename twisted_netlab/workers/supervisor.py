"""The supervisor of ``--workers N``: open every listening socket once, run N workers.

Why inherited sockets and ``adoptStreamPort`` rather than ``SO_REUSEPORT``:

- one accept queue: connections the kernel has accepted but no worker has picked up
  yet stay queued when a worker dies and are served by the others.  With
  ``SO_REUSEPORT`` each worker owns a queue; those connections are reset with it;
- ``--port tcp:0`` means one port for all (the supervisor binds once); every endpoint
  option Twisted parses (``backlog=``, ``interface=``, ``tcp6:``, ``unix:``) works
  unchanged, while no endpoint string can ask for ``SO_REUSEPORT``;
- portable beyond Linux, and a port in use fails once, in the supervisor, before any
  worker starts.

The supervisor never accepts: it listens through the plugin's own endpoint, stops
reading at once (same call stack, before the reactor can accept), and hands the socket
to each worker as an inherited file descriptor (``spawnProcess`` ``childFDs``).  A
worker that dies is started again after a backoff that doubles up to a cap and resets
once a worker has lived long enough (all logged).  ``stopService`` (SIGTERM to twistd)
sends SIGTERM to every worker, so each runs its own lame-duck phase and drain, and
fires when all have exited (SIGKILL after ``kill_after`` seconds as a last resort).
"""

# twisted.application/internet are untyped: driving them is the point of this module.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import Service
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IAddress, IDelayedCall, IListeningPort
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_netlab.drain import PROCESS_STOP

log = Logger()

FIRST_FD = 3  # 0-2 are stdin/stdout/stderr in the worker
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0
STABLE_AFTER = 10.0  # a worker that lived this long resets the backoff


def address_family(address: IAddress) -> int:
    if isinstance(address, IPv6Address):
        return socket.AF_INET6
    if isinstance(address, IPv4Address):
        return socket.AF_INET
    if isinstance(address, UNIXAddress):
        return socket.AF_UNIX
    raise ValueError(f"cannot hand a listener on {address!r} to workers")


def describe(address: IAddress) -> str:
    if isinstance(address, IPv4Address | IPv6Address):
        return f"{address.host}:{address.port}"
    return str(getattr(address, "name", address))


def next_backoff(previous: float, lived: float) -> float:
    """The wait before restarting a worker that lived ``lived`` seconds."""
    if lived >= STABLE_AFTER or previous <= 0:
        return BACKOFF_FIRST
    return min(previous * 2, BACKOFF_CAP)


class _NeverAccept(Factory):
    """The supervisor's own listeners stop reading before they could accept."""

    noisy = False  # no "Starting factory <..._NeverAccept object at 0x...>"

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        return None


class WorkerProcess(ProcessProtocol):
    """One worker: relays its log lines and tells the supervisor when it ends."""

    def __init__(self, supervisor: SupervisorService, index: int, started: float) -> None:
        self.supervisor = supervisor
        self.index = index
        self.started = started
        self.pid: int | None = None
        self.ended: Deferred[None] = Deferred()
        self.done = False
        self._partial = {1: b"", 2: b""}

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.pid = self.transport.pid
        log.info("worker {index} started (pid {pid})", index=self.index, pid=self.pid)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        lines = (self._partial.get(childFD, b"") + data).split(b"\n")
        self._partial[childFD] = lines.pop()
        for line in lines:
            if line.strip():
                log.info(
                    "worker {index} (pid {pid}): {line}",
                    index=self.index, pid=self.pid,
                    line=line.decode("utf-8", "replace").rstrip(),
                )

    def processEnded(self, reason: Failure) -> None:
        self.done = True
        self.supervisor.worker_ended(self, reason)
        self.ended.callback(None)


class SupervisorService(Service):
    """Opens ``listeners``' sockets, keeps ``count`` workers running ``argv_for(fds)``."""

    def __init__(
        self,
        reactor: Any,
        listeners: Sequence[StreamServerEndpointService],
        count: int,
        argv_for: Callable[[list[tuple[int, int]], int], list[str]],
        kill_after: float = 60.0,
    ) -> None:
        self._reactor = reactor
        self._listeners = list(listeners)
        self.count = count
        self._argv_for = argv_for
        self._kill_after = kill_after
        self.ports: list[IListeningPort] = []
        self.workers: dict[int, WorkerProcess] = {}
        self._backoff: dict[int, float] = {}
        self._pending: dict[int, IDelayedCall] = {}
        self._stopping = False

    # -- start --------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        early: list[Failure] = []
        synchronous = True

        def failed(failure: Failure) -> None:
            if synchronous:
                early.append(failure)
            else:
                self._start_failed(failure)

        Deferred.fromCoroutine(self._start()).addErrback(failed)
        synchronous = False
        if early:
            # A port in use fails here, before the reactor runs: twistd reports it and
            # exits 1, as it does without workers.
            early[0].raiseException()

    def _start_failed(self, failure: Failure) -> None:
        log.failure("supervisor could not start its listeners; stopping", failure)
        if self._reactor.running:
            self._reactor.stop()

    async def _start(self) -> None:
        fds: list[tuple[int, int]] = []
        for svc in self._listeners:
            port: Any = await svc.endpoint.listen(_NeverAccept())
            port.stopReading()  # same call stack as listen(): nothing was accepted
            self.ports.append(port)
            host = port.getHost()
            fds.append((port.fileno(), address_family(host)))
            log.info(
                "listening on {address} for {count} workers", address=describe(host),
                count=self.count,
            )
        self._fds = fds
        for index in range(1, self.count + 1):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        self._pending.pop(index, None)
        if self._stopping:
            return
        child_fds: dict[int, int | str] = {1: "r", 2: "r"}
        inherited: list[tuple[int, int]] = []
        for offset, (fd, family) in enumerate(self._fds):
            child_fds[FIRST_FD + offset] = fd
            inherited.append((FIRST_FD + offset, family))
        worker = WorkerProcess(self, index, self._reactor.seconds())
        argv = self._argv_for(inherited, index)
        self._reactor.spawnProcess(worker, sys.executable, argv, env=None, childFDs=child_fds)
        self.workers[index] = worker

    # -- a worker ends ------------------------------------------------------------

    def worker_ended(self, worker: WorkerProcess, reason: Failure) -> None:
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        code = getattr(reason.value, "exitCode", None)
        signal = getattr(reason.value, "signal", None)
        status = f"signal {signal}" if signal else f"exit code {code}"
        if self._stopping:
            log.info("worker {index} (pid {pid}) stopped ({status})",
                     index=worker.index, pid=worker.pid, status=status)
            return
        lived = self._reactor.seconds() - worker.started
        delay = next_backoff(self._backoff.get(worker.index, 0.0), lived)
        self._backoff[worker.index] = delay
        log.warn(
            "worker {index} (pid {pid}) died ({status}) after {lived:.1f}s; "
            "restarting in {delay:.1f}s",
            index=worker.index, pid=worker.pid, status=status, lived=lived, delay=delay,
        )
        self._pending[worker.index] = self._reactor.callLater(delay, self._spawn, worker.index)

    # -- stop ---------------------------------------------------------------------

    def stopService(self) -> Deferred[None]:
        super().stopService()
        self._stopping = True
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
        running = list(self.workers.values())

        def now() -> None:  # a second stop signal: the workers' second one too
            for worker in running:
                if not worker.done:
                    self._signal(worker, "TERM")

        PROCESS_STOP.join(now, self._reactor)
        log.info("stopping {n} workers (SIGTERM)", n=len(running))
        for worker in running:
            self._signal(worker, "TERM")
        killer = self._reactor.callLater(self._kill_after, self._kill, running)
        try:
            for worker in running:
                await worker.ended
        finally:
            PROCESS_STOP.leave(now)
        if killer.active():
            killer.cancel()
        for port in self.ports:
            stopped = port.stopListening()
            if stopped is not None:
                await stopped
        self.ports = []

    def _kill(self, workers: list[WorkerProcess]) -> None:
        for worker in workers:
            if not worker.done:
                log.warn("worker {index} (pid {pid}) ignored SIGTERM; SIGKILL",
                         index=worker.index, pid=worker.pid)
                self._signal(worker, "KILL")

    @staticmethod
    def _signal(worker: WorkerProcess, name: str) -> None:
        if worker.transport is None:
            return
        # ProcessExitedAlready: it is gone and processEnded is on its way.
        with contextlib.suppress(ProcessExitedAlready, OSError):
            worker.transport.signalProcess(name)
