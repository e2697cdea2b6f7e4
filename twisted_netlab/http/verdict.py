"""What the hotlink rules answer, and the errors they raise.

A leaf shared by the referer rules (``referer.py``), link signing (``signing.py``) and
the decision that combines them (``hotlink.py``), so neither rule module imports the
other. Pure: no I/O, no Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted_netlab.errors import HTTPRuleError, NetlabError

__all__ = ["HotlinkConfigError", "HotlinkError", "Verdict"]


class HotlinkConfigError(NetlabError):
    """A bad rule, pattern or key in the configuration (a usage error, not a request)."""


class HotlinkError(HTTPRuleError):
    """A request refused by the hotlink policy; ``reason`` is the deciding rule."""

    status = 403

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str
