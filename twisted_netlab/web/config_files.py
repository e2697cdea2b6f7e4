"""Files that options name, read once at start-up into config values (and the hotlink
policy, which depends on the signing-key file).

Why here and not in the resources: a file read while serving would block the reactor
and could change under a running server; reading at start-up turns a missing or
oversized file into a usage error before anything listens. Every reader raises the
part's ``NetlabError`` subclass with a message naming the file.
"""

from __future__ import annotations

import os

from twisted_netlab.errors import ProxyConfigError
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
from twisted_netlab.http.mediatypes import guess_type
from twisted_netlab.http.proxymount import ProxyMount, mounts_from_toml
from twisted_netlab.web.config import Replacement

__all__ = [
    "MAX_REPLACEMENT_BYTES",
    "hotlink_policy",
    "load_proxy_toml",
    "load_replacement",
    "read_key_file",
]

MAX_REPLACEMENT_BYTES = 1024 * 1024


def load_replacement(path: str) -> Replacement:
    """The hotlink replacement body and its type (small, so it is held in memory)."""
    try:
        size = os.stat(path).st_size
        if size > MAX_REPLACEMENT_BYTES:
            raise HotlinkConfigError(
                f"hotlink replacement {path!r} is {size} bytes; "
                f"the limit is {MAX_REPLACEMENT_BYTES}"
            )
        with open(path, "rb") as f:
            body = f.read(MAX_REPLACEMENT_BYTES + 1)
    except OSError as exc:
        raise HotlinkConfigError(
            f"cannot read hotlink replacement {path!r}: {exc.strerror}"
        ) from exc
    # The same table as the static files: the type must not depend on the host.
    kind, _unknown = guess_type(path)
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


def load_proxy_toml(path: str, *, keep_prefix: bool, preserve_host: bool) -> list[ProxyMount]:
    """The ``[[proxy]]`` mounts a TOML file declares; errors name the file."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProxyConfigError(f"cannot read --proxy-config {path}: {exc}") from exc
    try:
        return mounts_from_toml(text, keep_prefix=keep_prefix, preserve_host=preserve_host)
    except ProxyConfigError as exc:
        raise ProxyConfigError(f"{path}: {exc}") from exc


def hotlink_policy(
    *,
    referer_tokens: list[str],
    key_specs: list[str],
    key_file: str | None,
    mode: str | None,
    active_key: str | None,
    patterns: list[str],
    skew: float | None,
    replacement: str | None,
) -> HotlinkPolicy | None:
    """The policy the hotlink settings describe, or ``None`` when none is set.

    Raises ``HotlinkConfigError`` for a bad rule, key, mode or an orphan setting.
    """
    specs = list(key_specs)
    if key_file:
        specs += read_key_file(key_file)
    if not referer_tokens and not specs:
        if mode or replacement or active_key:
            raise HotlinkConfigError(
                "hotlink options need --valid-referers and/or --sign-key/--sign-key-file"
            )
        return None
    referers = RefererPolicy.parse(referer_tokens) if referer_tokens else None
    keys = KeyRing.from_pairs([parse_key_spec(s) for s in specs], active_key) if specs else None
    if mode:
        chosen = Mode.parse(mode)
    elif referers is not None and keys is not None:
        chosen = Mode.EITHER
    else:
        chosen = Mode.REFERER if referers is not None else Mode.SIGNED
    return HotlinkPolicy(
        patterns=PathPatterns.parse(patterns or DEFAULT_PATTERNS),
        mode=chosen,
        referers=referers,
        keys=keys,
        skew=DEFAULT_SKEW if skew is None else float(skew),
    )
