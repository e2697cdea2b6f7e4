"""Validators: entity tags and HTTP dates (RFC 9110 8.8).

The ETag is derived from file identity (size, mtime in nanoseconds, inode) rather than
a content hash: computing it costs one ``stat`` that the adapter does anyway, and any
write that changes the bytes changes the mtime or the size. Each content coding gets its
own suffix so a gzip body and the identity body never share a strong validator
(RFC 9110 8.8.3: a strong ETag names one exact byte sequence).

Parsing never raises: a malformed If-None-Match entry is skipped, a malformed date is
``None``; the conditional rules then treat the header as absent where RFC 9110 says so.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ETag",
    "http_date",
    "make_etag",
    "parse_etag_list",
    "parse_http_date",
    "strong_match",
    "weak_match",
]

# etagc = %x21 / %x23-7E / obs-text (RFC 9110 8.8.3): no DQUOTE, no space, no controls.
_ETAGC = r"[\x21\x23-\x7e\x80-\xff]*"
_ENTITY_TAG = re.compile(r'(W/)?"(' + _ETAGC + r')"')
_OPAQUE = re.compile(_ETAGC)
_CODING_SUFFIX = re.compile(r"[a-z0-9._+-]+")


@dataclass(frozen=True)
class ETag:
    """An entity tag; ``opaque`` is the text between the quotes."""

    opaque: str
    weak: bool = False

    def __post_init__(self) -> None:
        if _OPAQUE.fullmatch(self.opaque) is None:
            raise ValueError(f"invalid entity-tag characters: {self.opaque!r}")

    def __str__(self) -> str:
        return ('W/"%s"' if self.weak else '"%s"') % (self.opaque,)


def make_etag(size: int, mtime_ns: int, ino: int, encoding: str | None = None) -> ETag:
    """A strong ETag for one representation of a file (``encoding`` None = identity)."""
    opaque = f"{size:x}-{mtime_ns:x}-{ino:x}"
    if encoding is not None and encoding != "identity":
        coding = encoding.lower()
        if _CODING_SUFFIX.fullmatch(coding) is None:
            raise ValueError(f"invalid content-coding for an ETag suffix: {encoding!r}")
        opaque += "-" + coding
    return ETag(opaque)


def parse_etag_list(value: str) -> list[ETag] | Literal["*"]:
    """Parse If-Match / If-None-Match: ``*`` or a comma list of entity tags.

    Commas may appear inside an opaque tag, so the list is scanned tag by tag rather
    than split on commas. Garbage between tags is skipped up to the next comma.
    """
    text = value.strip()
    if text == "*":
        return "*"
    tags: list[ETag] = []
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and text[pos] in " \t,":
            pos += 1
        if pos >= end:
            break
        match = _ENTITY_TAG.match(text, pos)
        if match is not None:
            after = match.end()
            # A tag must be followed by optional whitespace, then a comma or the end.
            probe = after
            while probe < end and text[probe] in " \t":
                probe += 1
            if probe >= end or text[probe] == ",":
                tags.append(ETag(match.group(2), weak=match.group(1) is not None))
                pos = probe
                continue
        # Malformed entry: skip to the next comma that is outside quotes.
        pos = _skip_entry(text, pos)
    return tags


def _skip_entry(text: str, pos: int) -> int:
    in_quotes = False
    while pos < len(text):
        char = text[pos]
        if char == '"':
            in_quotes = not in_quotes
        elif char == "," and not in_quotes:
            return pos
        pos += 1
    return pos


def strong_match(a: ETag, b: ETag) -> bool:
    """RFC 9110 8.8.3.2: both strong and the opaque tags equal."""
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: ETag, b: ETag) -> bool:
    """RFC 9110 8.8.3.2: the opaque tags equal, weakness ignored."""
    return a.opaque == b.opaque


def http_date(timestamp: float) -> str:
    """IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return email.utils.formatdate(timestamp, usegmt=True)


def parse_http_date(value: str) -> float | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime) as a POSIX timestamp, or None.

    A date without a zone is taken as UTC, as RFC 9110 5.6.7 requires of HTTP dates.
    """
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    try:
        timestamp = parsed.timestamp()
        # A zone offset can push 31 Dec 9999 past what http_date can format.
        datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return timestamp
