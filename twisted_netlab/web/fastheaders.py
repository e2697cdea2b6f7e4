"""Header access for the static hot path.

``Headers.setRawHeaders`` canonicalises the name and sanitises each value on every
call; for a precomputed list of our own (already canonical, already clean) headers that
is most of the per-request cost of a small file. When ``Headers`` keeps its canonical
dict (``_rawHeaders``, true of every Twisted since 2011) we write to it directly; if a
future Twisted changes that, the public API is used instead and only speed is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twisted.web.http_headers import Headers

__all__ = ["canonical", "raw_headers", "set_headers"]


def canonical(name: bytes) -> bytes:
    """The name as ``Headers`` stores it (e.g. ``b"etag"`` -> ``b"ETag"``)."""
    probe = Headers()
    probe.setRawHeaders(name, [b""])
    return next(iter(probe.getAllRawHeaders()))[0]


def _probe() -> bool:
    headers = Headers()
    headers.setRawHeaders(b"x-probe", [b"1"])
    raw = getattr(headers, "_rawHeaders", None)
    return isinstance(raw, dict) and raw.get(canonical(b"x-probe")) == [b"1"]


_DIRECT = _probe()


def set_headers(headers: Headers, pairs: Sequence[tuple[bytes, bytes]]) -> None:
    """Set each (canonical name, clean value), replacing what was there."""
    if _DIRECT:
        raw = headers._rawHeaders
        for name, value in pairs:
            raw[name] = [value]
    else:  # pragma: no cover - only on a Twisted without _rawHeaders
        for name, value in pairs:
            headers.setRawHeaders(name, [value])


def raw_headers(headers: Headers) -> Mapping[bytes, Sequence[bytes]]:
    """Read-only view: canonical name -> values."""
    if _DIRECT:
        return headers._rawHeaders
    return dict(headers.getAllRawHeaders())  # pragma: no cover
