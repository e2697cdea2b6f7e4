"""How a read moves an HTTP/1.1 connection through its request cycle, cheaply.

``ReadChannel`` is the part of ``channel.LimitedChannel`` that runs on every request:
it keeps the connection's phase (``limits.Phase``) and checks the head limits, at a
cost close to plain ``HTTPChannel``'s. What makes it cheap:

- **One re-file per read.** The site orders its evictable connections by phase and
  time (``ChannelHost.channel_phase``), and only ``buildProtocol`` reads that order,
  never in the middle of a read. A request answered inside one read goes
  IDLE -> HEAD -> BUSY -> IDLE; the site hears once, at the end of the read, of the
  phase the read ends in, and that phase's deadline is armed then. Outside a read (a
  response finished later) a phase change is told at once.
- **Whole heads are checked on the raw bytes.** When a read holds a whole head within
  the byte limits and with no more lines than the field count limit, no line of it can
  break a limit: its lines go straight to ``HTTPChannel.lineReceived``. Any other head
  is checked line by line (414/431 as soon as a limit is passed).
- **State in slots, enum members as constants, one lazy timer** (``deadline.py``).

The refusals and the deadlines' consequences are ``LimitedChannel``'s (``refuse``,
``_deadline_passed``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from twisted.internet.interfaces import IDelayedCall
from twisted.web.http import HTTPChannel
from twisted.web.server import Request

from twisted_netlab.http.relayplan import ResponsePlan
from twisted_netlab.http.replay import ReplayPlan, ReplayTable
from twisted_netlab.web.bodystream import BodyStream
from twisted_netlab.web.deadline import LazyDeadline
from twisted_netlab.web.limits import LimitsConfig, Phase
from twisted_netlab.web.replay import ReplayWatcher

__all__ = ["ChannelHost", "ReadChannel"]

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

    def channel_phase(self, channel: ReadChannel) -> None:
        """``channel`` has just entered ``channel.phase`` (at ``channel.phase_since``).

        The site keeps its evictable connections ordered by this, so that admission at
        the cap finds the oldest one without looking at every connection.
        """

    def channel_closed(self, channel: ReadChannel) -> None: ...

    # Replays (``web/replaychannel.py``).
    replay_watcher: ReplayWatcher | None

    def replay_table(self, secure: bool) -> ReplayTable | None:
        """The plans for this kind of connection (TLS or not); None: no replays."""

    def replayed(
        self, channel: ReadChannel, plan: ReplayPlan, head: bytes, started: float
    ) -> None:
        """``head`` was answered by ``plan``: log and count it as a full request."""

    def relayed(
        self, channel: ReadChannel, plan: ResponsePlan, head: bytes, started: float,
        label: str | None,
    ) -> None:
        """``head``, a proxied GET, was relayed with ``plan`` (``web/relaychannel.py``):
        log it as a full request; ``label`` is the watcher's (``relay_started``)."""


_DELIMITER = len(HTTPChannel.delimiter)
_FOLDING = (0x20, 0x09)  # a line starting with SP or HTAB continues the previous field


class ReadChannel(HTTPChannel):
    """An ``HTTPChannel`` that knows its phase and checks head limits (see above)."""

    # The channel's own state lives in slots (here and in ``LimitedChannel``).
    # HTTPChannel keeps about 25 attributes in the instance dict; ours on top (about
    # 30) would take the dict past CPython's shared-key limit (30), and every attribute
    # access of the request path, Twisted's included, would then take a slower path
    # (measured: several % of a request).
    __slots__ = (
        "_deadline", "_fed", "_head_bytes", "_header_count", "_http_line", "_moved",
        "_parsed", "_reading", "_request_line", "_unchecked", "_want_request_line",
        "_whole_head_limit", "clock", "filed", "host", "index_key", "limits", "own_filed",
        "own_head", "own_idle", "phase", "phase_since",
    )
    phase: Phase
    phase_since: float
    _request_line: bytes  # of the current request; ``method``/``target``/``version``
    _deadline: LazyDeadline  # the current phase's (``_enter``, ``_end_of_read``)
    _want_request_line: bool
    _head_bytes: int
    _header_count: int
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
    filed: dict[int, ReadChannel] | None
    own_idle: dict[int, ReadChannel] | None
    own_head: dict[int, ReadChannel] | None
    own_filed: dict[int, ReadChannel] | None

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
        self._deadline = LazyDeadline(self._schedule, self._now, self._deadline_passed)
        self._want_request_line = True
        self._head_bytes = self._header_count = 0
        self._fed = self._parsed = 0
        self._reading = self._moved = self._unchecked = False
        self._whole_head_limit = 0
        self.index_key = 0
        self.filed = self.own_idle = self.own_head = self.own_filed = None

    def _bind(self) -> None:
        self.host = cast(ChannelHost, self.site)  # type: ignore[attr-defined]
        self.limits = self.host.limits
        self.clock = self.host.seconds
        # HTTPChannel's own per-line parser, bound once: it stands in for
        # ``lineReceived`` while a head that cannot break a limit is parsed.
        self._http_line = super().lineReceived
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

    # -- what ``LimitedChannel`` provides -----------------------------------------------

    def refuse(
        self, code: int, message: str, *, linger: bool = True,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """Answer ``code`` without a resource and close; drop whatever still arrives."""
        raise NotImplementedError

    def _deadline_passed(self) -> None:
        """The current phase's deadline has passed."""
        raise NotImplementedError

    def _reset_body(self) -> None:
        """A new request cycle starts: forget the last request's body."""

    # -- phases -----------------------------------------------------------------------

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
        self.MAX_LENGTH = self.limits.max_request_line
        self._reset_body()

    # -- HTTPChannel overrides --------------------------------------------------------

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
