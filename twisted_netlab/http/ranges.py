"""Byte ranges (RFC 9110 14): parse, check, coalesce, and lay out multipart/byteranges.

Three answers, never an exception for client input:

- ``IGNORE``: send the full 200. Used for anything RFC 9110 lets a server ignore: no
  header, another unit, bad syntax, and two abuse guards (more than ``max_ranges``
  range-specs; ranges whose lengths add up to more than the file, the classic
  overlapping-ranges amplification).
- ``UNSATISFIABLE``: 416 with ``Content-Range: bytes */N``.
- ``SATISFIABLE``: 206 with the ranges sorted, clamped to the file and coalesced
  (overlapping or adjacent ranges merge, so parts never repeat bytes).

An empty file is a corner of RFC 9110 14.1.1: an int-range is unsatisfiable (416), and a
non-zero suffix-range is formally satisfiable but a 206 cannot describe zero bytes
(``Content-Range`` has no form for it), so it is IGNOREd and the empty 200 is sent.

The multipart layout follows RFC 2046 as nginx and Apache write it: every part starts
with CRLF ``--boundary`` (the first CRLF is an empty preamble), the body ends with
CRLF ``--boundary--`` CRLF. ``content_length`` is computed, not guessed, so the adapter
can stream the parts with an exact Content-Length.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ByteRange",
    "MultipartLayout",
    "RangeKind",
    "RangeResult",
    "coalesce",
    "content_range",
    "make_boundary",
    "multipart_layout",
    "parse_range",
    "unsatisfied_content_range",
]

_SPEC = re.compile(r"([0-9]+)?-([0-9]+)?")
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")


@dataclass(frozen=True)
class ByteRange:
    """Inclusive byte positions, as in ``Content-Range``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid byte range {self.start}-{self.end}")

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeKind(enum.Enum):
    IGNORE = "ignore"
    SATISFIABLE = "satisfiable"
    UNSATISFIABLE = "unsatisfiable"


@dataclass(frozen=True)
class RangeResult:
    kind: RangeKind
    ranges: tuple[ByteRange, ...] = ()
    reason: str = ""


def _ignore(reason: str) -> RangeResult:
    return RangeResult(RangeKind.IGNORE, (), reason)


def parse_range(header: str | None, size: int, *, max_ranges: int = 16) -> RangeResult:
    """Decide what a ``Range`` header asks of a representation of ``size`` bytes."""
    if size < 0:
        raise ValueError("size must be >= 0")
    if max_ranges < 1:
        raise ValueError("max_ranges must be >= 1")
    if header is None:
        return _ignore("no Range header")
    unit, sep, range_set = header.partition("=")
    if not sep:
        return _ignore("Range without '=': ignored")
    if unit.strip(" \t").lower() != "bytes":
        return _ignore("Range unit is not bytes: ignored")

    # 1#range-spec: empty list elements are allowed and skipped (RFC 9110 5.6.1).
    specs = [item.strip(" \t") for item in range_set.split(",")]
    specs = [item for item in specs if item]
    if not specs:
        return _ignore("Range has no range-spec: ignored")
    if len(specs) > max_ranges:
        return _ignore(f"too many ranges ({len(specs)} > {max_ranges}): full 200")

    wanted: list[ByteRange] = []
    suffix_on_empty = False
    for spec in specs:
        match = _SPEC.fullmatch(spec)
        if match is None:
            return _ignore("Range syntax invalid: ignored")
        first, last = match.group(1), match.group(2)
        if first is None and last is None:
            return _ignore("Range syntax invalid: ignored")
        if first is not None:
            if last is not None and _digits_less(last, first):
                return _ignore("Range last-pos before first-pos: ignored")
            start = _to_int(first)
            end = _to_int(last) if last is not None else None
            if start >= size:
                continue  # unsatisfiable, dropped
            end = size - 1 if end is None else min(end, size - 1)
            wanted.append(ByteRange(start, end))
        else:
            assert last is not None
            suffix = _to_int(last)
            if suffix == 0:
                continue  # unsatisfiable, dropped
            if size == 0:
                suffix_on_empty = True
                continue
            wanted.append(ByteRange(max(size - suffix, 0), size - 1))

    if not wanted:
        if suffix_on_empty:
            return _ignore("suffix range on an empty representation: full (empty) 200")
        return RangeResult(RangeKind.UNSATISFIABLE, (), "no range-spec overlaps the representation")
    total = sum(r.length for r in wanted)
    if total > size:
        return _ignore(f"ranges add up to {total} bytes, more than the {size} available: full 200")
    merged = coalesce(wanted)
    if len(merged) == 1:
        only = merged[0]
        reason = f"range {only.start}-{only.end}"
    else:
        reason = f"{len(merged)} ranges"
    if len(merged) < len(wanted):
        reason += f" (coalesced from {len(wanted)})"
    return RangeResult(RangeKind.SATISFIABLE, merged, reason)


# Python refuses int() on more than 4300 digits; no file is larger than 10**30 bytes,
# so longer positions are capped there (and compared as strings for last < first).
_CAP_DIGITS = 30
_CAP = 10**_CAP_DIGITS


def _normal(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _digits_less(a: str, b: str) -> bool:
    na, nb = _normal(a), _normal(b)
    return (len(na), na) < (len(nb), nb)


def _to_int(digits: str) -> int:
    n = _normal(digits)
    return _CAP if len(n) > _CAP_DIGITS else int(n)


def coalesce(ranges: Sequence[ByteRange]) -> tuple[ByteRange, ...]:
    """Sort and merge overlapping or adjacent ranges."""
    merged: list[ByteRange] = []
    for current in sorted(ranges, key=lambda r: (r.start, r.end)):
        if merged and current.start <= merged[-1].end + 1:
            last = merged[-1]
            if current.end > last.end:
                merged[-1] = ByteRange(last.start, current.end)
        else:
            merged.append(current)
    return tuple(merged)


def content_range(r: ByteRange, size: int) -> str:
    return f"bytes {r.start}-{r.end}/{size}"


def unsatisfied_content_range(size: int) -> str:
    return f"bytes */{size}"


def make_boundary() -> str:
    """A random boundary; 128 bits make a collision with the file's bytes negligible."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class MultipartLayout:
    """Everything but the file bytes of a multipart/byteranges body.

    The body is, for each ``(preamble, range)`` in ``parts``: ``preamble`` followed by
    the file's bytes ``range.start..range.end``; then ``epilogue``.
    """

    parts: tuple[tuple[bytes, ByteRange], ...]
    epilogue: bytes
    content_length: int
    content_type: str


def multipart_layout(
    ranges: Sequence[ByteRange], size: int, content_type: str, boundary: str
) -> MultipartLayout:
    if _BOUNDARY.fullmatch(boundary) is None or boundary.endswith(" "):
        raise ValueError(f"invalid multipart boundary: {boundary!r}")
    if any(c in content_type for c in "\r\n\0"):
        raise ValueError("content type must not contain CR, LF or NUL")
    if not ranges:
        raise ValueError("multipart/byteranges needs at least one range")
    parts: list[tuple[bytes, ByteRange]] = []
    length = 0
    for r in ranges:
        if r.end >= size:
            raise ValueError(f"range {r.start}-{r.end} beyond size {size}")
        preamble = (
            f"\r\n--{boundary}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Range: {content_range(r, size)}\r\n"
            "\r\n"
        ).encode("latin-1")
        parts.append((preamble, r))
        length += len(preamble) + r.length
    epilogue = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length += len(epilogue)
    return MultipartLayout(
        tuple(parts), epilogue, length, f"multipart/byteranges; boundary={boundary}"
    )
