"""Header access for the static hot path, through ``Headers``' public API only.

Names are stored canonical (``canonical``, computed once per name at import), so the
precomputed header lists of a file are set with one ``setRawHeaders`` call each, and a
request's headers are read once into a dict (``raw_headers``) instead of one
``getRawHeaders`` lookup per conditional header. Writing ``Headers``' private dict
directly was about 2.5 us per request faster (8 headers set, one read), but a Twisted
release could change that dict silently; the public API is the contract.
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


def set_headers(headers: Headers, pairs: Sequence[tuple[bytes, bytes]]) -> None:
    """Set each (canonical name, clean value), replacing what was there."""
    set_raw = headers.setRawHeaders
    for name, value in pairs:
        set_raw(name, [value])


def raw_headers(headers: Headers) -> Mapping[bytes, Sequence[bytes]]:
    """A snapshot: canonical name -> values (one pass over the request's headers)."""
    return dict(headers.getAllRawHeaders())
