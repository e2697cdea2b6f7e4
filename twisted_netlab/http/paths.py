"""Request path rules: the one canonical path every gate and the file lookup share.

Twisted's ``Request.process`` splits the raw path on ``/`` and percent-decodes each
segment exactly once (``request.postpath``). We work from those segments: a decoded
segment that still contains ``/`` came from ``%2F``, so "encoded separator" needs no
second look at the raw URI. The canonical form (``split_request_path``):

- empty segments (``a//b``) and ``.`` segments (``a/./b``, ``a/%2e/b``) are removed, as
  RFC 3986 5.2.4 and nginx do: they never change which file is named;
- ``..`` (raw or encoded) is refused, not resolved: a client that walks up is either
  confused or attacking, and resolving it would give one file two spellings;
- ``/`` or ``\\`` inside a segment (``%2F``, ``%5C``), NUL and other control characters
  are refused;
- segments that still look percent-encoded after the one decoding (``%252e`` -> ``%2e``)
  are refused, because another layer (a proxy, a CDN, a filesystem helper) might decode
  them a second time;
- dotfiles (``.git``, ``.env``) are hidden (404) unless allowed.

So two spellings of one file always reach the same ``RequestPath``, and the hotlink gate,
the dotfile rule, the symlink policy and the lookup all judge that one value.

``judged_path`` says which path a gate must judge when a request may be answered with
another file than the one it names: a compression sidecar (``logo.svg.gz`` is judged as
``logo.svg``), a directory's ``index.html``, or the SPA fallback ``/index.html``.

``check_proxy_path`` is the stricter rule for a path that is forwarded raw to an
upstream: any dot segment or encoded separator, in any spelling, is refused (400), as
nginx and Caddy refuse them, because the upstream would resolve them out of the mount.

Pure: no I/O, no Twisted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from twisted_netlab.errors import PathError
from twisted_netlab.http.encoding import SIDECARS

__all__ = [
    "BadPathError",
    "HiddenPathError",
    "RequestPath",
    "check_proxy_path",
    "has_extension",
    "judged_path",
    "sidecar_source",
    "split_request_path",
]

# %2e . %2f / %5c \ %00 NUL, left behind by a double encoding.
_DOUBLE_ENCODED = re.compile(rb"%(2e|2f|5c|00)", re.IGNORECASE)
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_SIDECAR_SUFFIXES = tuple(SIDECARS.values())


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

    @property
    def url_path(self) -> str:
        """The canonical decoded URL path: ``/a/b`` or ``/a/b/`` (``/`` for the root)."""
        if not self.segments:
            return "/"
        return "/" + "/".join(self.segments) + ("/" if self.trailing_slash else "")


def _refuse_unsafe(segment: bytes) -> None:
    """The refusals shared by the file lookup and the proxy, on one decoded segment."""
    if segment == b"..":
        raise BadPathError("'..' path segments are refused")
    if b"/" in segment:
        raise BadPathError("encoded path separator (%2F) refused")
    if b"\\" in segment:
        raise BadPathError("backslash (or %5C) in the path refused")
    if _CONTROL.search(segment) is not None:
        raise BadPathError("control character (NUL, CR, LF, ...) in the path refused")
    if b"%" in segment and _DOUBLE_ENCODED.search(segment) is not None:
        raise BadPathError("double percent-encoding refused")


def check_segment(segment: bytes, *, allow_dotfiles: bool = False) -> str:
    """One decoded, non-empty, non-``.`` segment -> a file-system name, or a typed error."""
    _refuse_unsafe(segment)
    if segment.startswith(b".") and not allow_dotfiles:
        raise HiddenPathError("dotfiles are not served")
    try:
        return segment.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HiddenPathError("path is not valid UTF-8") from exc


def split_request_path(
    postpath: Sequence[bytes], *, allow_dotfiles: bool = False
) -> RequestPath:
    """Twisted's decoded ``postpath`` -> the canonical ``RequestPath`` (or ``PathError``).

    ``[]`` and ``[b""]`` are the root; a trailing ``b""`` or ``b"."`` marks a trailing
    slash (``/a/.`` names the directory ``/a/``).
    """
    names: list[str] = []
    for segment in postpath:
        if segment and segment != b".":
            names.append(check_segment(segment, allow_dotfiles=allow_dotfiles))
    trailing = not postpath or postpath[-1] in (b"", b".")
    return RequestPath(tuple(names), trailing)


def has_extension(name: str) -> bool:
    """``app.js`` yes, ``about`` or ``.hidden`` no: SPA fallback skips asset paths."""
    dot = name.rfind(".")
    return dot > 0 and dot < len(name) - 1


def sidecar_source(url_path: str) -> str | None:
    """``/m/logo.svg.gz`` -> ``/m/logo.svg``: the file a sidecar name may stand for."""
    if url_path.endswith("/"):
        return None
    for suffix in _SIDECAR_SUFFIXES:
        if url_path.endswith(suffix):
            source = url_path[: -len(suffix)]
            if source and not source.endswith("/"):
                return source
    return None


def judged_path(
    path: RequestPath,
    protected: Callable[[str], bool],
    *,
    spa: bool = False,
    accepts_html: bool = False,
) -> str:
    """The path a gate must judge for a request of ``path``.

    ``protected`` says whether a path matches the gate's patterns. The static server may
    answer with another file than the one named; the gate never judges a request less
    strictly than that file:

    - ``NAME.gz``/``.br``/``.zst`` is judged as ``NAME`` when ``NAME`` is protected (it is
      the same content, so it gets the same gate and the same signature);
    - a directory (``/d/``) is judged as itself when it is protected (a listing), else as
      ``/d/index.html`` when that is protected;
    - with the SPA fallback, an extensionless path asked for as HTML is judged as itself
      when protected, else as ``/index.html`` when that is protected.

    Otherwise the request's own canonical path is returned.
    """
    url = path.url_path
    source = sidecar_source(url)
    if source is not None and protected(source):
        return source
    if protected(url):
        return url
    if path.trailing_slash:
        index = url + "index.html"
        if protected(index):
            return index
    elif (
        spa
        and accepts_html
        and path.segments
        and not has_extension(path.segments[-1])
        and protected("/index.html")
    ):
        return "/index.html"
    return url


def check_proxy_path(raw_segments: Sequence[bytes]) -> None:
    """Refuse (``BadPathError``, 400) a forwarded path that could leave its mount.

    ``raw_segments`` are the path's segments as sent (not decoded). Each is decoded once
    and refused when it is ``.`` or ``..`` in any spelling (``%2e``, ``.%2e``, also before
    a ``;`` parameter as Tomcat reads ``..;``), holds an encoded separator (``%2f``,
    ``%5c``) or a raw backslash, a control character, or a double encoding.
    """
    for raw in raw_segments:
        decoded = unquote_to_bytes(raw) if b"%" in raw else raw
        bare = decoded.split(b";", 1)[0]
        if bare in (b".", b".."):
            raise BadPathError("dot segments ('.', '..' or encoded) are refused in proxied paths")
        _refuse_unsafe(decoded)
