"""Content types by file extension, the same on every machine.

A private ``mimetypes.MimeTypes()`` holds only Python's built-in table plus the
overrides below; it never reads ``/etc/mime.types``, so a type does not depend on the
host. (Constructing it may make the *module-level* ``mimetypes`` read the system files
once; our instance does not use them.) Lookups use only the last extension: a ``.gz``
file is ``application/gzip``, never ``tar`` with a Content-Encoding, because serving it
with ``Content-Encoding: gzip`` would make clients silently decompress the download.

Unknown types are ``application/octet-stream`` (never sniffed as HTML, unlike
``static.File``), flagged so the adapter adds ``X-Content-Type-Options: nosniff``.
Text-like types carry ``charset=utf-8``.
"""

from __future__ import annotations

import mimetypes
import posixpath

__all__ = ["DEFAULT_TYPE", "guess_type"]

DEFAULT_TYPE = "application/octet-stream"

_OVERRIDES: dict[str, str] = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".map": "application/json",
    ".jsonld": "application/ld+json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".apng": "image/apng",
    ".jxl": "image/jxl",
    ".ico": "image/x-icon",
    ".jpg": "image/jpeg",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".rst": "text/x-rst",
    ".xml": "application/xml",
    ".xhtml": "application/xhtml+xml",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".ics": "text/calendar",
    ".log": "text/plain",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".ogv": "video/ogg",
    ".m4a": "audio/mp4",
    ".wav": "audio/wav",
    ".mkv": "video/x-matroska",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".br": "application/octet-stream",
    ".zst": "application/zstd",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".7z": "application/x-7z-compressed",
    ".epub": "application/epub+zip",
    ".iso": "application/x-iso9660-image",
    ".deb": "application/vnd.debian.binary-package",
}

# Media types whose text we serve as UTF-8 (besides text/*).
_CHARSET_TYPES = frozenset(
    {
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/ld+json",
        "application/manifest+json",
        "application/xml",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/yaml",
        "application/toml",
    }
)


def _build() -> dict[str, str]:
    db = mimetypes.MimeTypes()
    table: dict[str, str] = {}
    table.update(db.types_map[False])  # non-strict (common) first, strict wins
    table.update(db.types_map[True])
    table.update(_OVERRIDES)
    return {ext.lower(): media for ext, media in table.items()}


_TABLE = _build()


def _with_charset(media: str) -> str:
    if media.startswith("text/") or media in _CHARSET_TYPES:
        return media + "; charset=utf-8"
    return media


def guess_type(filename: str) -> tuple[str, bool]:
    """``(content type, unknown)`` for a file name; ``unknown`` is True for the default."""
    base = posixpath.basename(filename.replace("\\", "/"))
    _root, ext = posixpath.splitext(base)
    media = _TABLE.get(ext.lower()) if ext else None
    if media is None:
        return DEFAULT_TYPE, True
    return _with_charset(media), False
