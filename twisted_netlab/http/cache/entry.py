"""EntryMeta: everything the rules need about one stored response, minus its body.

Frozen and plain so a store can keep it in memory or write it as JSON next to a body
file; ``from_json`` validates every field and raises ``ValueError`` on anything odd, so
a corrupt metadata file is detected and discarded, never half-trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twisted_netlab.http.cache.age import AgeInputs
from twisted_netlab.http.cache.directives import ResponseDirectives, parse_response_directives
from twisted_netlab.http.cache.fields import without_fields
from twisted_netlab.http.cache.targeted import directive_values
from twisted_netlab.http.cache.vary import SecondaryKey

__all__ = ["EntryMeta", "Stored", "primary_key"]

_FORMAT = 1
_DEFAULT_PORTS = {"http": 80, "https": 443}


def primary_key(uri: str) -> str:
    """The primary cache key of an absolute URI (RFC 9111 2): method is implied (GET).

    Scheme and host are case-insensitive and a default port is the same origin, so they
    are normalised; path and query are kept byte for byte (``/a?b`` and ``/a?B`` may be
    different resources). The fragment never reaches a server and is dropped.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid port in {uri!r}") from exc
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


@dataclass(frozen=True)
class EntryMeta:
    """One stored response's head and timing.

    ``headers`` is the stored header section (already without hop-by-hop fields and
    fields the rules said to omit); ``vary`` its secondary key (``()`` without Vary);
    ``lifetime`` the freshness lifetime computed when stored or last freshened.
    """

    key: str
    status: int
    headers: tuple[tuple[str, str], ...]
    vary: SecondaryKey
    age: AgeInputs
    lifetime: float

    @cached_property
    def directives(self) -> ResponseDirectives:
        """The stored Cache-Control, parsed once per entry (lookups are the hot path)."""
        return parse_response_directives(directive_values(self.headers))

    @cached_property
    def served_fields(self) -> tuple[tuple[str, str], ...]:
        """The stored fields a reuse sends before its ``Age``: without the stored Age and
        without the fields ``no-cache="..."`` names (RFC 9111 5.1, 5.2.2.4). Worked out
        once per entry: every hit of it sends the same ones."""
        drop = {"age", *self.directives.no_cache_fields}
        return without_fields(self.headers, drop)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "key": self.key,
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "vary": [list(pair) for pair in self.vary],
            "age": [
                self.age.date_value,
                self.age.age_value,
                self.age.request_time,
                self.age.response_time,
            ],
            "lifetime": self.lifetime,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EntryMeta:
        """Rebuild from ``to_json`` output; ValueError for anything not exactly that."""
        try:
            if type(data["format"]) is not int or data["format"] != _FORMAT:
                raise ValueError("unknown metadata format")
            key, status, lifetime = data["key"], data["status"], data["lifetime"]
            date_value, age_value, request_time, response_time = _list(data["age"], 4)
            headers = tuple((_text(n), _text(v)) for n, v in _pairs(data["headers"]))
            vary = tuple(
                (_text(n), None if v is None else _text(v)) for n, v in _pairs(data["vary"])
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed cache metadata: {exc}") from exc
        if not isinstance(key, str) or type(status) is not int or not 100 <= status <= 999:
            raise ValueError("malformed cache metadata: key or status")
        if type(age_value) is not int or age_value < 0:
            raise ValueError("malformed cache metadata: age")
        numbers = (lifetime, date_value, request_time, response_time)
        if not all(_finite(x) for x in numbers):
            raise ValueError("malformed cache metadata: times")
        return cls(
            key=key,
            status=status,
            headers=headers,
            vary=vary,
            age=AgeInputs(float(date_value), age_value, float(request_time), float(response_time)),
            lifetime=float(lifetime),
        )


def _list(value: object, length: int | None = None) -> list[Any]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise ValueError("malformed cache metadata: expected a list")
    return value


def _pairs(value: object) -> list[list[Any]]:
    return [_list(item, 2) for item in _list(value)]


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("malformed cache metadata: expected text")
    return value


def _finite(value: object) -> bool:
    """A finite number that a float holds exactly (times are stored as floats; an
    integer past 2**53 would come back as another number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return abs(value) <= 1 << 53
    return math.isfinite(value)


@dataclass(frozen=True)
class Stored:
    """A stored entry as a store lists it: its id (for reading the body) and metadata."""

    ident: str
    meta: EntryMeta
