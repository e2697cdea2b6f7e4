"""Anti-hotlinking: which paths are protected and how the two gates combine.

The gates are the referer rules (``referer.py``: nginx ``valid_referers``, ``Origin``,
``Sec-Fetch-Site``) and signed expiring links (``signing.py``); ``HotlinkPolicy.decide``
asks the ones its ``Mode`` needs, in the cheap order. Pure: no I/O, no Twisted, no clock
reads (``now`` is an argument), no logging. The rule modules' public names are
re-exported here, where callers have always imported them.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from twisted_netlab.http.referer import RefererPolicy
from twisted_netlab.http.signing import (
    BAD_PATH,
    BAD_SIGNATURE,
    DEFAULT_SKEW,
    EXPIRED,
    MALFORMED_SIGNATURE,
    MISSING_SIGNATURE,
    OUTSIDE_PREFIX,
    UNKNOWN_KEY,
    KeyRing,
    mint_query,
    mint_url,
    parse_key_spec,
    sign,
    verify,
)
from twisted_netlab.http.verdict import HotlinkConfigError, HotlinkError, Verdict

__all__ = [
    "BAD_PATH",
    "BAD_SIGNATURE",
    "DEFAULT_PATTERNS",
    "DEFAULT_SKEW",
    "EXPIRED",
    "MALFORMED_SIGNATURE",
    "MISSING_SIGNATURE",
    "OUTSIDE_PREFIX",
    "UNKNOWN_KEY",
    "HotlinkConfigError",
    "HotlinkDecision",
    "HotlinkError",
    "HotlinkPolicy",
    "KeyRing",
    "Mode",
    "PathPatterns",
    "RefererPolicy",
    "Verdict",
    "mint_query",
    "mint_url",
    "parse_key_spec",
    "sign",
    "verify",
]


DEFAULT_PATTERNS: tuple[str, ...] = (
    "*.png", "*.jpg", "*.jpeg", "*.gif", "*.webp", "*.avif", "*.svg", "*.ico",
    "*.mp3", "*.ogg", "*.wav", "*.flac", "*.m4a",
    "*.mp4", "*.webm", "*.mov", "*.mkv",
)  # fmt: skip


def _compile_globs(globs: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(g) for g in globs]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


@dataclass(frozen=True)
class PathPatterns:
    """Which paths are protected: fnmatch globs, case-insensitive (``X.PNG`` is an image).

    A glob without ``/`` is matched against the last segment (``*.png``); a glob with
    ``/`` against the whole path (``/private/*``), where ``*`` also spans ``/``. The
    globs are compiled into two regular expressions once: this runs on every request.
    """

    globs: tuple[str, ...] = DEFAULT_PATTERNS
    _name_rx: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _path_rx: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lowered = [g.lower() for g in self.globs]
        object.__setattr__(self, "_name_rx", _compile_globs(g for g in lowered if "/" not in g))
        object.__setattr__(self, "_path_rx", _compile_globs(g for g in lowered if "/" in g))

    @classmethod
    def parse(cls, globs: Iterable[str]) -> PathPatterns:
        cleaned = []
        for glob in globs:
            glob = glob.strip()
            if not glob:
                raise HotlinkConfigError("empty hotlink pattern")
            cleaned.append(glob)
        if not cleaned:
            raise HotlinkConfigError("no hotlink patterns given")
        return cls(tuple(cleaned))

    def matches(self, path: str) -> bool:
        lowered = path.lower()
        if self._name_rx is not None and self._name_rx.match(lowered.rsplit("/", 1)[-1]):
            return True
        return self._path_rx is not None and self._path_rx.match(lowered) is not None


class Mode(enum.Enum):
    """How the two gates combine on a protected path."""

    REFERER = "referer"  # a valid Referer is needed
    SIGNED = "signed"  # a valid signature is needed
    EITHER = "either"  # one of them is enough
    BOTH = "both"  # both are needed

    @classmethod
    def parse(cls, text: str) -> Mode:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise HotlinkConfigError(
                f"hotlink mode {text!r}: choose one of referer, signed, either, both"
            ) from None


@dataclass(frozen=True, slots=True)
class HotlinkDecision:
    allowed: bool
    reason: str
    protected: bool  # the path matched a pattern (otherwise nothing was checked)
    used_referer: bool  # the answer depended on Referer/Origin/Sec-Fetch-Site


@dataclass(frozen=True)
class HotlinkPolicy:
    patterns: PathPatterns
    mode: Mode
    referers: RefererPolicy | None = None
    keys: KeyRing | None = None
    skew: float = DEFAULT_SKEW

    def __post_init__(self) -> None:
        if self.mode in (Mode.REFERER, Mode.EITHER, Mode.BOTH) and self.referers is None:
            raise HotlinkConfigError(f"hotlink mode {self.mode.value!r} needs valid referers")
        if self.mode in (Mode.SIGNED, Mode.EITHER, Mode.BOTH) and self.keys is None:
            raise HotlinkConfigError(f"hotlink mode {self.mode.value!r} needs signing keys")
        if not (0 <= self.skew <= 3600):
            raise HotlinkConfigError("signature clock skew must be between 0 and 3600 seconds")

    def decide(
        self,
        path: str,
        *,
        params: Mapping[str, Sequence[str]],
        now: float,
        referer: str | None = None,
        origin: str | None = None,
        sec_fetch_site: str | None = None,
        server_names: Sequence[str] = (),
    ) -> HotlinkDecision:
        """May a GET/HEAD for ``path`` (decoded once) be served?"""
        if not self.patterns.matches(path):
            return HotlinkDecision(True, "unprotected path", protected=False, used_referer=False)
        signature: Verdict | None = None
        # REFERER mode never looks at a signature: skip the HMAC even when keys exist.
        if self.keys is not None and self.mode is not Mode.REFERER:
            signature = verify(path, params, keys=self.keys.keys, now=now, skew=self.skew)
            if signature.ok and self.mode in (Mode.SIGNED, Mode.EITHER):
                return HotlinkDecision(True, signature.reason, protected=True, used_referer=False)
            if self.mode is Mode.SIGNED:
                return HotlinkDecision(False, f"signature: {signature.reason}", True, False)
        assert self.referers is not None
        ref = self.referers.check_request(
            referer=referer, origin=origin, sec_fetch_site=sec_fetch_site, server_names=server_names
        )
        if self.mode is Mode.REFERER:
            return HotlinkDecision(ref.ok, ref.reason, protected=True, used_referer=True)
        assert signature is not None
        if self.mode is Mode.EITHER:
            if ref.ok:
                return HotlinkDecision(True, ref.reason, protected=True, used_referer=True)
            reason = f"{ref.reason}; signature: {signature.reason}"
            return HotlinkDecision(False, reason, protected=True, used_referer=True)
        # BOTH
        if not signature.ok:
            return HotlinkDecision(False, f"signature: {signature.reason}", True, False)
        return HotlinkDecision(
            ref.ok, ref.reason if ref.ok else f"{ref.reason} (signature valid)", True, True
        )
