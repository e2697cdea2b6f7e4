"""Options for the proxy part of netlab-web (a mixin for usage.Options)."""

from __future__ import annotations


class ProxyOptionsMixin:
    def post_options_proxy(self) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
