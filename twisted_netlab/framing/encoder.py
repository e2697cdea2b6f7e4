"""Frame encoding: one frame's bytes (``encode``), or a stream of them (``Encoder``)."""

from __future__ import annotations

from collections.abc import Iterable

from twisted_netlab.framing.errors import FrameTooLarge, InvalidSerial
from twisted_netlab.framing.layouts import Layout, effective_limit, get_layout

__all__ = ["Encoder", "encode"]


def encode(
    body: bytes,
    serial: int | None = None,
    layout: Layout | str = "seed",
    max_frame: int | None = None,
) -> bytes:
    """One frame's bytes; ``serial`` defaults to 0 where the layout has one."""
    lay = get_layout(layout)
    if lay.header is None:
        return bytes(body)
    limit = effective_limit(lay, max_frame)
    if len(body) > limit:
        raise FrameTooLarge(len(body), limit)
    if lay.has_serial:
        serial = 0 if serial is None else serial
        if not lay.serial_min <= serial <= lay.serial_max:
            raise InvalidSerial(
                f"serial {serial} outside {lay.serial_min}..{lay.serial_max} "
                f"for layout {lay.name!r}"
            )
        return lay.header.pack(serial, len(body)) + body
    if serial is not None:
        raise InvalidSerial(f"layout {lay.name!r} carries no serial")
    return lay.header.pack(len(body)) + body


class Encoder:
    """Frames bodies; like the course encoder, the serial counts from 0 when not given.

    The automatic serial wraps inside the layout's signed range (32767 -> -32768 on
    ``seed``), as a signed int16 counter on the wire would.
    """

    def __init__(self, layout: Layout | str = "seed", max_frame: int | None = None) -> None:
        self.layout = get_layout(layout)
        self.max_frame = max_frame
        self._next = 0

    def encode(self, body: bytes, serial: int | None = None) -> bytes:
        lay = self.layout
        if serial is None and lay.has_serial:
            serial = self._next
            nxt = serial + 1
            self._next = lay.serial_min if nxt > lay.serial_max else nxt
        return encode(body, serial, lay, self.max_frame)

    def encode_many(self, bodies: Iterable[bytes]) -> bytes:
        return b"".join([self.encode(b) for b in bodies])
