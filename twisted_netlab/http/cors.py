"""CORS decisions (Fetch standard, "CORS protocol"), as plain values in and out.

Design choices, so the adapter stays dumb:

- Origins are matched after normalising scheme and host to lower case and dropping a
  default port (browsers serialise origins that way); the *received* Origin is echoed
  byte for byte, because the browser compares ``Access-Control-Allow-Origin`` with its
  own serialisation exactly.
- ``"null"`` (sandboxed iframes, ``file:`` pages, redirects) matches only when
  configured literally; ``"*"`` means "public": the answer is ``*`` for every origin,
  which is why ``"*"`` with credentials is a configuration error (browsers refuse it).
- Allowed request headers: by default only the listed ones (Content-Type,
  Authorization, X-Requested-With); a preflight asking for any other is refused. ``"*"``
  in the list mirrors whatever the preflight asks for (a literal ``*`` would not work
  with credentials).
- Methods are compared case-sensitively (Fetch normalises only the standard ones);
  CORS-safelisted methods (GET, HEAD, POST) are always allowed; ``"*"`` mirrors.
- A refused preflight gets ``None``: the adapter answers without any CORS header.
- ``Vary: Origin`` whenever the answer depends on the Origin (every policy except
  ``*`` without credentials); preflight answers also vary on the request method and
  headers they echo.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from twisted_netlab.errors import NetlabError
from twisted_netlab.http.tokens import TOKEN, split_list

TextHeader = tuple[str, str]  # a (name, value) pair the adapter encodes

SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
DEFAULT_METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_HEADERS: tuple[str, ...] = ("Content-Type", "Authorization", "X-Requested-With")
DEFAULT_MAX_AGE = 600

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~]+)$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class CorsConfigError(NetlabError):
    """A CORS policy that cannot work (bad origin, ``*`` with credentials, ...)."""


def normalize_origin(text: str) -> str:
    """Canonical ``scheme://host[:port]`` for comparison; raise ``CorsConfigError``.

    ``"*"`` and ``"null"`` come back unchanged; a single trailing slash is forgiven.
    """
    if text in ("*", "null"):
        return text
    value = text.strip().removesuffix("/")
    scheme, sep, rest = value.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme) or not rest:
        raise CorsConfigError(f"origin {text!r} is not scheme://host[:port]")
    host, port_text = rest, ""
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise CorsConfigError(f"origin {text!r} has an unclosed IPv6 literal")
        host, after = rest[: end + 1], rest[end + 1 :]
        if after:
            if not after.startswith(":"):
                raise CorsConfigError(f"origin {text!r} is not scheme://host[:port]")
            port_text = after[1:]
    elif ":" in rest:
        host, _, port_text = rest.rpartition(":")
    if not _HOST.fullmatch(host) or "/" in rest or "?" in rest or "#" in rest or "@" in rest:
        raise CorsConfigError(
            f"origin {text!r} must be scheme://host[:port] with no path, query or userinfo"
        )
    scheme = scheme.lower()
    host = host.lower()
    if port_text or rest.endswith(":"):
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise CorsConfigError(f"origin {text!r} has an invalid port")
        port = int(port_text)
        if _DEFAULT_PORTS.get(scheme) != port:
            return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


@dataclass(frozen=True)
class CorsPolicy:
    origins: frozenset[str]
    credentials: bool = False
    methods: tuple[str, ...] = DEFAULT_METHODS
    headers: tuple[str, ...] = DEFAULT_HEADERS
    expose: tuple[str, ...] = ()
    max_age: int | None = DEFAULT_MAX_AGE
    _headers_lower: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.origins:
            raise CorsConfigError("a CORS policy needs at least one origin")
        if "*" in self.origins and self.credentials:
            raise CorsConfigError(
                "origin '*' cannot be combined with credentials: browsers refuse "
                "'Access-Control-Allow-Origin: *' on credentialed requests; list the origins"
            )
        for name in (*self.methods, *self.headers, *self.expose):
            if not TOKEN.fullmatch(name):
                raise CorsConfigError(f"{name!r} is not a valid method or header name")
        if self.max_age is not None and self.max_age < 0:
            raise CorsConfigError("max-age must be 0 or more seconds")
        object.__setattr__(self, "_headers_lower", frozenset(h.lower() for h in self.headers))

    @classmethod
    def build(
        cls,
        origins: Iterable[str],
        *,
        credentials: bool = False,
        methods: Iterable[str] = DEFAULT_METHODS,
        headers: Iterable[str] = DEFAULT_HEADERS,
        expose: Iterable[str] = (),
        max_age: int | None = DEFAULT_MAX_AGE,
    ) -> CorsPolicy:
        """Normalise and validate raw configuration values."""
        return cls(
            origins=frozenset(normalize_origin(o) for o in origins),
            credentials=credentials,
            methods=tuple(methods),
            headers=tuple(headers),
            expose=tuple(expose),
            max_age=max_age,
        )

    @property
    def is_public(self) -> bool:
        """``*`` without credentials: the same answer for every origin."""
        return "*" in self.origins and not self.credentials

    def allows_origin(self, origin: str | None) -> bool:
        if origin is None:
            return False
        if "*" in self.origins:
            return True
        if origin == "null":
            return "null" in self.origins
        try:
            return normalize_origin(origin) in self.origins
        except CorsConfigError:
            return False


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """OPTIONS carrying both Origin and Access-Control-Request-Method."""
    return (
        method == "OPTIONS"
        and _header(headers, "Origin") is not None
        and _header(headers, "Access-Control-Request-Method") is not None
    )


def _allow_origin(policy: CorsPolicy, origin: str) -> list[TextHeader]:
    out: list[TextHeader] = [("Access-Control-Allow-Origin", "*" if policy.is_public else origin)]
    if policy.credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    return out


def parse_header_list(value: str | None) -> list[str] | None:
    """``"x-a, X-B"`` -> ``["x-a", "x-b"]``; ``None`` when an entry is not a token."""
    if not value:
        return []
    names: list[str] = []
    for item in split_list(value):
        if not TOKEN.fullmatch(item):
            return None
        if item.lower() not in names:
            names.append(item.lower())
    return names


def preflight_response(
    policy: CorsPolicy,
    origin: str | None,
    request_method: str | None,
    request_headers: str | None,
) -> list[TextHeader] | None:
    """Headers for an allowed preflight (status 204), or ``None`` to refuse it."""
    if not policy.allows_origin(origin) or origin is None:
        return None
    if not request_method or not TOKEN.fullmatch(request_method):
        return None
    if (
        request_method not in SAFELISTED_METHODS
        and "*" not in policy.methods
        and request_method not in policy.methods
    ):
        return None
    requested = parse_header_list(request_headers)
    if requested is None:
        return None
    if "*" not in policy.headers and any(h not in policy._headers_lower for h in requested):
        return None
    out = _allow_origin(policy, origin)
    methods = [m for m in policy.methods if m != "*"]
    if request_method not in methods:
        methods.append(request_method)
    out.append(("Access-Control-Allow-Methods", ", ".join(methods)))
    if requested:
        out.append(("Access-Control-Allow-Headers", ", ".join(requested)))
    if policy.max_age is not None:
        out.append(("Access-Control-Max-Age", str(policy.max_age)))
    vary = [] if policy.is_public else ["Origin"]
    vary += ["Access-Control-Request-Method", "Access-Control-Request-Headers"]
    out.append(("Vary", ", ".join(vary)))
    return out


def actual_response_headers(policy: CorsPolicy, origin: str | None) -> list[TextHeader]:
    """Headers for a simple or actual request; only ``Vary`` when the origin is refused."""
    out: list[TextHeader] = []
    if policy.allows_origin(origin) and origin is not None:
        out += _allow_origin(policy, origin)
        if policy.expose:
            out.append(("Access-Control-Expose-Headers", ", ".join(policy.expose)))
    if not policy.is_public:
        out.append(("Vary", "Origin"))
    return out


def without_credentials(policy: CorsPolicy) -> CorsPolicy:
    """``policy`` that never sends ``Access-Control-Allow-Credentials``."""
    return replace(policy, credentials=False) if policy.credentials else policy


def uncredentialed_response_headers(
    policy: CorsPolicy, origin: str | None, *, credentialed: bool
) -> list[TextHeader]:
    """CORS headers for a resource no other origin may ever read with credentials.

    The request tools echo Cookie and Authorization back: with credentials allowed, a
    listed origin could read a visitor's session from them. A request carrying
    credentials (``credentialed``: it has Cookie or Authorization) gets no CORS header
    at all; any other gets the policy's answer without ``Allow-Credentials``.
    """
    if credentialed:
        return [] if policy.is_public else [("Vary", "Origin")]
    return actual_response_headers(without_credentials(policy), origin)
