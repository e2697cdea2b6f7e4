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

Only public/overridable ``HTTPChannel`` methods are overridden (``connectionMade``,
``dataReceived``, ``lineReceived``, ``lineLengthExceeded``, ``allHeadersReceived``,
``rawDataReceived``, ``allContentReceived``, ``requestDone``, ``pauseProducing``,
``resumeProducing``, ``connectionLost``) plus ``Request.gotLength`` and
``Request.handleContentChunk``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from twisted.internet.interfaces import IDelayedCall, ITCPTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.server import Request

from twisted_netlab.web.bodystream import BodyStream
from twisted_netlab.web.deadline import LazyDeadline
from twisted_netlab.web.limits import BodyVerdict, LimitsConfig, Phase, body_overflows, judge_body
from twisted_netlab.web.plainresponse import plain_response

# Enum members as module constants: ``Phase.IDLE`` is a descriptor lookup on the enum
# class (about 0.1 µs on CPython 3.11), and these are read several times per request.
_IDLE, _HEAD, _BODY, _BUSY, _REFUSED = (
    Phase.IDLE, Phase.HEAD, Phase.BODY, Phase.BUSY, Phase.REFUSED)


class ChannelHost(Protocol):
    """What the channel needs from its site (``connections.LimitedSite``)."""

    limits: LimitsConfig
    draining: bool

    def seconds(self) -> float: ...

    def body_limit(self, method: bytes, target: bytes) -> int:
        """Largest body ``method target`` takes (0: none), already capped by max_body."""

    def open_body(self, request: Request, length: int | None) -> BodyStream | None:
        """A ``BodyStream`` to receive the body as it arrives, or None to spool it.

        Not asked for a request without a body (``length`` 0).

        The streaming hook: a consumer that wants bytes as they arrive returns one; it
        may call ``pause_body_reads`` / ``resume_body_reads`` / ``end_body_early`` on
        ``request.channel``.
        """

    def channel_phase(self, channel: LimitedChannel) -> None:
        """``channel`` has just entered ``channel.phase`` (at ``channel.phase_since``).

        The site keeps its evictable connections ordered by this, so that admission at
        the cap finds the oldest one without looking at every connection.
        """

    def channel_closed(self, channel: LimitedChannel) -> None: ...


class LimitedRequest(Request):
    """A Request whose body goes where the site says, counted against the cap."""

    channel: LimitedChannel
    started: float | None = None  # when the head was complete: the request log's "ms"

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


_DELIMITER = len(HTTPChannel.delimiter)
_FOLDING = (0x20, 0x09)  # a line starting with SP or HTAB continues the previous field


