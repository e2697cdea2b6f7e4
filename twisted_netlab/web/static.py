"""The static file resource of ``twistd netlab-web``.

A leaf resource: it reads ``request.postpath`` (already percent-decoded once by
Twisted), asks the pure rule modules what to send and writes it. The hot path for a
cached small file is: one dict lookup by the decoded segments, one ``os.stat`` to
revalidate, a precomputed header list, the body from memory, one write. Everything
else (path rules, symlink policy, MIME, validators, cache policy) runs once per file
version, in ``FileFacts``.

This module finds what to serve (lookup, directories, SPA fallback, refusals);
``static_response`` writes a found file's response (304/412/206/416, bodies).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web import http
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from twisted_netlab.errors import PathError
from twisted_netlab.http.paths import (
    BadPathError,
    RequestPath,
    has_extension,
    split_request_path,
)
from twisted_netlab.web.config import StaticConfig
from twisted_netlab.web.filefacts import FileFacts, build_facts
from twisted_netlab.web.fsinfo import (
    ByteLRU,
    Resolver,
    is_directory,
    is_regular,
    same_version,
)
from twisted_netlab.web.limits import FD_EXHAUSTED
from twisted_netlab.web.listing import collect_entries, render_html, render_json
from twisted_netlab.web.refusal import refuse
from twisted_netlab.web.replay import withdraw_replay
from twisted_netlab.web.static_response import EXPLAIN, FileResponder, _Restart
from twisted_netlab.web.vary import add_vary

__all__ = ["StaticConfig", "StaticResource", "build_static_resource"]

ALLOW = b"GET, HEAD, OPTIONS"
_SPA_KEY = "spa-index"


def build_static_resource(config: StaticConfig, reactor: IReactorTime) -> IResource:
    """The static resource for ``config`` (site.py wraps and mounts it)."""
    resource: IResource = StaticResource(config, reactor)
    return resource


class StaticResource(FileResponder, Resource):
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
            # fsinfo.same_version, inlined (the one stat every request pays).
            try:
                st = os.stat(facts.lookup_path)
            except OSError:
                st = None
            if st is not None and (st.st_mtime_ns, st.st_size, st.st_ino) == facts.key:
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


_RESPONSE_HEADERS = (
    b"Content-Type", b"Content-Encoding", b"Content-Range", b"Content-Length", b"ETag",
    b"Last-Modified", b"Cache-Control", b"Expires", b"Accept-Ranges", EXPLAIN,
)


def _reset(request: Request) -> None:
    """Forget a half-prepared response before trying again (nothing was written)."""
    withdraw_replay(request)
    request.setResponseCode(200)
    for name in _RESPONSE_HEADERS:
        request.responseHeaders.removeHeader(name)
