"""Cache-Control directives (RFC 9111 5.2), parsed robustly into frozen values.

Parsing never raises. What we do with odd input, and why:

- Names are case-insensitive tokens; a member whose name is not a token is skipped.
- Values may be tokens or quoted strings; ``max-age="60"`` is accepted (senders must
  not quote it, but recipients lose nothing by understanding it).
- delta-seconds above 2**31 count as 2**31 (RFC 9111 1.2.2).
- RFC 9111 4.2.1: a response with duplicate, disagreeing freshness directives or an
  invalid one (``max-age=abc``, ``max-age=-1``) is treated as stale, the conservative
  of the two choices the RFC allows. Those directive names land in ``invalid``.
- ``no-cache`` / ``private`` with field names are "qualified"; an unqualified copy in the
  same response wins, being the more restrictive (RFC 9111 4.2.1, conflicts).
- In requests, duplicates resolve to the most restrictive value (smallest max-age and
  max-stale, largest min-fresh); an invalid ``max-age`` counts as ``max-age=0`` so the
  cache revalidates rather than guesses, and an invalid ``max-stale`` grants nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from twisted_netlab.http.cache.fields import split_list

__all__ = [
    "DELTA_CAP",
    "RequestDirectives",
    "ResponseDirectives",
    "parse_delta",
    "parse_request_directives",
    "parse_response_directives",
]

DELTA_CAP = 2**31
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]+")
_QUOTED_PAIR = re.compile(r"\\(.)")


def parse_delta(text: str | None) -> int | None:
    """delta-seconds (RFC 9111 1.2.2): digits only, capped at 2**31; else None."""
    if text is None or _DIGITS.fullmatch(text) is None:
        return None
    return min(int(text), DELTA_CAP)


def _members(values: Iterable[str]) -> list[tuple[str, str | None]]:
    """``(lower-case name, unquoted value or None)`` for each well-formed member."""
    result: list[tuple[str, str | None]] = []
    for member in split_list(values):
        name, sep, raw = member.partition("=")
        name = name.strip(" \t").lower()
        if _TOKEN.fullmatch(name) is None:
            continue
        if not sep:
            result.append((name, None))
            continue
        raw = raw.strip(" \t")
        if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
            result.append((name, _QUOTED_PAIR.sub(r"\1", raw[1:-1])))
        else:
            result.append((name, raw))
    return result


def _field_names(value: str) -> frozenset[str]:
    names = {part.strip(" \t").lower() for part in value.split(",")}
    return frozenset(name for name in names if _TOKEN.fullmatch(name))


@dataclass(frozen=True)
class ResponseDirectives:
    """What a response's Cache-Control says to a shared cache."""

    no_store: bool = False
    no_cache: bool = False
    no_cache_fields: frozenset[str] = frozenset()
    private: bool = False
    private_fields: frozenset[str] = frozenset()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    no_transform: bool = False
    immutable: bool = False
    max_age: int | None = None
    s_maxage: int | None = None
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    invalid: frozenset[str] = frozenset()
    extensions: tuple[tuple[str, str | None], ...] = field(default=())

    @property
    def freshness_invalid(self) -> bool:
        """True when max-age or s-maxage was invalid or duplicated with other values."""
        return bool(self.invalid & {"max-age", "s-maxage"})

    @property
    def forbids_stale(self) -> bool:
        """RFC 9111 4.2.4: directives that forbid a shared cache to serve it stale.

        ``s-maxage`` implies ``proxy-revalidate`` for a shared cache (5.2.2.10).
        """
        return (
            self.must_revalidate
            or self.proxy_revalidate
            or self.s_maxage is not None
            or self.no_cache
        )


_RESPONSE_FLAGS = {
    "no-store": "no_store",
    "public": "public",
    "must-revalidate": "must_revalidate",
    "proxy-revalidate": "proxy_revalidate",
    "must-understand": "must_understand",
    "no-transform": "no_transform",
    "immutable": "immutable",
}
_RESPONSE_DELTAS = {
    "max-age": "max_age",
    "s-maxage": "s_maxage",
    "stale-while-revalidate": "stale_while_revalidate",
    "stale-if-error": "stale_if_error",
}


