"""The echo factory: shared settings, live connections, a server-wide pending cap, drain.

Per-connection limits (frame size, deadlines) cannot bound the server as a whole: 300
peers each holding a 1 MiB - 1 partial frame pinned +308 MB.  The factory therefore
keeps the sum of bytes held for incomplete frames across every connection (each
protocol reports its change after a read, so the hot path of whole frames costs one
integer compare) and, past ``max_pending``, closes the connection holding the most,
which frees the most with one close and hits the peer most likely to be abusive.

``drain`` is the graceful stop: idle connections close at once, connections in the
middle of a frame finish it (and get its echo), and whatever is still open when the
drain timeout runs out is cut.  ``start_drain``/``cut_all`` are the same stop in the
shape ``twisted_netlab.drain`` expects, so a second SIGTERM cuts the echo too.

``frames_echoed()`` is read when ``/metrics`` is scraped: each connection's decoder
counts the frames it validates (a local integer in its scan loop), so counting costs
the echo nothing per frame and nothing at all without ``--metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger

from twisted_netlab.tcp.config import EchoConfig
from twisted_netlab.tcp.protocol import EchoProtocol

__all__ = ["DrainResult", "EchoFactory"]


@dataclass(frozen=True)
class DrainResult:
    """How a stop went: connections closed idle, finished a frame, or were cut."""

    idle: int
    finishing: int
    drained: int
    cut: int


class EchoFactory(ServerFactory):
    """Shared settings for every connection; ``connections`` holds the live ones."""

    log = Logger()
    noisy = False  # no "Starting factory <...EchoFactory object at 0x...>" lines

    def __init__(self, clock: IReactorTime, config: EchoConfig | None = None) -> None:
        self.clock = clock
        self.config = config if config is not None else EchoConfig()
        self.connections: set[EchoProtocol] = set()
        self.pending_total = 0
        self.draining = False
        self.last_drain: DrainResult | None = None
        self._all_closed: list[Deferred[None]] = []
        self._drain_running: Deferred[None] | None = None
        self._frames_closed = 0  # frames echoed on connections already gone

    def buildProtocol(self, addr: IAddress | None) -> EchoProtocol:  # type: ignore[override]
        proto = EchoProtocol()
        proto.factory = self
        return proto

    # -- called by the protocols ---------------------------------------------------

    def connection_made(self, proto: EchoProtocol) -> None:
        self.connections.add(proto)
        if self.draining:  # accepted just before the listener closed
            proto.start_drain()

    def connection_lost(self, proto: EchoProtocol) -> None:
        self.connections.discard(proto)
        self._frames_closed += proto.frames_echoed
        if proto.pending:
            self.pending_total -= proto.pending
            proto.pending = 0
        if not self.connections:
            waiters, self._all_closed = self._all_closed, []
            for d in waiters:
                d.callback(None)

    def pending_changed(self, proto: EchoProtocol, delta: int) -> None:
        self.pending_total += delta
        if delta > 0 and self.pending_total > self.config.max_pending:
            self._enforce_cap()

    def _enforce_cap(self) -> None:
        while self.pending_total > self.config.max_pending:
            victim = max(self.connections, key=lambda p: p.pending)
            held = victim.pending
            if not held:  # nothing more we can free (cannot happen: defensive stop)
                return
            self.log.warn(
                "max-pending: closing {peer}: it holds {pending} of the {total} bytes "
                "of incomplete frames, over the cap of {cap} (open connections: {count})",
                peer=victim.peer, pending=held, total=self.pending_total,
                count=len(self.connections), cap=self.config.max_pending,
            )
            self.pending_total -= held
            victim.evict()

    def frames_echoed(self) -> int:
        """Frames echoed since start, on every connection (for ``/metrics``)."""
        return self._frames_closed + sum(p.frames_echoed for p in self.connections)

    # -- graceful stop ----------------------------------------------------------------

    def start_drain(self, timeout: float | None = None) -> Deferred[None]:
        """``drain`` for ``twisted_netlab.drain``: fires when done; keeps ``last_drain``."""
        if self._drain_running is None:

            def keep(result: DrainResult) -> None:
                self.last_drain = result

            self._drain_running = self.drain(timeout).addCallback(keep)
        return self._drain_running

    def cut_all(self) -> None:
        """A second stop signal: abort every connection now (the drain then ends)."""
        if self.connections:
            self.log.warn("cutting {count} echo connection(s) now", count=len(self.connections))
        for proto in list(self.connections):
            proto.abort()

    def drain(self, timeout: float | None = None) -> Deferred[DrainResult]:
        """Close idle connections now, let frames in flight finish, cut the rest.

        Fires once every connection is gone, or ``timeout`` (default: the config's
        ``drain_timeout``) seconds later, after aborting those still open.
        """
        return Deferred.fromCoroutine(self._drain(timeout))

    async def _drain(self, timeout: float | None) -> DrainResult:
        limit = self.config.drain_timeout if timeout is None else timeout
        self.draining = True
        total = len(self.connections)
        finishing = {proto for proto in list(self.connections) if proto.start_drain()}
        idle = total - len(finishing)
        self.log.info(
            "drain: open connections: {total}; idle, closed at once: {idle}; finishing "
            "a frame: {finishing} (up to {timeout:g}s)",
            total=total, idle=idle, finishing=len(finishing), timeout=limit,
        )
        aborted: list[EchoProtocol] = []
        if self.connections:
            closed: Deferred[None] = Deferred()
            self._all_closed.append(closed)
            timer: IDelayedCall = self.clock.callLater(limit, closed.cancel)
            try:
                await closed
            except CancelledError:  # the drain timeout ran out
                self._all_closed = [d for d in self._all_closed if d is not closed]
                aborted = list(self.connections)
                for proto in aborted:
                    proto.abort()
            else:
                timer.cancel()
        # Cut: aborted at the timeout, or closed mid-frame for another reason (its frame
        # deadline, the pending cap, a framing error) before the frame was answered.
        unanswered = [p for p in finishing if not p.answered_in_drain and p not in aborted]
        cut = len(aborted) + len(unanswered)
        result = DrainResult(
            idle=idle, finishing=len(finishing), drained=total - cut, cut=cut
        )
        self.log.info(
            "drain done: {drained} of {total} connections drained, {cut} cut",
            drained=result.drained, total=total, cut=result.cut,
        )
        return result
