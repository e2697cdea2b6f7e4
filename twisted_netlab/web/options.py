"""The netlab-web command line, turned into one ``WebConfig`` in ``postOptions``.

This is the only module that knows option names. ``WebOptions.post_options_web``
validates every value (a bad one is a ``usage.UsageError``, never a traceback once the
reactor runs), reads the files options name (``web/config_files.py``) once, and stores
the result as ``self.web_config``; ``build_site`` and every resource take that config.

``usage.Options`` accumulates ``optParameters``/``optFlags``/``opt_*`` across base
classes, so the combined ``twistd netlab`` plugin subclasses ``WebOptions`` and adds its
TCP options.
"""

from __future__ import annotations

import math
import os
from typing import Any

from twisted.python import usage

from twisted_netlab.errors import ProxyConfigError
from twisted_netlab.http.caching import CachePolicy
from twisted_netlab.http.cors import DEFAULT_MAX_AGE, CorsConfigError, CorsPolicy
from twisted_netlab.http.headers import parse_trusted
from twisted_netlab.http.hotlink import DEFAULT_SKEW, HotlinkConfigError
from twisted_netlab.http.proxymount import check_unique, parse_mount_spec
from twisted_netlab.http.segments import has_dot_segment, join_segments, path_segments
from twisted_netlab.http.tokens import split_list
from twisted_netlab.web.config import (
    DEFAULT_TOOLS_PREFIX,
    HotlinkConfig,
    ProxyCacheConfig,
    ProxyConfig,
    ProxySettings,
    StaticConfig,
    ToolsConfig,
    WebConfig,
)
from twisted_netlab.web.config_files import hotlink_policy, load_proxy_toml, load_replacement
from twisted_netlab.web.filefacts import FactsConfig
from twisted_netlab.web.fsinfo import SymlinkPolicy
from twisted_netlab.web.mounts import split_prefix
from twisted_netlab.web.options_limits import LimitsOptions, parse_size

__all__ = ["SYMLINK_POLICIES", "WebOptions", "normalize_tools_prefix"]

SYMLINK_POLICIES = tuple(p.value for p in SymlinkPolicy)

# name -> (default, minimum): the static part's integer options.
_INTEGER_OPTIONS: dict[str, tuple[int, int]] = {
    "max-age": (0, 0),
    "max-ranges": (16, 1),
    "gzip-min-size": (1024, 0),
    "compress-max-size": (4 * 1024 * 1024, 0),
    "memory-cache-size": (64 * 1024 * 1024, 0),
    "memory-file-max": (64 * 1024, 0),
}


# Byte counts among them: these also take the size forms of the limits options.
_SIZE_OPTIONS = frozenset(
    {"gzip-min-size", "compress-max-size", "memory-cache-size", "memory-file-max"}
)


def _default(name: str) -> str:
    # A string, like a value from the command line: both are converted the same way.
    return str(_INTEGER_OPTIONS[name][0])


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a positive number of seconds")
    return number


_positive_int.coerceDoc = "Must be at least 1."  # type: ignore[attr-defined]
_positive_float.coerceDoc = "Seconds, > 0."  # type: ignore[attr-defined]


def normalize_tools_prefix(prefix: str) -> str:
    """``"dev/tools"`` -> ``"/dev/tools/"``; refuse ``/`` and dot segments."""
    segments = path_segments(prefix.strip())
    if not segments:
        raise usage.UsageError("--tools-prefix cannot be '/': it would hide every other path")
    if has_dot_segment(prefix):
        raise usage.UsageError(f"--tools-prefix {prefix!r} must not contain '.' or '..'")
    return join_segments(segments, trailing_slash=True)


