"""Frame header layouts (``seed``, ``wide``, ``len32``, ``none``) and their limits.

A layout is big-endian fields, ``serial`` first when there is one, then the body
length.  The encoder and the decoder share the limit rules here: a configured
``max_frame`` never exceeds what the layout's length field can carry.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from twisted_netlab.framing.errors import (
    DecodeError,
    FrameTooLarge,
    InvalidLength,
    UnknownLayout,
)

__all__ = ["LAYOUTS", "Layout", "effective_limit", "get_layout", "length_error"]


@dataclass(frozen=True)
class Layout:
    """A header layout: big-endian fields, ``serial`` first when there is one."""

    name: str
    header: struct.Struct | None
    has_serial: bool
    serial_min: int
    serial_max: int
    length_max: int
    description: str

    @property
    def header_size(self) -> int:
        return 0 if self.header is None else self.header.size


def _layout(name: str, fmt: str | None, serial_bits: int, length_max: int, doc: str) -> Layout:
    half = 1 << (serial_bits - 1) if serial_bits else 0
    return Layout(
        name=name,
        header=None if fmt is None else struct.Struct(fmt),
        has_serial=bool(serial_bits),
        serial_min=-half,
        serial_max=half - 1,
        length_max=length_max,
        description=doc,
    )


# The length field is read unsigned: a negative int16 (Node's writeInt16BE of a
# length > 32767 or < 0) then shows up as > length_max, so one compare per frame
# catches both the limit and the sign.
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        _layout("seed", ">hH", 16, 0x7FFF,
                "course wire: int16 BE serial + int16 BE length (0..32767)"),
        _layout("wide", ">iI", 32, 0xFFFFFFFF,
                "int32 BE serial + uint32 BE length"),
        _layout("len32", ">I", 0, 0xFFFFFFFF,
                "uint32 BE length only (Int32StringReceiver's wire)"),
        _layout("none", None, 0, 0, "raw stream, no framing"),
    )
}


def get_layout(layout: Layout | str) -> Layout:
    if isinstance(layout, Layout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise UnknownLayout(
            f"unknown framing {layout!r}; choose one of {', '.join(LAYOUTS)}"
        ) from None


def effective_limit(layout: Layout, max_frame: int | None) -> int:
    """The largest body allowed: ``max_frame``, capped by what the layout can carry."""
    if max_frame is None:
        return layout.length_max
    if max_frame < 0:
        raise ValueError(f"max_frame must be >= 0, not {max_frame}")
    return min(max_frame, layout.length_max)


def length_error(layout: Layout, length: int, limit: int) -> DecodeError:
    """The error for a header whose (unsigned) ``length`` is over ``limit``."""
    if length > layout.length_max:
        # Only the seed wire can hold more than it allows: the int16 sign bit.
        return InvalidLength(length - 0x10000, layout.name)
    return FrameTooLarge(length, limit)
