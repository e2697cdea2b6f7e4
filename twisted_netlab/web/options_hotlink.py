"""Options for the hotlink part of netlab-web (a mixin for usage.Options).

Keys: ``valid-referers`` (list of tokens), ``hotlink-patterns`` (list of globs, the
media list by default), ``hotlink-replacement``, ``sign-keys`` (list of ``KID=SECRET``),
``sign-key-file``, ``sign-active``, ``hotlink-mode``, ``sign-skew`` (float) and, after
validation, ``hotlink-policy`` (a ``HotlinkPolicy`` or ``None``) for ``wrap_hotlink``.
"""

from __future__ import annotations

from typing import Any

from twisted.python import usage

from twisted_netlab.http.hotlink import DEFAULT_SKEW


class HotlinkOptionsMixin:
    optParameters: list[list[Any]] = [
        ["hotlink-replacement", None, None,
         "Serve this file (with 403 and its own type) instead of the refusal page."],
        ["hotlink-mode", None, None,
         "What a protected path needs: referer, signed, either, both "
         "(default: either when referers and keys are both set)."],
        ["sign-key-file", None, None,
         "Read KID=SECRET lines from this file (keeps secrets out of ps)."],
        ["sign-active", None, None, "The key id that mints links (default: the first key)."],
        ["sign-skew", None, DEFAULT_SKEW,
         "Seconds a signed link stays valid past its expiry (clock skew).", float],
    ]  # fmt: skip

    def opt_valid_referers(self, value: str) -> None:
        """nginx valid_referers tokens (repeatable or space separated), e.g.
        "none blocked server_names example.com *.example.com example.* ~\\.google\\."
        """
        self.setdefault("valid-referers", []).extend(value.split())  # type: ignore[attr-defined]

    def opt_hotlink_pattern(self, value: str) -> None:
        """Protect paths matching this glob (repeatable; default: images, audio, video)."""
        self.setdefault("hotlink-patterns", []).append(value)  # type: ignore[attr-defined]

    def opt_sign_key(self, value: str) -> None:
        """A signing key KID=SECRET (repeatable; several keys allow rotation)."""
        self.setdefault("sign-keys", []).append(value)  # type: ignore[attr-defined]

    def post_options_hotlink(self) -> None:
        """Validate this part's options; raise usage.UsageError on a bad value."""
        from twisted_netlab.http.hotlink import HotlinkConfigError
        from twisted_netlab.web.hotlink import load_replacement, policy_from_options

        opts: Any = self
        for key in ("valid-referers", "hotlink-patterns", "sign-keys"):
            opts.setdefault(key, [])
        try:
            policy = policy_from_options(opts)
            if opts.get("hotlink-replacement"):
                load_replacement(opts["hotlink-replacement"])
        except HotlinkConfigError as exc:
            raise usage.UsageError(str(exc)) from exc
        opts["hotlink-policy"] = policy
