"""The echo's configuration: option values in, one frozen ``EchoConfig`` out.

Configuration crosses one boundary: ``postOptions`` (of ``netlab-tcp`` and of the
combined ``netlab`` plugin, whose spellings get a ``--tcp-`` prefix) calls
``echo_config``; the factory and the service take the resulting ``EchoConfig`` and never
read an option name.  Both plugins get their option table from ``option_parameters`` so
the two spellings cannot drift apart, and every usage error names the option the way
the user typed it (``--tcp-framing``, not ``--framing``, under ``twistd netlab``).

Why these defaults (the echo listens on loopback by default, but every default must be
safe on a public interface):

- ``frame_timeout`` 30 s: a frame whose first byte arrived must be complete 30 s later.
  A 1 MiB frame needs only 35 KB/s for that; a one-byte-per-second drip (the slowloris
  shape) is cut after 30 s instead of holding a connection and a buffer forever.
  nginx's ``client_header_timeout`` (60 s) is the same kind of total deadline.
- ``idle_timeout`` 300 s between frames: an interactive peer (a person typing into the
  course client) may pause for minutes; an idle connection costs a socket and a few
  hundred bytes, so minutes are affordable, hours are not.  Caddy's ``idle_timeout`` is
  5 minutes too.
- ``max_pending`` 256 MiB across all connections: bounds what partial frames can pin
  (300 connections x 1 MiB - 1 used to cost +308 MB of RSS with no cap).
- ``drain_timeout`` 30 s: a stop waits at most this long for frames in flight.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from twisted.python import usage

from twisted_netlab.framing import DEFAULT_MAX_FRAME, LAYOUTS

__all__ = [
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_FRAME_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_PENDING",
    "FRAMINGS",
    "EchoConfig",
    "echo_config",
    "option_parameters",
]

FRAMINGS = tuple(LAYOUTS)
DEFAULT_FRAMING = "seed"
DEFAULT_FRAME_TIMEOUT = 30.0
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_PENDING = 256 << 20
DEFAULT_DRAIN_TIMEOUT = 30.0


@dataclass(frozen=True)
class EchoConfig:
    """Everything the echo factory and service need; build it with ``echo_config``.

    ``None`` for a timeout means "off" (an opt-in for trusted networks).
    """

    framing: str = DEFAULT_FRAMING
    max_frame: int = DEFAULT_MAX_FRAME  # capped to what the framing can carry
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    frame_timeout: float | None = DEFAULT_FRAME_TIMEOUT
    max_pending: int = DEFAULT_MAX_PENDING
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    trace: bool = False

    def __post_init__(self) -> None:
        if self.framing not in LAYOUTS:
            raise ValueError(f"unknown framing {self.framing!r}")
        if self.max_frame < 0 or self.max_pending < 1 or self.drain_timeout < 0:
            raise ValueError("max_frame >= 0, max_pending >= 1, drain_timeout >= 0")
        carries = LAYOUTS[self.framing].length_max
        if carries and self.max_frame > carries:  # seed: int16 length, 32767 at most
            object.__setattr__(self, "max_frame", carries)


# name, short option, default (as typed), help; names are unprefixed.
_OPTIONS: tuple[tuple[str, str | None, str, str], ...] = (
    ("framing", "f", DEFAULT_FRAMING,
     "Header layout: seed (int16 serial + int16 length), wide (int32 serial + uint32 "
     "length), len32 (uint32 length), none (raw stream)."),
    ("max-frame", "m", str(DEFAULT_MAX_FRAME),
     "Largest body accepted, in bytes (seed caps it at 32767)."),
    ("frame-timeout", None, f"{DEFAULT_FRAME_TIMEOUT:g}",
     "A frame must be complete this many seconds after its first byte ('off': no "
     "deadline; the idle limit then applies between reads)."),
    ("idle-timeout", "t", f"{DEFAULT_IDLE_TIMEOUT:g}",
     "Close a connection that starts no frame for this many seconds ('off' or 0: never)."),
    ("max-pending", None, "256MiB",
     "Cap on bytes of incomplete frames held across all connections (suffixes KiB, "
     "MiB, GiB); above it the connection holding the most is closed."),
    ("drain-timeout", None, f"{DEFAULT_DRAIN_TIMEOUT:g}",
     "On stop, wait this many seconds for frames in flight, then cut."),
)


def option_parameters(prefix: str = "") -> list[list[str | None]]:
    """``optParameters`` rows; with a prefix (``tcp-``) the short options are dropped."""
    return [
        [prefix + name, None if prefix else short, default, text]
        for name, short, default, text in _OPTIONS
    ]


_OFF = ("", "0", "off", "none")
_SIZE = re.compile(r"(\d+)\s*(|b|k|kib|kb|m|mib|mb|g|gib|gb)", re.IGNORECASE)
_UNITS = {"": 0, "b": 0, "k": 10, "kib": 10, "kb": 10, "m": 20, "mib": 20, "mb": 20,
          "g": 30, "gib": 30, "gb": 30}


def _given(values: Mapping[str, object], key: str, default: str) -> str:
    value = values.get(key)
    return default if value is None else str(value)


def _seconds(option: str, text: str, allow_off: bool) -> float | None:
    if allow_off and text.strip().lower() in _OFF:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf") or (allow_off and seconds == 0):
        what = "a positive number of seconds or 'off'" if allow_off else "seconds >= 0"
        raise usage.UsageError(f"{option} must be {what}, not {text!r}")
    return seconds


def _size(option: str, text: str, minimum: int) -> int:
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise usage.UsageError(
            f"{option} must be a whole number of bytes (suffixes KiB, MiB, GiB), not {text!r}"
        )
    value = int(match.group(1)) << _UNITS[match.group(2).lower()]
    if value < minimum:
        raise usage.UsageError(f"{option} must be >= {minimum}, not {text!r}")
    return value


def echo_config(values: Mapping[str, object], prefix: str = "") -> EchoConfig:
    """Validate option values (keyed ``prefix + name``; ``None``: not given).

    Raises ``UsageError`` naming the option as typed (``--`` + prefix + name) and the
    value, so ``twistd`` prints one line instead of a traceback.
    """

    def option(name: str) -> str:
        return f"--{prefix}{name}"

    def text(name: str) -> str:
        return _given(values, prefix + name, next(d for n, _, d, _ in _OPTIONS if n == name))

    framing = text("framing")
    if framing not in FRAMINGS:
        raise usage.UsageError(
            f"{option('framing')} must be one of {', '.join(FRAMINGS)}, not {framing!r}"
        )
    max_frame = _size(option("max-frame"), text("max-frame"), 0)
    idle = _seconds(option("idle-timeout"), text("idle-timeout"), allow_off=True)
    frame = _seconds(option("frame-timeout"), text("frame-timeout"), allow_off=True)
    drain = _seconds(option("drain-timeout"), text("drain-timeout"), allow_off=False)
    max_pending = _size(option("max-pending"), text("max-pending"), 1)
    return EchoConfig(
        framing=framing,
        max_frame=max_frame,
        idle_timeout=idle,
        frame_timeout=frame,
        max_pending=max_pending,
        drain_timeout=drain or 0.0,
        trace=bool(values.get(prefix + "trace")),
    )
