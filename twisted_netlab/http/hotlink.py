"""Anti-hotlinking rules: Referer whitelists, Fetch Metadata and signed expiring URLs.

Pure: no I/O, no Twisted, no clock reads (``now`` is an argument), no logging.

Referer rules follow nginx ``valid_referers`` (ngx_http_referer_module):

- ``none``: the request has no Referer header;
- ``blocked``: a Referer is present but does not start with ``http://`` or ``https://``
  (a proxy or firewall masked it; an empty value counts too, as in nginx);
- ``server_names``: the Referer host is one of the names the adapter passes (the host
  the request was sent to);
- a host, optionally with a URI prefix: ``example.com``, ``*.example.com`` (subdomains
  only), ``.example.com`` (the domain and its subdomains), ``example.*`` (any suffix),
  ``example.com/galleries/``. Hosts compare case-insensitively, the Referer's port is
  ignored (as nginx does), the URI part is a case-sensitive prefix;
- ``~regex``: searched case-insensitively in the text after the scheme.

Browsers hide the Referer easily (``referrerpolicy="no-referrer"``), which ``none``
must let through; ``Sec-Fetch-Site`` closes that gap: ``same-origin``, ``same-site``
and ``none`` (typed URL, bookmark) pass, ``cross-site`` passes only when the Referer or
the ``Origin`` matches an explicit host, server-name or regex rule, never through
``none``/``blocked``. An ``Origin`` with no Referer is judged like a Referer.

Signed URLs carry ``exp``, ``kid``, ``sig`` and optionally ``prefix`` query parameters;
``sig`` is base64url(HMAC-SHA256(secret, message)) where the message binds a version
tag, the key id, the scope kind (path or prefix), the scope and the expiry, so a path
signature cannot be replayed as a prefix signature and keys can rotate by id.
"""

from __future__ import annotations

import base64
import enum
import fnmatch
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from twisted_netlab.errors import HTTPRuleError, NetlabError

__all__ = [
    "DEFAULT_PATTERNS",
    "DEFAULT_SKEW",
    "Decision",
    "HotlinkConfigError",
    "HotlinkError",
    "HotlinkPolicy",
    "KeyRing",
    "Mode",
    "PathPatterns",
    "RefererPolicy",
    "Verdict",
    "mint_query",
    "mint_url",
    "normalize_path",
    "parse_key_spec",
    "sign",
    "verify",
]

DEFAULT_PATTERNS: tuple[str, ...] = (
    "*.png", "*.jpg", "*.jpeg", "*.gif", "*.webp", "*.avif", "*.svg", "*.ico",
    "*.mp3", "*.ogg", "*.wav", "*.flac", "*.m4a",
    "*.mp4", "*.webm", "*.mov", "*.mkv",
)  # fmt: skip
DEFAULT_SKEW = 30.0

# Verdict reasons (stable strings: the explain header and tests use them).
MISSING_SIGNATURE = "missing signature"
MALFORMED_SIGNATURE = "malformed signature parameters"
EXPIRED = "expired"
UNKNOWN_KEY = "unknown key"
BAD_SIGNATURE = "bad signature"
OUTSIDE_PREFIX = "path outside prefix"
BAD_PATH = "path has dot segments"

_SIGN_VERSION = "netlab-sign-v1"
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_EXP = re.compile(r"[0-9]{1,12}")
_HOST_LABELS = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_SIGN_PARAMS = ("exp", "kid", "sig", "prefix")
MIN_SECRET_BYTES = 16
MAX_EXPIRES_AT = 10**12  # 12 digits, what verify() accepts


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


# -- paths ---------------------------------------------------------------------


