"""The hotlink gate: a leaf wrapper that asks ``http.hotlink`` and then delegates.

Only GET and HEAD on paths matching the patterns are judged; everything else reaches
the inner resource untouched (it answers OPTIONS and 405 itself). The gate judges the
canonical path of ``http.paths`` (the one the static lookup uses), so ``//private/x``,
``/./private/x`` and ``/%70rivate/x`` are judged exactly as ``/private/x``; a path that
rule refuses gets the same 400 here. A request that may be answered with another file
(a compression sidecar, a directory's ``index.html``, the SPA fallback) is judged as
that file too (``http.paths.judged_path``). A refusal is a 403
with ``Cache-Control: no-store`` (a shared cache must not hand a refusal to a page that
is allowed, nor the reverse), either a short HTML page or the configured replacement
file with its own content type: browsers still draw an image sent with 403, and
crawlers and caches see the refusal for what it is. Whenever the answer depended on the
Referer, ``Vary: Referer, Origin, Sec-Fetch-Site`` says so, on passes and refusals.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.pages import forbidden
from twisted.web.resource import IResource, Resource

from twisted_netlab.http.hotlink import HotlinkPolicy, Mode
from twisted_netlab.http.paths import BadPathError, HiddenPathError, judged_path, split_request_path
from twisted_netlab.web.config import HotlinkConfig, Replacement
from twisted_netlab.web.config_files import MAX_REPLACEMENT_BYTES, load_replacement, read_key_file
from twisted_netlab.web.mounts import render_from
from twisted_netlab.web.refusal import refuse
from twisted_netlab.web.replay import forbid_replay
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
        spa: bool = False,
    ) -> None:
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.inner = inner
        self.policy = policy
        self.clock = clock
        self.replacement = replacement
        self.explain = explain
        self.spa = spa
        self.page = forbidden("Forbidden", "This file may not be linked from another site.")

    def render(self, request: IRequest) -> bytes | int:
        if request.method not in (b"GET", b"HEAD"):
            return render_from(self.inner, request)
        try:
            rpath = split_request_path([*request.prepath, *request.postpath], allow_dotfiles=True)
        except BadPathError as exc:
            return refuse(request, exc.status, str(exc))
        except HiddenPathError as exc:  # not UTF-8: no file has that name
            return refuse(request, exc.status, str(exc))
        protected = self.policy.patterns.matches
        accept = request.getHeader(b"accept") or b""
        path = judged_path(rpath, protected, spa=self.spa, accepts_html=b"text/html" in accept)
        if not protected(path):
            return render_from(self.inner, request)
        if self.policy.keys is not None and self.policy.mode is not Mode.REFERER:
            forbid_replay(request)  # a signature's verdict depends on the clock (expiry)
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
        reason = decision.reason
        if path != rpath.url_path:
            reason += f" (judged as {path})"
        return self._refuse(request, reason)

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
    resource: IResource, config: HotlinkConfig | None, clock: IReactorTime, *, spa: bool = False
) -> IResource:
    """Put the hotlink gate in front of ``resource``; unchanged when ``config`` is ``None``.

    ``spa``: the static resource answers unknown routes with ``/index.html``, which the
    gate then judges as that file.
    """
    if config is None:
        return resource
    return HotlinkResource(
        resource,
        config.policy,
        clock,
        replacement=config.replacement,
        explain=config.explain,
        spa=spa,
    )
