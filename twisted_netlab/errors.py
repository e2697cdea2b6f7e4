"""One root for every error the pure cores raise.

Adapters catch ``NetlabError`` subclasses and turn their hint (a close reason or an
HTTP status) into a log line or a response; cores never log.
"""

from __future__ import annotations


class NetlabError(Exception):
    """Base of all twisted-netlab errors."""


class FrameError(NetlabError):
    """Invalid input on a framed TCP stream; the connection must be closed."""


class HTTPRuleError(NetlabError):
    """A request broke an HTTP rule; ``status`` is the answer an adapter should send."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class ProxyConfigError(NetlabError):
    """A proxy mount or setting (``--proxy``, the TOML file, a trusted proxy) that
    cannot be used. Here, not in ``http/proxymount.py``, because both the mount and the
    forwarding rules raise it and neither should import the other."""


class PathError(HTTPRuleError):
    """A request path that must not reach the file system."""

    status = 404
