"""Length-prefixed frames on a byte stream: header layouts, encoder, incremental decoder.

Sans-IO: nothing here touches a socket, a reactor or a logger. Adapters feed bytes in,
get frames (or validated raw frame bytes) out, and turn the typed errors into a log
line and a close.

One concept per module: ``errors`` (what goes wrong, and the ``Frame`` the errors
carry), ``layouts`` (header layouts and limits), ``encoder`` and ``decoder``.  Import
the public names from here; the submodules are the implementation.
"""

from __future__ import annotations

from twisted_netlab.framing.decoder import DEFAULT_MAX_FRAME, Decoder
from twisted_netlab.framing.encoder import Encoder, encode
from twisted_netlab.framing.errors import (
    DecodeError,
    Frame,
    FrameError,
    FrameTooLarge,
    InvalidLength,
    InvalidSerial,
    TruncatedFrame,
    UnknownLayout,
)
from twisted_netlab.framing.layouts import LAYOUTS, Layout, get_layout

__all__ = [
    "DEFAULT_MAX_FRAME",
    "LAYOUTS",
    "DecodeError",
    "Decoder",
    "Encoder",
    "Frame",
    "FrameError",
    "FrameTooLarge",
    "InvalidLength",
    "InvalidSerial",
    "Layout",
    "TruncatedFrame",
    "UnknownLayout",
    "encode",
    "get_layout",
]