class LimitedChannel(HTTPChannel):
    _log = Logger()

    # The channel's own state lives in slots. HTTPChannel keeps about 25 attributes in
    # the instance dict; ours on top (about 30) would take the dict past CPython's
    # shared-key limit (30), and every attribute access of the request path, Twisted's
    # included, would then take a slower path (measured: several % of a request).
    __slots__ = (
        "_body_bytes", "_body_dropped", "_body_limit", "_deadline", "_fed",
        "_head_bytes", "_header_count", "_http_line", "_moved", "_parsed", "_reading",
        "_reads_paused", "_request_line", "_send_timer", "_unchecked",
        "_want_request_line", "_whole_head_limit", "body_stream", "clock", "filed", "host",
        "index_key", "limits", "own_filed", "own_head", "own_idle", "phase", "phase_since",
    )
    phase: Phase
    phase_since: float
    _request_line: bytes  # of the current request; ``method``/``target``/``version``
    body_stream: BodyStream | None
    _body_dropped: bool
    _deadline: LazyDeadline  # the current phase's (``_enter``, ``_end_of_read``)
    _send_timer: IDelayedCall | None
    _want_request_line: bool
    _head_bytes: int
    _header_count: int
    _body_limit: int
    _body_bytes: int
    _reads_paused: bool
    # Bytes handed to the parser vs bytes it has passed on: the difference is a partial
    # line waiting in LineReceiver's buffer (e.g. a pipelined head that arrived in the
    # same read as the previous request), which must start the head deadline too.
    _fed: int
    _parsed: int
    # Inside ``dataReceived``: phase changes are only noted (``_moved``) and the site is
    # told once, at the end of the read (see ``dataReceived``).
    _reading: bool
    _moved: bool
    # A head that arrived whole in one read and is within every head limit is parsed
    # by HTTPChannel's own ``lineReceived`` (an instance attribute until the head ends).
    _unchecked: bool
    _whole_head_limit: int

    # Where the site's eviction index holds this channel (``connections.LimitedSite``
    # sets and reads these; the channel never does): its key (0: not tracked), the
    # idle/head dict it is filed in, and with a per-address cap its address's two dicts
    # and the one of them it is filed in.
    index_key: int
    filed: dict[int, LimitedChannel] | None
    own_idle: dict[int, LimitedChannel] | None
    own_head: dict[int, LimitedChannel] | None
    own_filed: dict[int, LimitedChannel] | None

    # Bound in ``connectionMade`` (``_bind``): read several times per request.
    host: ChannelHost
    limits: LimitsConfig
    clock: Callable[[], float]  # the site's clock (``host.seconds``)
    _http_line: Callable[[bytes], None]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.phase = _IDLE
        self.phase_since = 0.0
        self._request_line = b""
        self.body_stream = None
        self._body_dropped = False
        self._deadline = LazyDeadline(self._schedule, self._now, self._deadline_passed)
        self._send_timer = None
        self._want_request_line = True
        self._head_bytes = self._header_count = self._body_limit = self._body_bytes = 0
        self._reads_paused = False
        self._fed = self._parsed = 0
        self._reading = self._moved = self._unchecked = False
        self._whole_head_limit = 0
        self.index_key = 0
        self.filed = self.own_idle = self.own_head = self.own_filed = None

    def _bind(self) -> None:
        self.host = cast(ChannelHost, self.site)  # type: ignore[attr-defined]
        self.limits = self.host.limits
        self.clock = self.host.seconds
        # A head of at most this many bytes cannot break the request-line nor the head
        # size limit, whatever its lines.
        self._whole_head_limit = min(self.limits.max_request_line, self.limits.max_header_bytes)

    # The request line is split only if asked for (a body's target, the streaming
    # hook): most requests never need it here, twisted.web parses it again anyway.

    @property
    def method(self) -> bytes:
        """The current request's method, as sent (b"" before any request line)."""
        return self._request_line.split(b" ")[0]

    @property
    def target(self) -> bytes:
        """The current request's target, as sent."""
        parts = self._request_line.split(b" ")
        return parts[1] if len(parts) > 1 else b""

    @property
    def version(self) -> bytes:
        """The current request's version, as sent."""
        parts = self._request_line.split(b" ")
        return parts[2] if len(parts) > 2 else b""

    @property
    def tcp(self) -> Any:
        """The transport with its TCP/TLS methods (abort, half-close, flow control)."""
        return self.transport

    # -- phases and timers ------------------------------------------------------------

    def _enter(self, phase: Phase, timeout: float | None) -> None:
        """Enter ``phase``; its deadline is ``timeout`` from now (None: no deadline).

        Inside a read only the phase changes: ``_end_of_read`` files the channel and
        arms the deadline of the phase the read ends in. A phase without a deadline
        (BUSY) leaves the timer running: ``_deadline_passed`` does nothing in that phase.
        """
        self.phase = phase
        if self._reading:
            self._moved = True
            return
        now = self.phase_since = self.clock()
        self.host.channel_phase(self)
        if timeout is not None:
            self._deadline.arm(now, timeout)
        elif phase is not _BUSY:
            self._deadline.cancel()

    # The deadline is made in ``__init__``, before ``Site.buildProtocol`` sets the
    # site reactor's ``callLater`` and ``connectionMade`` binds the clock: it reaches
    # them through these two (called when a timer is made or fires, not per request).

    def _schedule(self, delay: float, call: Callable[[], None]) -> IDelayedCall:
        scheduled: IDelayedCall = self.callLater(delay, call)  # type: ignore[no-untyped-call]
        return scheduled

    def _now(self) -> float:
        return self.clock()

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

    def _end_of_read(self) -> None:
        """The read changed the phase: file the channel as that phase's newest member
        and arm that phase's deadline, once (see ``dataReceived``)."""
        self._moved = False
        now = self.phase_since = self.clock()
        self.host.channel_phase(self)
        phase = self.phase
        limits = self.limits
        if phase is _IDLE:  # entered from ``requestDone``: a keep-alive wait
            self._deadline.arm(now, limits.keepalive_timeout)
        elif phase is _HEAD:  # a head started in this read
            self._deadline.arm(now, limits.header_timeout)
        elif phase is _BODY:
            self._deadline.arm(now, limits.body_timeout)
        elif phase is _REFUSED:
            self._deadline.arm(now, limits.linger_time)

    def _new_request_cycle(self) -> None:
        self._want_request_line = True
        self._head_bytes = 0
        self._header_count = 0
        self._body_bytes = 0
        self.body_stream = None
        self._body_dropped = False
        self.MAX_LENGTH = self.limits.max_request_line

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
        # HTTPChannel's own per-line parser, bound once: it stands in for
        # ``lineReceived`` while a head that cannot break a limit is parsed.
        self._http_line = super().lineReceived
        self.timeOut = None  # Twisted's byte-reset idle timer is replaced by deadlines
        self.maxHeaders = self.limits.max_header_count + 1
        self.totalHeadersSize = self.limits.max_header_bytes + 1
        super().connectionMade()  # type: ignore[no-untyped-call]
        self._new_request_cycle()
        self._enter(_IDLE, self.limits.header_timeout)

    def dataReceived(self, data: bytes) -> None:
        """Parse a read; tell the site of the phase it ends in, once.

        A whole request answered synchronously goes IDLE -> HEAD -> BUSY -> IDLE inside
        one read. The site's eviction index is only consulted by ``buildProtocol``,
        which never runs in the middle of a read, so those moves are coalesced: the
        channel is re-filed once, at the end, in the phase it ends in, as that phase's
        newest member (``phase_since`` is the end of the read). A response that is
        still being made when the read returns (BUSY) and finishes later re-files at
        once, from ``requestDone``, outside any read.
        """
        phase = self.phase
        if phase is _REFUSED:
            return
        self._fed += len(data)
        if self._reading:  # buffered bytes replayed inside a read: the outer one files
            self._replayed(phase, data)
            return
        if phase is _IDLE and data:  # the first byte of a head
            self.phase = _HEAD
            self._moved = True
            # The whole head in this read, within the byte limits (the search stops at
            # them) and with no more lines than the header count limit: no line can
            # break a limit, so its lines skip the per-line checks.
            end = data.find(b"\r\n\r\n", 0, self._whole_head_limit)
            if end > 0 and data.count(b"\r\n", 0, end) <= self.limits.max_header_count:
                line_end = data.find(b"\r\n")
                if line_end:  # not a stray CRLF first (the per-line path handles that)
                    self._request_line = data[:line_end]
                    self._want_request_line = False
                    self._parsed += end + 4
                    self._unchecked = True
                    self.lineReceived = self._http_line  # type: ignore[method-assign,assignment]
        self._reading = True
        try:
            HTTPChannel.dataReceived(self, data)
        finally:
            self._reading = False
        if self.phase is _IDLE and self._fed > self._parsed:
            # A pipelined head started in this read: its deadline starts now.
            self.phase = _HEAD
            self._moved = True
        if self._moved:
            self._end_of_read()

    def _replayed(self, phase: Phase, data: bytes) -> None:
        """Bytes that twisted.web buffered during a response, handed back from inside
        a read (``requestDone`` in a synchronous response): LineReceiver appends them to
        its buffer, and the outer read parses them and files the channel."""
        if phase is _IDLE and data:
            self.phase = _HEAD
            self._moved = True
        HTTPChannel.dataReceived(self, data)
        if self.phase is _IDLE and self._fed > self._parsed:
            self.phase = _HEAD
            self._moved = True

    def _end_unchecked_head(self) -> None:
        self._unchecked = False
        del self.lineReceived

    def lineReceived(self, line: bytes) -> None:
        size = len(line) + _DELIMITER
        self._parsed += size
        if self.phase is _REFUSED:
            return
        limits = self.limits
        head = self._head_bytes = self._head_bytes + size
        if self._want_request_line:
            if not line:
                HTTPChannel.lineReceived(self, line)  # one stray CRLF is allowed
                return
            if len(line) > limits.max_request_line:
                self.refuse(414, "the request line is too long")
                return
            self._request_line = line
            self._want_request_line = False
            self.MAX_LENGTH = limits.max_header_bytes
        elif line and line[0] not in _FOLDING:
            count = self._header_count = self._header_count + 1
            if count > limits.max_header_count and head <= limits.max_header_bytes:
                self.refuse(431, "the request has too many header fields")
                return
        if head > limits.max_header_bytes:
            self.refuse(431, "the request headers are too large")
            return
        HTTPChannel.lineReceived(self, line)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._parsed += len(line)
        if self._want_request_line:
            self.refuse(414, "the request line is too long")
        else:
            self.refuse(431, "the request headers are too large")

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

    def allContentReceived(self) -> None:
        if self.phase is _REFUSED:
            return
        if self._reading:  # ``_enter(BUSY, None)`` inside a read: no timer to move
            self.phase = _BUSY
            self._moved = True
        else:
            self._enter(_BUSY, None)
        HTTPChannel.allContentReceived(self)

    def requestDone(self, request: Any) -> None:
        if self.host.draining:
            self.persistent = False
        if self.persistent:
            # Before HTTPChannel's: it replays pipelined bytes, which start the next head.
            self._new_request_cycle()
            if self._reading:  # ``_enter(IDLE, keepalive_timeout)`` at the end of the read
                self.phase = _IDLE
                self._moved = True
            else:
                self._enter(_IDLE, self.limits.keepalive_timeout)
        HTTPChannel.requestDone(self, request)

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
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
        # A streaming body consumer told of the loss may have resumed reads (and so
        # re-armed the body deadline) from inside super(): nothing may stay scheduled.
        self._deadline.cancel()
