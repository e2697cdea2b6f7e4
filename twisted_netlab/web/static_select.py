"""Choosing a file's representation and reading its Range, memoised per version.

A mixin of ``StaticResource`` (through ``FileResponder``) split from
``static_response``: which bytes answer a request (identity, a sidecar, or compressed
on the fly, by Accept-Encoding) and what its Range means for them. Both answers
depend only on the header value and the file version, so each ``FileFacts`` /
``Representation`` keeps a small memo of them (cleared when full).
"""

from __future__ import annotations

from twisted_netlab.http.conditional import none_match
from twisted_netlab.http.encoding import choose_encoding
from twisted_netlab.http.ranges import ByteRange, RangeKind, RangeResult, parse_range
from twisted_netlab.web.config import StaticConfig
from twisted_netlab.web.fastheaders import canonical
from twisted_netlab.web.filefacts import FileFacts, RawHeader, Representation
from twisted_netlab.web.fsinfo import ByteLRU, same_version

__all__ = ["RepresentationChooser"]

_MAX_KEY = 128  # longer validator values are compared every time, never kept
_CONTENT_RANGE = canonical(b"content-range")
_CONTENT_LENGTH = canonical(b"content-length")


class RepresentationChooser:
    """The representation half of ``FileResponder`` (which sets these attributes)."""

    config: StaticConfig
    cache: ByteLRU

    def _negotiate(self, facts: FileFacts, codings: list[str], accept: bytes) -> Representation:
        memo = facts.negotiation_memo
        coding = memo.get(accept)
        if coding is None:
            coding = memo.remember(
                accept, choose_encoding(accept.decode("latin-1"), codings) or "identity"
            )
        if coding == "identity":
            return facts.identity
        sidecar = facts.sidecars.get(coding)
        if sidecar is not None:
            if same_version(sidecar.path, sidecar.key):
                return sidecar
            facts.sidecars_checked = 0.0  # rescan on the next request
            return facts.identity
        rep = facts.compressed_representation(coding, self.cache)
        return rep if rep is not None else facts.identity

    def _parse_range(self, rep: Representation, range_header: bytes) -> RangeResult:
        """parse_range, memoised per representation (a version has a fixed size)."""
        memo = rep.range_memo
        result = memo.get(range_header)
        if result is None:
            result = memo.remember(range_header, parse_range(
                range_header.decode("latin-1"), rep.size, max_ranges=self.config.max_ranges
            ))
        return result

    def _range_headers(self, rep: Representation, only: ByteRange) -> list[RawHeader]:
        """The header list of a 206 of ``only``: ``rep.headers``, its Content-Range
        (``ranges.content_range()``, as bytes) and Content-Length; kept per range."""
        memo = rep.range_headers_memo
        key = (only.start, only.end)
        headers = memo.get(key)
        if headers is None:
            headers = memo.remember(key, [
                *rep.headers,
                (_CONTENT_RANGE, b"bytes %d-%d/%d" % (only.start, only.end, rep.size)),
                (_CONTENT_LENGTH, b"%d" % only.length),
            ])
        return headers

    def _none_match(self, rep: Representation, value: bytes) -> str | None:
        """conditional.none_match against ``rep``, memoised per representation: the
        tag matched, "" when the value matches none, None when it is empty (then the
        field counts as absent and only the full evaluation knows what applies)."""
        memo = rep.inm_memo
        matched = memo.get(value)
        if matched is None:
            text = value.decode("latin-1")
            if not text.strip():
                return None
            matched = none_match(text, rep.etag) or ""
            if len(value) <= _MAX_KEY:
                memo.remember(value, matched)
        return matched

    def _range_representation(
        self, facts: FileFacts, rep: Representation, range_header: bytes
    ) -> Representation:
        """Several ranges of a compressed body are served from identity instead."""
        result = self._parse_range(rep, range_header)
        if result.kind is RangeKind.SATISFIABLE and len(result.ranges) > 1:
            return facts.identity
        return rep
