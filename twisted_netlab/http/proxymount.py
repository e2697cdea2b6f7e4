"""Reverse-proxy mounts: which upstream a prefix maps to, and the path mapping both ways.

Pure rules (no Twisted): the adapter asks this module for the upstream target of a
request and for the client-space form of an upstream ``Location`` or cookie ``Path``.
Paths are handled as raw bytes/text so percent-encoding reaches the upstream exactly as
the client sent it (Twisted's ``postpath`` is already unquoted, which would turn
``%2F`` into a separator). Because the path goes out raw, a path the upstream could
resolve outside the mount's base path is refused (400) before anything is sent: a dot
segment in any spelling (``..``, ``%2e%2e``, ``.%2e``, ``%2e``), an encoded separator
(``%2f``, ``%5c``, as in ``..%2f``), a backslash, a control character or a double
encoding (``http.paths.check_proxy_path``). nginx and Caddy refuse those too.

TRACE is refused (405) unless a mount opts in (``allow_trace = true``): it echoes the
request, cookies and credentials included, back to whoever can make a browser send it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hyperlink

from twisted_netlab.errors import HTTPRuleError, ProxyConfigError
from twisted_netlab.http.paths import BadPathError, check_proxy_path
from twisted_netlab.http.segments import has_dot_segment, join_segments, path_segments

_DEFAULT_PORTS = {"http": 80, "https": 443}

# A path of these bytes alone, with no segment starting with ".", passes every refusal
# of ``check_proxy_path`` (no ``%``, backslash, control character or dot segment): the
# usual request skips the per-segment decoding.
_PLAIN_PATH = re.compile(rb"[A-Za-z0-9/_~!$&'()*+,;=:@.-]*")


class ProxyPathError(HTTPRuleError):
    """A request path that must not be forwarded (dot segments would escape the mount)."""

    status = 400


class ProxyMethodError(HTTPRuleError):
    """A method this mount does not forward (TRACE unless the mount opts in)."""

    status = 405


@dataclass(frozen=True)
class ProxyMount:
    """One ``PREFIX=URL`` mount; derived byte strings are computed once, not per request."""

    prefix: str
    upstream: str
    keep_prefix: bool = False
    preserve_host: bool = False
    allow_trace: bool = False
    cache: bool = True
    scheme: str = field(init=False)
    host: str = field(init=False)
    port: int = field(init=False)
    base_path: str = field(init=False)
    host_header: bytes = field(init=False)
    origin: str = field(init=False)
    prefix_segments: int = field(init=False)
    origin_bytes: bytes = field(init=False, repr=False)
    _path_root: bytes = field(init=False, repr=False)
    _upstream_root: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        prefix = normalize_prefix(self.prefix)
        url = parse_upstream(self.upstream)
        host = url.host.lower()
        netloc_host = f"[{host}]" if ":" in host else host
        default = _DEFAULT_PORTS[url.scheme] == url.port
        netloc = netloc_host if default else f"{netloc_host}:{url.port}"
        base = "/" + "/".join(url.path) if url.path else ""
        base = base.rstrip("/")
        kept = prefix if self.keep_prefix and prefix != "/" else ""
        values: dict[str, Any] = {
            "prefix": prefix,
            "scheme": url.scheme,
            "host": host,
            "port": url.port,
            "base_path": base,
            "host_header": netloc.encode("ascii"),
            "origin": f"{url.scheme}://{netloc}",
            "prefix_segments": len(path_segments(prefix)),
            "origin_bytes": f"{url.scheme}://{netloc}".encode("ascii"),
            "_path_root": f"{base}{kept}".encode("ascii"),
            "_upstream_root": base + kept,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def segments(self) -> list[bytes]:
        return [s.encode("utf-8") for s in path_segments(self.prefix)]

    def upstream_target(self, path: bytes, query: bytes | None) -> bytes:
        """The absolute upstream URL for a client ``path`` (raw bytes) under this mount.

        Raises ``ProxyPathError`` for a path an upstream could resolve outside the
        mounted base path (see the module docstring).
        """
        return self.origin_bytes + self.upstream_path(path, query)

    def upstream_path(self, path: bytes, query: bytes | None) -> bytes:
        """The origin-form request target (path and query) sent to the upstream."""
        segments = path.split(b"/")
        if b"/." in path or _PLAIN_PATH.fullmatch(path) is None:
            try:
                check_proxy_path(segments[1:])
            except BadPathError as exc:
                raise ProxyPathError(str(exc)) from exc
        rest = segments[1 + self.prefix_segments :]
        target = self._path_root + b"/" + b"/".join(rest) if rest else self._path_root
        if not target:
            target = b"/"
        if query is not None:
            target += b"?" + query
        return target

    def check_method(self, method: bytes) -> None:
        """Raise ``ProxyMethodError`` (405) for a method this mount does not forward."""
        if method == b"TRACE" and not self.allow_trace:
            raise ProxyMethodError(
                "TRACE is not forwarded (it would echo cookies and credentials); "
                "a mount can opt in with allow_trace = true"
            )

    def client_path(self, upstream_path: str) -> str | None:
        """Map a path in upstream space back under the prefix; None if outside the mount."""
        root = self._upstream_root
        if root and not (upstream_path == root or upstream_path.startswith(root + "/")):
            return None
        rest = upstream_path[len(root) :]
        prefix = "" if self.prefix == "/" else self.prefix
        return (prefix + rest) or "/"

    def client_location(self, value: str) -> str:
        """Rewrite an upstream ``Location``/``Content-Location`` into the proxy's space.

        Absolute URLs on the upstream origin and path-absolute references under the
        upstream base become path-absolute references under the prefix; anything else
        (other origins, relative references, garbage) is returned unchanged.
        """
        if value.startswith("/") and not value.startswith("//"):
            raw = value
        else:
            try:
                url = hyperlink.URL.from_text(value)
            except (hyperlink.URLParseError, ValueError):
                return value
            if not url.host:
                return value
            scheme = url.scheme or self.scheme
            if (scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme)) != (
                self.scheme,
                self.host,
                self.port,
            ):
                return value
            start = value.index("//") + 2
            slash = _first_of(value, "/?#", start)
            raw = (
                "/" + value[slash:]
                if slash < len(value) and value[slash] != "/"
                else value[slash:]
            )
            raw = raw or "/"
        cut = _first_of(raw, "?#", 0)
        mapped = self.client_path(raw[:cut])
        if mapped is None:
            return value
        return mapped + raw[cut:]


def _first_of(text: str, chars: str, start: int) -> int:
    found = [i for i in (text.find(c, start) for c in chars) if i >= 0]
    return min(found) if found else len(text)


def normalize_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ProxyConfigError(f"proxy prefix must start with '/': {prefix!r}")
    if any(c in prefix for c in "?#\\ \t\r\n") or has_dot_segment(prefix):
        raise ProxyConfigError(f"proxy prefix must be a plain path: {prefix!r}")
    return join_segments(path_segments(prefix))


def parse_upstream(text: str) -> hyperlink.URL:
    if not isinstance(text, str):
        raise ProxyConfigError(f"upstream must be a URL string: {text!r}")
    try:
        url = hyperlink.URL.from_text(text)
    except (hyperlink.URLParseError, ValueError) as exc:
        raise ProxyConfigError(f"invalid upstream URL {text!r}: {exc}") from exc
    if url.scheme not in _DEFAULT_PORTS:
        raise ProxyConfigError(f"upstream must be http:// or https://: {text!r}")
    if not url.host:
        raise ProxyConfigError(f"upstream URL has no host: {text!r}")
    if url.query or url.fragment or url.userinfo:
        raise ProxyConfigError(
            f"upstream URL must not carry a query, fragment or credentials: {text!r}"
        )
    if url.port is None or not 0 < url.port < 65536:
        raise ProxyConfigError(f"upstream URL has an invalid port: {text!r}")
    if not text.isascii():
        try:
            url = url.to_uri()  # IDN host, non-ASCII path: send the ASCII form
        except Exception as exc:  # idna raises its own hierarchy
            raise ProxyConfigError(f"cannot encode upstream URL {text!r}: {exc}") from exc
    return url


def parse_mount_spec(
    spec: str, *, keep_prefix: bool = False, preserve_host: bool = False
) -> ProxyMount:
    """``"/api=http://127.0.0.1:9000/v1"`` -> a ``ProxyMount``."""
    prefix, sep, upstream = spec.partition("=")
    if not sep or not prefix or not upstream:
        raise ProxyConfigError(f"expected PREFIX=URL, got {spec!r}")
    return ProxyMount(prefix.strip(), upstream.strip(), keep_prefix, preserve_host)


_TOML_KEYS = {"prefix", "upstream", "keep_prefix", "preserve_host", "allow_trace", "cache"}


def mounts_from_toml(
    text: str, *, keep_prefix: bool = False, preserve_host: bool = False
) -> list[ProxyMount]:
    """Mounts from ``[[proxy]]`` tables; flags absent from a table take the CLI defaults."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProxyConfigError(f"invalid TOML: {exc}") from exc
    unknown = set(data) - {"proxy"}
    if unknown:
        raise ProxyConfigError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    tables = data.get("proxy", [])
    if not isinstance(tables, list):
        raise ProxyConfigError("'proxy' must be an array of tables ([[proxy]])")
    return [
        _mount_from_table(t, i, keep_prefix, preserve_host) for i, t in enumerate(tables)
    ]