def normalize_path(path: str) -> str:
    """Merge empty segments (``a//b``) as the static resource does; keep a trailing slash."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        return "/"
    return "/" + "/".join(segments) + ("/" if path.endswith("/") else "")


def _has_dot_segment(path: str) -> bool:
    return any(s in (".", "..") for s in path.split("/"))


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


# -- referer rules --------------------------------------------------------------


class _HostKind(enum.Enum):
    EXACT = "exact"
    SUBDOMAINS = "subdomains"  # *.example.com
    DOMAIN = "domain"  # .example.com: example.com and its subdomains
    ANY_SUFFIX = "any-suffix"  # example.*


@dataclass(frozen=True, slots=True)
class _HostRule:
    kind: _HostKind
    host: str
    uri: str  # "" when the rule has no URI part

    def matches(self, host: str, rest: str) -> bool:
        if not self._host_matches(host):
            return False
        return rest.startswith(self.uri)

    def _host_matches(self, host: str) -> bool:
        if self.kind is _HostKind.EXACT:
            return host == self.host
        if self.kind is _HostKind.SUBDOMAINS:
            return host.endswith("." + self.host)
        if self.kind is _HostKind.DOMAIN:
            return host == self.host or host.endswith("." + self.host)
        # nginx tail wildcard: "example.*" needs at least one more label after the dot.
        return host.startswith(self.host + ".") and len(host) > len(self.host) + 1


def _parse_host_rule(token: str) -> _HostRule:
    host, slash, uri = token.partition("/")
    uri = slash + uri
    host = host.lower()
    if ":" in host:
        raise HotlinkConfigError(
            f"referer rule {token!r}: ports are ignored when matching a Referer; drop the port"
        )
    kind = _HostKind.EXACT
    if host.startswith("*."):
        kind, host = _HostKind.SUBDOMAINS, host[2:]
    elif host.startswith("."):
        kind, host = _HostKind.DOMAIN, host[1:]
    elif host.endswith(".*"):
        kind, host = _HostKind.ANY_SUFFIX, host[:-2]
    if not _HOST_LABELS.fullmatch(host):
        raise HotlinkConfigError(
            f"referer rule {token!r}: expected a host name, '*.host', '.host' or 'host.*'"
            " (a '*' only at the start or end, on a dot border), optionally followed"
            " by a URI prefix"
        )
    return _HostRule(kind, host, uri)


@dataclass(frozen=True, slots=True)
class _ParsedReferer:
    """A Referer (or Origin) split the way the rules look at it."""

    present: bool
    http: bool  # starts with http:// or https://
    after_scheme: str = ""
    host: str = ""
    rest: str = ""  # from the first "/" after the authority (nginx's URI part)


def _parse_referer(value: str | None) -> _ParsedReferer:
    if value is None:
        return _ParsedReferer(present=False, http=False)
    lowered = value[:8].lower()
    if lowered.startswith("http://"):
        after = value[7:]
    elif lowered.startswith("https://"):
        after = value[8:]
    else:
        return _ParsedReferer(present=True, http=False)
    end = len(after)
    for stop in "/?#":
        at = after.find(stop)
        if at != -1:
            end = min(end, at)
    authority, tail = after[:end], after[end:]
    rest = tail if tail.startswith("/") else ""
    if "@" in authority:  # userinfo: browsers never send it; "good.com@evil.com" is evil
        return _ParsedReferer(present=True, http=True, after_scheme=after)
    if authority.startswith("["):
        host = authority[1 : authority.find("]")] if "]" in authority else ""
    else:
        host = authority.split(":", 1)[0]
    return _ParsedReferer(
        present=True, http=True, after_scheme=after, host=host.lower().rstrip("."), rest=rest
    )


@dataclass(frozen=True)
class RefererPolicy:
    """A parsed ``valid_referers`` list."""

    allow_none: bool = False
    allow_blocked: bool = False
    allow_server_names: bool = False
    hosts: tuple[_HostRule, ...] = ()
    regexes: tuple[re.Pattern[str], ...] = field(default=())

    @classmethod
    def parse(cls, tokens: Iterable[str]) -> RefererPolicy:
        """Tokens as nginx takes them; each item may hold several, space-separated."""
        allow_none = allow_blocked = allow_server_names = False
        hosts: list[_HostRule] = []
        regexes: list[re.Pattern[str]] = []
        count = 0
        for item in tokens:
            for token in item.split():
                count += 1
                lowered = token.lower()
                if lowered == "none":
                    allow_none = True
                elif lowered == "blocked":
                    allow_blocked = True
                elif lowered == "server_names":
                    allow_server_names = True
                elif token.startswith("~"):
                    try:
                        regexes.append(re.compile(token[1:], re.IGNORECASE))
                    except re.error as exc:
                        raise HotlinkConfigError(
                            f"referer rule {token!r}: bad regular expression: {exc}"
                        ) from exc
                else:
                    hosts.append(_parse_host_rule(token))
        if count == 0:
            raise HotlinkConfigError("empty valid-referers list")
        return cls(allow_none, allow_blocked, allow_server_names, tuple(hosts), tuple(regexes))

    def _explicit_match(self, ref: _ParsedReferer, server_names: Sequence[str]) -> bool:
        """A host, server-name or regex rule names this http(s) referer."""
        if not ref.http:
            return False
        if ref.host:
            if self.allow_server_names and any(
                ref.host == n.lower().rstrip(".") for n in server_names
            ):
                return True
            if any(rule.matches(ref.host, ref.rest) for rule in self.hosts):
                return True
        return any(rx.search(ref.after_scheme) for rx in self.regexes)

    def check_referer(self, referer: str | None, server_names: Sequence[str] = ()) -> Verdict:
        """nginx semantics for one Referer value (``None``: header absent)."""
        ref = _parse_referer(referer)
        if not ref.present:
            return Verdict(self.allow_none, "no referer" + ("" if self.allow_none else " not allowed"))
        if not ref.http:
            return Verdict(
                self.allow_blocked,
                "blocked referer" + ("" if self.allow_blocked else " not allowed"),
            )
        if self._explicit_match(ref, server_names):
            return Verdict(True, "referer whitelisted")
        return Verdict(False, "referer not allowed")

    def check_request(
        self,
        *,
        referer: str | None,
        origin: str | None = None,
        sec_fetch_site: str | None = None,
        server_names: Sequence[str] = (),
    ) -> Verdict:
        """Referer rules plus ``Origin`` and ``Sec-Fetch-Site`` (see the module docstring)."""
        site = sec_fetch_site.strip().lower() if sec_fetch_site is not None else None
        if site in ("same-origin", "same-site", "none"):
            return Verdict(True, f"sec-fetch-site {site}")
        origin_ref = (
            _parse_referer(origin) if origin is not None and origin.strip().lower() != "null"
            else None
        )  # fmt: skip
        if site == "cross-site":
            if self._explicit_match(_parse_referer(referer), server_names):
                return Verdict(True, "cross-site, referer whitelisted")
            if origin_ref is not None and self._explicit_match(origin_ref, server_names):
                return Verdict(True, "cross-site, origin whitelisted")
            return Verdict(False, "cross-site request not whitelisted")
        if referer is None and origin is not None:
            # A fetch() with the Referer hidden still names its origin: judge that.
            if origin_ref is None:  # "Origin: null", an opaque (masked) origin
                return Verdict(
                    self.allow_blocked,
                    "opaque origin" + ("" if self.allow_blocked else " not allowed"),
                )
            if self._explicit_match(origin_ref, server_names):
                return Verdict(True, "origin whitelisted")
            return Verdict(False, "origin not allowed")
        verdict = self.check_referer(referer, server_names)
        if (
            not verdict.ok
            and origin_ref is not None
            and self._explicit_match(origin_ref, server_names)
        ):
            return Verdict(True, "origin whitelisted")
        return verdict


# -- signed URLs ----------------------------------------------------------------


def parse_key_spec(spec: str) -> tuple[str, bytes]:
    """``"KID=SECRET"`` -> ``("KID", b"SECRET")``, or a typed error saying what is wrong."""
    kid, eq, secret = spec.strip().partition("=")
    if not eq:
        raise HotlinkConfigError("signing key must look like KID=SECRET")
    if not _KEY_ID.fullmatch(kid):
        raise HotlinkConfigError(
            f"signing key id {kid!r}: use 1-64 characters from A-Z a-z 0-9 . _ -"
        )
    raw = secret.encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        raise HotlinkConfigError(
            f"signing key {kid!r}: the secret must be at least {MIN_SECRET_BYTES} bytes"
        )
    return kid, raw


@dataclass(frozen=True)
class KeyRing:
    """Every key that still verifies, and the one that mints (rotation by key id)."""

    keys: Mapping[str, bytes]
    active: str

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, bytes]], active: str | None = None) -> KeyRing:
        if not pairs:
            raise HotlinkConfigError("no signing keys given")
        keys: dict[str, bytes] = {}
        for kid, secret in pairs:
            if kid in keys and keys[kid] != secret:
                raise HotlinkConfigError(f"signing key id {kid!r} given twice with different secrets")
            keys[kid] = secret
        chosen = pairs[0][0] if active is None else active
        if chosen not in keys:
            raise HotlinkConfigError(f"active signing key {chosen!r} is not among the keys")
        return cls(keys, chosen)


def _message(key_id: str, kind: str, scope: str, expires_at: int) -> bytes:
    return f"{_SIGN_VERSION}\n{key_id}\n{kind}\n{scope}\n{expires_at}".encode()


def sign(secret: bytes, key_id: str, *, scope: str, expires_at: int, prefix: bool) -> str:
    """base64url (unpadded) HMAC-SHA256 over key id, scope kind, scope and expiry."""
    mac = hmac.new(
        secret, _message(key_id, "prefix" if prefix else "path", scope, expires_at), hashlib.sha256
    )
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def _under_prefix(path: str, prefix: str) -> bool:
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def _check_signable(path: str, what: str) -> str:
    if not path.startswith("/"):
        raise HotlinkConfigError(f"{what} {path!r} must start with '/'")
    if _has_dot_segment(path):
        raise HotlinkConfigError(f"{what} {path!r} must not contain '.' or '..' segments")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise HotlinkConfigError(f"{what} {path!r} must not contain control characters")
    return normalize_path(path)


def mint_query(
    path: str,
    *,
    key_id: str,
    secret: bytes | str,
    expires_at: int,
    prefix: str | None = None,
) -> list[tuple[str, str]]:
    """The query parameters that make ``path`` (decoded, ``/``-rooted) pass until ``expires_at``."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not _KEY_ID.fullmatch(key_id):
        raise HotlinkConfigError(f"signing key id {key_id!r}: use 1-64 characters from A-Z a-z 0-9 . _ -")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or not (
        0 <= expires_at < MAX_EXPIRES_AT
    ):
        raise HotlinkConfigError(
            f"expires_at must be an integer from 0 to {MAX_EXPIRES_AT - 1} (unix seconds)"
        )
    path = _check_signable(path, "path")
    query = [("exp", str(expires_at)), ("kid", key_id)]
    if prefix is not None:
        prefix = _check_signable(prefix, "prefix")
        if not _under_prefix(path, prefix):
            raise HotlinkConfigError(f"path {path!r} is outside prefix {prefix!r}")
        query.append(("prefix", prefix))
        scope = prefix
    else:
        scope = path
    query.append(("sig", sign(raw, key_id, scope=scope, expires_at=expires_at, prefix=prefix is not None)))
    return query


