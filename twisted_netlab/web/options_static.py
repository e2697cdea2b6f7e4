"""Options for the static part of netlab-web (a mixin for usage.Options).

Values are stored under the option names (``options["path"]``, ``options["symlinks"]``,
``options["no-listing"]``, ``options["explain"]``...); ``post_options_static`` converts
numbers and checks the directory so a bad value is a usage error, never a traceback
once the reactor runs.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.python import usage

SYMLINK_POLICIES = ("deny", "inside", "follow")

# name -> (default, minimum): integer options validated in post_options_static.
_INTEGER_OPTIONS: dict[str, tuple[int, int]] = {
    "max-age": (0, 0),
    "max-ranges": (16, 1),
    "gzip-min-size": (1024, 0),
    "compress-max-size": (4 * 1024 * 1024, 0),
    "memory-cache-size": (64 * 1024 * 1024, 0),
    "memory-file-max": (64 * 1024, 0),
}


def _default(name: str) -> str:
    # A string, like a value from the command line: post_options_static converts both.
    return str(_INTEGER_OPTIONS[name][0])


class StaticOptionsMixin:
    optParameters = [
        ["path", None, ".", "Directory to serve (default: the current directory)."],
        ["symlinks", None, "inside", "Symlink policy: deny, inside (target must stay under --path) or follow."],
        ["max-age", None, _default("max-age"), "max-age in seconds for files that are neither HTML nor fingerprinted (0: no-cache)."],
        ["max-ranges", None, _default("max-ranges"), "Most ranges honoured in one Range header; more gets the full 200."],
        ["gzip-min-size", None, _default("gzip-min-size"), "Compress compressible files on the fly from this size (bytes)."],
        ["compress-max-size", None, _default("compress-max-size"), "Never compress on the fly files larger than this (bytes)."],
        ["memory-cache-size", None, _default("memory-cache-size"), "Byte budget of the in-memory cache (small files and compressed bodies)."],
        ["memory-file-max", None, _default("memory-file-max"), "Files up to this size are kept in memory (bytes)."],
    ]
    optFlags = [
        ["no-listing", None, "Do not list directories without index.html (answer 404)."],
        ["allow-dotfiles", None, "Serve names starting with '.' (hidden, 404, by default)."],
        ["dev", None, "Development mode: every response revalidates (no-cache)."],
        ["spa", None, "Single-page app: unknown extension-less HTML requests get index.html."],
        ["explain", None, "Add X-Netlab-Explain: <status> <rule> to responses."],
        ["no-compress", None, "Do not compress on the fly (precompressed sidecars still apply)."],
    ]

    def post_options_static(self) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
        opts: Any = self
        path = opts["path"]
        if not os.path.isdir(path):
            raise usage.UsageError(f"--path {path!r} is not an existing directory")
        opts["path"] = os.path.abspath(path)
        if opts["symlinks"] not in SYMLINK_POLICIES:
            raise usage.UsageError(
                f"--symlinks must be one of {', '.join(SYMLINK_POLICIES)}, not {opts['symlinks']!r}"
            )
        for name, (_default, minimum) in _INTEGER_OPTIONS.items():
            raw = opts[name]
            try:
                value = int(raw)
            except (TypeError, ValueError) as exc:
                raise usage.UsageError(f"--{name} must be an integer, not {raw!r}") from exc
            if value < minimum:
                raise usage.UsageError(f"--{name} must be >= {minimum}, not {value}")
            opts[name] = value


def static_option_defaults() -> dict[str, Any]:
    """Every static option at its default, already converted (for tests and embedders)."""
    values: dict[str, Any] = {name: default for name, (default, _m) in _INTEGER_OPTIONS.items()}
    values.update({"path": os.path.abspath("."), "symlinks": "inside"})
    for flag in ("no-listing", "allow-dotfiles", "dev", "spa", "explain", "no-compress"):
        values[flag] = False
    return values
