"""The limit options of netlab-web, a ``usage.Options`` base of ``WebOptions``.

Kept beside ``web/options.py`` (which would pass 400 lines with them): the same
boundary, since ``limits_config()`` turns the values into a frozen ``LimitsConfig`` that
``WebOptions`` puts in the ``WebConfig``; nothing downstream reads the option names.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.python import usage

from twisted_netlab.web.limits import GIB, KIB, MIB, LimitsConfig, default_max_connections

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": KIB, "m": MIB, "g": GIB}


def parse_size(option: str, text: str) -> int:
    """``"10MiB"``, ``"10m"``, ``"1g"``, ``"4096"`` -> bytes (binary units)."""
    match = _SIZE.match(str(text))
    if not match:
        raise usage.UsageError(f"--{option} {text!r} is not a size (e.g. 4096, 64k, 10m, 1g)")
    unit = (match.group(2) or "").lower()[:1]
    value = int(match.group(1)) * _UNITS[unit]
    if value <= 0:
        raise usage.UsageError(f"--{option} must be larger than 0")
    return value


def parse_seconds(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise usage.UsageError(f"--{option} {text!r} is not a number of seconds") from None
    if not 0 < value < 86400 * 7:
        raise usage.UsageError(f"--{option} must be more than 0 and less than a week")
    return value


def parse_count(option: str, text: str, *, zero_ok: bool) -> int:
    text = str(text).strip()
    if not text.isdigit() or (int(text) == 0 and not zero_ok):
        raise usage.UsageError(f"--{option} {text!r} is not a positive whole number")
    return int(text)


class LimitsOptions(usage.Options):
    optParameters: list[list[Any]] = [
        ["header-timeout", None, "20", "Seconds for a whole request head (line and headers) "
         "to arrive; counted from its first byte, never extended (408 and close)."],
        ["keepalive-timeout", None, "75", "Seconds an idle keep-alive connection is kept."],
        ["body-timeout", None, "60", "Seconds without a request body byte before the "
         "connection is cut."],
        ["send-timeout", None, "60", "Seconds a client may accept no response bytes before "
         "it is cut."],
        ["drain-timeout", None, "30", "On SIGTERM/SIGINT, seconds in-flight work may take "
         "to finish."],
        ["max-connections", None, None, "Connection cap (default: from the fd limit, "
         f"now {default_max_connections()}); idle/slow-head ones are evicted first."],
        ["max-connections-per-ip", None, "0", "Connection cap per client address (0: off)."],
        ["max-body", None, "1g", "Largest request body (413 at once when Content-Length "
         "is larger)."],
        ["tools-max-body", None, "10m", "Largest body the request inspector accepts and parses."],
    ]

    def limits_config(self) -> LimitsConfig:
        """The limits these options describe; raise usage.UsageError on a bad value."""
        options = self
        raw_cap = options["max-connections"]
        try:
            return LimitsConfig(
                header_timeout=parse_seconds("header-timeout", options["header-timeout"]),
                keepalive_timeout=parse_seconds("keepalive-timeout", options["keepalive-timeout"]),
                body_timeout=parse_seconds("body-timeout", options["body-timeout"]),
                send_timeout=parse_seconds("send-timeout", options["send-timeout"]),
                drain_timeout=parse_seconds("drain-timeout", options["drain-timeout"]),
                max_connections=(
                    default_max_connections() if raw_cap is None
                    else parse_count("max-connections", raw_cap, zero_ok=False)
                ),
                max_connections_per_ip=parse_count(
                    "max-connections-per-ip", options["max-connections-per-ip"], zero_ok=True
                ),
                max_body=parse_size("max-body", options["max-body"]),
                tools_max_body=parse_size("tools-max-body", options["tools-max-body"]),
            )
        except ValueError as exc:
            raise usage.UsageError(str(exc)) from exc
