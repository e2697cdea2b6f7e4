"""Options for the tools and CORS parts of netlab-web (a mixin for usage.Options).

Keys set on the options dict:

- ``cors``: list of origins (``--cors``, repeatable or comma list; ``*`` allowed)
- ``cors-credentials``: bool; ``cors-expose``, ``cors-methods``, ``cors-headers``:
  lists (empty means the defaults of ``twisted_netlab.http.cors``); ``cors-max-age``:
  int seconds
- ``cors-policy``: the validated ``CorsPolicy``, or ``None`` when ``--cors`` is absent
- ``tools-prefix``: the normalised prefix (``/_netlab/``); ``tools``: bool (off unless
  ``--tools``: the tools answer with content a link chooses, so they are opt-in)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.python import usage

from twisted_netlab.http.cors import DEFAULT_MAX_AGE, CorsConfigError, CorsPolicy

DEFAULT_TOOLS_PREFIX = "/_netlab/"
_LIST_KEYS = ("cors", "cors-expose", "cors-methods", "cors-headers")


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def policy_from_options(options: Mapping[str, Any]) -> CorsPolicy | None:
    """The CORS policy the options describe; ``None`` without ``--cors``.

    Raises ``CorsConfigError`` on a bad combination.
    """
    origins = list(options.get("cors") or [])
    if not origins:
        return None
    max_age = options.get("cors-max-age")
    kwargs: dict[str, Any] = {}
    if options.get("cors-methods"):
        kwargs["methods"] = list(options["cors-methods"])
    if options.get("cors-headers"):
        kwargs["headers"] = list(options["cors-headers"])
    return CorsPolicy.build(
        origins,
        credentials=bool(options.get("cors-credentials")),
        expose=list(options.get("cors-expose") or []),
        max_age=DEFAULT_MAX_AGE if max_age is None else int(max_age),
        **kwargs,
    )


def normalize_tools_prefix(prefix: str) -> str:
    segments = [s for s in prefix.strip().split("/") if s]
    if not segments:
        raise usage.UsageError("--tools-prefix cannot be '/': it would hide every other path")
    if any(s in (".", "..") for s in segments):
        raise usage.UsageError(f"--tools-prefix {prefix!r} must not contain '.' or '..'")
    return "/" + "/".join(segments) + "/"


class ToolsOptionsMixin:
    optFlags = [
        ["cors-credentials", None, "Allow credentialed CORS requests (never with --cors '*')."],
        ["tools", None, "Mount the request inspector and response setter under --tools-prefix "
                        "(off by default: they answer with content a link chooses)."],
    ]
    optParameters = [
        ["cors-max-age", None, None, f"Preflight cache lifetime in seconds (default {DEFAULT_MAX_AGE})."],
        ["tools-prefix", None, DEFAULT_TOOLS_PREFIX, "Where the inspector and setter live."],
    ]

    def _append(self, key: str, value: str) -> None:
        options: dict[str, Any] = self  # type: ignore[assignment]
        options.setdefault(key, []).extend(_split(value))

    def opt_cors(self, origin: str) -> None:
        """Allow this origin (scheme://host[:port], '*' or 'null'); repeatable or comma list."""
        self._append("cors", origin)

    def opt_cors_expose(self, header: str) -> None:
        """Response header a page may read (repeatable or comma list)."""
        self._append("cors-expose", header)

    def opt_cors_methods(self, methods: str) -> None:
        """Methods a preflight may ask for (comma list; '*' mirrors the request)."""
        self._append("cors-methods", methods)

    def opt_cors_headers(self, headers: str) -> None:
        """Request headers a preflight may ask for (comma list; '*' mirrors the request;
        default Content-Type, Authorization, X-Requested-With)."""
        self._append("cors-headers", headers)

    def post_options_tools(self) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
        options: dict[str, Any] = self  # type: ignore[assignment]
        for key in _LIST_KEYS:
            options.setdefault(key, [])
        options["cors-credentials"] = bool(options.get("cors-credentials"))
        options["tools"] = bool(options.get("tools"))
        max_age = options.get("cors-max-age")
        if max_age is not None:
            text = str(max_age).strip()
            if not text.isdigit():
                raise usage.UsageError(f"--cors-max-age {max_age!r} is not a number of seconds")
            options["cors-max-age"] = int(text)
        if not options["cors"] and (
            options["cors-credentials"] or options["cors-expose"] or options["cors-methods"]
            or options["cors-headers"] or max_age is not None
        ):
            raise usage.UsageError("CORS settings need at least one --cors ORIGIN")
        try:
            options["cors-policy"] = policy_from_options(options)
        except CorsConfigError as exc:
            raise usage.UsageError(f"--cors: {exc}") from exc
        options["tools-prefix"] = normalize_tools_prefix(
            options.get("tools-prefix") or DEFAULT_TOOLS_PREFIX
        )
