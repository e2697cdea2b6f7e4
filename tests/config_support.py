"""Configs for tests, built directly (no option parsing) with the shipped defaults.

Resources take typed configs (``twisted_netlab.web.config``); these helpers let a test
say only what it changes. ``web_options`` parses a real command line when the test is
about the options themselves.
"""

from __future__ import annotations

import os
from typing import Any

from twisted_netlab.http.caching import CachePolicy
from twisted_netlab.http.cors import CorsPolicy
from twisted_netlab.web.config import StaticConfig, ToolsConfig, WebConfig
from twisted_netlab.web.filefacts import FactsConfig
from twisted_netlab.web.fsinfo import SymlinkPolicy
from twisted_netlab.web.options import WebOptions

__all__ = ["cors_policy", "static_config", "tools_on", "web_config", "web_options"]

_FACTS_DEFAULTS = FactsConfig(policy=CachePolicy())


def static_config(
    root: str,
    *,
    symlinks: str = "inside",
    no_listing: bool = False,
    max_age: int = 0,
    dev: bool = False,
    no_compress: bool = False,
    gzip_min_size: int = _FACTS_DEFAULTS.gzip_min_size,
    compress_max_size: int = _FACTS_DEFAULTS.compress_max_size,
    memory_file_max: int = _FACTS_DEFAULTS.memory_file_max,
    **fields: Any,
) -> StaticConfig:
    """A ``StaticConfig`` for ``root``; keyword names follow the command-line options."""
    facts = FactsConfig(
        policy=CachePolicy(max_age=max_age, dev=dev),
        memory_file_max=memory_file_max,
        gzip_min_size=gzip_min_size,
        compress_max_size=compress_max_size,
        compress=not no_compress,
    )
    return StaticConfig(
        root=os.path.abspath(root),
        symlinks=SymlinkPolicy(symlinks),
        listing=not no_listing,
        facts=facts,
        **fields,
    )


def cors_policy(*origins: str, **kwargs: Any) -> CorsPolicy:
    return CorsPolicy.build(origins, **kwargs)


def tools_on(prefix: str = "/_netlab/") -> ToolsConfig:
    return ToolsConfig(enabled=True, prefix=prefix)


def web_config(root: str = ".", **parts: Any) -> WebConfig:
    return WebConfig(static=static_config(root), **parts)


def web_options(*argv: str) -> WebOptions:
    """``WebOptions`` after parsing ``argv`` (its ``web_config`` is built)."""

    class Options(WebOptions):
        def postOptions(self) -> None:
            self.post_options_web()

    options = Options()
    options.parseOptions(list(argv))
    return options
