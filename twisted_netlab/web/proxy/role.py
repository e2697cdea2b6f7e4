"""What a proxied call needs of its mount: a ``typing.Protocol``, so that ``call.py``
does not import ``resource.py`` (which builds calls) and the import graph stays acyclic.

``ProxyResource`` satisfies it structurally; tests may hand in any object that does.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IReactorTime

from twisted_netlab.http.headers import CookieRewrite, ForwardRules
from twisted_netlab.http.proxymount import ProxyMount
from twisted_netlab.upstream.client import UpstreamClient
from twisted_netlab.upstream.message import Origin
from twisted_netlab.web.config import ProxySettings


class CallHost(Protocol):
    """The per-mount facts a ``ProxyCall`` reads; computed once per mount."""

    mount: ProxyMount
    client: UpstreamClient
    settings: ProxySettings
    reactor: IReactorTime
    origin: Origin
    forward_rules: ForwardRules
    cookie_rules: dict[bool, CookieRewrite] | None
    drop_cors: bool

    def via_for(self, version: bytes) -> bytes:
        """The ``Via`` value for a response of HTTP ``version``."""
