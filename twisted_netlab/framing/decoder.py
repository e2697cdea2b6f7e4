"""The incremental frame decoder: ``feed`` chunks, get complete frames; ``finish`` at EOF.

Why not ``IntNStringReceiver``: it concatenates its whole unprocessed buffer with every
chunk, so a large frame arriving in many chunks costs quadratic time, and it checks no
sign and reports no typed error.  This decoder holds the bytes of a pending (incomplete)
frame in ONE ``bytearray`` per decoder, appended to in place (amortised O(1) per byte,
CPython over-allocates at most ~1/8), so memory stays within a few percent of the bytes
pending plus a small fixed cost, however the frame is chunked: a one-byte drip costs one
byte per byte, not a ``bytes`` object and a list slot per read (79 bytes per byte when
chunks were kept as a list).  The buffer is never preallocated to the announced length:
a header announcing 1 MiB followed by nothing must not cost 1 MiB.  Chunks holding whole
frames are never copied into it (the fast path slices or returns them as they are).  The
length is checked against the limit as soon as the header is in, before any body byte
is kept.
"""

from __future__ import annotations

import struct
from itertools import repeat
from operator import itemgetter

from twisted_netlab.framing.errors import DecodeError, Frame, TruncatedFrame
from twisted_netlab.framing.layouts import Layout, effective_limit, get_layout, length_error

__all__ = ["DEFAULT_MAX_FRAME", "Decoder"]

DEFAULT_MAX_FRAME = 1 << 20

_PROBE = 16
_FIRST_PROBE = 1 << 30  # the first probe of a chunk may span it all: one C pass
_MIN_RUN = 4
_first = itemgetter(0)
_EMPTY = struct.Struct("")


def _run_format(layout: Layout) -> str:
    """struct format for one frame of a run, length left as ``{}``: fields minus length."""
    if layout.header is None:
        return ""
    fmt = layout.header.format.lstrip(">")
    pad = struct.calcsize(">" + fmt[-1])
    return ">" + fmt[:-1] + f"{pad}x" + "{}s"


