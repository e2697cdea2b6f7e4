"""The framed echo protocol: the codec on a Twisted transport, with deadlines.

Hot path: the echo of a frame (same serial, same body) is the frame's own bytes, so
``dataReceived`` asks the decoder only to *validate* the chunk and hand back the bytes of
the frames it completes, and writes them with one ``transport.write`` (zero copy when the
chunk holds whole frames).  No per-frame objects, no per-read logging unless ``trace``.

Flow control: the protocol registers itself as the transport's streaming producer.  The
transport pauses us when its write buffer passes its high-water mark (a peer that sends
but does not read); we then stop *reading* from that peer, so the kernel's buffers fill
and the peer's sends block, instead of our memory growing.

Deadlines (one ``IDelayedCall`` per connection, from the factory's clock):

- between frames (and before the first) the *idle* limit runs from the end of the last
  frame: a peer that starts no frame for ``idle_timeout`` is closed;
- once a frame's first byte is in, the *frame* deadline runs from that byte: the frame
  must be complete within ``frame_timeout`` however its bytes trickle in, so a one-byte
  drip no longer holds a connection (an idle timer reset by every byte would);
- with ``frame_timeout`` off, the idle limit applies to gaps between reads instead.

The timer is re-armed lazily: the hot path only stores the new deadline (one
``seconds()`` call per read); when the timer fires early it re-arms for the remainder.
After we decide to close, the same timer becomes a linger limit: a peer that does not
take our last replies is aborted instead of holding the socket.

Lifecycle events follow Node's ``net`` names (connection, data, end, close, error,
timeout) so the log reads like the course; per-read events are debug and only emitted
when ``trace`` is on (twistd's log observer does not filter by level).
"""

from __future__ import annotations

from typing import Protocol as Interface
from typing import cast

from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IPushProducer,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_netlab.framing import DecodeError, Decoder
from twisted_netlab.tcp.config import EchoConfig

__all__ = ["EchoProtocol", "describe_peer"]


class _Owner(Interface):
    """What a connection needs from its factory (``EchoFactory``); named here so this
    module does not import the factory module, which imports this one."""

    config: EchoConfig
    clock: IReactorTime

    def connection_made(self, proto: EchoProtocol) -> None: ...
    def connection_lost(self, proto: EchoProtocol) -> None: ...
    def pending_changed(self, proto: EchoProtocol, delta: int) -> None: ...


class _Transport(Interface):
    """What we use of a stream transport (``ITCPTransport`` + ``IPushProducer``)."""

    def getPeer(self) -> IAddress: ...
    def write(self, data: bytes) -> None: ...
    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None: ...
    def unregisterProducer(self) -> None: ...
    def pauseProducing(self) -> None: ...
    def resumeProducing(self) -> None: ...
    def loseConnection(self) -> None: ...
    def abortConnection(self) -> None: ...

