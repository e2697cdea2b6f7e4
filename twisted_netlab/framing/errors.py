"""What goes wrong with frames, as typed errors, and the ``Frame`` they carry.

Frames are ``(serial, body)`` tuples: plain tuples because the hot loop builds one per
frame; ``serial`` is ``None`` for layouts without a serial field.  A decoding error
carries the frames (or raw bytes) that were complete before the bad input, so an adapter
can still answer those before closing.
"""

from __future__ import annotations

from twisted_netlab.errors import FrameError, NetlabError

__all__ = [
    "DecodeError",
    "Frame",
    "FrameError",
    "FrameTooLarge",
    "InvalidLength",
    "InvalidSerial",
    "TruncatedFrame",
    "UnknownLayout",
]

Frame = tuple["int | None", bytes]


class DecodeError(FrameError):
    """Bad input on the wire; ``reason`` is a short close reason for logs.

    Raised by ``Decoder.feed``/``feed_raw``, it carries what was complete before the bad
    input (``frames`` from ``feed``, ``raw`` bytes from ``feed_raw``) so an adapter can
    still answer those before closing.
    """

    reason = "framing error"
    frames: list[Frame] = []
    raw: bytes = b""


class FrameTooLarge(DecodeError):
    """A header announced (or a caller offered) a body over the configured maximum."""

    reason = "frame too large"

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame too large: body of {length} bytes, limit {limit}")
        self.length = length
        self.limit = limit


class InvalidLength(DecodeError):
    """A length the layout cannot carry, e.g. a negative int16 on the ``seed`` wire."""

    reason = "invalid length"

    def __init__(self, length: int, layout: str) -> None:
        super().__init__(f"invalid length {length} for layout {layout!r}")
        self.length = length
        self.layout = layout


class TruncatedFrame(DecodeError):
    """The stream ended inside a frame (header or body)."""

    reason = "truncated frame"

    def __init__(self, have: int, need: int | None) -> None:
        wanted = "a complete header" if need is None else f"{need} bytes"
        super().__init__(f"stream ended inside a frame: {have} bytes of {wanted}")
        self.have = have
        self.need = need


class InvalidSerial(FrameError):
    """A serial the layout cannot carry (encoding side only)."""

    reason = "invalid serial"


class UnknownLayout(NetlabError, ValueError):
    """A framing name that is not in ``LAYOUTS``."""