class Decoder:
    """Incremental decoder: ``feed`` chunks, get complete frames; ``finish`` at EOF.

    Errors are raised from ``feed`` as soon as a bad header is complete; after an error
    the decoder must not be fed again (the stream has lost its framing).
    """

    __slots__ = (
        "_buf",
        "_failed",
        "_hsize",
        "_lensize",
        "_limit",
        "_need",
        "_passthrough",
        "_run_fmt",
        "_runs",
        "_serial",
        "_serial_pos",
        "_unpack",
        "layout",
        "max_frame",
        "raw_frames",
    )

    def __init__(
        self, layout: Layout | str = "seed", max_frame: int | None = DEFAULT_MAX_FRAME
    ) -> None:
        lay = get_layout(layout)
        self.layout = lay
        self.max_frame = max_frame
        self._limit = effective_limit(lay, max_frame)
        self._passthrough = lay.header is None
        self._unpack = (lay.header or _EMPTY).unpack_from
        self._hsize = lay.header_size
        self._serial_pos = lay.has_serial
        self._lensize = 0 if lay.header is None else struct.calcsize(">" + lay.header.format[-1])
        self._run_fmt = _run_format(lay)
        self._runs: dict[int, struct.Struct] = {}
        # Pending partial frame: its bytes from the frame's first byte, and the total
        # frame size (0 while the header is incomplete).
        self._buf = bytearray()
        self._need = 0
        self._serial: int | None = None
        self._failed = False
        # Frames ``feed_raw`` has validated (and so handed back), for cheap counting:
        # one integer add per call, no second decode.  With no framing, each chunk.
        self.raw_frames = 0

    @property
    def pending(self) -> int:
        """Bytes held for a frame not complete yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """Return the frames ``data`` completes, in order."""
        if self._passthrough:
            return [(None, bytes(data))] if data else []
        if type(data) is not bytes:
            data = bytes(data)
        buf = self._buf
        if buf:
            if self._need and len(buf) + len(data) < self._need:
                # Most common case for a big frame (or a drip): one more body chunk.
                buf += data
                return []
            return self._resume_frames(data)
        return self._scan(data, 0, [])

    def feed_raw(self, data: bytes) -> bytes:
        """Validate ``data`` and return the bytes of the frames it completes, verbatim.

        For relays and echoes: the reply to a frame with the same serial and body is
        the frame's own bytes, so nothing is decoded into objects or re-encoded.
        """
        if self._passthrough:
            if data:
                self.raw_frames += 1
            return bytes(data)
        if type(data) is not bytes:
            data = bytes(data)
        buf = self._buf
        if buf:
            if self._need and len(buf) + len(data) < self._need:
                buf += data
                return b""
            return self._resume_raw(data)
        end = self._skip(data, 0)
        if end == len(data):
            return data
        return data[:end]

    def discard(self) -> int:
        """Drop the incomplete frame (its memory is freed now); return its size.

        The stream has then lost its framing: the decoder must not be fed again.
        """
        dropped = len(self._buf)
        self._fail(DecodeError("pending frame discarded"))
        return dropped

    def finish(self) -> None:
        """At EOF: raise ``TruncatedFrame`` if a frame was left incomplete."""
        if self._buf:
            raise TruncatedFrame(len(self._buf), self._need or None)

    # -- internals -------------------------------------------------------------

    def _fail(
        self, error: DecodeError, frames: list[Frame] | None = None, raw: bytes = b""
    ) -> DecodeError:
        # What was complete before the bad header travels with the error, so an
        # adapter can still answer it before closing.
        error.frames = frames or []
        error.raw = raw
        self._failed = True
        self._buf = bytearray()
        self._need = 0
        return error

    def _complete_pending(self, data: bytes) -> tuple[bytes, bytearray | None, int]:
        """Use the head of ``data`` for the pending frame.

        Returns ``(data, None, 0)`` when the pending bytes were only part of a header:
        they are prepended (a header is short, so this copies the chunk once and the
        total stays linear).  Otherwise ``(data, frame, take)``: ``frame`` holds the
        whole pending frame, which ends at ``data[take]``.
        """
        buf = self._buf
        self._buf = bytearray()
        if not self._need:
            return bytes(buf) + data, None, 0
        take = self._need - len(buf)
        self._need = 0
        buf += memoryview(data)[:take]
        return data, buf, take

    def _resume_frames(self, data: bytes) -> list[Frame]:
        data, frame, take = self._complete_pending(data)
        if frame is None:
            return self._scan(data, 0, [])
        frames: list[Frame] = [(self._serial, bytes(memoryview(frame)[self._hsize :]))]
        return self._scan(data, take, frames)  # errors carry ``frames``, first included

    def _resume_raw(self, data: bytes) -> bytes:
        data, frame, take = self._complete_pending(data)
        if frame is None:
            end = self._skip(data, 0)
            return data if end == len(data) else data[:end]
        self.raw_frames += 1
        try:
            end = self._skip(data, take)
        except DecodeError as exc:
            exc.raw = bytes(frame) + exc.raw
            raise
        if end == take:
            return bytes(frame)
        return b"".join((frame, memoryview(data)[take:end]))

    def _stash(self, data: bytes, off: int) -> None:
        """Keep the incomplete tail ``data[off:]`` (a copy: never pin the whole chunk)."""
        if len(data) - off >= self._hsize:
            fields = self._unpack(data, off)
            length = fields[-1]
            if length > self._limit:
                raise self._fail(length_error(self.layout, length, self._limit))
            self._serial = fields[0] if self._serial_pos else None
            self._need = self._hsize + length
        self._buf = bytearray(memoryview(data)[off:])

    # Runs of equal-sized frames (fixed-size messages are the common case) are found
    # with strided byte slices and split by ``struct.iter_unpack``, both in C; other
    # frames go through the plain loop.  The first probe of a chunk spans the chunk;
    # after a miss the window drops to _PROBE frames and doubles while runs hold, so
    # mixed sizes pay a bounded probe per _PROBE frames and the total stays linear.

    def _run_length(self, data: bytes, off: int, size: int, window: int) -> int:
        """How many frames of ``size`` bytes (same length field) start at ``off``."""
        pos = off + self._hsize - self._lensize
        stop = off + window * size
        run = window
        for j in range(pos, pos + self._lensize):
            column = data[j:stop:size]
            run = min(run, window - len(column.lstrip(data[j : j + 1])))
            if run < _MIN_RUN:
                break
        return run

    def _run_struct(self, length: int) -> struct.Struct:
        cache = self._runs
        st = cache.get(length)
        if st is None:
            if len(cache) > 64:
                cache.clear()
            st = cache[length] = struct.Struct(self._run_fmt.format(length))
        return st

    def _scan(self, data: bytes, off: int, frames: list[Frame]) -> list[Frame]:
        if self._failed:
            raise DecodeError("decoder used after a framing error")
        n = len(data)
        hsize = self._hsize
        limit = self._limit
        unpack = self._unpack
        append = frames.append
        with_serial = self._serial_pos
        window = _FIRST_PROBE
        while True:
            end = off + hsize
            if end > n:
                break
            fields = unpack(data, off)
            length = fields[-1]
            if length > limit:
                raise self._fail(length_error(self.layout, length, limit), frames)
            size = hsize + length
            fit = (n - off) // size
            if fit >= _MIN_RUN:
                run = self._run_length(data, off, size, min(fit, window))
                if run >= _MIN_RUN:
                    stop = off + run * size
                    it = self._run_struct(length).iter_unpack(memoryview(data)[off:stop])
                    if with_serial:
                        frames.extend(it)
                    else:
                        frames.extend(zip(repeat(None), map(_first, it)))
                    off = stop
                    window = window * 2 if run == window else _PROBE
                    continue
            # Plain loop for up to _PROBE frames, then probe for a run again.
            count = _PROBE
            while count:
                stop = end + length
                if stop > n:
                    break
                append((fields[0] if with_serial else None, data[end:stop]))
                off = stop
                count -= 1
                end = off + hsize
                if end > n:
                    break
                fields = unpack(data, off)
                length = fields[-1]
                if length > limit:
                    raise self._fail(length_error(self.layout, length, limit), frames)
            else:
                continue
            break  # the plain loop stopped at an incomplete header or body
        if off < n:
            try:
                self._stash(data, off)
            except DecodeError as exc:
                exc.frames = frames
                raise
        return frames

    def _skip(self, data: bytes, off: int) -> int:
        """Validate whole frames from ``off``; stash the tail; return where it starts."""
        if self._failed:
            raise DecodeError("decoder used after a framing error")
        n = len(data)
        hsize = self._hsize
        limit = self._limit
        unpack = self._unpack
        start = off
        window = _FIRST_PROBE
        done = 0  # frames validated by this call (``raw_frames``)
        while True:
            end = off + hsize
            if end > n:
                break
            length = unpack(data, off)[-1]
            if length > limit:
                self.raw_frames += done
                raise self._fail(length_error(self.layout, length, limit), raw=data[start:off])
            size = hsize + length
            fit = (n - off) // size
            if fit >= _MIN_RUN:
                run = self._run_length(data, off, size, min(fit, window))
                if run >= _MIN_RUN:
                    off += run * size
                    done += run
                    window = window * 2 if run == window else _PROBE
                    continue
            count = _PROBE
            while count:
                stop = end + length
                if stop > n:
                    break
                off = stop
                count -= 1
                end = off + hsize
                if end > n:
                    break
                length = unpack(data, off)[-1]
                if length > limit:
                    self.raw_frames += done + _PROBE - count
                    raise self._fail(
                        length_error(self.layout, length, limit), raw=data[start:off]
                    )
            else:
                done += _PROBE
                continue
            done += _PROBE - count
            break  # the plain loop stopped at an incomplete header or body
        self.raw_frames += done
        if off < n:
            try:
                self._stash(data, off)
            except DecodeError as exc:
                exc.raw = data[start:off]
                raise
        return off