# After we decide to close, how long a peer may take to read our last replies when
# no frame or idle limit is configured.
DEFAULT_LINGER = 30.0


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
    factory: _Owner
    decoder: Decoder

    def __init__(self) -> None:
        self.peer = "?"
        self.paused = False
        self.pauses = 0
        self.bytes_received = 0
        self.closing = False
        self.draining = False
        self.answered_in_drain = False  # closed by the drain after its frame's echo
        self.aborted = False
        self.pending = 0  # bytes of an incomplete frame, as last told to the factory
        self._counted: Decoder | None = None  # the decoder, once connected
        self._read_closed = False
        self._timer: IDelayedCall | None = None
        self._timer_at = 0.0
        self._limit_at = 0.0  # when the limit in force runs out; 0: none
        self._limit_kind = "idle"

    # -- connection lifecycle ---------------------------------------------------

    def connectionMade(self) -> None:
        factory = self.factory
        config = factory.config
        # Typed once here: ``Protocol.transport`` is an optional ``ITransport``.
        transport = self._transport = cast(_Transport, self.transport)
        self.peer = describe_peer(transport.getPeer())
        self.decoder = self._counted = Decoder(config.framing, config.max_frame)
        self._write = transport.write
        self._feed = self.decoder.feed_raw
        self._trace = config.trace
        self._clock = factory.clock
        self._idle = config.idle_timeout or 0.0  # 0: off
        self._frame = config.frame_timeout or 0.0
        self._timed = bool(self._idle or self._frame)
        transport.registerProducer(self, True)
        self.log.info(
            "connection from {peer} (framing {framing})",
            peer=self.peer, framing=config.framing,
        )
        if self._idle:
            self._set_limit(self._clock.seconds() + self._idle, "idle")
        factory.connection_made(self)

    def dataReceived(self, data: bytes) -> None:
        if self.closing:  # bytes in flight after we decided to close: drop them
            return
        self.bytes_received += len(data)
        try:
            out = self._feed(data)
        except DecodeError as exc:
            if exc.raw:  # answer what was complete before the bad header
                self._write(exc.raw)
            self._bad_input(exc)
            return
        if out:
            self._write(out)
        pending = self.decoder.pending
        was_pending = self.pending
        if pending != was_pending:
            self.pending = pending
            self.factory.pending_changed(self, pending - was_pending)
            if self.closing:  # the factory's cap closed us
                return
        if self._timed:
            self._after_read(pending, was_pending, bool(out))
        if self.draining and (out or not pending):
            self.answered_in_drain = True  # the frame in flight at the stop is answered
            self._close()
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
        self.factory.connection_lost(self)
        self.log.info(
            "close: {peer} ({why})", peer=self.peer, why=reason.getErrorMessage()
        )

    # -- flow control (IPushProducer, driven by our own transport) ---------------

    def pauseProducing(self) -> None:
        if not self.paused:
            self.paused = True
            self.pauses += 1
            self._transport.pauseProducing()  # stop reading from this peer
            if self._trace:
                self.log.debug("paused reading from {peer}: replies not drained", peer=self.peer)

    def resumeProducing(self) -> None:
        if self.paused:
            self.paused = False
            if not self._read_closed and not self.closing:
                self._transport.resumeProducing()
            if self._trace:
                self.log.debug("resumed reading from {peer}", peer=self.peer)

    def stopProducing(self) -> None:
        self._cancel_timer()

    @property
    def frames_echoed(self) -> int:
        """Frames echoed on this connection: the decoder's own count (see ``factory``)."""
        return self._counted.raw_frames if self._counted is not None else 0

    # -- what the factory asks of a connection -------------------------------------

    def start_drain(self) -> bool:
        """The service is stopping: close now if idle; else finish the frame in flight.

        Returns True when the connection is finishing a frame (it closes itself once
        that frame's echo is written).
        """
        if self.closing:
            return False
        if not self.pending:
            self._close()
            return False
        self.draining = True
        return True

    def evict(self) -> None:
        """Drop the partial frame (its bytes are freed now) and close."""
        self.decoder.discard()
        self.pending = 0
        self._close()

    def abort(self) -> None:
        self.aborted = True  # a later drain or close must not touch the transport
        self._cancel_timer()
        self._transport.abortConnection()

    # -- helpers ------------------------------------------------------------------

    def _after_read(self, pending: int, was_pending: int, completed: bool) -> None:
        now = self._clock.seconds()
        if not pending:
            if self._idle:
                self._set_limit(now + self._idle, "idle")
            else:
                self._set_limit(0.0, "idle")
        elif not self._frame:  # no frame deadline: the idle limit applies between reads
            self._set_limit(now + self._idle, "idle")
        elif not was_pending or completed:  # this read started a new frame
            self._set_limit(now + self._frame, "frame")

    def _set_limit(self, at: float, kind: str) -> None:
        self._limit_at = at
        self._limit_kind = kind
        if not at:
            return
        timer = self._timer
        if timer is None:
            self._timer_at = at
            self._timer = self._clock.callLater(at - self._clock.seconds(), self._expired)
        elif at < self._timer_at:  # sooner than the timer: bring it forward
            self._timer_at = at
            timer.reset(max(0.0, at - self._clock.seconds()))

    def _expired(self) -> None:
        self._timer = None
        at = self._limit_at
        if not at:
            return
        now = self._clock.seconds()
        if now < at:  # the limit moved on since the timer was armed
            self._set_limit(at, self._limit_kind)
            return
        if self.closing:
            self.log.info(
                "timeout: {peer} did not take our last replies, aborting", peer=self.peer
            )
            self._transport.abortConnection()
            return
        if self._limit_kind == "frame":
            self.log.info(
                "timeout: {peer}: frame not complete {seconds:g}s after its first byte "
                "(bytes received: {pending}), closing",
                peer=self.peer, pending=self.pending, seconds=self._frame,
            )
        else:
            self.log.info(
                "timeout: {peer} idle for {seconds:g}s, closing",
                peer=self.peer, seconds=self._idle,
            )
        self._close()

    def _bad_input(self, exc: DecodeError) -> None:
        # ``str(exc)`` already starts with the reason ("frame too large: ..."): log it
        # once; ``reason`` travels as a field for filters and tests.
        self.log.error(
            "error: {peer}: {detail}; closing this connection",
            peer=self.peer, reason=exc.reason, detail=str(exc),
        )
        if self.pending:
            self.factory.pending_changed(self, -self.pending)
            self.pending = 0
        self._close()

    def _close(self) -> None:
        if self.closing or self.aborted:
            return
        self.closing = True
        # A paused producer would make the transport call resumeProducing instead of
        # finishing the close once its buffer drains: unregister first.
        self._transport.unregisterProducer()
        self._transport.loseConnection()
        linger = self._frame or self._idle or DEFAULT_LINGER
        self._limit_at = 0.0
        self._cancel_timer()
        self._set_limit(self._clock.seconds() + linger, "linger")

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
