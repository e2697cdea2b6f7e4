"""Request body sources: bytes in one write, and a file streamed under flow control.

twisted.web spools a request body (memory below 100 kB, a temp file above) before the
resource runs. ``FileBody`` sends such a file in 64 KiB reads only while the upstream
socket accepts them: it is registered as a streaming producer on the upstream
transport, which pauses it when its buffer is full, so memory stays at one buffer
whatever the body size. A streaming upload (bytes handed on as the client sends them)
is another ``BodySource`` with the same four methods; see ``message.BodySource``.
"""

from __future__ import annotations

import io
from typing import IO

from twisted.internet.interfaces import IPushProducer, IReactorTime
from zope.interface import implementer

from twisted_netlab.pump import BurstPump
from twisted_netlab.upstream.message import BodySink

READ_SIZE = 64 * 1024
# Reads per reactor turn before yielding, so one fast upload cannot starve others.
_READS_PER_TURN = 16


@implementer(IPushProducer)
class BytesBody:
    """A small body already in memory, written in one call."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length: int | None = len(data)

    def start(self, sink: BodySink) -> None:
        sink.write(self.data)
        sink.finish()

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass

    def rewind(self) -> bool:
        return True


class FileBody(BurstPump):
    """``length`` bytes from a seekable file, read as the upstream socket drains."""

    def __init__(self, file: IO[bytes], length: int, reactor: IReactorTime) -> None:
        super().__init__(reactor, _READS_PER_TURN)
        self.file = file
        self.length: int | None = length
        self._start = file.tell()
        self._sink: BodySink | None = None
        self._left = length

    def start(self, sink: BodySink) -> None:
        self._sink = sink
        self._pump()

    def _step(self) -> bool:
        sink = self._sink
        if sink is None:
            return False
        if self._left <= 0:
            self._stopped = True
            sink.finish()
            return False
        try:
            data = self.file.read(min(READ_SIZE, self._left))
        except (OSError, ValueError) as exc:  # ValueError: the file was closed
            self._stopped = True
            sink.fail(f"cannot read the spooled body: {exc}")
            return False
        if not data:
            self._stopped = True
            sink.fail("spooled body shorter than its length")
            return False
        self._left -= len(data)
        sink.write(data)
        return True

    def rewind(self) -> bool:
        self.stopProducing()
        self.file.seek(self._start)
        self._left = self.length or 0
        self._stopped = False
        self._paused = False
        return True


def spooled_body(
    content: IO[bytes] | None, reactor: IReactorTime, inline: int = READ_SIZE
) -> BytesBody | FileBody | None:
    """The body twisted.web spooled in ``request.content``: None when empty, bytes up
    to ``inline``, else streamed from the file."""
    if content is None:
        return None
    content.seek(0, io.SEEK_END)
    size = content.tell()
    content.seek(0)
    if size == 0:
        return None
    if size <= inline:
        return BytesBody(content.read())
    return FileBody(content, size, reactor)
