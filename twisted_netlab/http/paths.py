"""Request path rules: which request paths may reach the file system at all.

Twisted's ``Request.process`` splits the raw path on ``/`` and percent-decodes each
segment exactly once (``request.postpath``). We work from those segments: a decoded
segment that still contains ``/`` came from ``%2F``, so "encoded separator" needs no
second look at the raw URI. Everything that could change which file a path names is
refused rather than normalised: ``.``/``..`` segments (raw or encoded), ``/`` or ``\\``
inside a segment, NUL and other control characters, and segments that still look
percent-encoded after the one decoding (``%252e`` -> ``%2e``), because some other layer
(a proxy, a CDN, a filesystem helper) might decode them a second time. Empty segments
(``a//b``) are merged as nginx does. Dotfiles (``.git``, ``.env``) are hidden unless
allowed. Pure: no I/O, no Twisted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from twisted_netlab.errors import PathError

__all__ = [
    "BadPathError",
    "HiddenPathError",
    "RequestPath",
    "has_extension",
    "split_request_path",
]

# %2e . %2f / %5c \ %00 NUL, left behind by a double encoding.
_DOUBLE_ENCODED = re.compile(rb"%(2e|2f|5c|00)", re.IGNORECASE)
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class BadPathError(PathError):
    """A path that tries to escape or smuggle separators: a client error (400)."""

    status = 400


class HiddenPathError(PathError):
    """A dotfile path, answered as if it did not exist (404)."""

    status = 404


@dataclass(frozen=True, slots=True)
class RequestPath:
    """A safe request path: file-system names relative to the root."""

    segments: tuple[str, ...]
    trailing_slash: bool


def check_segment(segment: bytes, *, allow_dotfiles: bool = False) -> str:
    """One decoded segment -> a file-system name, or a typed error."""
    if segment == b"." or segment == b"..":
        raise BadPathError(f"dot segment {segment!r} refused")
    if b"/" in segment:
        raise BadPathError("encoded path separator refused")
    if b"\\" in segment:
        raise BadPathError("backslash refused")
    if _CONTROL.search(segment) is not None:
        raise BadPathError("control character (NUL, CR, LF, ...) refused")
    if b"%" in segment and _DOUBLE_ENCODED.search(segment) is not None:
        raise BadPathError("double percent-encoding refused")
    if segment.startswith(b".") and not allow_dotfiles:
        raise HiddenPathError("dotfiles are not served")
    try:
        return segment.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HiddenPathError("path is not valid UTF-8") from exc


def split_request_path(
    postpath: Sequence[bytes], *, allow_dotfiles: bool = False
) -> RequestPath:
    """Twisted's decoded ``postpath`` -> a ``RequestPath`` (or ``PathError``).

    ``[]`` and ``[b""]`` are the root; a trailing ``b""`` marks a trailing slash.
    """
    names: list[str] = []
    for segment in postpath:
        if segment:
            names.append(check_segment(segment, allow_dotfiles=allow_dotfiles))
    trailing = not postpath or postpath[-1] == b""
    return RequestPath(tuple(names), trailing)


def has_extension(name: str) -> bool:
    """``app.js`` yes, ``about`` or ``.hidden`` no: SPA fallback skips asset paths."""
    dot = name.rfind(".")
    return dot > 0 and dot < len(name) - 1
