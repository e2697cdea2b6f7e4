"""The hotlink gate: a leaf wrapper that asks ``http.hotlink`` and then delegates.

Only GET and HEAD on paths matching the patterns are judged; everything else reaches
the inner resource untouched (it answers OPTIONS and 405 itself). A refusal is a 403
with ``Cache-Control: no-store`` (a shared cache must not hand a refusal to a page that
is allowed, nor the reverse), either a short HTML page or the configured replacement
file with its own content type: browsers still draw an image sent with 403, and
crawlers and caches see the refusal for what it is. Whenever the answer depended on the
Referer, ``Vary: Referer, Origin, Sec-Fetch-Site`` says so, on passes and refusals.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.pages import forbidden
from twisted.web.resource import IResource, Resource

from twisted_netlab.http.hotlink import HotlinkPolicy
from twisted_netlab.web.config import HotlinkConfig, Replacement
from twisted_netlab.web.config_files import MAX_REPLACEMENT_BYTES, load_replacement, read_key_file
from twisted_netlab.web.mounts import render_from
from twisted_netlab.web.vary import add_vary

__all__ = [
    "MAX_REPLACEMENT_BYTES",
    "HotlinkResource",
    "Replacement",
    "load_replacement",
    "read_key_file",
    "wrap_hotlink",
]

_VARY_TOKENS = ("Referer", "Origin", "Sec-Fetch-Site")


def _header(request: IRequest, name: bytes) -> str | None:
    value = request.getHeader(name)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else value


class HotlinkResource(Resource):
    isLeaf = True

    def __init__(
        self,
        inner: IResource,
        policy: HotlinkPolicy,
        clock: IReactorTime,
        *,
        replacement: Replacement | None = None,
        explain: bool = False,
    ) -> None:
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.inner = inner
        self.policy = policy
        self.clock = clock
        self.replacement = replacement
        self.explain = explain
        self.page = forbidden("Forbidden", "This file may not be linked from another site.")

    def render(self, request: IRequest) -> bytes | int:
        if request.method not in (b"GET", b"HEAD"):
            return render_from(self.inner, request)
        path = unquote_to_bytes(request.path).decode("utf-8", "replace")
        if not self.policy.patterns.matches(path):
            return render_from(self.inner, request)
        args: dict[bytes, list[bytes]] = request.args or {}
        params = {
            k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in vs]
            for k, vs in args.items()
        }
        host = request.getRequestHostname()
        decision = self.policy.decide(
            path,
            params=params,
            now=self.clock.seconds(),
            referer=_header(request, b"referer"),
            origin=_header(request, b"origin"),
            sec_fetch_site=_header(request, b"sec-fetch-site"),
            server_names=[host.decode("latin-1")] if host else [],
        )
        if decision.used_referer:
            add_vary(request, *_VARY_TOKENS)
        if decision.allowed:
            return render_from(self.inner, request)
        return self._refuse(request, decision.reason)

    def _refuse(self, request: IRequest, reason: str) -> bytes | int:
        request.setHeader(b"cache-control", b"no-store")
        if self.explain:
            request.setHeader(b"x-netlab-explain", f"403 {reason}".encode("latin-1", "replace"))
        if self.replacement is None:
            result: bytes | int = self.page.render(request)
            return result
        request.setResponseCode(403)
        request.setHeader(b"content-type", self.replacement.content_type)
        request.setHeader(b"x-content-type-options", b"nosniff")
        return self.replacement.body


def wrap_hotlink(
    resource: IResource, config: HotlinkConfig | None, clock: IReactorTime
) -> IResource:
    """Put the hotlink gate in front of ``resource``; unchanged when ``config`` is ``None``."""
    if config is None:
        return resource
    return HotlinkResource(
        resource,
        config.policy,
        clock,
        replacement=config.replacement,
        explain=config.explain,
    )
