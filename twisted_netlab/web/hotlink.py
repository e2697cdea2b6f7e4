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

import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.pages import forbidden
from twisted.web.resource import IResource, Resource

from twisted_netlab.http.hotlink import (
    DEFAULT_PATTERNS,
    DEFAULT_SKEW,
    HotlinkConfigError,
    HotlinkPolicy,
    KeyRing,
    Mode,
    PathPatterns,
    RefererPolicy,
    parse_key_spec,
)
from twisted_netlab.http.paths import BadPathError, HiddenPathError, judged_path, split_request_path
from twisted_netlab.web.refusal import refuse
from twisted_netlab.web.site import render_from
from twisted_netlab.web.vary import add_vary

__all__ = [
    "MAX_REPLACEMENT_BYTES",
    "HotlinkResource",
    "Replacement",
    "load_replacement",
    "policy_from_options",
    "read_key_file",
    "wrap_hotlink",
]

MAX_REPLACEMENT_BYTES = 1024 * 1024
_VARY_TOKENS = ("Referer", "Origin", "Sec-Fetch-Site")


@dataclass(frozen=True, slots=True)
class Replacement:
    body: bytes
    content_type: bytes


def load_replacement(path: str) -> Replacement:
    """Read the replacement file once, at start-up (it is small and must not block later)."""
    try:
        size = os.stat(path).st_size
        if size > MAX_REPLACEMENT_BYTES:
            raise HotlinkConfigError(
                f"hotlink replacement {path!r} is {size} bytes; the limit is {MAX_REPLACEMENT_BYTES}"
            )
        with open(path, "rb") as f:
            body = f.read(MAX_REPLACEMENT_BYTES + 1)
    except OSError as exc:
        raise HotlinkConfigError(f"cannot read hotlink replacement {path!r}: {exc.strerror}") from exc
    kind, encoding = mimetypes.guess_type(path)
    if kind is None or encoding is not None:
        kind = "application/octet-stream"
    elif kind.startswith("text/") or kind in ("image/svg+xml", "application/javascript"):
        kind += "; charset=utf-8"
    return Replacement(body, kind.encode("ascii"))


def read_key_file(path: str) -> list[str]:
    """``KID=SECRET`` lines; blank lines and ``#`` comments ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HotlinkConfigError(f"cannot read signing key file {path!r}: {exc}") from exc
    specs = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not specs:
        raise HotlinkConfigError(f"signing key file {path!r} holds no KID=SECRET line")
    return specs


def policy_from_options(options: Mapping[str, Any]) -> HotlinkPolicy | None:
    """The policy the options describe, or ``None`` when no hotlink option is set."""
    referer_tokens: list[str] = list(options.get("valid-referers") or [])
    key_specs: list[str] = list(options.get("sign-keys") or [])
    if options.get("sign-key-file"):
        key_specs += read_key_file(options["sign-key-file"])
    mode_text = options.get("hotlink-mode")
    if not referer_tokens and not key_specs:
        if mode_text or options.get("hotlink-replacement") or options.get("sign-active"):
            raise HotlinkConfigError(
                "hotlink options need --valid-referers and/or --sign-key/--sign-key-file"
            )
        return None
    referers = RefererPolicy.parse(referer_tokens) if referer_tokens else None
    keys = (
        KeyRing.from_pairs([parse_key_spec(s) for s in key_specs], options.get("sign-active"))
        if key_specs else None
    )  # fmt: skip
    if mode_text:
        mode = Mode.parse(mode_text)
    elif referers is not None and keys is not None:
        mode = Mode.EITHER
    else:
        mode = Mode.REFERER if referers is not None else Mode.SIGNED
    patterns = PathPatterns.parse(options.get("hotlink-patterns") or DEFAULT_PATTERNS)
    skew = options.get("sign-skew")
    return HotlinkPolicy(
        patterns=patterns,
        mode=mode,
        referers=referers,
        keys=keys,
        skew=DEFAULT_SKEW if skew is None else float(skew),
    )


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
        super().__init__()  # type: ignore[no-untyped-call]
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


def wrap_hotlink(resource: IResource, options: Mapping[str, Any], reactor: IReactorTime) -> IResource:
    """Put the hotlink gate in front of ``resource``; unchanged when nothing is configured.

    Uses the policy ``post_options_hotlink`` stored under ``"hotlink-policy"`` when there
    is one, otherwise builds it from the raw option values (raising
    ``HotlinkConfigError``).
    """
    if "hotlink-policy" in options:
        policy = options["hotlink-policy"]
    else:
        policy = policy_from_options(options)
    if policy is None:
        return resource
    replacement_path = options.get("hotlink-replacement")
    replacement = load_replacement(replacement_path) if replacement_path else None
    return HotlinkResource(
        resource,
        policy,
        reactor,
        replacement=replacement,
        explain=bool(options.get("explain")),
        spa=bool(options.get("spa")),
    )
