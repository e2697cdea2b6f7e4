"""Per-file facts and representations, computed once per file version.

A ``FileFacts`` holds what every response for one version of one file shares: the
resolved path, its stat identity, type, validators, cache policy and, per content coding
(identity, a ``.br``/``.zst``/``.gz`` sidecar, or gzip/br made on the fly), a
``Representation`` with its own strong ETag, length and precomputed header list. The
static resource only looks these up, revalidates with one ``os.stat`` and writes.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from twisted_netlab.http.caching import CachePolicy, cache_control
from twisted_netlab.http.encoding import SIDECARS, is_compressible
from twisted_netlab.http.mediatypes import guess_type
from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.http.ranges import RangeResult
from twisted_netlab.http.validators import ETag, http_date, make_etag
from twisted_netlab.web.fastheaders import canonical
from twisted_netlab.web.fsinfo import ByteLRU, Resolver, StatKey, is_regular, stat_key
from twisted_netlab.web.limits import FD_EXHAUSTED

try:  # brotli is an optional extra
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

__all__ = [
    "BROTLI_AVAILABLE",
    "FactsConfig",
    "FileFacts",
    "Representation",
    "build_facts",
    "compressed_body",
]

BROTLI_AVAILABLE = _brotli is not None

# Server preference: smallest first; identity always last.
PREFERENCE = ("br", "zstd", "gzip", "identity")
SIDECAR_RECHECK_SECONDS = 1.0

RawHeader = tuple[bytes, bytes]  # a (name, value) pair as written to the wire
MEMO_ENTRIES = 32  # distinct values remembered per file version (then forgotten at once)


def _memo() -> BoundedMemo[Any, Any]:
    return BoundedMemo(MEMO_ENTRIES)


# Canonical names: the hot path stores them without re-encoding (see fastheaders).
_CONTENT_TYPE = canonical(b"content-type")
_NOSNIFF = canonical(b"x-content-type-options")
_ACCEPT_RANGES = canonical(b"accept-ranges")
_ETAG = canonical(b"etag")
_LAST_MODIFIED = canonical(b"last-modified")
_CACHE_CONTROL = canonical(b"cache-control")
_CONTENT_ENCODING = canonical(b"content-encoding")
_CONTENT_LENGTH = canonical(b"content-length")


def _gzip(data: bytes) -> bytes:
    # mtime=0: the same input always gives the same bytes, so the ETag stays true
    # when an evicted body is compressed again.
    return gzip.compress(data, compresslevel=6, mtime=0)


def _brotli_compress(data: bytes) -> bytes:
    assert _brotli is not None
    return bytes(_brotli.compress(data, quality=5))


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"gzip": _gzip}
if BROTLI_AVAILABLE:
    COMPRESSORS["br"] = _brotli_compress


@dataclass(frozen=True, slots=True)
class FactsConfig:
    policy: CachePolicy
    memory_file_max: int = 64 * 1024
    gzip_min_size: int = 1024
    compress_max_size: int = 4 * 1024 * 1024
    compress: bool = True


@dataclass(slots=True)
class Representation:
    """One byte sequence of a file: identity, a sidecar, or compressed on the fly."""

    coding: str
    etag: ETag
    etag_header: bytes
    size: int
    path: str  # the file to stream from (identity or sidecar); source for on-the-fly
    key: StatKey  # the stat identity of ``path`` when this was built
    body_key: Hashable  # ByteLRU key of the bytes, when they are kept in memory
    in_memory: bool  # small enough (or compressed) to be kept in the byte cache
    headers: list[RawHeader]  # a full 200 minus Content-Length and Vary
    not_modified_headers: list[RawHeader]  # what RFC 9110 15.4.5 keeps on a 304
    # Our Last-Modified value as sent: an If-Modified-Since equal to it (what every
    # client sends back) is answered without parsing the date.
    last_modified_header: bytes = b""
    # The same two validators as Headers stores a field sent once: the static fast
    # path decides a revalidation with one list comparison (no indexing, no parsing).
    etag_values: list[bytes] = field(default_factory=list)
    last_modified_values: list[bytes] = field(default_factory=list)
    # ``headers`` plus the Content-Length of the whole representation: a full 200
    # (GET or HEAD, from memory or streamed) is set with this one list.
    full_headers: list[RawHeader] = field(default_factory=list)
    # Per-version answers to the request fields clients repeat (``static_select``).
    range_memo: BoundedMemo[bytes, RangeResult] = field(default_factory=_memo)  # by Range value
    # By (first, last) byte: the header list of a 206 of that one range.
    range_headers_memo: BoundedMemo[tuple[int, int], list[RawHeader]] = field(
        default_factory=_memo
    )
    # By If-None-Match value: the tag it matched ("*" or ours), "" when it matches none.
    inm_memo: BoundedMemo[bytes, str] = field(default_factory=_memo)


@dataclass(slots=True)
class FileFacts:
    path: str
    key: StatKey
    size: int
    mtime: float
    content_type: bytes
    cache_control: str
    identity: Representation
    compress_on_the_fly: bool
    config: FactsConfig
    sidecars: dict[str, Representation] = field(default_factory=dict)
    sidecars_checked: float = 0.0
    compressed: dict[str, Representation] = field(default_factory=dict)
    negotiation_memo: BoundedMemo[bytes, str] = field(default_factory=_memo)  # by Accept-Encoding
    codings: list[str] = field(default_factory=lambda: ["identity"])
    # The unresolved path a request names: stat'ing it (symlinks followed) each time
    # notices a retargeted symlink or a replaced directory, not just a changed file.
    lookup_path: str = ""
    # Set once the clock has passed mtime: an If-Modified-Since equal to our
    # Last-Modified is then "not modified" without reading the clock again.
    mtime_past: bool = False

    def available(self, resolver: Resolver, now: float) -> list[str]:
        """Codings this file can be sent in, in server preference order; more than
        one means the response is negotiable (``Vary: Accept-Encoding``)."""
        if now - self.sidecars_checked > SIDECAR_RECHECK_SECONDS:
            self._scan_sidecars(resolver, now)
        return self.codings

    def _update_codings(self) -> None:
        codings = set(self.sidecars)
        if self.compress_on_the_fly:
            codings.update(COMPRESSORS)
        self.codings = [c for c in PREFERENCE if c in codings or c == "identity"]
        self.negotiation_memo.clear()

    def _scan_sidecars(self, resolver: Resolver, now: float) -> None:
        found: dict[str, Representation] = {}
        directory, name = os.path.split(self.path)
        for coding, suffix in SIDECARS.items():
            path = resolver.child(directory, name + suffix)
            if path is None:
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            # A sidecar older than its source is stale: never serve outdated bytes.
            if not is_regular(st) or st.st_mtime_ns < self.key[0]:
                continue
            previous = self.sidecars.get(coding)
            if previous is not None and previous.key == stat_key(st):
                found[coding] = previous
                continue
            in_memory = st.st_size <= self.config.memory_file_max
            found[coding] = self._representation(
                coding, path, st.st_size, stat_key(st), in_memory=in_memory
            )
        self.sidecars = found
        self.sidecars_checked = now
        self._update_codings()

    def _representation(
        self, coding: str, path: str, size: int, key: StatKey, *, in_memory: bool
    ) -> Representation:
        etag = make_etag(key[1], key[0], key[2], encoding=None if coding == "identity" else coding)
        etag_header = str(etag).encode("ascii")
        cache = self.cache_control.encode("latin-1")
        last_modified = http_date(self.mtime).encode("ascii")
        headers: list[RawHeader] = [
            (_CONTENT_TYPE, self.content_type),
            (_NOSNIFF, b"nosniff"),
            (_ACCEPT_RANGES, b"bytes"),
            (_ETAG, etag_header),
            (_LAST_MODIFIED, last_modified),
            (_CACHE_CONTROL, cache),
        ]
        if coding != "identity":
            headers.append((_CONTENT_ENCODING, coding.encode("ascii")))
        not_modified: list[RawHeader] = [
            (_ETAG, etag_header),
            (_CACHE_CONTROL, cache),
            (_NOSNIFF, b"nosniff"),
        ]
        return Representation(
            coding=coding,
            etag=etag,
            etag_header=etag_header,
            size=size,
            path=path,
            key=key,
            body_key=(path, etag.opaque),
            in_memory=in_memory,
            headers=headers,
            not_modified_headers=not_modified,
            last_modified_header=last_modified,
            etag_values=[etag_header],
            last_modified_values=[last_modified],
            full_headers=[*headers, (_CONTENT_LENGTH, b"%d" % size)],
        )

    def compressed_representation(self, coding: str, cache: ByteLRU) -> Representation | None:
        """The on-the-fly representation for ``coding`` (compressing now if needed)."""
        rep = self.compressed.get(coding)
        if rep is not None:
            if compressed_body(self, rep, cache) is not None:
                return rep
            return None
        compressor = COMPRESSORS.get(coding)
        if compressor is None:
            return None
        source = read_body(self.identity, cache)
        if source is None:
            return None
        body = compressor(source)
        if len(body) >= self.size:
            # Incompressible after all: stop offering this coding for this version.
            self.compress_on_the_fly = False
            self._update_codings()
            return None
        # Its ETag (and so its cache key) derives from the identity version plus the coding.
        rep = self._representation(coding, self.path, len(body), self.key, in_memory=True)
        self.compressed[coding] = rep
        cache.put(rep.body_key, body)
        return rep


def build_facts(
    path: str,
    st: os.stat_result,
    config: FactsConfig,
    *,
    cache_control_value: str | None = None,
    lookup_path: str | None = None,
) -> FileFacts:
    """Facts for a regular file (``cache_control_value`` overrides the policy)."""
    name = os.path.basename(path)
    content_type, _unknown = guess_type(name)
    policy_value = cache_control_value or cache_control(config.policy, name, content_type)
    key = stat_key(st)
    compress = (
        config.compress
        and is_compressible(content_type)
        and config.gzip_min_size <= st.st_size <= config.compress_max_size
    )
    facts = FileFacts(
        path=path,
        key=key,
        size=st.st_size,
        mtime=st.st_mtime,
        content_type=content_type.encode("latin-1"),
        cache_control=policy_value,
        identity=None,  # type: ignore[arg-type]  # set just below
        compress_on_the_fly=compress,
        config=config,
        lookup_path=lookup_path or path,
    )
    facts.identity = facts._representation(
        "identity", path, st.st_size, key, in_memory=st.st_size <= config.memory_file_max
    )
    return facts


def read_body(rep: Representation, cache: ByteLRU) -> bytes | None:
    """The identity or sidecar bytes from memory or disk; None if the file changed."""
    body = cache.get(rep.body_key)
    if body is not None:
        return body
    try:
        with open(rep.path, "rb") as handle:
            if stat_key(os.fstat(handle.fileno())) != rep.key:
                return None
            body = handle.read()
    except PermissionError:
        raise  # not a change on disk: the adapter answers 403
    except OSError as exc:
        if exc.errno in FD_EXHAUSTED:
            raise  # not a change on disk either: the adapter answers 503
        return None
    if len(body) != rep.size:
        return None
    if rep.in_memory:
        cache.put(rep.body_key, body)
    return body


def compressed_body(facts: FileFacts, rep: Representation, cache: ByteLRU) -> bytes | None:
    """Bytes of an on-the-fly representation, compressing again after an eviction."""
    body = cache.get(rep.body_key)
    if body is not None:
        return body
    source = read_body(facts.identity, cache)
    if source is None:
        return None
    body = COMPRESSORS[rep.coding](source)
    if len(body) != rep.size:
        return None
    cache.put(rep.body_key, body)
    return body
