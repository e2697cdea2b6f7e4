"""Options for the proxy part of netlab-web (a mixin for usage.Options).

Parsed values land in the options dict: ``proxy-mounts`` (a list of ``ProxyMount``),
``proxy-trusted`` (a ``TrustedProxies``) and the numeric knobs under their option names.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.python import usage

from twisted_netlab.http.headers import parse_trusted
from twisted_netlab.http.proxymount import (
    ProxyConfigError,
    check_unique,
    mounts_from_toml,
    parse_mount_spec,
)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a positive number of seconds")
    return number


_positive_int.coerceDoc = "Must be at least 1."  # type: ignore[attr-defined]
_positive_float.coerceDoc = "Seconds, > 0."  # type: ignore[attr-defined]


class ProxyOptionsMixin:
    optFlags = [
        ["proxy-keep-prefix", None, "Forward the mount prefix to the upstream (default: strip it)."],
        ["proxy-preserve-host", None, "Send the client's Host upstream (default: the upstream's host)."],
        ["proxy-dev", None, "Dev mode: rewrite upstream Set-Cookie (Domain, Path, Secure) for the proxy's origin."],
    ]
    optParameters = [
        ["proxy-config", None, None, "TOML file declaring [[proxy]] mounts (prefix, upstream, keep_prefix, preserve_host, allow_trace)."],
        ["proxy-pool-size", None, 32, "Idle upstream connections always kept per upstream (more while the load needs them).", _positive_int],
        ["proxy-connect-timeout", None, 10.0, "Seconds to connect to an upstream (then 504).", _positive_float],
        ["proxy-response-timeout", None, 60.0, "Seconds to wait for the upstream's response head (then 504).", _positive_float],
        ["proxy-idle-timeout", None, 60.0, "Seconds an upstream body may stall before the client connection is aborted.", _positive_float],
        ["proxy-via", None, "netlab", "Pseudonym this proxy uses in Via headers."],
    ]

    def opt_proxy(self: Any, spec: str) -> None:
        """Mount a reverse proxy, PREFIX=URL (repeatable), e.g. /api=http://127.0.0.1:9000"""
        self.setdefault("proxy", []).append(spec)

    def opt_trusted_proxy(self: Any, value: str) -> None:
        """Trust X-Forwarded-*/Forwarded from this peer IP or CIDR (repeatable)."""
        self.setdefault("trusted-proxy", []).append(value)

    def post_options_proxy(self: Any) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
        keep = bool(self.get("proxy-keep-prefix"))
        preserve = bool(self.get("proxy-preserve-host"))
        via = self.get("proxy-via") or "netlab"
        try:
            mounts = [
                parse_mount_spec(spec, keep_prefix=keep, preserve_host=preserve)
                for spec in self.get("proxy", [])
            ]
            config = self.get("proxy-config")
            if config:
                mounts.extend(_load_config(config, keep, preserve))
            check_unique(mounts)
            self["proxy-trusted"] = parse_trusted(self.get("trusted-proxy", []))
        except ProxyConfigError as exc:
            raise usage.UsageError(str(exc)) from exc
        if not via.isascii() or not via.isprintable() or any(c in via for c in " ,;()"):
            raise usage.UsageError(f"--proxy-via must be a plain token: {via!r}")
        self["proxy-mounts"] = mounts


def _load_config(path: str, keep: bool, preserve: bool) -> list[Any]:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProxyConfigError(f"cannot read --proxy-config {path}: {exc}") from exc
    try:
        return mounts_from_toml(text, keep_prefix=keep, preserve_host=preserve)
    except ProxyConfigError as exc:
        raise ProxyConfigError(f"{path}: {exc}") from exc
