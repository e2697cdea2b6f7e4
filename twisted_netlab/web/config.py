"""The typed, frozen configuration every netlab-web part is built from.

Why one module of plain values: option names (``--max-age``, ``--cors``...) belong to the
command line; resources and services should never see them. ``web/options.py`` parses
and validates the command line once, in ``postOptions``, into a ``WebConfig``; builders
(``build_site``, ``build_static_resource``, ``wrap_hotlink``, ``wrap_cors``,
``build_proxy_mounts``, ``build_tool_mounts``) take these values and nothing else, so a
test or an embedder builds a config directly and never fakes an options dict.

Files named by options (the hotlink replacement, signing keys, the proxy TOML) are read
once, at start-up, and their content lives here: nothing re-reads them later.

This module is a leaf of ``web/``: it imports only pure rules (``http/``) and value
types of the static part, never a resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted_netlab.http.caching import CachePolicy
from twisted_netlab.http.cors import CorsPolicy
from twisted_netlab.http.headers import TrustedProxies
from twisted_netlab.http.hotlink import HotlinkPolicy
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.upstream.endpoints import TLSPolicy, default_tls
from twisted_netlab.web.filefacts import FactsConfig
from twisted_netlab.web.fsinfo import SymlinkPolicy
from twisted_netlab.web.limits import LimitsConfig

__all__ = [
    "DEFAULT_TOOLS_PREFIX",
    "HotlinkConfig",
    "ProxyCacheConfig",
    "ProxyConfig",
    "ProxySettings",
    "Replacement",
    "RequestLogConfig",
    "StaticConfig",
    "ToolsConfig",
    "WebConfig",
]

DEFAULT_TOOLS_PREFIX = "/_netlab/"


@dataclass(frozen=True)
class StaticConfig:
    """The static file resource: what to serve and how to cache and compress it."""

    root: str
    symlinks: SymlinkPolicy = SymlinkPolicy.INSIDE
    listing: bool = True
    allow_dotfiles: bool = False
    spa: bool = False
    explain: bool = False
    max_ranges: int = 16
    memory_cache_size: int = 64 * 1024 * 1024
    max_entries: int = 16384
    facts: FactsConfig = field(default_factory=lambda: FactsConfig(policy=CachePolicy()))


@dataclass(frozen=True, slots=True)
class Replacement:
    """The body served instead of the refusal page, read once at start-up."""

    body: bytes
    content_type: bytes


@dataclass(frozen=True)
class HotlinkConfig:
    """The hotlink gate: its policy, the optional replacement body, the explain header."""

    policy: HotlinkPolicy
    replacement: Replacement | None = None
    explain: bool = False


@dataclass(frozen=True)
class ProxySettings:
    """Knobs shared by every proxy mount (one client, one pool, one set of timeouts).

    ``pool_size``: idle connections an upstream keeps whatever the load (more are kept
    while the recent peak concurrency needs them); ``pool_idle_timeout``: an idle
    upstream connection is closed after this long; ``tls``: how upstream certificates
    are checked (the platform's trust store by default).
    """

    pool_size: int = 32
    connect_timeout: float = 10.0
    response_timeout: float = 60.0
    idle_timeout: float = 60.0
    pool_idle_timeout: float = 50.0
    trusted: TrustedProxies = field(default_factory=TrustedProxies)
    pseudonym: str = "netlab"
    dev: bool = False
    tls: TLSPolicy = default_tls


@dataclass(frozen=True)
class ProxyCacheConfig:
    """The shared proxy cache (RFC 9111): off unless asked for.

    ``memory_bytes``: the in-memory LRU budget (headers and bodies); ``directory``: the
    optional disk store for bodies above ``disk_threshold`` bytes (it survives a
    restart), bounded by ``disk_bytes``; ``purge_all``: empty that directory at start-up;
    ``explain``: add ``X-Netlab-Explain`` in words next to ``Cache-Status``;
    ``collapse_wait``: seconds a request waits for a concurrent identical miss before it
    goes upstream itself.
    """

    enabled: bool = False
    memory_bytes: int = 64 * 1024 * 1024
    directory: str | None = None
    disk_bytes: int = 1024 * 1024 * 1024
    disk_threshold: int = 1024 * 1024
    purge_all: bool = False
    explain: bool = False
    collapse_wait: float = 5.0


@dataclass(frozen=True)
class ProxyConfig:
    """Every reverse-proxy mount and the settings they share."""

    mounts: tuple[ProxyMount, ...] = ()
    settings: ProxySettings = field(default_factory=ProxySettings)
    cache: ProxyCacheConfig = field(default_factory=ProxyCacheConfig)


@dataclass(frozen=True)
class ToolsConfig:
    """The request inspector and response setter: off unless asked for."""

    enabled: bool = False
    prefix: str = DEFAULT_TOOLS_PREFIX


@dataclass(frozen=True)
class RequestLogConfig:
    """The compact per-request log of the short commands (``web/requestlog.py``).

    Off in the twistd plugins (``None`` in ``WebConfig``): they keep Twisted's habit of
    logging requests only when asked (``--access-log``). ``colour``: status codes in
    colour, decided once by the command (a terminal, not a pipe or a file).
    """

    colour: bool = False
    flush_interval: float = 0.2


@dataclass(frozen=True)
class WebConfig:
    """Everything ``build_site`` needs; ``None`` parts are switched off."""

    static: StaticConfig
    hotlink: HotlinkConfig | None = None
    cors: CorsPolicy | None = None
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    access_log: str | None = None
    request_log: RequestLogConfig | None = None
    # Replays of answers already made for the same request head (web/replaychannel.py).
    replay: bool = True

    def mount_prefixes(self) -> tuple[str, ...]:
        """Every mount's prefix (proxies, then the tools when on): metrics label by them."""
        prefixes = [m.prefix for m in self.proxy.mounts]
        if self.tools.enabled:
            prefixes.append(self.tools.prefix)
        return tuple(prefixes)
