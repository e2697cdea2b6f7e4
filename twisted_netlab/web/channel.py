"""An HTTP/1.1 channel that no client can hold forever.

Twisted's ``HTTPChannel`` has one idle timer that every received byte resets, so a
client dripping one header byte every few seconds keeps its connection (and fd) for
ever. This channel replaces that timer with deadlines that depend on the phase of the
request cycle (``limits.Phase``):

- IDLE: a new connection gets ``header_timeout`` to start and finish its head; after
  a response, a keep-alive connection gets ``keepalive_timeout`` to send a first byte.
- HEAD: the whole head must be in ``header_timeout`` after its first byte. Never
  extended: the drip gets a 408 at the deadline.
- BODY: ``body_timeout`` between two body reads (this one *is* reset by each read,
  like nginx's ``client_body_timeout``).
- BUSY: no read deadline (the resource decides); the send timeout watches writes.

The send timeout uses the transport's flow control: the transport pauses the channel
(its producer) when its write buffer is full and resumes it once drained, so "paused
for ``send_timeout``" is "the client accepted nothing for that long".

Bodies are judged when the head is complete, before a byte of them is read: the site
says how large a body the target takes (``ChannelHost.body_limit``); 0 means none.
Refusals (405/413/414/431) are written directly, the write side is closed, and what the
client still sends is read and dropped for ``linger_time`` so that the answer is not
destroyed by a TCP reset (nginx's "lingering close").

The per-request part (phases per read, head limits) is ``channelreads.ReadChannel``.
Only public/overridable ``HTTPChannel`` methods are overridden (``connectionMade``,
``dataReceived``, ``lineReceived``, ``lineLengthExceeded``, ``allHeadersReceived``,
``rawDataReceived``, ``allContentReceived``, ``requestDone``, ``pauseProducing``,
``resumeProducing``, ``connectionLost``) plus ``Request.gotLength``,
``Request.handleContentChunk``, ``Request.finish`` and ``Request.connectionLost``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, ITCPTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.server import Request

from twisted_netlab.web.bodystream import BodyStream
from twisted_netlab.web.channelreads import ChannelHost
from twisted_netlab.web.limits import BodyVerdict, Phase, body_overflows, judge_body
from twisted_netlab.web.plainresponse import plain_response
from twisted_netlab.web.relaychannel import RelayChannel
from twisted_netlab.web.replay import ReplayOffer

__all__ = ["ChannelHost", "LimitedChannel", "LimitedRequest"]

# Enum members as module constants (see channelreads.py).
_IDLE, _HEAD, _BODY, _BUSY, _REFUSED = (
    Phase.IDLE, Phase.HEAD, Phase.BODY, Phase.BUSY, Phase.REFUSED)


# Told how a request ended: ``None`` once it is finished, the reason if its connection
# was lost first (``LimitedRequest.watch_end``).
EndWatcher = Callable[[Failure | None], None]


class LimitedRequest(Request):
    """A Request whose body goes where the site says, counted against the cap."""

    channel: LimitedChannel
    started: float | None = None  # when the head was complete: the request log's "ms"
    end_watchers: list[EndWatcher] | None = None  # made by the first ``watch_end``
    # A resource's offer to let this response be replayed (``web/replay.py``).
    replay_offer: ReplayOffer | None = None
    _log = Logger()

    def watch_end(self, watcher: EndWatcher) -> None:
        """``notifyFinish`` without a Deferred: ``watcher(None)`` when the response is
        finished, ``watcher(reason)`` if the connection is lost before.

        Called at the points where ``notifyFinish``'s Deferreds fire (after them), once.
        The proxy watches every request it relays, and a Deferred with its callbacks
        costs about as much as the relay's header rules (bench/README.rst, proxy_hot).
        """
        watchers = self.end_watchers
        if watchers is None:
            self.end_watchers = [watcher]
        else:
            watchers.append(watcher)

    def _tell_end(self, reason: Failure | None) -> None:
        watchers, self.end_watchers = self.end_watchers, None
        for watcher in watchers or ():
            try:
                watcher(reason)
            except Exception:
                # As a Deferred would: one watcher's bug must not stop the others, nor
                # the channel's loop over its requests when the connection is lost.
                self._log.failure("request end watcher {watcher} failed", watcher=watcher)

    def finish(self) -> None:
        super().finish()  # type: ignore[no-untyped-call]
        # Twisted fires notifyFinish's Deferreds in the cleanup that ``finish`` runs
        # when the request is not (deprecated) queued; never twice (a second ``finish``
        # warns and returns, and ``_tell_end`` empties the list).
        if self.end_watchers is not None and self.finished and not self.queued:
            self._tell_end(None)

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
        if self.end_watchers is not None:
            self._tell_end(reason)

    def gotLength(self, length: int | None) -> None:
        channel = self.channel
        self.started = channel.clock()
        # Nothing to stream without a body.
        sink = None if length == 0 else channel.host.open_body(self, length)
        if sink is None:
            Request.gotLength(self, length)
        else:
            self.content = sink
            self.channel.body_stream = sink

    def handleContentChunk(self, data: bytes) -> None:
        if self.channel.body_received(len(data)):
            super().handleContentChunk(data)  # type: ignore[no-untyped-call]


class LimitedChannel(RelayChannel):
    _log = Logger()

    __slots__ = (
        "_body_bytes", "_body_dropped", "_body_limit", "_reads_paused", "_send_timer",
        "body_stream",
    )
    body_stream: BodyStream | None
    _body_dropped: bool
    _send_timer: IDelayedCall | None
    _body_limit: int
    _body_bytes: int
    _reads_paused: bool

    def __init__(self) -> None:
        super().__init__()
        self.body_stream = None
        self._body_dropped = False
        self._send_timer = None
        self._body_limit = self._body_bytes = 0
        self._reads_paused = False

    @property
    def tcp(self) -> Any:
        """The transport with its TCP/TLS methods (abort, half-close, flow control)."""
        return self.transport

    def _deadline_passed(self) -> None:
        phase = self.phase
        if phase is _BUSY:
            return
        peer = self.transport.getPeer() if self.transport else None
        if phase is _IDLE:
            self._log.debug("closing idle connection {peer}", peer=peer)
            self.close_now(abort=False)
        elif phase is _HEAD:
            self._log.info("request head from {peer} not complete in {t} s: 408",
                          peer=peer, t=self.limits.header_timeout)
            self.refuse(408, "the request head did not arrive in time", linger=False)
        elif phase is _BODY:
            self._log.info("no request body bytes from {peer} for {t} s: 408",
                          peer=peer, t=self.limits.body_timeout)
            self.refuse(408, "the request body stopped arriving", linger=False)
        elif phase is _REFUSED:
            self.close_now(abort=True)

    def _reset_body(self) -> None:
        self._body_bytes = 0
        self.body_stream = None
        self._body_dropped = False

    # -- closing --------------------------------------------------------------------

    def close_now(self, *, abort: bool) -> None:
        """Close at once (eviction, drain, deadlines); ``abort`` drops unsent bytes."""
        self._deadline.cancel()
        if self.transport is None:
            return
        if abort:
            self.tcp.abortConnection()
        else:
            self.loseConnection()  # type: ignore[no-untyped-call]

    def detach(self) -> None:
        """Give the connection up to another protocol (HTTP/2 by ALPN, see negotiation.py).

        Undo what ``connectionMade`` set up, without closing anything: the deadline,
        the send timer, the site's tracking, and this channel as the transport's producer.
        """
        self._deadline.cancel()
        if self._send_timer is not None and self._send_timer.active():
            self._send_timer.cancel()
        self._send_timer = None
        self.host.channel_closed(self)
        if self.transport is not None:
            self.transport.unregisterProducer()  # type: ignore[attr-defined]

    def refuse(
        self, code: int, message: str, *, linger: bool = True,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """Answer ``code`` without a resource and close; drop whatever still arrives."""
        if self.phase is _REFUSED or self.transport is None:
            return
        stream, self.body_stream = self.body_stream, None
        if stream is not None and self.phase is _BODY:
            stream.fail(f"{code} {message}")
        self.persistent = False
        self._enter(_REFUSED, self.limits.linger_time)
        self.transport.write(plain_response(code, message, extra))
        if linger and ITCPTransport.providedBy(self.transport):
            # FIN after the answer, keep reading (and dropping) until the client closes
            # or linger_time passes: closing with unread data would send a RST that
            # can destroy the answer in the client's receive buffer.
            self.tcp.loseWriteConnection()
        else:
            self.loseConnection()  # type: ignore[no-untyped-call]

    # -- HTTPChannel overrides --------------------------------------------------------

    def connectionMade(self) -> None:
        self._bind()
        self.timeOut = None  # Twisted's byte-reset idle timer is replaced by deadlines
        self.maxHeaders = self.limits.max_header_count + 1
        self.totalHeadersSize = self.limits.max_header_bytes + 1
        super().connectionMade()  # type: ignore[no-untyped-call]
        self._new_request_cycle()
        self._enter(_IDLE, self.limits.header_timeout)

    def allHeadersReceived(self) -> None:
        if self._unchecked:
            self._end_unchecked_head()
        if self.length == 0:  # no body (judge_body accepts it whatever the limit)
            HTTPChannel.allHeadersReceived(self)
            return
        limit = min(self.host.body_limit(self.method, self.target), self.limits.max_body)
        verdict = judge_body(self.method, self.length, limit)
        if verdict is BodyVerdict.NO_BODY_HERE:
            self.refuse(405, f"{self.method.decode('latin-1')} is not allowed here: "
                        "this resource takes no request body",
                        extra=((b"Allow", b"GET, HEAD, OPTIONS"),))
            return
        if verdict is BodyVerdict.TOO_LARGE:
            message = ("this resource takes no request body" if limit <= 0
                       else f"the request body is larger than {limit} bytes")
            self.refuse(413, message)
            return
        self._body_limit = limit
        super().allHeadersReceived()  # type: ignore[no-untyped-call]
        if self.length != 0 and self.phase is not _REFUSED:
            self._enter(_BODY, self.limits.body_timeout)

    def body_received(self, size: int) -> bool:
        """Count ``size`` body bytes; refuse (413) and return False past the cap."""
        if self.phase is _REFUSED:
            return False
        self._body_bytes += size
        if body_overflows(self._body_bytes, self._body_limit):
            self.refuse(413, f"the request body is larger than {self._body_limit} bytes")
            return False
        self._deadline.arm(self.clock(), self.limits.body_timeout)
        return True

    def rawDataReceived(self, data: bytes) -> None:
        self._parsed += len(data)
        if self.phase is _REFUSED or self._body_dropped:
            return
        super().rawDataReceived(data)

    def pauseProducing(self) -> None:
        super().pauseProducing()  # type: ignore[no-untyped-call]
        if self._send_timer is None:
            self._send_timer = self.callLater(self.limits.send_timeout, self._send_timed_out)  # type: ignore[no-untyped-call]

    def resumeProducing(self) -> None:
        super().resumeProducing()  # type: ignore[no-untyped-call]
        if self._reads_paused and self.transport is not None:
            # HTTPChannel resumes reading the client when its writes drain; a streaming
            # body consumer's pause (``pause_body_reads``) must outlast that.
            self.tcp.pauseProducing()
        if self._send_timer is not None and self._send_timer.active():
            self._send_timer.cancel()
        self._send_timer = None

    def _send_timed_out(self) -> None:
        self._send_timer = None
        self._log.info("{peer} accepted no bytes for {t} s: closing",
                      peer=self.transport.getPeer() if self.transport else None,
                      t=self.limits.send_timeout)
        self.close_now(abort=True)

    def pause_body_reads(self) -> None:
        """Backpressure for a streaming body consumer: stop reading the client.

        The body deadline is suspended meanwhile: the wait is ours, not the client's.
        """
        if not self._reads_paused and self.transport is not None:
            self._reads_paused = True
            if self.phase is _BODY:
                self._deadline.cancel()
            self.tcp.pauseProducing()

    def resume_body_reads(self) -> None:
        if self._reads_paused and self.transport is not None:
            self._reads_paused = False
            if self.phase is _BODY:
                self._deadline.arm(self.clock(), self.limits.body_timeout)
            self.tcp.resumeProducing()

    def end_body_early(self) -> None:
        """A streaming consumer has its answer before the body ended (an upstream's
        early 417 or 413): the request is rendered now and the rest of its body is read
        and dropped. The connection closes after the response (``Connection: close``):
        unread body bytes could not be told from a next request.
        """
        if self.phase is not _BODY or self._body_dropped or not self.requests:
            return
        self._body_dropped = True
        self.body_stream = None
        self.persistent = False
        self.requests[-1].responseHeaders.setRawHeaders(b"connection", [b"close"])
        self.resume_body_reads()
        self.allContentReceived()

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._deadline.cancel()
        if self._send_timer is not None and self._send_timer.active():
            self._send_timer.cancel()
        self._send_timer = None
        self.host.channel_closed(self)
        super().connectionLost(reason)
        # A streaming body consumer told of the loss may have resumed reads (and so
        # re-armed the body deadline) from inside super(): nothing may stay scheduled.
        self._deadline.cancel()