def parse_response_directives(values: Iterable[str]) -> ResponseDirectives:
    """Parse every Cache-Control line of a response (pass ``field_values(...)``)."""
    flags: dict[str, bool] = {}
    deltas: dict[str, int | None] = {}
    invalid: set[str] = set()
    qualified: dict[str, set[str]] = {"no-cache": set(), "private": set()}
    unqualified: set[str] = set()
    extensions: list[tuple[str, str | None]] = []
    for name, value in _members(values):
        if name in _RESPONSE_FLAGS:
            flags[_RESPONSE_FLAGS[name]] = True
        elif name in _RESPONSE_DELTAS:
            number = parse_delta(value)
            if number is None or (name in deltas and deltas[name] != number):
                invalid.add(name)
            else:
                deltas[name] = number
        elif name in qualified:
            if value is None:
                unqualified.add(name)
            else:
                names = _field_names(value)
                if names:
                    qualified[name] |= names
                else:
                    # no-cache="" names nothing: read it as the unqualified form.
                    unqualified.add(name)
        else:
            extensions.append((name, value))
    # A stale-* directive that was invalid or disagreed grants nothing.
    for name in ("stale-while-revalidate", "stale-if-error"):
        if name in invalid:
            deltas.pop(name, None)
    return ResponseDirectives(
        no_store=flags.get("no_store", False),
        no_cache="no-cache" in unqualified,
        no_cache_fields=frozenset() if "no-cache" in unqualified else frozenset(
            qualified["no-cache"]
        ),
        private="private" in unqualified,
        private_fields=frozenset() if "private" in unqualified else frozenset(
            qualified["private"]
        ),
        public=flags.get("public", False),
        must_revalidate=flags.get("must_revalidate", False),
        proxy_revalidate=flags.get("proxy_revalidate", False),
        must_understand=flags.get("must_understand", False),
        no_transform=flags.get("no_transform", False),
        immutable=flags.get("immutable", False),
        max_age=None if "max-age" in invalid else deltas.get("max-age"),
        s_maxage=None if "s-maxage" in invalid else deltas.get("s-maxage"),
        stale_while_revalidate=deltas.get("stale-while-revalidate"),
        stale_if_error=deltas.get("stale-if-error"),
        invalid=frozenset(invalid),
        extensions=tuple(extensions),
    )


@dataclass(frozen=True)
class RequestDirectives:
    """What a request's Cache-Control (or Pragma) asks of a cache (RFC 9111 5.2.1)."""

    max_age: int | None = None
    max_stale: int | None = None
    max_stale_any: bool = False
    min_fresh: int | None = None
    no_cache: bool = False
    no_store: bool = False
    no_transform: bool = False
    only_if_cached: bool = False
    stale_if_error: int | None = None


def parse_request_directives(
    cache_control: Iterable[str], pragma: Iterable[str] = ()
) -> RequestDirectives:
    """Parse a request's Cache-Control lines; Pragma counts only when those are absent.

    RFC 9111 5.4 deprecates Pragma, but HTTP/1.0 clients still send
    ``Pragma: no-cache`` meaning "reload"; honouring it only without Cache-Control is
    what RFC 7234 required and what caches do.
    """
    lines = list(cache_control)
    if not lines:
        if any(name == "no-cache" for name, _ in _members(pragma)):
            return RequestDirectives(no_cache=True)
        return RequestDirectives()
    max_age: int | None = None
    max_stale: int | None = None
    max_stale_any = False
    max_stale_invalid = False
    min_fresh: int | None = None
    stale_if_error: int | None = None
    flags: set[str] = set()
    for name, value in _members(lines):
        if name == "max-age":
            number = parse_delta(value)
            number = 0 if number is None else number
            max_age = number if max_age is None else min(max_age, number)
        elif name == "max-stale":
            if value is None:
                max_stale_any = True
                continue
            number = parse_delta(value)
            if number is None:
                max_stale_invalid = True
            else:
                max_stale = number if max_stale is None else min(max_stale, number)
        elif name == "min-fresh":
            number = parse_delta(value)
            if number is not None:
                min_fresh = number if min_fresh is None else max(min_fresh, number)
        elif name == "stale-if-error":
            number = parse_delta(value)
            if number is not None:
                stale_if_error = (
                    number if stale_if_error is None else min(stale_if_error, number)
                )
        elif value is None:
            flags.add(name)
    if max_stale_invalid:
        max_stale, max_stale_any = None, False
    elif max_stale is not None:
        max_stale_any = False
    return RequestDirectives(
        max_age=max_age,
        max_stale=max_stale,
        max_stale_any=max_stale_any,
        min_fresh=min_fresh,
        no_cache="no-cache" in flags,
        no_store="no-store" in flags,
        no_transform="no-transform" in flags,
        only_if_cached="only-if-cached" in flags,
        stale_if_error=stale_if_error,
    )
