"""Stream parts of a file (and literal bytes between them) to a request.

A pull producer: the transport asks for more only when its buffer has drained, so a
slow client holds at most one chunk in our memory whatever the file size. Reads use
``os.pread`` at explicit offsets (no shared file position) in large chunks. A client
that goes away stops the producer and closes the file.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable

from twisted.internet.interfaces import IPullProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Request
from zope.interface import implementer

__all__ = ["CHUNK_SIZE", "FileSpan", "PartsProducer"]

CHUNK_SIZE = 256 * 1024

# A span of the file: (offset, length).
FileSpan = tuple[int, int]


@implementer(IPullProducer)
class PartsProducer:
    log = Logger()

    def __init__(
        self,
        request: Request,
        fd: int,
        parts: Iterable[bytes | FileSpan],
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.request = request
        self.fd: int | None = fd
        self.parts: deque[bytes | FileSpan] = deque(parts)
        self.chunk_size = chunk_size
        self.done = False

    def start(self) -> None:
        self.request.notifyFinish().addErrback(self._client_gone)
        self.request.registerProducer(self, False)

    def resumeProducing(self) -> None:
        if self.done or self.fd is None:
            return
        budget = self.chunk_size
        out: list[bytes] = []
        parts = self.parts
        try:
            while parts and budget > 0:
                part = parts[0]
                if isinstance(part, bytes):
                    out.append(part)
                    budget -= len(part)
                    parts.popleft()
                    continue
                offset, length = part
                want = min(length, budget)
                data = os.pread(self.fd, want, offset)
                if not data:
                    raise OSError("file shrank while it was being sent")
                out.append(data)
                budget -= len(data)
                if len(data) == length:
                    parts.popleft()
                else:
                    parts[0] = (offset + len(data), length - len(data))
        except OSError:
            self.log.failure("reading {fd} failed; closing the connection", fd=self.fd)
            self._abort()
            return
        if out:
            self.request.write(out[0] if len(out) == 1 else b"".join(out))
        if not parts and not self.done:
            self.done = True
            self._close()
            self.request.unregisterProducer()
            self.request.finish()

    def stopProducing(self) -> None:
        self.done = True
        self._close()

    def _client_gone(self, reason: Failure) -> None:
        self.stopProducing()

    def _abort(self) -> None:
        # The headers promised a length we can no longer deliver: cut the connection.
        self.done = True
        self._close()
        self.request.unregisterProducer()
        channel = getattr(self.request, "channel", None)
        transport = getattr(channel, "transport", None)
        if transport is not None:
            transport.abortConnection()
        elif channel is not None:  # HTTP/2: an H2Stream has no transport; reset the stream
            channel.abortConnection()

    def _close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            finally:
                self.fd = None
