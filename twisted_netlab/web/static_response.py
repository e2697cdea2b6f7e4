"""Writing one static file's response: preconditions, ranges and the body.

Split from ``static.py`` (which finds the file: lookup, directories, SPA fallback);
this module answers for a file already found, as a mixin of ``StaticResource`` so the
hot path stays plain method calls on one object.

Order of decisions for a file (RFC 9110): select the representation by
Accept-Encoding (identity, a sidecar, or compressed on the fly; each has its own
strong ETag and length), evaluate preconditions against that representation
(13.2.2: 412 / 304 / If-Range), then apply Range to that same representation, so a
Content-Range always counts the bytes actually sent, compressed or not. A request for
several ranges of a compressed representation is served from identity instead
(multipart/byteranges under a Content-Encoding would encode the part headers too).
The choice of representation and the parsing of Range live in ``static_select``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web import pages
from twisted.web.server import NOT_DONE_YET, Request

from twisted_netlab.http.caching import expires_header
from twisted_netlab.http.conditional import Decision, Outcome, evaluate, not_modified_since
from twisted_netlab.http.ranges import (
    ByteRange,
    RangeKind,
    RangeResult,
    make_boundary,
    multipart_layout,
    unsatisfied_content_range,
)
from twisted_netlab.http.validators import http_date
from twisted_netlab.web.config import StaticConfig
from twisted_netlab.web.fastheaders import canonical, raw_headers, set_headers
from twisted_netlab.web.filefacts import (
    SIDECAR_RECHECK_SECONDS,
    FileFacts,
    Representation,
    compressed_body,
    read_body,
)
from twisted_netlab.web.fsinfo import ByteLRU, Resolver, stat_key
from twisted_netlab.web.limits import FD_EXHAUSTED
from twisted_netlab.web.producers import PartsProducer
from twisted_netlab.web.replay import FORBIDDEN, offer_replay, withdraw_replay
from twisted_netlab.web.static_select import RepresentationChooser
from twisted_netlab.web.vary import add_vary

__all__ = ["EXPLAIN", "FileResponder"]

EXPLAIN = b"X-Netlab-Explain"
H_ACCEPT_ENCODING = canonical(b"accept-encoding")
H_RANGE = canonical(b"range")
H_IF_MATCH = canonical(b"if-match")
H_IF_NONE_MATCH = canonical(b"if-none-match")
H_IF_MODIFIED_SINCE = canonical(b"if-modified-since")
H_IF_UNMODIFIED_SINCE = canonical(b"if-unmodified-since")
H_IF_RANGE = canonical(b"if-range")
# If-Range alone means nothing (RFC 9110 13.1.5): it only qualifies a Range.
_CONDITIONAL = frozenset(
    {H_RANGE, H_IF_MATCH, H_IF_NONE_MATCH, H_IF_MODIFIED_SINCE, H_IF_UNMODIFIED_SINCE}
)
_VARY_AE = [(canonical(b"vary"), b"Accept-Encoding")]
_RANGE_ONLY_GET = Decision(Outcome.PROCEED, "Range honoured (no If-Range)", True)
_RANGE_ON_HEAD = Decision(Outcome.PROCEED, "Range ignored on HEAD", False)
# Markers for the two fast 304 paths; the --explain text is made only when asked for.
_INM_MATCHED = "If-None-Match matched our ETag"
_IMS_EQUAL = "If-Modified-Since equals our Last-Modified"
_INM_LISTED = "If-None-Match matched"  # --explain names the tag matched
_IMS_BEFORE = "If-Modified-Since: not modified"  # --explain spells out the date
_IMS_PASSED = "preconditions passed; no Range"  # as evaluate() words it
_NO_PRECONDITIONS = "no preconditions: full 200"


class _Restart(Exception):
    """The file changed between revalidation and reading: look it up again."""


class FileResponder(RepresentationChooser):
    """The response half of ``StaticResource`` (which sets these attributes)."""

    config: StaticConfig
    clock: IReactorTime
    resolver: Resolver
    cache: ByteLRU
    table: dict[Any, FileFacts]

    def _respond(self, request: Request, facts: FileFacts, spa: bool = False) -> bytes | int:
        rep = facts.identity
        now = time.monotonic()
        codings = (
            facts.codings  # FileFacts.available's own test, inlined: every request
            if now - facts.sidecars_checked <= SIDECAR_RECHECK_SECONDS
            else facts.available(self.resolver, now)
        )
        negotiable = len(codings) > 1
        raw = raw_headers(request.requestHeaders)
        if negotiable:
            accept = raw.get(H_ACCEPT_ENCODING)
            if accept:
                rep = self._negotiate(facts, codings, accept[-1])
        range_header: bytes | None = None
        if not _CONDITIONAL.isdisjoint(raw.keys()):
            get = raw.get
            if (
                H_IF_MATCH not in raw
                and H_IF_UNMODIFIED_SINCE not in raw
                and (rep is facts.identity or H_RANGE not in raw)
            ):
                # The two revalidations every client sends, decided before anything
                # else with one comparison each, as evaluate() would decide them: our
                # own ETag sent back once (an exact strong tag weakly matches), or,
                # without If-None-Match, our own Last-Modified string sent back once
                # (the date equals the file's, so it is not modified since; evaluate()
                # ignores a date in the future, hence the clock check, made until the
                # clock has passed mtime). Range and If-Range do not matter for a 304.
                inm_values = get(H_IF_NONE_MATCH)
                if inm_values is not None:
                    if inm_values == rep.etag_values:
                        if not spa:
                            self._offer(request, facts)
                        return self._not_modified(request, facts, rep, negotiable, _INM_MATCHED)
                    # Any other value (our tag weak, in a list, "*", a stale tag): step
                    # 3's comparison, memoised per value. A match is a 304 whatever the
                    # Range; no match skips If-Modified-Since (step 4), so without a
                    # Range it is the full 200. An empty value: the full evaluation.
                    matched = self._none_match(rep, inm_values[-1])
                    if matched is not None and not spa and (matched or H_RANGE not in raw):
                        self._offer(request, facts)  # step 3 alone decides: the clock plays no part
                    if matched:
                        reason = _INM_LISTED if not self.config.explain else (
                            f"If-None-Match matched {matched}"
                        )
                        return self._not_modified(request, facts, rep, negotiable, reason)
                    if matched is not None and H_RANGE not in raw:
                        return self._send_200(request, facts, rep, negotiable, spa, _IMS_PASSED)
                else:
                    ims_values = get(H_IF_MODIFIED_SINCE)
                    if ims_values is not None:
                        if ims_values == rep.last_modified_values and (
                            facts.mtime_past or self._mtime_passed(facts)
                        ):
                            if not spa:
                                self._offer(request, facts)
                            return self._not_modified(request, facts, rep, negotiable, _IMS_EQUAL)
                        if H_RANGE not in raw:
                            # If-Modified-Since is the only precondition (If-Range
                            # means nothing without a Range): step 4 alone, with the
                            # date parsed once per distinct value (a memo).
                            date = not_modified_since(
                                ims_values[-1].decode("latin-1"), facts.mtime, self._now()
                            )
                            if date is not None:
                                reason = _IMS_BEFORE if not self.config.explain else (
                                    f"If-Modified-Since: not modified since {http_date(date)}"
                                )
                                return self._not_modified(request, facts, rep, negotiable, reason)
                            return self._send_200(request, facts, rep, negotiable, spa, _IMS_PASSED)
                    elif H_IF_RANGE not in raw:
                        # Range alone (so ``rep`` is identity): honoured on GET (RFC
                        # 9110 14.2), ignored on HEAD; nothing to evaluate.
                        if not spa:
                            self._offer(request, facts)
                        if request.method == b"GET":
                            return self._ranged(request, facts, rep, negotiable, spa, raw[H_RANGE][-1])
                        return self._send_200(request, facts, rep, negotiable, spa, _RANGE_ON_HEAD.reason)
            # The last value of each field (inlined: this runs on every revalidation).
            values = get(H_RANGE)
            range_header = values[-1] if values else None
            values = get(H_IF_NONE_MATCH)
            if_none_match = values[-1] if values else None
            values = get(H_IF_MATCH)
            if_match = values[-1] if values else None
            values = get(H_IF_UNMODIFIED_SINCE)
            if_unmodified = values[-1] if values else None
            values = get(H_IF_MODIFIED_SINCE)
            if_modified = values[-1] if values else None
            values = get(H_IF_RANGE)
            if_range = values[-1] if values else None
            if range_header is not None and rep is not facts.identity:
                rep = self._range_representation(facts, rep, range_header)
            if (
                if_none_match is None
                and if_match is None
                and if_unmodified is None
                and if_modified is None
                and if_range is None
            ):
                # Range alone: honoured on GET (RFC 9110 14.2), nothing to evaluate.
                decision = _RANGE_ONLY_GET if request.method == b"GET" else _RANGE_ON_HEAD
            else:
                decision = evaluate(
                    method=request.method.decode("ascii"),
                    etag=rep.etag,
                    last_modified=facts.mtime,
                    if_match=_text(if_match),
                    if_none_match=_text(if_none_match),
                    if_modified_since=_text(if_modified),
                    if_unmodified_since=_text(if_unmodified),
                    if_range=_text(if_range),
                    has_range=range_header is not None,
                    now=self._now(),
                )
            if decision.outcome is Outcome.NOT_MODIFIED:
                return self._not_modified(request, facts, rep, negotiable, decision.reason)
            if decision.outcome is Outcome.PRECONDITION_FAILED:
                self._set_headers(request, facts, rep.not_modified_headers, negotiable)
                return self._error(request, 412, "Precondition Failed", decision.reason, explain=decision.reason)
            if decision.honor_range:
                assert range_header is not None
                return self._ranged(request, facts, rep, negotiable, spa, range_header)
            return self._send_200(request, facts, rep, negotiable, spa, decision.reason)
        if not spa:
            self._offer(request, facts)
        return self._send_200(request, facts, rep, negotiable, spa, _NO_PRECONDITIONS)

    def _ranged(self, request: Request, facts: FileFacts, rep: Representation, negotiable: bool,
                spa: bool, range_header: bytes) -> bytes | int:
        """A Range to honour on a GET: 206 (one range or several), 416, or the full
        200 when the field is not a byte-range set we apply."""
        result = self._parse_range(rep, range_header)
        if result.kind is RangeKind.SATISFIABLE:
            if len(result.ranges) == 1:
                return self._send_one_range(request, facts, rep, negotiable, result)
            withdraw_replay(request)  # each multipart response has a boundary of its own
            self._set_headers(request, facts, rep.headers, negotiable)
            self._explain(request, f"206 {result.reason} of {rep.coding} ({rep.size} bytes)")
            return self._send_ranges(request, facts, rep, result.ranges)
        if result.kind is RangeKind.UNSATISFIABLE:
            self._set_headers(request, facts, rep.headers, negotiable)
            request.setHeader(b"Content-Range", unsatisfied_content_range(rep.size).encode("ascii"))
            return self._error(request, 416, "Range Not Satisfiable", result.reason, explain=result.reason)
        return self._send_200(request, facts, rep, negotiable, spa, result.reason)

    def _send_200(
        self,
        request: Request,
        facts: FileFacts,
        rep: Representation,
        negotiable: bool,
        spa: bool,
        reason: str,
    ) -> bytes | int:
        """The whole representation: its header list (Content-Length included), the body."""
        self._set_headers(request, facts, rep.full_headers, negotiable)
        if self.config.explain:
            label = "SPA fallback to /index.html; " if spa else ""
            self._explain(request, f"200 {label}{reason}; {rep.coding} representation")
        return self._send_full(request, facts, rep)

    def _set_headers(
        self, request: Request, facts: FileFacts, headers: Sequence[tuple[bytes, bytes]], negotiable: bool
    ) -> None:
        response = request.responseHeaders
        set_raw = response.setRawHeaders  # fastheaders.set_headers, inlined
        for name, value in headers:
            set_raw(name, [value])
        if negotiable:
            if response.hasHeader(b"vary"):
                add_vary(request, "Accept-Encoding")
            else:
                set_headers(response, _VARY_AE)
        if request.clientproto == b"HTTP/1.0":
            expires = expires_header(self._now(), facts.cache_control)
            response.setRawHeaders(b"Expires", [expires.encode("ascii")])

    def _not_modified(
        self, request: Request, facts: FileFacts, rep: Representation, negotiable: bool, reason: str
    ) -> int:
        """A 304: the precomputed header list, no body (``reason`` only for --explain;
        ``_INM_MATCHED`` / ``_IMS_EQUAL`` are spelled out here so the fast paths format
        nothing)."""
        request.setResponseCode(304)
        self._set_headers(request, facts, rep.not_modified_headers, negotiable)
        if self.config.explain:
            if reason is _INM_MATCHED:
                reason = f"If-None-Match matched {rep.etag}"
            elif reason is _IMS_EQUAL:
                reason = f"If-Modified-Since: not modified since {rep.last_modified_header.decode()}"
            self._explain(request, "304 " + reason)
        request.finish()
        return NOT_DONE_YET

    def _body(self, facts: FileFacts, rep: Representation) -> bytes:
        if rep.coding != "identity" and rep.path == facts.path:
            body = compressed_body(facts, rep, self.cache)
        else:
            body = read_body(rep, self.cache)
        if body is None:
            self._forget(facts)
            raise _Restart()
        return body

    def _forget(self, facts: FileFacts) -> None:
        for key, value in list(self.table.items()):
            if value is facts:
                del self.table[key]

    def _send_full(self, request: Request, facts: FileFacts, rep: Representation) -> bytes | int:
        """The body of a 200 whose headers (Content-Length too) are set."""
        if request.method == b"HEAD":
            return b""  # twisted.web leaves our Content-Length alone for an empty HEAD body
        if rep.in_memory:
            # Written here rather than returned: twisted.web would set Content-Length
            # through the generic header API on every request; ours is precomputed.
            body = self._body(facts, rep)
            request.write(body)
            request.finish()
            return NOT_DONE_YET
        return self._stream(request, facts, rep, [(0, rep.size)], rep.size)

    def _send_one_range(self, request: Request, facts: FileFacts, rep: Representation,
                        negotiable: bool, result: RangeResult) -> bytes | int:
        """A 206 of one range: the representation's headers with its Content-Range and
        Content-Length, one list kept per range (``_range_headers``), the slice
        written from memory or streamed."""
        only = result.ranges[0]
        request.setResponseCode(206)
        self._set_headers(request, facts, self._range_headers(rep, only), negotiable)
        if self.config.explain:
            self._explain(request, f"206 {result.reason} of {rep.coding} ({rep.size} bytes)")
        if request.method == b"HEAD":
            return b""  # twisted.web leaves our Content-Length alone for an empty HEAD body
        if rep.in_memory:
            request.write(self._body(facts, rep)[only.start : only.end + 1])
            request.finish()
            return NOT_DONE_YET
        return self._stream(request, facts, rep, [(only.start, only.length)], only.length)

    def _send_ranges(
        self, request: Request, facts: FileFacts, rep: Representation, ranges: Sequence[ByteRange]
    ) -> bytes | int:
        request.setResponseCode(206)
        layout = multipart_layout(ranges, rep.size, facts.content_type.decode("latin-1"), make_boundary())
        request.setHeader(b"Content-Type", layout.content_type.encode("ascii"))
        parts: list[bytes | tuple[int, int]] = []
        for preamble, part in layout.parts:
            parts.append(preamble)
            parts.append((part.start, part.length))
        parts.append(layout.epilogue)
        length = layout.content_length
        if request.method == b"HEAD":
            request.setHeader(b"Content-Length", b"%d" % length)
            return b""
        if rep.in_memory:
            body = self._body(facts, rep)
            return b"".join(p if isinstance(p, bytes) else body[p[0] : p[0] + p[1]] for p in parts)
        return self._stream(request, facts, rep, parts, length)

    def _stream(
        self,
        request: Request,
        facts: FileFacts,
        rep: Representation,
        parts: Sequence[bytes | tuple[int, int]],
        length: int,
    ) -> int:
        try:
            fd = os.open(rep.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except PermissionError:
            raise
        except OSError as exc:
            if exc.errno in FD_EXHAUSTED:
                raise
            self._forget(facts)
            raise _Restart() from None
        if stat_key(os.fstat(fd)) != rep.key:
            os.close(fd)
            self._forget(facts)
            raise _Restart()
        request.setHeader(b"Content-Length", b"%d" % length)
        PartsProducer(request, fd, parts).start()
        return NOT_DONE_YET

    # -- small helpers ---------------------------------------------------------------

    def _offer(self, request: Request, facts: FileFacts) -> None:
        """This response depends on the head and on the file's version only: offer it
        for replay (``web/replay.py``) while the version is the one it was made from.

        The check is the full path's own: the one ``os.stat`` of ``_serve`` (same
        mtime, size and inode), and the sidecar set ``_respond`` would use (the same
        list, checked no longer ago than ``SIDECAR_RECHECK_SECONDS``): a sidecar that
        appears can change the answer to any head (``Vary``, the representation).
        """
        if getattr(request, "replay_offer", FORBIDDEN) is not None:
            return  # not replayable, already offered, or forbidden by a wrapper
        if not facts.identity.in_memory:
            return  # a file the operator keeps out of memory (--memory-file-max) stays out
        lookup_path, key, codings = facts.lookup_path, facts.key, facts.codings

        def check() -> bool:
            if (
                facts.codings is not codings
                or time.monotonic() - facts.sidecars_checked > SIDECAR_RECHECK_SECONDS
            ):
                return False
            # fsinfo.same_version, inlined as ``_serve`` inlines it: each replay pays it.
            try:
                st = os.stat(lookup_path)
            except OSError:
                return False
            return (st.st_mtime_ns, st.st_size, st.st_ino) == key

        offer_replay(request, check)

    def _mtime_passed(self, facts: FileFacts) -> bool:
        """Whether the clock has reached the file's mtime (remembered once true)."""
        if int(facts.mtime) <= self._now():
            facts.mtime_past = True
        return facts.mtime_past

    def _now(self) -> float:
        seconds: float = self.clock.seconds()
        return seconds

    def _explain(self, request: Request, text: str) -> None:
        if self.config.explain:
            request.setHeader(EXPLAIN, text.encode("ascii", "replace"))

    def _error(
        self, request: Request, status: int, brief: str, detail: str, explain: str | None = None
    ) -> bytes | int:
        """An HTML error page; never under a representation's Content-Encoding."""
        response = request.responseHeaders
        response.removeHeader(b"Content-Encoding")
        response.removeHeader(b"Content-Length")
        response.setRawHeaders(b"X-Content-Type-Options", [b"nosniff"])
        self._explain(request, f"{status} {explain if explain is not None else detail}")
        result: bytes | int = pages.errorPage(status, brief, detail).render(request)  # type: ignore[assignment]
        return result


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
