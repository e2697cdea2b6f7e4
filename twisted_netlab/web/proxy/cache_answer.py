"""A cached call's own answers: a stored response (whole, HEAD, Range, or the client's
conditionals -> 304/412), a plain refusal, or an error page, each with our status.

Split from ``cache_call`` (the deciding, collapsing and filling) because answering from
the store is a concern of its own: how a stored entry becomes a response (its head
relayed through the same rules as a live one, via ``cache_head``; a small body in one
write; a large one, or byte ranges, under flow control via ``cache_body.StoredBody``).
"""

from __future__ import annotations

from twisted_netlab.http.cache.cache_status import CacheStatus
from twisted_netlab.http.cache.entry import Stored
from twisted_netlab.http.cache.fields import field_values
from twisted_netlab.http.cache.serve import client_conditional
from twisted_netlab.http.msgframing import BodyKind, Framing
from twisted_netlab.web.proxy.cache import ProxyCache
from twisted_netlab.web.proxy.cache_body import CHUNK, Piece, StoredBody, select_ranges
from twisted_netlab.web.proxy.cache_head import add_status, send_stored_head
from twisted_netlab.web.proxy.call import ProxyCall
from twisted_netlab.web.refusal import refuse

__all__ = ["StoredAnswerCall"]

# What a 304 carries (RFC 9110 15.4.5).
_NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "age"}
)


class StoredAnswerCall(ProxyCall):
    """The answering half of ``CachingCall`` (which sets these attributes)."""

    cache: ProxyCache
    key: str | None
    verb: str
    request_pairs: tuple[tuple[str, str], ...]
    cache_status: CacheStatus

    def _evicted(self) -> None:
        """The entry was evicted between the lookup and the read (``CachingCall``)."""
        raise NotImplementedError

    # -- answering from the store ------------------------------------------------------

    def _serve(
        self, entry: Stored, headers: tuple[tuple[str, str], ...], status: CacheStatus
    ) -> None:
        cache = self.cache
        reader = cache.store.open(entry.ident)
        if reader is None:
            self._evicted()
            return
        self.cache_status = status
        honor_range = True
        if any(name[:3].lower() == "if-" for name, _ in self.request_pairs):
            decision = client_conditional(self.verb, self.request_pairs, entry.meta, cache.now())
            if decision.status == 304:
                reader.close()
                kept = tuple((n, v) for n, v in headers if n.lower() in _NOT_MODIFIED_FIELDS)
                self._send_head(304, kept, Framing(BodyKind.NO_BODY))
                self._finish()
                return
            if decision.status is not None:
                reader.close()
                self._plain(decision.status, decision.reason)
                return
            honor_range = decision.honor_range
        length = reader.length
        code = entry.meta.status
        pieces: list[Piece] | None = None
        ranges = field_values(self.request_pairs, "range")
        if code == 200 and self.verb == "GET" and honor_range and len(ranges) == 1:
            selection = select_ranges(ranges[0], length, headers)
            if selection is not None:
                code, headers = selection.status, selection.headers
                pieces, length = selection.pieces, selection.length
        self._send_head(code, headers, Framing(BodyKind.LENGTH, length))
        if self.verb == "HEAD" or length == 0:
            reader.close()
            self._finish()
            return
        if pieces is None and length <= CHUNK:
            # One chunk at most: no producer round trip (the common small hit).
            for chunk in reader.chunks(CHUNK):
                self.request.write(chunk)
            reader.close()
            self._finish()
            return
        StoredBody(self.request, reader, cache.reactor, pieces, self._stored_done).start()

    def _send_head(self, code: int, headers: tuple[tuple[str, str], ...], framing: Framing) -> None:
        send_stored_head(self.cache.heads, self.resource, self.request, code, headers, framing)
        self._head_sent = True
        self._add_status()

    def _stored_done(self, complete: bool) -> None:
        if self._client_gone or self._done:
            return
        if complete:
            self._finish()
        else:
            self._abort_client()

    # -- our own answers ---------------------------------------------------------------

    def _add_status(self) -> None:
        add_status(
            self.cache.heads, self.resource, self.request, self.cache_status,
            self.cache.config.explain,
        )

    def _error_page(self, status: int, reason: str) -> None:
        self._add_status()
        super()._error_page(status, reason)

    def _plain(self, status: int, reason: str) -> None:
        body = refuse(self.request, status, reason)
        self._add_status()
        self.request.responseHeaders.setRawHeaders(b"content-length", [b"%d" % len(body)])
        self.request.write(body)
        self._finish()
