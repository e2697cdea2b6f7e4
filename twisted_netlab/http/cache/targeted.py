"""Which cache directives a response gives us: targeted fields first (RFC 9213).

A reverse proxy in front of an origin is what RFC 9213 calls a CDN cache: the origin
may tell it apart from browsers with ``CDN-Cache-Control`` (e.g. ``no-store`` for
browsers in Cache-Control, ``max-age=600`` for us). The older ``Surrogate-Control``
(W3C Edge Architecture note) says the same to "surrogates". ``directive_values``
returns Cache-Control-syntax lines for ``directives.parse_response_directives``:

- ``CDN-Cache-Control`` present and a valid Structured Field Dictionary (RFC 8941):
  its directives, and Cache-Control is ignored (RFC 9213 2.1). A member of the wrong
  type (``max-age="60"``, ``no-store=5``) is ignored; an invalid field is ignored
  whole, and Cache-Control applies.
- Else ``Surrogate-Control`` with ``max-age`` or ``no-store`` not aimed at another
  device (a ``;target`` suffix: we advertise no Surrogate-Capability, so every target
  is another device's): those, instead of Cache-Control.
- Else Cache-Control.

One deviation, on the safe side: an unqualified ``private`` in Cache-Control is kept
even when a targeted field replaces Cache-Control. RFC 9213 would let
``CDN-Cache-Control: max-age=60`` store it, but a shared cache that serves one user's
private answer to another is the failure we never risk.
"""

from __future__ import annotations

from twisted_netlab.http.cache.fields import Fields, field_values, split_list
from twisted_netlab.http.sfdict import parse_dictionary

__all__ = ["directive_values"]

_DELTAS = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"})
_FLAGS = frozenset({
    "no-store", "no-cache", "private", "public", "must-revalidate", "proxy-revalidate",
    "must-understand", "no-transform", "immutable",
})  # fmt: skip


def _cdn(lines: list[str]) -> list[str] | None:
    members = parse_dictionary(lines)
    if members is None:
        return None
    out: list[str] = []
    for key, value in members:
        if key in _DELTAS:
            if isinstance(value, int) and not isinstance(value, bool):
                out.append(f"{key}={value}")
        elif key in _FLAGS and value is True:
            out.append(key)
    return out


def _surrogate(lines: list[str]) -> list[str] | None:
    out: list[str] = []
    for member in split_list(lines):
        if ";" in member:
            continue  # targeted at a named device; never us
        name, _, value = member.partition("=")
        name = name.strip(" \t").lower()
        if name == "no-store":
            out.append("no-store")
        elif name == "max-age":
            # "max-age=60+30" (freshness + removal delay): the freshness part.
            seconds = value.strip(" \t").partition("+")[0]
            out.append(f"max-age={seconds}")
    return out or None


def _keeps_private(cache_control: list[str]) -> bool:
    return any(member.strip(" \t").lower() == "private" for member in split_list(cache_control))


def directive_values(headers: Fields) -> list[str]:
    """The directive lines a shared cache acts on for this response (see module)."""
    cache_control = field_values(headers, "cache-control")
    targeted: list[str] | None = None
    cdn = field_values(headers, "cdn-cache-control")
    if cdn:
        targeted = _cdn(cdn)
    if targeted is None:
        surrogate = field_values(headers, "surrogate-control")
        if surrogate:
            targeted = _surrogate(surrogate)
    if targeted is None:
        return cache_control
    if _keeps_private(cache_control) and "private" not in targeted:
        targeted.append("private")
    return targeted