def mint_url(
    path: str,
    *,
    key_id: str,
    secret: bytes | str,
    expires_at: int,
    prefix: str | None = None,
) -> str:
    """A root-relative URL (``/media/a%20b.png?exp=...&kid=...&sig=...``) for ``path``."""
    query = mint_query(path, key_id=key_id, secret=secret, expires_at=expires_at, prefix=prefix)
    return quote(normalize_path(path), safe="/!$&'()*+,;=:@~-._") + "?" + urlencode(query, safe="/")


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) != 1:
        raise HotlinkError(MALFORMED_SIGNATURE)
    return values[0]


def verify(
    path: str,
    params: Mapping[str, Sequence[str]],
    *,
    keys: Mapping[str, bytes],
    now: float,
    skew: float = DEFAULT_SKEW,
) -> Verdict:
    """Check the signature parameters of a request for ``path`` (decoded once).

    ``params`` maps query names to their values. The signature is checked before the
    expiry, so "expired" is only ever said of a genuine link.
    """
    try:
        exp_text, kid, sig, prefix = (_single(params, n) for n in _SIGN_PARAMS)
    except HotlinkError as exc:
        return Verdict(False, exc.reason)
    if exp_text is None and kid is None and sig is None:
        return Verdict(False, MISSING_SIGNATURE)
    if exp_text is None or kid is None or sig is None or not _EXP.fullmatch(exp_text):
        return Verdict(False, MALFORMED_SIGNATURE)
    expires_at = int(exp_text)
    secret = keys.get(kid)
    if secret is None:
        return Verdict(False, UNKNOWN_KEY)
    if _has_dot_segment(path):
        return Verdict(False, BAD_PATH)
    path = normalize_path(path)
    if prefix is not None:
        if not prefix.startswith("/") or _has_dot_segment(prefix):
            return Verdict(False, MALFORMED_SIGNATURE)
        prefix = normalize_path(prefix)
        if not _under_prefix(path, prefix):
            return Verdict(False, OUTSIDE_PREFIX)
    expected = sign(
        secret, kid, scope=prefix if prefix is not None else path,
        expires_at=expires_at, prefix=prefix is not None,
    )  # fmt: skip
    try:
        given = sig.encode("ascii")
    except UnicodeEncodeError:
        return Verdict(False, BAD_SIGNATURE)
    if not hmac.compare_digest(expected.encode("ascii"), given):
        return Verdict(False, BAD_SIGNATURE)
    if now > expires_at + skew:
        return Verdict(False, EXPIRED)
    return Verdict(True, "valid signature (prefix)" if prefix is not None else "valid signature")


