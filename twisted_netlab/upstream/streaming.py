"""A request body handed on while the client is still sending it (streaming uploads).

The server channel hands body bytes on as they arrive (``web/channel.py``'s body
hook, fed through ``web/proxy/upload.UploadSink``): it ``write``s each chunk it reads
from the client, then ``finish``es (or ``fail``s); the upstream connection consumes
this as a ``BodySource``. Backpressure both ways: while the upstream socket is full (or before a
connection exists) chunks wait in a small buffer, and above ``high_water`` bytes the
client's producer (its transport) is paused until the upstream drains.
"""

from __future__ import annotations

from collections import deque

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from twisted_netlab.upstream.message import BodySink


@implementer(IPushProducer)
class StreamingBody:
    def __init__(
        self, length: int | None, client: IPushProducer, high_water: int = 256 * 1024
    ) -> None:
        self.length = length
        self._client = client
        self._high = high_water
        self._low = high_water // 4
        self._sink: BodySink | None = None
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._failure: str | None = None
        self._paused = False  # by the upstream side
        self._stopped = False
        self._client_paused = False

    @property
    def buffered(self) -> int:
        """Bytes read from the client and not yet handed to the upstream socket."""
        return self._buffered

    # -- client side (the channel) --------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._stopped or not data:
            return
        if self._sink is not None and not self._paused and not self._buffer:
            self._sink.write(data)
            return
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered > self._high and not self._client_paused:
            self._client_paused = True
            self._client.pauseProducing()

    def finish(self) -> None:
        self._ended = True
        self._flush()

    def fail(self, reason: str) -> None:
        """The client went away or broke a limit mid-body: the upstream request fails."""
        self._failure = reason
        self._buffer.clear()
        self._buffered = 0
        if self._sink is not None and not self._stopped:
            self._stopped = True
            self._sink.fail(reason)

    # -- upstream side (BodySource) ---------------------------------------------------

    def start(self, sink: BodySink) -> None:
        self._sink = sink
        if self._failure is not None:
            self.fail(self._failure)
            return
        self._flush()

    def pauseProducing(self) -> None:
        self._paused = True
        if not self._client_paused:
            self._client_paused = True
            self._client.pauseProducing()

    def resumeProducing(self) -> None:
        self._paused = False
        self._flush()

    def stopProducing(self) -> None:
        """The exchange ended first; the rest of the body is dropped, the client is
        let go (its channel decides what to do with the unread bytes)."""
        self._stopped = True
        self._buffer.clear()
        self._buffered = 0
        self._resume_client()

    def rewind(self) -> bool:
        """Never replayable: the bytes came from the client socket and are gone once
        handed on, and a stopped stream (the failed attempt's ``stopProducing``) has
        dropped its buffer. A retry on a stale connection fails instead (502)."""
        return False

    # -- internals -----------------------------------------------------------------------

    def _flush(self) -> None:
        sink = self._sink
        if sink is None or self._stopped:
            return
        while self._buffer and not self._paused:
            data = self._buffer.popleft()
            self._buffered -= len(data)
            sink.write(data)
        if not self._paused and self._buffered <= self._low:
            self._resume_client()
        if self._ended and not self._buffer and not self._paused:
            self._stopped = True
            sink.finish()

    def _resume_client(self) -> None:
        if self._client_paused:
            self._client_paused = False
            self._client.resumeProducing()
