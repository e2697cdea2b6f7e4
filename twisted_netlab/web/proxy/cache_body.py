"""A stored body written to the client under flow control, whole or as byte ranges.

Why a push producer and not one ``write`` per chunk in a loop: a 1 GiB entry must cost
one chunk of memory, so the body is pulled from the store's reader only while the client
transport accepts bytes (``pauseProducing`` stops the pulls). Each reactor turn writes
at most ``_BURST`` chunks, so one fast client cannot monopolise the reactor either.

Ranges come from ``http.ranges`` (the static side's rules): sorted, coalesced, so one
sequential pass over the body serves every part; a multipart body interleaves the
part preambles from ``multipart_layout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IReactorTime

from twisted_netlab.cache.store import BodyReader
from twisted_netlab.http.cache.fields import field_values, without_fields
from twisted_netlab.http.ranges import (
    ByteRange,
    RangeKind,
    content_range,
    make_boundary,
    multipart_layout,
    parse_range,
    unsatisfied_content_range,
)
from twisted_netlab.pump import BurstPump

__all__ = ["Piece", "Selection", "StoredBody", "range_stream", "select_ranges"]

CHUNK = 65536
_BURST = 16

# What the body is made of: literal bytes (a multipart preamble) or a slice of the entry.
Piece = bytes | ByteRange


Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Selection:
    """A Range request's answer from a stored 200: status, headers and what to send."""

    status: int
    headers: Pairs
    pieces: list[Piece]
    length: int


def select_ranges(header: str, size: int, headers: Pairs) -> Selection | None:
    """206 / 416 for ``Range: header`` on a stored full body of ``size``; None: send 200."""
    result = parse_range(header, size)
    if result.kind is RangeKind.IGNORE:
        return None
    rest = without_fields(headers, ("content-range",))
    if result.kind is RangeKind.UNSATISFIABLE:
        unsatisfied = (*rest, ("Content-Range", unsatisfied_content_range(size)))
        return Selection(416, unsatisfied, [], 0)
    if len(result.ranges) == 1:
        part = result.ranges[0]
        return Selection(206, (*rest, ("Content-Range", content_range(part, size))), [part],
                         part.length)
    kind = ", ".join(field_values(headers, "content-type")) or "application/octet-stream"
    layout = multipart_layout(result.ranges, size, kind, make_boundary())
    pieces: list[Piece] = [p for preamble, part in layout.parts for p in (preamble, part)]
    pieces.append(layout.epilogue)
    typed = (*without_fields(rest, ("content-type",)), ("Content-Type", layout.content_type))
    return Selection(206, typed, pieces, layout.content_length)


def range_stream(chunks: Iterator[bytes], pieces: Sequence[Piece]) -> Iterator[bytes]:
    """The bytes of ``pieces`` read in one pass over ``chunks`` (ranges sorted, disjoint)."""
    offset = 0  # position in the entry of ``pending``'s first byte
    pending = b""
    for piece in pieces:
        if isinstance(piece, bytes):
            if piece:
                yield piece
            continue
        start, end = piece.start, piece.end + 1
        while offset + len(pending) <= start:
            offset += len(pending)
            pending = next(chunks, b"")
            if not pending:
                raise ValueError("stored body shorter than its length")
        while True:
            lo = max(start - offset, 0)
            hi = min(end - offset, len(pending))
            if hi > lo:
                yield pending[lo:hi]
            if offset + len(pending) >= end:
                break
            offset += len(pending)
            pending = next(chunks, b"")
            if not pending:
                raise ValueError("stored body shorter than its length")


class StoredBody(BurstPump):
    """Write a stored body to ``request`` and finish it; ``done`` hears how it ended."""

    def __init__(
        self,
        request: Any,
        reader: BodyReader,
        reactor: IReactorTime,
        pieces: Sequence[Piece] | None,
        done: Callable[[bool], object],
    ) -> None:
        super().__init__(reactor, _BURST)
        self._request = request
        self._reader = reader
        self._done = done
        chunks = reader.chunks(CHUNK)
        self._source = chunks if pieces is None else range_stream(chunks, pieces)

    def start(self) -> None:
        self._request.registerProducer(self, True)
        self._pump()

    def _step(self) -> bool:
        try:
            chunk = next(self._source, None)
        except (OSError, ValueError):
            # The file vanished or came up short: the client must see truncation.
            self._end(False)
            return False
        if chunk is None:
            self._end(True)
            return False
        self._request.write(chunk)
        return True

    def _end(self, complete: bool) -> None:
        self._stopped = True
        self._reader.close()
        self._request.unregisterProducer()
        self._done(complete)

    def stopProducing(self) -> None:
        if self._stopped:
            return
        super().stopProducing()
        self._reader.close()
