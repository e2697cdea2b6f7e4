"""Header fields as plain ``(name, value)`` text pairs, and list splitting.

Pairs, not dicts: repeated fields (``Cache-Control`` on two lines, ``Vary``,
``Set-Cookie``) and their order matter to the cache rules. Bytes from the wire are
decoded as latin-1, which is lossless, so a rule never fails on odd octets and the
adapter can encode back exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "Fields",
    "decode_pairs",
    "encode_pairs",
    "field_values",
    "has_field",
    "split_list",
    "without_fields",
]

Fields = Sequence[tuple[str, str]]


def decode_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Wire byte pairs -> text pairs (latin-1: every octet maps to one character)."""
    return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in pairs)


def encode_pairs(fields: Fields) -> list[tuple[bytes, bytes]]:
    """The inverse of ``decode_pairs``."""
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fields]


def field_values(fields: Fields, name: str) -> list[str]:
    """Every line's value of field ``name`` (case-insensitive), in order."""
    wanted = name.lower()
    return [value for key, value in fields if key.lower() == wanted]


def has_field(fields: Fields, name: str) -> bool:
    wanted = name.lower()
    return any(key.lower() == wanted for key, _ in fields)


def without_fields(fields: Fields, names: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``fields`` minus every line whose name is in ``names`` (case-insensitive)."""
    drop = {name.lower() for name in names}
    return tuple((key, value) for key, value in fields if key.lower() not in drop)


def split_list(values: Iterable[str]) -> list[str]:
    """Split comma-separated list members across lines (RFC 9110 5.6.1).

    Commas inside a quoted string do not split (``no-cache="a, b"``); a backslash
    escapes the next character inside quotes. Empty members are dropped, as the RFC
    tells recipients to. Never raises: an unterminated quote runs to the end of the line.
    """
    members: list[str] = []
    for value in values:
        current: list[str] = []
        in_quotes = False
        escaped = False
        for char in value:
            if escaped:
                current.append(char)
                escaped = False
            elif in_quotes and char == "\\":
                current.append(char)
                escaped = True
            elif char == '"':
                current.append(char)
                in_quotes = not in_quotes
            elif char == "," and not in_quotes:
                members.append("".join(current).strip(" \t"))
                current = []
            else:
                current.append(char)
        members.append("".join(current).strip(" \t"))
    return [member for member in members if member]