# -- the whole decision ---------------------------------------------------------


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
class Decision:
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
    ) -> Decision:
        """May a GET/HEAD for ``path`` (decoded once) be served?"""
        if not self.patterns.matches(path):
            return Decision(True, "unprotected path", protected=False, used_referer=False)
        signature: Verdict | None = None
        # REFERER mode never looks at a signature: skip the HMAC even when keys exist.
        if self.keys is not None and self.mode is not Mode.REFERER:
            signature = verify(path, params, keys=self.keys.keys, now=now, skew=self.skew)
            if signature.ok and self.mode in (Mode.SIGNED, Mode.EITHER):
                return Decision(True, signature.reason, protected=True, used_referer=False)
            if self.mode is Mode.SIGNED:
                return Decision(False, f"signature: {signature.reason}", True, False)
        assert self.referers is not None
        ref = self.referers.check_request(
            referer=referer, origin=origin, sec_fetch_site=sec_fetch_site, server_names=server_names
        )
        if self.mode is Mode.REFERER:
            return Decision(ref.ok, ref.reason, protected=True, used_referer=True)
        assert signature is not None
        if self.mode is Mode.EITHER:
            if ref.ok:
                return Decision(True, ref.reason, protected=True, used_referer=True)
            return Decision(False, f"{ref.reason}; signature: {signature.reason}", True, True)
        # BOTH
        if not signature.ok:
            return Decision(False, f"signature: {signature.reason}", True, False)
        return Decision(
            ref.ok, ref.reason if ref.ok else f"{ref.reason} (signature valid)", True, True
        )
