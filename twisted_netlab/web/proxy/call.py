"""One proxied request: the state machine between a twisted.web request and an upstream
exchange.

    start -> [interim heads]* -> head -> body* -> done
    start -> failed before the head: a 502/504 page
    head -> failed mid-body: the client connection is aborted (it sees truncation)
    client gone at any point -> the exchange is cancelled (upstream connection closed)

The call is the exchange's ``ResponseHandler``. Header decisions are pure functions in
``twisted_netlab.http.headers`` (what to forward, what to relay); this module only
moves their results between the two sides. Where other per-response rules plug in
(security headers, Content-Type defaults): ``_relay_head``, after ``_apply_headers``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import NO_BODY_CODES
from twisted.web.iweb import IRequest

from twisted_netlab.http.headers import (
    forward_request_headers,
    relay_response_headers,
    strip_hop_by_hop,
)
from twisted_netlab.http.msgframing import BodyKind
from twisted_netlab.upstream.bodies import spooled_body
from twisted_netlab.upstream.errors import IdleTimeout, UpstreamError
from twisted_netlab.upstream.exchange import Exchange
from twisted_netlab.upstream.message import BodySource, ResponseHead, UpstreamRequest
from twisted_netlab.web.proxy.errors import error_body, status_for
from twisted_netlab.web.proxy.interim import send_interim
from twisted_netlab.web.vary import add_vary

if TYPE_CHECKING:
    from twisted_netlab.web.proxy.resource import ProxyResource

log = Logger()


class ProxyCall:
    exchange: Exchange | None = None
    _head_sent = False
    _producing = False
    _client_gone = False
    _done = False

    def __init__(self, resource: ProxyResource, request: IRequest, target: bytes) -> None:
        self.resource = resource
        # twisted.web's Request is untyped and IRequest lacks most of what is used.
        self.request: Any = request
        self.target = target  # origin-form, as sent upstream

    @property
    def url(self) -> str:
        """The upstream URL, for log lines."""
        return (self.resource.mount.origin_bytes + self.target).decode("latin-1")

    def start(self) -> None:
        request = self.request
        resource = self.resource
        headers = forward_request_headers(
            dict(request.requestHeaders.getAllRawHeaders()),
            _peer_host(request),
            "https" if request.isSecure() else "http",
            request.clientproto.partition(b"/")[2] or b"1.1",
            resource.forward_rules,
        )
        headers = self.upstream_headers(headers)
        body = body_source(request, resource.reactor)
        request.notifyFinish().addErrback(self._client_lost)
        upstream_request = UpstreamRequest(request.method, self.target, headers, body)
        self.exchange = resource.client.request(resource.origin, upstream_request, self)

    def upstream_headers(self, headers: dict[bytes, list[bytes]]) -> dict[bytes, list[bytes]]:
        """The forwarded header section as sent: the cache's hook (it swaps conditionals)."""
        return headers

    # -- ResponseHandler ---------------------------------------------------------------

    def interim_received(self, head: ResponseHead) -> None:
        if self._client_gone or self._done:
            return
        send_interim(self.request, head.status, head.reason, strip_hop_by_hop(head.headers))

    def head_received(self, head: ResponseHead) -> None:
        if self._client_gone or self._done:
            return
        try:
            self._relay_head(head)
        except Exception:
            self._bug(Failure())  # type: ignore[no-untyped-call]

    def body_received(self, data: bytes) -> None:
        if not self._done:
            self.request.write(data)

    def response_done(self) -> None:
        if self._done or self._client_gone:
            return
        if self._producing:
            self._producing = False
            self.request.unregisterProducer()
        self._finish()

    def exchange_failed(self, error: UpstreamError) -> None:
        if self._client_gone or self._done:
            return
        request = self.request
        method = request.method.decode("latin-1")
        if not self._head_sent:
            status, reason = status_for(error)
            log.warn(
                "proxy {method} {target}: {status} ({reason}): {error}",
                method=method,
                target=self.url,
                status=status,
                reason=reason,
                error=error.detail,
            )
            self._error_page(status, reason)
            return
        if isinstance(error, IdleTimeout):
            log.warn(
                "proxy {method} {target}: upstream idle for {idle}s mid-body, aborting",
                method=method,
                target=self.url,
                idle=self.resource.settings.idle_timeout,
            )
        else:
            log.warn(
                "proxy {method} {target}: upstream body failed after {sent} bytes: {error}",
                method=method,
                target=self.url,
                sent=getattr(request, "sentLength", 0),
                error=f"{error.reason}: {error.detail}",
            )
        self._abort_client()

    # -- response head ---------------------------------------------------------------

    def _relay_head(self, head: ResponseHead) -> None:
        request = self.request
        resource = self.resource
        grouped: dict[bytes, list[bytes]] = {}
        for name, value in head.headers:
            low = name.lower()
            values = grouped.get(low)
            if values is None:
                grouped[low] = [value]
            else:
                values.append(value)
        # Framing is ours to state (below), never the upstream's copy.
        grouped.pop(b"content-length", None)
        cookies = None
        if resource.cookie_rules is not None:
            cookies = resource.cookie_rules[bool(request.isSecure())]
        relayed = relay_response_headers(
            grouped,
            grouped.get(b"connection", ()),
            via=resource.via_for(head.version),
            rewrite_location=resource.mount.client_location,
            cookies=cookies,
            drop_cors=self.resource.drop_cors,
        )
        request.setResponseCode(head.status, head.reason or None)
        # No Content-Type that nobody chose: twisted.web would add text/html.
        request.defaultContentType = None
        _apply_headers(request, relayed)
        framing = head.framing
        if head.status not in NO_BODY_CODES and framing.length is not None:
            request.responseHeaders.setRawHeaders(b"content-length", [b"%d" % framing.length])
        self._head_sent = True
        if framing.kind is not BodyKind.NO_BODY and self.exchange is not None:
            self._producing = True
            request.registerProducer(self.exchange, True)

    # -- endings ---------------------------------------------------------------------

    def _bug(self, failure: Failure) -> None:
        """Our own code failed: log it and never leave the client hanging."""
        log.failure("proxy {target}: internal error", failure, target=self.url)
        if self.exchange is not None:
            self.exchange.cancel()
        if self._client_gone or self._done:
            return
        if getattr(self.request, "startedWriting", False):
            self._abort_client()
        else:
            self._error_page(502, "could not be relayed")

    def _error_page(self, status: int, reason: str) -> None:
        request = self.request
        body = error_body(status, self.resource.mount.origin, reason)
        request.setResponseCode(status)
        request.responseHeaders.setRawHeaders(b"content-type", [b"text/plain; charset=utf-8"])
        request.responseHeaders.setRawHeaders(b"content-length", [b"%d" % len(body)])
        request.write(body)
        self._finish()

    def _client_lost(self, failure: Failure) -> None:
        self._client_gone = True
        if self.exchange is not None:
            self.exchange.cancel()

    def _abort_client(self) -> None:
        """End the client connection without a clean finish: it must see truncation."""
        self._done = True
        if self._producing:
            self._producing = False
            self.request.unregisterProducer()
        transport: Any = getattr(self.request, "transport", None)
        if transport is None:
            channel = getattr(self.request, "channel", None)
            transport = getattr(channel, "transport", None)
        abort = getattr(transport, "abortConnection", None) or getattr(
            transport, "loseConnection", None
        )
        if abort is not None:
            abort()

    def _finish(self) -> None:
        self._done = True
        if not self._client_gone:
            self.request.finish()


def body_source(request: Any, reactor: IReactorTime) -> BodySource | None:
    """The request body as the upstream client takes it: the one plug point for uploads.

    Today twisted.web has spooled the whole body (memory or a temp file) before render,
    and it is streamed from there under flow control. When the server channel hands
    bodies on as they arrive (the limits work's hook), a request still receiving its
    body brings a ``twisted_netlab.upstream.streaming.StreamingBody`` fed by the
    channel, returned here instead; nothing else in the call changes.
    """
    return spooled_body(request.content, reactor)


def _peer_host(request: Any) -> str:
    peer = request.getClientAddress()
    return str(getattr(peer, "host", "") or "unknown")


def _apply_headers(request: IRequest, relayed: list[tuple[bytes, list[bytes]]]) -> None:
    """Set the upstream's headers, replacing ours (Date, Server) and merging Vary."""
    target = request.responseHeaders
    for name, values in relayed:
        if name == b"vary":
            add_vary(request, *values)
        else:
            target.setRawHeaders(name, values)
