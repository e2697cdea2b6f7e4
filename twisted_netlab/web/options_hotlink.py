"""Options for the hotlink part of netlab-web (a mixin for usage.Options)."""

from __future__ import annotations


class HotlinkOptionsMixin:
    def post_options_hotlink(self) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