class WebOptions(LimitsOptions):
    """Every netlab-web option except the listening ports (the combined plugin reuses it)."""

    web_config: WebConfig

    optFlags = [
        # static
        ["no-listing", None, "Do not list directories without index.html (answer 404)."],
        ["allow-dotfiles", None, "Serve names starting with '.' (hidden, 404, by default)."],
        ["dev", None, "Development mode: every response revalidates (no-cache)."],
        ["spa", None, "Single-page app: unknown extension-less HTML requests get index.html."],
        ["explain", None, "Add X-Netlab-Explain: <status> <rule> to responses."],
        ["no-compress", None,
         "Do not compress on the fly (precompressed sidecars still apply)."],
        ["no-replay", None,
         "Answer every request through the full path (no replay of an answer already "
         "made for the same request head)."],
        # proxy
        ["proxy-keep-prefix", None,
         "Forward the mount prefix to the upstream (default: strip it)."],
        ["proxy-preserve-host", None,
         "Send the client's Host upstream (default: the upstream's host)."],
        ["proxy-dev", None,
         "Dev mode: rewrite upstream Set-Cookie (Domain, Path, Secure) for the proxy's origin."],
        ["proxy-cache", None,
         "Cache proxied responses (RFC 9111 shared cache; a mount opts out with cache = false)."],
        ["proxy-cache-purge-all", None, "Empty --proxy-cache-dir at start-up."],
        # CORS and tools
        ["cors-credentials", None, "Allow credentialed CORS requests (never with --cors '*')."],
        ["tools", None, "Mount the request inspector and response setter under --tools-prefix "
                        "(off by default: they answer with content a link chooses)."],
    ]  # fmt: skip
    optParameters = [
        # static
        ["path", None, ".", "Directory to serve (default: the current directory)."],
        ["symlinks", None, "inside",
         "Symlink policy: deny, inside (target must stay under --path) or follow."],
        ["max-age", None, _default("max-age"),
         "max-age in seconds for files that are neither HTML nor fingerprinted (0: no-cache)."],
        ["max-ranges", None, _default("max-ranges"),
         "Most ranges honoured in one Range header; more gets the full 200."],
        ["gzip-min-size", None, _default("gzip-min-size"),
         "Compress compressible files on the fly from this size (bytes)."],
        ["compress-max-size", None, _default("compress-max-size"),
         "Never compress on the fly files larger than this (bytes)."],
        ["memory-cache-size", None, _default("memory-cache-size"),
         "Byte budget of the in-memory cache (small files and compressed bodies)."],
        ["memory-file-max", None, _default("memory-file-max"),
         "Files up to this size are kept in memory (bytes)."],
        # hotlink
        ["hotlink-replacement", None, None,
         "Serve this file (with 403 and its own type) instead of the refusal page."],
        ["hotlink-mode", None, None,
         "What a protected path needs: referer, signed, either, both "
         "(default: either when referers and keys are both set)."],
        ["sign-key-file", None, None,
         "Read KID=SECRET lines from this file (keeps secrets out of ps)."],
        ["sign-active", None, None, "The key id that mints links (default: the first key)."],
        ["sign-skew", None, DEFAULT_SKEW,
         "Seconds a signed link stays valid past its expiry (clock skew).", float],
        # proxy
        ["proxy-config", None, None,
         "TOML file declaring [[proxy]] mounts "
         "(prefix, upstream, keep_prefix, preserve_host, allow_trace, cache)."],
        ["proxy-pool-size", None, 32,
         "Idle upstream connections always kept per upstream (more while the load needs them).",
         _positive_int],
        ["proxy-connect-timeout", None, 10.0,
         "Seconds to connect to an upstream (then 504).", _positive_float],
        ["proxy-response-timeout", None, 60.0,
         "Seconds to wait for the upstream's response head (then 504).", _positive_float],
        ["proxy-idle-timeout", None, 60.0,
         "Seconds an upstream body may stall before the client connection is aborted.",
         _positive_float],
        ["proxy-via", None, "netlab", "Pseudonym this proxy uses in Via headers."],
        ["proxy-cache-size", None, "64m", "Memory budget of the proxy cache (LRU), e.g. 64m."],
        ["proxy-cache-dir", None, None,
         "Keep cached bodies above --proxy-cache-disk-min in this directory (survives restarts)."],
        ["proxy-cache-dir-size", None, "1g", "Byte budget of --proxy-cache-dir."],
        ["proxy-cache-disk-min", None, "1m",
         "Bodies larger than this go to --proxy-cache-dir instead of memory."],
        # CORS and tools
        ["cors-max-age", None, None,
         f"Preflight cache lifetime in seconds (default {DEFAULT_MAX_AGE})."],
        ["tools-prefix", None, DEFAULT_TOOLS_PREFIX, "Where the inspector and setter live."],
        # the site
        ["access-log", None, None,
         "Write a combined-format access log to this file ('-': stdout)."],
    ]  # fmt: skip

    def __init__(self) -> None:
        usage.Options.__init__(self)  # explicit: mypy cannot see through super() here
        for key in (
            "valid-referers", "hotlink-patterns", "sign-keys", "proxy", "trusted-proxy",
            "cors", "cors-expose", "cors-methods", "cors-headers",
        ):  # fmt: skip
            self[key] = []

    # -- repeatable options --------------------------------------------------------

    def opt_valid_referers(self, value: str) -> None:
        """nginx valid_referers tokens (repeatable or space separated), e.g.
        "none blocked server_names example.com *.example.com example.* ~\\.google\\."
        """
        self["valid-referers"].extend(value.split())

    def opt_hotlink_pattern(self, value: str) -> None:
        """Protect paths matching this glob (repeatable; default: images, audio, video)."""
        self["hotlink-patterns"].append(value)

    def opt_sign_key(self, value: str) -> None:
        """A signing key KID=SECRET (repeatable; several keys allow rotation)."""
        self["sign-keys"].append(value)

    def opt_proxy(self, spec: str) -> None:
        """Mount a reverse proxy, PREFIX=URL (repeatable), e.g. /api=http://127.0.0.1:9000"""
        self["proxy"].append(spec)

    def opt_trusted_proxy(self, value: str) -> None:
        """Trust X-Forwarded-*/Forwarded from this peer IP or CIDR (repeatable)."""
        self["trusted-proxy"].append(value)

    def opt_cors(self, origin: str) -> None:
        """Allow this origin (scheme://host[:port], '*' or 'null'); repeatable or comma list."""
        self["cors"].extend(split_list(origin))

    def opt_cors_expose(self, header: str) -> None:
        """Response header a page may read (repeatable or comma list)."""
        self["cors-expose"].extend(split_list(header))

    def opt_cors_methods(self, methods: str) -> None:
        """Methods a preflight may ask for (comma list; '*' mirrors the request)."""
        self["cors-methods"].extend(split_list(methods))

    def opt_cors_headers(self, headers: str) -> None:
        """Request headers a preflight may ask for (comma list; '*' mirrors the request;
        default Content-Type, Authorization, X-Requested-With)."""
        self["cors-headers"].extend(split_list(headers))

    # -- validation: option values -> WebConfig ------------------------------------

    def post_options_web(self) -> None:
        """Build ``self.web_config``; raise ``usage.UsageError`` on a bad value."""
        static = self._static_config()
        tools = self._tools_config()
        proxy = self._proxy_config()
        _check_mounts_apart(proxy, tools)
        self.web_config = WebConfig(
            static=static,
            hotlink=self._hotlink_config(explain=static.explain),
            cors=self._cors_policy(),
            proxy=proxy,
            tools=tools,
            limits=self.limits_config(),
            access_log=self["access-log"] or None,
            replay=not self["no-replay"],
        )

    def _static_config(self) -> StaticConfig:
        path = self["path"]
        if not os.path.isdir(path):
            raise usage.UsageError(f"--path {path!r} is not an existing directory")
        if self["symlinks"] not in SYMLINK_POLICIES:
            raise usage.UsageError(
                f"--symlinks must be one of {', '.join(SYMLINK_POLICIES)}, "
                f"not {self['symlinks']!r}"
            )
        numbers: dict[str, int] = {}
        for name, (_default_value, minimum) in _INTEGER_OPTIONS.items():
            raw = self[name]
            try:
                value = int(raw)
            except (TypeError, ValueError) as exc:
                if name not in _SIZE_OPTIONS:
                    raise usage.UsageError(f"--{name} must be an integer, not {raw!r}") from exc
                value = parse_size(name, raw)  # 64k, 10m, 1g, as --max-body takes them
            if value < minimum:
                raise usage.UsageError(f"--{name} must be >= {minimum}, not {value}")
            numbers[name] = value
        return StaticConfig(
            root=os.path.abspath(path),
            symlinks=SymlinkPolicy(self["symlinks"]),
            listing=not self["no-listing"],
            allow_dotfiles=bool(self["allow-dotfiles"]),
            spa=bool(self["spa"]),
            explain=bool(self["explain"]),
            max_ranges=numbers["max-ranges"],
            memory_cache_size=numbers["memory-cache-size"],
            facts=FactsConfig(
                policy=CachePolicy(max_age=numbers["max-age"], dev=bool(self["dev"])),
                memory_file_max=numbers["memory-file-max"],
                gzip_min_size=numbers["gzip-min-size"],
                compress_max_size=numbers["compress-max-size"],
                compress=not self["no-compress"],
            ),
        )

    def _hotlink_config(self, *, explain: bool) -> HotlinkConfig | None:
        try:
            policy = hotlink_policy(
                referer_tokens=self["valid-referers"],
                key_specs=self["sign-keys"],
                key_file=self["sign-key-file"],
                mode=self["hotlink-mode"],
                active_key=self["sign-active"],
                patterns=self["hotlink-patterns"],
                skew=self["sign-skew"],
                replacement=self["hotlink-replacement"],
            )
            if policy is None:
                return None
            path = self["hotlink-replacement"]
            replacement = load_replacement(path) if path else None
        except HotlinkConfigError as exc:
            raise usage.UsageError(str(exc)) from exc
        return HotlinkConfig(policy, replacement, explain)

    def _proxy_config(self) -> ProxyConfig:
        keep = bool(self["proxy-keep-prefix"])
        preserve = bool(self["proxy-preserve-host"])
        via = self["proxy-via"] or "netlab"
        try:
            mounts = [
                parse_mount_spec(spec, keep_prefix=keep, preserve_host=preserve)
                for spec in self["proxy"]
            ]
            if self["proxy-config"]:
                mounts.extend(
                    load_proxy_toml(self["proxy-config"], keep_prefix=keep, preserve_host=preserve)
                )
            check_unique(mounts)
            trusted = parse_trusted(self["trusted-proxy"])
        except ProxyConfigError as exc:
            raise usage.UsageError(str(exc)) from exc
        if not via.isascii() or not via.isprintable() or any(c in via for c in " ,;()"):
            raise usage.UsageError(f"--proxy-via must be a plain token: {via!r}")
        settings = ProxySettings(
            pool_size=int(self["proxy-pool-size"]),
            connect_timeout=float(self["proxy-connect-timeout"]),
            response_timeout=float(self["proxy-response-timeout"]),
            idle_timeout=float(self["proxy-idle-timeout"]),
            trusted=trusted,
            pseudonym=via,
            dev=bool(self["proxy-dev"]),
        )
        return ProxyConfig(tuple(mounts), settings, self._proxy_cache_config())

    def _proxy_cache_config(self) -> ProxyCacheConfig:
        directory = self["proxy-cache-dir"] or None
        if directory is not None and os.path.exists(directory) and not os.path.isdir(directory):
            raise usage.UsageError(f"--proxy-cache-dir {directory} is not a directory")
        if self["proxy-cache-purge-all"] and directory is None:
            raise usage.UsageError("--proxy-cache-purge-all needs --proxy-cache-dir")
        return ProxyCacheConfig(
            enabled=bool(self["proxy-cache"]),
            memory_bytes=parse_size("proxy-cache-size", self["proxy-cache-size"]),
            directory=directory,
            disk_bytes=parse_size("proxy-cache-dir-size", self["proxy-cache-dir-size"]),
            disk_threshold=parse_size("proxy-cache-disk-min", self["proxy-cache-disk-min"]),
            purge_all=bool(self["proxy-cache-purge-all"]),
            explain=bool(self["explain"]),
        )

    def _cors_policy(self) -> CorsPolicy | None:
        raw_max_age = self["cors-max-age"]
        max_age = DEFAULT_MAX_AGE
        if raw_max_age is not None:
            text = str(raw_max_age).strip()
            if not text.isdigit():
                raise usage.UsageError(
                    f"--cors-max-age {raw_max_age!r} is not a number of seconds"
                )
            max_age = int(text)
        if not self["cors"]:
            if (
                self["cors-credentials"] or self["cors-expose"] or self["cors-methods"]
                or self["cors-headers"] or raw_max_age is not None
            ):  # fmt: skip
                raise usage.UsageError("CORS settings need at least one --cors ORIGIN")
            return None
        kwargs: dict[str, Any] = {}
        if self["cors-methods"]:
            kwargs["methods"] = list(self["cors-methods"])
        if self["cors-headers"]:
            kwargs["headers"] = list(self["cors-headers"])
        try:
            return CorsPolicy.build(
                list(self["cors"]),
                credentials=bool(self["cors-credentials"]),
                expose=list(self["cors-expose"]),
                max_age=max_age,
                **kwargs,
            )
        except CorsConfigError as exc:
            raise usage.UsageError(f"--cors: {exc}") from exc

    def _tools_config(self) -> ToolsConfig:
        prefix = normalize_tools_prefix(self["tools-prefix"] or DEFAULT_TOOLS_PREFIX)
        return ToolsConfig(enabled=bool(self["tools"]), prefix=prefix)


def _check_mounts_apart(proxy: ProxyConfig, tools: ToolsConfig) -> None:
    """A proxy mount inside the tools prefix would be shadowed (or shadow) silently."""
    if not tools.enabled:
        return
    owned = split_prefix(tools.prefix)
    for mount in proxy.mounts:
        if split_prefix(mount.prefix)[: len(owned)] == owned:
            raise usage.UsageError(
                f"--proxy {mount.prefix} lies under the tools prefix "
                f"{tools.prefix}; move the tools with --tools-prefix "
                "or leave them off (omit --tools)"
            )
