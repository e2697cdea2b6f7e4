"""Structured Field Dictionaries (RFC 8941 3.2, parsed as 4.2.2 says), nothing else.

Only what CDN-Cache-Control (RFC 9213) needs: ``parse_dictionary`` returns the
members in order, each ``(key, value)`` with the value an ``int``, ``float``,
``str`` (String), ``Token``, ``bytes``, ``bool`` or a tuple (Inner List), parameters
dropped; or None when the text is not a valid Dictionary. Per RFC 8941 a parse error
anywhere fails the whole field: the caller then ignores the field, as RFC 9213 2.1
requires, rather than acting on the part it understood.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

__all__ = ["Token", "parse_dictionary"]

Value = int | float | str | bytes | bool | tuple[object, ...]

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class Token(str):
    """An sf-token, kept apart from an sf-string (``max-age=abc`` is not ``"abc"``)."""


class _Invalid(ValueError):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> re.Match[str]:
        found = pattern.match(self.text, self.pos)
        if found is None:
            raise _Invalid(self.text)
        self.pos = found.end()
        return found

    def bare_item(self) -> Value:
        ch = self.peek()
        if ch == "-" or ch.isdigit():
            number = self.match(_NUMBER)
            if number.group(1) is None:
                if len(number.group(0).lstrip("-")) > 15:
                    raise _Invalid(self.text)
                return int(number.group(0))
            whole, _, frac = number.group(0).lstrip("-").partition(".")
            if len(whole) > 12 or len(frac) > 3:
                raise _Invalid(self.text)
            return float(number.group(0))
        if ch == '"':
            return self.string()
        if ch == ":":
            try:
                return base64.b64decode(self.match(_BYTES).group(1), validate=True)
            except binascii.Error as exc:
                raise _Invalid(self.text) from exc
        if ch == "?":
            self.pos += 1
            flag = self.peek()
            if flag not in ("0", "1"):
                raise _Invalid(self.text)
            self.pos += 1
            return flag == "1"
        return Token(self.match(_TOKEN).group(0))

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise _Invalid(self.text)
            self.pos += 1
            if ch == '"':
                return "".join(out)
            if ch == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise _Invalid(self.text)
                self.pos += 1
                out.append(escaped)
            elif not " " <= ch <= "~":
                raise _Invalid(self.text)
            else:
                out.append(ch)

    def parameters(self) -> None:
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            self.match(_KEY)
            if self.peek() == "=":
                self.pos += 1
                self.bare_item()

    def item_or_inner_list(self) -> Value:
        if self.peek() != "(":
            value = self.bare_item()
            self.parameters()
            return value
        self.pos += 1
        items: list[object] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                self.parameters()
                return tuple(items)
            items.append(self.bare_item())
            self.parameters()
            if self.peek() not in (" ", ")"):
                raise _Invalid(self.text)

    def dictionary(self) -> list[tuple[str, Value]]:
        members: dict[str, Value] = {}
        self.skip(" ")
        while self.peek():
            key = self.match(_KEY).group(0)
            if self.peek() == "=":
                self.pos += 1
                value = self.item_or_inner_list()
            else:
                value = True
                self.parameters()
            members.pop(key, None)  # a repeated key keeps its last value, in last place
            members[key] = value
            self.skip(" \t")
            if not self.peek():
                break
            if self.peek() != ",":
                raise _Invalid(self.text)
            self.pos += 1
            self.skip(" \t")
            if not self.peek():
                raise _Invalid(self.text)  # a trailing comma
        return list(members.items())


def parse_dictionary(lines: Iterable[str]) -> list[tuple[str, Value]] | None:
    """The Dictionary in these field lines (joined with commas), or None if invalid."""
    text = ",".join(lines).strip(" ")
    try:
        return _Parser(text).dictionary()
    except _Invalid:
        return None
