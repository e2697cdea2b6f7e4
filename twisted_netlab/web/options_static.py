"""Options for the static part of netlab-web (a mixin for usage.Options)."""

from __future__ import annotations


class StaticOptionsMixin:
    def post_options_static(self) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
