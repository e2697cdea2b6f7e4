"""Signed expiring links: minting and verifying the ``exp``/``kid``/``sig`` parameters.

Pure: no I/O, no Twisted, no clock reads (``now`` is an argument), no logging.

Signed URLs carry ``exp``, ``kid``, ``sig`` and optionally ``prefix`` query parameters;
``sig`` is base64url(HMAC-SHA256(secret, message)) where the message binds a version
tag, the key id, the scope kind (path or prefix), the scope and the expiry, so a path
signature cannot be replayed as a prefix signature and keys can rotate by id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from twisted_netlab.http.segments import has_dot_segment, merge_slashes
from twisted_netlab.http.verdict import HotlinkConfigError, HotlinkError, Verdict

__all__ = [
    "BAD_PATH",
    "BAD_SIGNATURE",
    "DEFAULT_SKEW",
    "EXPIRED",
    "MALFORMED_SIGNATURE",
    "MISSING_SIGNATURE",
    "OUTSIDE_PREFIX",
    "UNKNOWN_KEY",
    "KeyRing",
    "mint_query",
    "mint_url",
    "parse_key_spec",
    "sign",
    "verify",
]

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
_SIGN_PARAMS = ("exp", "kid", "sig", "prefix")
MIN_SECRET_BYTES = 16
MAX_EXPIRES_AT = 10**12  # 12 digits, what verify() accepts


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
                raise HotlinkConfigError(
                    f"signing key id {kid!r} given twice with different secrets"
                )
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
    if has_dot_segment(path):
        raise HotlinkConfigError(f"{what} {path!r} must not contain '.' or '..' segments")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise HotlinkConfigError(f"{what} {path!r} must not contain control characters")
    return merge_slashes(path)


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
        raise HotlinkConfigError(
            f"signing key id {key_id!r}: use 1-64 characters from A-Z a-z 0-9 . _ -"
        )
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
    signature = sign(raw, key_id, scope=scope, expires_at=expires_at, prefix=prefix is not None)
    query.append(("sig", signature))
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
    return quote(merge_slashes(path), safe="/!$&'()*+,;=:@~-._") + "?" + urlencode(query, safe="/")


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
    if has_dot_segment(path):
        return Verdict(False, BAD_PATH)
    path = merge_slashes(path)
    if prefix is not None:
        if not prefix.startswith("/") or has_dot_segment(prefix):
            return Verdict(False, MALFORMED_SIGNATURE)
        prefix = merge_slashes(prefix)
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