def _mount_from_table(
    table: Any, index: int, keep_prefix: bool, preserve_host: bool
) -> ProxyMount:
    where = f"[[proxy]] #{index + 1}"
    if not isinstance(table, Mapping):
        raise ProxyConfigError(f"{where} must be a table")
    unknown = set(table) - _TOML_KEYS
    if unknown:
        raise ProxyConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    for key in ("prefix", "upstream"):
        if not isinstance(table.get(key), str):
            raise ProxyConfigError(f"{where}: '{key}' (a string) is required")
    flags = {
        "keep_prefix": keep_prefix,
        "preserve_host": preserve_host,
        "allow_trace": False,
        "cache": True,
    }
    for key in flags:
        if key in table:
            if not isinstance(table[key], bool):
                raise ProxyConfigError(f"{where}: '{key}' must be true or false")
            flags[key] = table[key]
    try:
        return ProxyMount(table["prefix"], table["upstream"], **flags)
    except ProxyConfigError as exc:
        raise ProxyConfigError(f"{where}: {exc}") from exc


def check_unique(mounts: Iterable[ProxyMount]) -> None:
    seen: set[str] = set()
    for mount in mounts:
        if mount.prefix in seen:
            raise ProxyConfigError(f"proxy prefix {mount.prefix} is mounted twice")
        seen.add(mount.prefix)
