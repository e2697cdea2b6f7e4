"""The static file resource of ``twistd netlab-web``.

A leaf resource: it reads ``request.postpath`` (already percent-decoded once by
Twisted), asks the pure rule modules what to send and writes it. The hot path for a
cached small file is: one dict lookup by the decoded segments, one ``os.stat`` to
revalidate, a precomputed header list, the body from memory, one write. Everything
else (path rules, symlink policy, MIME, validators, cache policy) runs once per file
version, in ``FileFacts``.

Order of decisions for a file (RFC 9110): select the representation by
Accept-Encoding (identity, a sidecar, or compressed on the fly; each has its own
strong ETag and length), evaluate preconditions against that representation
(13.2.2: 412 / 304 / If-Range), then apply Range to that same representation, so a
Content-Range always counts the bytes actually sent, compressed or not. A request for
several ranges of a compressed representation is served from identity instead
(multipart/byteranges under a Content-Encoding would encode the part headers too).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web import http, pages
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from twisted_netlab.errors import PathError
from twisted_netlab.http.caching import expires_header
from twisted_netlab.http.conditional import Decision, Outcome, evaluate
from twisted_netlab.http.encoding import choose_encoding
from twisted_netlab.http.paths import (
    BadPathError,
    RequestPath,
    has_extension,
    split_request_path,
)
from twisted_netlab.http.ranges import (
    ByteRange,
    RangeKind,
    RangeResult,
    make_boundary,
    multipart_layout,
    parse_range,
    unsatisfied_content_range,
)
from twisted_netlab.web.config import StaticConfig
from twisted_netlab.web.fastheaders import canonical, raw_headers, set_headers
from twisted_netlab.web.filefacts import (
    FileFacts,
    Representation,
    build_facts,
    compressed_body,
    read_body,
)
from twisted_netlab.web.fsinfo import (
    ByteLRU,
    Resolver,
    is_directory,
    is_regular,
    same_version,
    stat_key,
)
from twisted_netlab.web.limits import FD_EXHAUSTED
from twisted_netlab.web.listing import collect_entries, render_html, render_json
from twisted_netlab.web.producers import PartsProducer
from twisted_netlab.web.refusal import refuse
from twisted_netlab.web.vary import add_vary

__all__ = ["StaticConfig", "StaticResource", "build_static_resource"]

ALLOW = b"GET, HEAD, OPTIONS"
EXPLAIN = b"X-Netlab-Explain"
_SPA_KEY = "spa-index"
_MAX_MEMO = 32
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
_CONTENT_RANGE = canonical(b"content-range")
_VARY_AE = [(canonical(b"vary"), b"Accept-Encoding")]
_RANGE_ONLY_GET = Decision(Outcome.PROCEED, "Range honoured (no If-Range)", True)
_RANGE_ON_HEAD = Decision(Outcome.PROCEED, "Range ignored on HEAD", False)
# Markers for the two fast 304 paths; the --explain text is made only when asked for.
_INM_MATCHED = "If-None-Match matched our ETag"
_IMS_EQUAL = "If-Modified-Since equals our Last-Modified"


def build_static_resource(config: StaticConfig, reactor: IReactorTime) -> IResource:
    """The static resource for ``config`` (site.py wraps and mounts it)."""
    resource: IResource = StaticResource(config, reactor)
    return resource


class _Restart(Exception):
    """The file changed between revalidation and reading: look it up again."""


class StaticResource(Resource):
    isLeaf = True
    log = Logger()

    def __init__(self, config: StaticConfig, clock: IReactorTime) -> None:
        Resource.__init__(self)  # explicit: mypy cannot see through super() here
        self.config = config
        self.clock = clock
        self.resolver = Resolver(config.root, config.symlinks)
        self.cache = ByteLRU(config.memory_cache_size)
        self.table: dict[Any, FileFacts] = {}

    # -- methods -------------------------------------------------------------------

    def render(self, request: Request) -> bytes | int:
        method = request.method
        if method == b"GET" or method == b"HEAD":
            try:
                try:
                    return self._serve(request)
                except _Restart:
                    _reset(request)
                try:
                    return self._serve(request)
                except _Restart:
                    _reset(request)
                    self.log.warn(
                        "{path} kept changing while being served",
                        path=request.path.decode("utf-8", "replace"),
                    )
                    return self._error(request, 503, "Service Unavailable", "The file is changing; retry.")
            except PermissionError:
                _reset(request)
                return self._error(request, 403, "Forbidden", "Permission denied.")
            except OSError as exc:
                if exc.errno not in FD_EXHAUSTED:
                    raise
                _reset(request)
                self.log.error("out of file descriptors serving {path}", path=request.path)
                request.setHeader(b"Retry-After", b"5")
                return self._error(request, 503, "Service Unavailable",
                                   "The server is out of file descriptors; retry shortly.")
        if method == b"OPTIONS":
            request.setResponseCode(204)
            request.setHeader(b"Allow", ALLOW)
            request.setHeader(b"X-Content-Type-Options", b"nosniff")
            request.finish()
            return NOT_DONE_YET
        request.setHeader(b"Allow", ALLOW)
        return self._error(request, 405, "Method Not Allowed", "Only GET, HEAD and OPTIONS are served here.")

    # -- lookup --------------------------------------------------------------------

    def _serve(self, request: Request) -> bytes | int:
        key = tuple(request.postpath or ())
        facts = self.table.get(key)
        if facts is not None:
            if same_version(facts.lookup_path, facts.key):
                return self._respond(request, facts)
            del self.table[key]
        return self._lookup(request, key)

    def _lookup(self, request: Request, key: tuple[bytes, ...]) -> bytes | int:
        try:
            rpath = split_request_path(key, allow_dotfiles=self.config.allow_dotfiles)
            path = self.resolver.resolve(rpath.segments)
            st = os.stat(path)
        except BadPathError as exc:
            self._explain(request, f"400 {exc}")
            return refuse(request, 400, str(exc))
        except PathError as exc:
            return self._error(request, exc.status, http.RESPONSES.get(exc.status, b"Error").decode("ascii"), str(exc))
        except (FileNotFoundError, NotADirectoryError):
            return self._missing(request, rpath)
        except PermissionError:
            return self._error(request, 403, "Forbidden", "Permission denied.")
        except OSError as exc:  # name too long, loops, ...
            return self._error(request, 404, "Not Found", f"Not found ({exc.strerror}).")
        if is_directory(st):
            return self._directory(request, key, rpath, path)
        if not is_regular(st):
            return self._error(request, 404, "Not Found", "Not a regular file.")
        if rpath.trailing_slash and rpath.segments:
            return self._error(request, 404, "Not Found", "A file is not a directory.")
        facts = build_facts(path, st, self.config.facts, lookup_path=self.resolver.join(rpath.segments))
        self._remember(key, facts)
        return self._respond(request, facts)

    def _remember(self, key: Any, facts: FileFacts) -> None:
        table = self.table
        if len(table) >= self.config.max_entries:
            del table[next(iter(table))]
        table[key] = facts

    def _missing(self, request: Request, rpath: RequestPath) -> bytes | int:
        config = self.config
        if (
            config.spa
            and rpath.segments
            and not has_extension(rpath.segments[-1])
            and b"text/html" in (request.getHeader(b"accept") or b"")
        ):
            facts = self._spa_index()
            if facts is not None:
                return self._respond(request, facts, spa=True)
        return self._error(request, 404, "Not Found", "No such file.")

    def _spa_index(self) -> FileFacts | None:
        facts = self.table.get(_SPA_KEY)
        if facts is not None:
            if same_version(facts.lookup_path, facts.key):
                return facts
            del self.table[_SPA_KEY]
        path = self.resolver.child(self.resolver.root, "index.html")
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not is_regular(st):
            return None
        facts = build_facts(
            path,
            st,
            self.config.facts,
            cache_control_value="no-cache",
            lookup_path=os.path.join(self.resolver.root, "index.html"),
        )
        self._remember(_SPA_KEY, facts)
        return facts

    def _directory(
        self, request: Request, key: tuple[bytes, ...], rpath: RequestPath, path: str
    ) -> bytes | int:
        if not rpath.trailing_slash:
            segments = [s.decode("utf-8", "surrogateescape") for s in request.prepath or ()]
            segments += rpath.segments
            location = "/" + "".join(quote(s, safe="") + "/" for s in segments)
            _, _, query = request.uri.partition(b"?")
            target = location.encode("ascii") + (b"?" + query if query else b"")
            request.setResponseCode(301)
            request.setHeader(b"Location", target)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            request.setHeader(b"X-Content-Type-Options", b"nosniff")
            self._explain(request, "301 directory: redirect to the trailing-slash URL")
            body = b"Moved to " + target + b"\n"
            if request.method == b"HEAD":
                request.setHeader(b"Content-Length", b"%d" % len(body))
                return b""
            return body
        index = self.resolver.child(path, "index.html")
        if index is not None:
            try:
                st = os.stat(index)
            except OSError:
                st = None
            if st is not None and is_regular(st):
                facts = build_facts(
                    index,
                    st,
                    self.config.facts,
                    lookup_path=os.path.join(self.resolver.join(rpath.segments), "index.html"),
                )
                self._remember(key, facts)
                return self._respond(request, facts)
        if not self.config.listing:
            return self._error(request, 404, "Not Found", "Directory listing is disabled.")
        return self._listing(request, rpath, path)

    def _listing(self, request: Request, rpath: RequestPath, path: str) -> bytes | int:
        try:
            entries = collect_entries(path, self.resolver, allow_dotfiles=self.config.allow_dotfiles)
        except PermissionError:
            return self._error(request, 403, "Forbidden", "Permission denied.")
        except OSError:
            return self._error(request, 404, "Not Found", "No such directory.")
        url_path = "/" + "".join(s + "/" for s in rpath.segments)
        has_parent = bool(rpath.segments)
        accept = request.getHeader(b"accept") or b""
        if b"application/json" in accept and b"text/html" not in accept:
            body = render_json(url_path, entries, has_parent=has_parent)
            ctype = b"application/json"
        else:
            query = request.uri.partition(b"?")[2]
            body = render_html(url_path, entries, has_parent=has_parent, query=query)
            ctype = b"text/html; charset=utf-8"
        request.setHeader(b"Content-Type", ctype)
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Cache-Control", b"no-cache")
        add_vary(request, "Accept")
        self._explain(request, "200 directory listing")
        if request.method == b"HEAD":
            request.setHeader(b"Content-Length", b"%d" % len(body))
            return b""
        return body

    # -- one file ------------------------------------------------------------------

    def _respond(self, request: Request, facts: FileFacts, spa: bool = False) -> bytes | int:
        rep = facts.identity
        codings = facts.available(self.resolver, time.monotonic())
        negotiable = len(codings) > 1
        raw = raw_headers(request.requestHeaders)
        if negotiable:
            accept = raw.get(H_ACCEPT_ENCODING)
            if accept:
                rep = self._negotiate(facts, codings, accept[-1])
        reason = "no preconditions: full 200"
        honor_range = False
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
                        return self._not_modified(request, facts, rep, negotiable, _INM_MATCHED)
                elif get(H_IF_MODIFIED_SINCE) == rep.last_modified_values and (
                    facts.mtime_past or self._mtime_passed(facts)
                ):
                    return self._not_modified(request, facts, rep, negotiable, _IMS_EQUAL)
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
            reason = decision.reason
            honor_range = decision.honor_range

        self._set_headers(request, facts, rep.headers, negotiable)
        if honor_range:
            assert range_header is not None
            result = self._parse_range(rep, range_header)
            if result.kind is RangeKind.UNSATISFIABLE:
                request.setHeader(b"Content-Range", unsatisfied_content_range(rep.size).encode("ascii"))
                return self._error(request, 416, "Range Not Satisfiable", result.reason, explain=result.reason)
            if result.kind is RangeKind.SATISFIABLE:
                self._explain(request, f"206 {result.reason} of {rep.coding} ({rep.size} bytes)")
                return self._send_ranges(request, facts, rep, result.ranges)
            reason = result.reason
        if self.config.explain:
            label = "SPA fallback to /index.html; " if spa else ""
            self._explain(request, f"200 {label}{reason}; {rep.coding} representation")
        return self._send_full(request, facts, rep)

    def _negotiate(self, facts: FileFacts, codings: list[str], accept: bytes) -> Representation:
        memo = facts.negotiation_memo
        coding = memo.get(accept)
        if coding is None:
            coding = choose_encoding(accept.decode("latin-1"), codings) or "identity"
            if len(memo) >= _MAX_MEMO:
                memo.clear()
            memo[accept] = coding
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
            result = parse_range(
                range_header.decode("latin-1"), rep.size, max_ranges=self.config.max_ranges
            )
            if len(memo) >= _MAX_MEMO:
                memo.clear()
            memo[range_header] = result
        return result

    def _range_representation(
        self, facts: FileFacts, rep: Representation, range_header: bytes
    ) -> Representation:
        """Several ranges of a compressed body are served from identity instead."""
        result = self._parse_range(rep, range_header)
        if result.kind is RangeKind.SATISFIABLE and len(result.ranges) > 1:
            return facts.identity
        return rep

    def _set_headers(
        self, request: Request, facts: FileFacts, headers: Sequence[tuple[bytes, bytes]], negotiable: bool
    ) -> None:
        response = request.responseHeaders
        set_headers(response, headers)
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
        if request.method == b"HEAD":
            request.setHeader(b"Content-Length", b"%d" % rep.size)
            return b""
        if rep.in_memory:
            # Written here rather than returned: twisted.web would set Content-Length
            # through the generic header API on every request; ours is precomputed.
            body = self._body(facts, rep)
            set_headers(request.responseHeaders, rep.length_headers)
            request.write(body)
            request.finish()
            return NOT_DONE_YET
        return self._stream(request, facts, rep, [(0, rep.size)], rep.size)

    def _send_ranges(
        self, request: Request, facts: FileFacts, rep: Representation, ranges: Sequence[ByteRange]
    ) -> bytes | int:
        request.setResponseCode(206)
        if len(ranges) == 1:
            only = ranges[0]
            # ranges.content_range(), formatted straight to bytes on this hot path.
            value = b"bytes %d-%d/%d" % (only.start, only.end, rep.size)
            set_headers(request.responseHeaders, [(_CONTENT_RANGE, value)])
            if request.method == b"HEAD":
                request.setHeader(b"Content-Length", b"%d" % only.length)
                return b""
            if rep.in_memory:
                return self._body(facts, rep)[only.start : only.end + 1]
            return self._stream(request, facts, rep, [(only.start, only.length)], only.length)
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


_RESPONSE_HEADERS = (
    b"Content-Type", b"Content-Encoding", b"Content-Range", b"Content-Length", b"ETag",
    b"Last-Modified", b"Cache-Control", b"Expires", b"Accept-Ranges", EXPLAIN,
)


def _reset(request: Request) -> None:
    """Forget a half-prepared response before trying again (nothing was written)."""
    request.setResponseCode(200)
    for name in _RESPONSE_HEADERS:
        request.responseHeaders.removeHeader(name)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
