"""Secondary cache keys from Vary (RFC 9111 4.1).

A stored response records, for each field its Vary nominates, the request's value
normalised: lines combined with ``", "``, whitespace around commas and at the ends
removed, runs of whitespace collapsed. Case is folded only for fields whose values are
case-insensitive by definition (content-codings, charsets, language tags); everything
else (``Cookie``, ``Authorization``, ``Accept``'s parameters) keeps its case, because
merging two users' distinct values would be the one unrecoverable mistake.
An absent field only matches an absent field; ``Vary: *`` never matches.
"""

from __future__ import annotations

import re
from typing import Literal

from twisted_netlab.http.cache.fields import Fields, field_values, split_list

__all__ = ["SecondaryKey", "matches", "normalise", "secondary_key", "vary_names"]

SecondaryKey = tuple[tuple[str, str | None], ...]
_CASE_INSENSITIVE = frozenset({"accept-encoding", "accept-charset", "accept-language"})
_SPACES = re.compile(r"[ \t]+")
_COMMA = re.compile(r"[ \t]*,[ \t]*")


def vary_names(response_headers: Fields) -> tuple[str, ...] | Literal["*"]:
    """The lower-cased, de-duplicated, sorted field names Vary nominates, or ``*``."""
    names = {name.lower() for name in split_list(field_values(response_headers, "vary"))}
    if "*" in names:
        return "*"
    return tuple(sorted(names))


def normalise(name: str, request_headers: Fields) -> str | None:
    """The request's value of ``name`` as the secondary key records it (None: absent)."""
    values = field_values(request_headers, name)
    if not values:
        return None
    text = _COMMA.sub(", ", ", ".join(value.strip(" \t") for value in values))
    text = _SPACES.sub(" ", text).strip(" \t,")
    if name.lower() in _CASE_INSENSITIVE:
        text = text.lower()
    return text


def secondary_key(
    names: tuple[str, ...] | Literal["*"], request_headers: Fields
) -> SecondaryKey | None:
    """The key for a response with these Vary names; None for ``*`` (not reusable)."""
    if names == "*":
        return None
    return tuple((name, normalise(name, request_headers)) for name in names)


def matches(stored: SecondaryKey | None, request_headers: Fields) -> bool:
    """Does a new request select a stored response with this secondary key?"""
    if stored is None:
        return False
    return all(normalise(name, request_headers) == value for name, value in stored)
