"""Referer rules for the hotlink gate: nginx ``valid_referers`` plus Fetch Metadata.

Pure: no I/O, no Twisted, no logging.

Referer rules follow nginx ``valid_referers`` (ngx_http_referer_module):

- ``none``: the request has no Referer header;
- ``blocked``: a Referer is present but does not start with ``http://`` or ``https://``
  (a proxy or firewall masked it; an empty value counts too, as in nginx);
- ``server_names``: the Referer host is one of the names the adapter passes (the host
  the request was sent to);
- a host, optionally with a URI prefix: ``example.com``, ``*.example.com`` (subdomains
  only), ``.example.com`` (the domain and its subdomains), ``example.*`` (any suffix),
  ``example.com/galleries/``. Hosts compare case-insensitively, the Referer's port is
  ignored (as nginx does), the URI part is a case-sensitive prefix;
- ``~regex``: searched case-insensitively in the text after the scheme.

Browsers hide the Referer easily (``referrerpolicy="no-referrer"``), which ``none``
must let through; ``Sec-Fetch-Site`` closes that gap: ``same-origin``, ``same-site``
and ``none`` (typed URL, bookmark) pass, ``cross-site`` passes only when the Referer or
the ``Origin`` matches an explicit host, server-name or regex rule, never through
``none``/``blocked``. An ``Origin`` with no Referer is judged like a Referer.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from twisted_netlab.http.verdict import HotlinkConfigError, Verdict

__all__ = ["RefererPolicy"]

_HOST_LABELS = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


class _HostKind(enum.Enum):
    EXACT = "exact"
    SUBDOMAINS = "subdomains"  # *.example.com
    DOMAIN = "domain"  # .example.com: example.com and its subdomains
    ANY_SUFFIX = "any-suffix"  # example.*


@dataclass(frozen=True, slots=True)
class _HostRule:
    kind: _HostKind
    host: str
    uri: str  # "" when the rule has no URI part

    def matches(self, host: str, rest: str) -> bool:
        if not self._host_matches(host):
            return False
        return rest.startswith(self.uri)

    def _host_matches(self, host: str) -> bool:
        if self.kind is _HostKind.EXACT:
            return host == self.host
        if self.kind is _HostKind.SUBDOMAINS:
            return host.endswith("." + self.host)
        if self.kind is _HostKind.DOMAIN:
            return host == self.host or host.endswith("." + self.host)
        # nginx tail wildcard: "example.*" needs at least one more label after the dot.
        return host.startswith(self.host + ".") and len(host) > len(self.host) + 1


def _parse_host_rule(token: str) -> _HostRule:
    host, slash, uri = token.partition("/")
    uri = slash + uri
    host = host.lower()
    if ":" in host:
        raise HotlinkConfigError(
            f"referer rule {token!r}: ports are ignored when matching a Referer; drop the port"
        )
    kind = _HostKind.EXACT
    if host.startswith("*."):
        kind, host = _HostKind.SUBDOMAINS, host[2:]
    elif host.startswith("."):
        kind, host = _HostKind.DOMAIN, host[1:]
    elif host.endswith(".*"):
        kind, host = _HostKind.ANY_SUFFIX, host[:-2]
    if not _HOST_LABELS.fullmatch(host):
        raise HotlinkConfigError(
            f"referer rule {token!r}: expected a host name, '*.host', '.host' or 'host.*'"
            " (a '*' only at the start or end, on a dot border), optionally followed"
            " by a URI prefix"
        )
    return _HostRule(kind, host, uri)


@dataclass(frozen=True, slots=True)
class _ParsedReferer:
    """A Referer (or Origin) split the way the rules look at it."""

    present: bool
    http: bool  # starts with http:// or https://
    after_scheme: str = ""
    host: str = ""
    rest: str = ""  # from the first "/" after the authority (nginx's URI part)


def _parse_referer(value: str | None) -> _ParsedReferer:
    if value is None:
        return _ParsedReferer(present=False, http=False)
    lowered = value[:8].lower()
    if lowered.startswith("http://"):
        after = value[7:]
    elif lowered.startswith("https://"):
        after = value[8:]
    else:
        return _ParsedReferer(present=True, http=False)
    end = len(after)
    for stop in "/?#":
        at = after.find(stop)
        if at != -1:
            end = min(end, at)
    authority, tail = after[:end], after[end:]
    rest = tail if tail.startswith("/") else ""
    if "@" in authority:  # userinfo: browsers never send it; "good.com@evil.com" is evil
        return _ParsedReferer(present=True, http=True, after_scheme=after)
    if authority.startswith("["):
        host = authority[1 : authority.find("]")] if "]" in authority else ""
    else:
        host = authority.split(":", 1)[0]
    return _ParsedReferer(
        present=True, http=True, after_scheme=after, host=host.lower().rstrip("."), rest=rest
    )


@dataclass(frozen=True)
class RefererPolicy:
    """A parsed ``valid_referers`` list."""

    allow_none: bool = False
    allow_blocked: bool = False
    allow_server_names: bool = False
    hosts: tuple[_HostRule, ...] = ()
    regexes: tuple[re.Pattern[str], ...] = field(default=())

    @classmethod
    def parse(cls, tokens: Iterable[str]) -> RefererPolicy:
        """Tokens as nginx takes them; each item may hold several, space-separated."""
        allow_none = allow_blocked = allow_server_names = False
        hosts: list[_HostRule] = []
        regexes: list[re.Pattern[str]] = []
        count = 0
        for item in tokens:
            for token in item.split():
                count += 1
                lowered = token.lower()
                if lowered == "none":
                    allow_none = True
                elif lowered == "blocked":
                    allow_blocked = True
                elif lowered == "server_names":
                    allow_server_names = True
                elif token.startswith("~"):
                    try:
                        regexes.append(re.compile(token[1:], re.IGNORECASE))
                    except re.error as exc:
                        raise HotlinkConfigError(
                            f"referer rule {token!r}: bad regular expression: {exc}"
                        ) from exc
                else:
                    hosts.append(_parse_host_rule(token))
        if count == 0:
            raise HotlinkConfigError("empty valid-referers list")
        return cls(allow_none, allow_blocked, allow_server_names, tuple(hosts), tuple(regexes))

    def _explicit_match(self, ref: _ParsedReferer, server_names: Sequence[str]) -> bool:
        """A host, server-name or regex rule names this http(s) referer."""
        if not ref.http:
            return False
        if ref.host:
            if self.allow_server_names and any(
                ref.host == n.lower().rstrip(".") for n in server_names
            ):
                return True
            if any(rule.matches(ref.host, ref.rest) for rule in self.hosts):
                return True
        return any(rx.search(ref.after_scheme) for rx in self.regexes)

    def check_referer(self, referer: str | None, server_names: Sequence[str] = ()) -> Verdict:
        """nginx semantics for one Referer value (``None``: header absent)."""
        ref = _parse_referer(referer)
        if not ref.present:
            return Verdict(
                self.allow_none, "no referer" + ("" if self.allow_none else " not allowed")
            )
        if not ref.http:
            return Verdict(
                self.allow_blocked,
                "blocked referer" + ("" if self.allow_blocked else " not allowed"),
            )
        if self._explicit_match(ref, server_names):
            return Verdict(True, "referer whitelisted")
        return Verdict(False, "referer not allowed")

    def check_request(
        self,
        *,
        referer: str | None,
        origin: str | None = None,
        sec_fetch_site: str | None = None,
        server_names: Sequence[str] = (),
    ) -> Verdict:
        """Referer rules plus ``Origin`` and ``Sec-Fetch-Site`` (see the module docstring)."""
        site = sec_fetch_site.strip().lower() if sec_fetch_site is not None else None
        if site in ("same-origin", "same-site", "none"):
            return Verdict(True, f"sec-fetch-site {site}")
        origin_ref = (
            _parse_referer(origin) if origin is not None and origin.strip().lower() != "null"
            else None
        )  # fmt: skip
        if site == "cross-site":
            if self._explicit_match(_parse_referer(referer), server_names):
                return Verdict(True, "cross-site, referer whitelisted")
            if origin_ref is not None and self._explicit_match(origin_ref, server_names):
                return Verdict(True, "cross-site, origin whitelisted")
            return Verdict(False, "cross-site request not whitelisted")
        if referer is None and origin is not None:
            # A fetch() with the Referer hidden still names its origin: judge that.
            if origin_ref is None:  # "Origin: null", an opaque (masked) origin
                return Verdict(
                    self.allow_blocked,
                    "opaque origin" + ("" if self.allow_blocked else " not allowed"),
                )
            if self._explicit_match(origin_ref, server_names):
                return Verdict(True, "origin whitelisted")
            return Verdict(False, "origin not allowed")
        verdict = self.check_referer(referer, server_names)
        if (
            not verdict.ok
            and origin_ref is not None
            and self._explicit_match(origin_ref, server_names)
        ):
            return Verdict(True, "origin whitelisted")
        return verdict
