"""Options for the tools part of netlab-web (a mixin for usage.Options)."""

from __future__ import annotations


class ToolsOptionsMixin:
    def post_options_tools(self) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
