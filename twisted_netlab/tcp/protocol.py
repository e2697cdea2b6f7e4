"""The framed echo protocol and its factory: the codec on a Twisted transport.

Hot path: the echo of a frame (same serial, same body) is the frame's own bytes, so
``dataReceived`` asks the decoder only to *validate* the chunk and hand back the bytes of
the frames it completes, and writes them with one ``transport.write`` (zero copy when the
chunk holds whole frames).  No per-frame objects, no per-read logging unless ``trace``.

Flow control: the protocol registers itself as the transport's streaming producer.  The
transport pauses us when its write buffer passes its high-water mark (a peer that sends
but does not read); we then stop *reading* from that peer, so the kernel's buffers fill
and the peer's sends block, instead of our memory growing.  We resume reading when the
transport drains.

Lifecycle events follow Node's ``net`` names (connection, data, end, close, error,
timeout) so the log reads like the course; per-read events are debug and only emitted
when ``trace`` is on (twistd's log observer does not filter by level).
"""

from __future__ import annotations

from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IPushProducer,
    IReactorTime,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_netlab.framing import DEFAULT_MAX_FRAME, DecodeError, Decoder, get_layout


def describe_peer(address: IAddress) -> str:
    host = getattr(address, "host", None)
    if host is not None:
        return f"{host}:{getattr(address, 'port', '?')}"
    name = getattr(address, "name", None)
    return str(name) if name else str(address)


@implementer(IHalfCloseableProtocol, IPushProducer)
class EchoProtocol(Protocol):
    """Echo every frame back (same serial, same body), in order."""

    log = Logger()
    factory: EchoFactory

    def __init__(self) -> None:
        self.peer = "?"
        self.paused = False
        self.pauses = 0
        self.bytes_received = 0
        self.closing = False
        self._read_closed = False
        self._timer: IDelayedCall | None = None
        self._last = 0.0

    # -- connection lifecycle ---------------------------------------------------

    def connectionMade(self) -> None:
        factory = self.factory
        self.peer = describe_peer(self.transport.getPeer())
        self.decoder = Decoder(factory.framing, factory.max_frame)
        self._write = self.transport.write
        self._feed = self.decoder.feed_raw
        self._trace = factory.trace
        self._clock = factory.clock
        self._idle: float = factory.idle_timeout or 0.0  # 0: no idle timeout
        self.transport.registerProducer(self, True)
        factory.connections.add(self)
        if self._idle:
            self._last = self._clock.seconds()
            self._timer = self._clock.callLater(self._idle, self._check_idle)
        self.log.info(
            "connection from {peer} (framing {framing})",
            peer=self.peer, framing=factory.framing,
        )

    def dataReceived(self, data: bytes) -> None:
        self.bytes_received += len(data)
        try:
            out = self._feed(data)
        except DecodeError as exc:
            if self.closing:  # bytes already in flight after a bad frame: drop them
                return
            if exc.raw:  # answer what was complete before the bad header
                self._write(exc.raw)
            self._bad_input(exc)
            return
        if out:
            self._write(out)
        if self._idle:
            self._last = self._clock.seconds()
        if self._trace:
            self.log.debug(
                "data from {peer}: {received} bytes in, {sent} bytes echoed",
                peer=self.peer, received=len(data), sent=len(out),
            )

    def readConnectionLost(self) -> None:
        """The peer sent FIN (Node's ``end``): every complete frame is answered already."""
        self._read_closed = True
        self.log.info("end: {peer} finished sending", peer=self.peer)
        try:
            self.decoder.finish()
        except DecodeError as exc:
            self._bad_input(exc)
            return
        self._close()

    def writeConnectionLost(self) -> None:
        self._close()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_timer()
        self.factory.connections.discard(self)
        self.log.info(
            "close: {peer} ({why})", peer=self.peer, why=reason.getErrorMessage()
        )

    # -- flow control (IPushProducer, driven by our own transport) ---------------

    def pauseProducing(self) -> None:
        if not self.paused:
            self.paused = True
            self.pauses += 1
            self.transport.pauseProducing()  # stop reading from this peer
            if self._trace:
                self.log.debug("paused reading from {peer}: replies not drained", peer=self.peer)

    def resumeProducing(self) -> None:
        if self.paused:
            self.paused = False
            if not self._read_closed and not self.closing:
                self.transport.resumeProducing()
            if self._trace:
                self.log.debug("resumed reading from {peer}", peer=self.peer)

    def stopProducing(self) -> None:
        self._cancel_timer()

    # -- helpers ------------------------------------------------------------------

    def _bad_input(self, exc: DecodeError) -> None:
        self.log.error(
            "error: {peer}: {reason}: {detail}; closing this connection",
            peer=self.peer, reason=exc.reason, detail=str(exc),
        )
        self._close()

    def _close(self) -> None:
        if self.closing:
            return
        self.closing = True
        self._cancel_timer()
        # A paused producer would make the transport call resumeProducing instead of
        # finishing the close once its buffer drains: unregister first.
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _check_idle(self) -> None:
        self._timer = None
        idle = self._clock.seconds() - self._last
        if idle < self._idle:
            self._timer = self._clock.callLater(self._idle - idle, self._check_idle)
            return
        self.log.info(
            "timeout: {peer} idle for {seconds}s, closing", peer=self.peer, seconds=self._idle
        )
        if self.closing:  # already closing but the peer does not take our replies
            self.transport.abortConnection()
        else:
            self._close()


class EchoFactory(Factory):
    """Shared settings for every connection; ``connections`` holds the live ones."""

    protocol = EchoProtocol

    def __init__(
        self,
        clock: IReactorTime,
        framing: str = "seed",
        max_frame: int = DEFAULT_MAX_FRAME,
        idle_timeout: float | None = None,
        trace: bool = False,
    ) -> None:
        get_layout(framing)  # fail at construction, not at the first connection
        self.clock = clock
        self.framing = framing
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout or None
        self.trace = trace
        self.connections: set[EchoProtocol] = set()
