"""One proxied request: the state machine between a twisted.web request and an upstream
exchange.

    start -> [interim heads]* -> head -> body* -> done
    start -> failed before the head: a 502/504 page
    head -> failed mid-body: the client connection is aborted (it sees truncation)
    client gone at any point -> the exchange is cancelled (upstream connection closed)

A streamed upload (``upload.py``) starts its call when the request head is in, before
twisted.web renders: the call is *detached* until the resource's ``render`` attaches
it. Interim heads go to the client at once (an upstream's ``100 Continue`` is what lets
the client send its body); a final head, error or body byte that comes before the
client finished its body is held, the channel is told to end the body early, and the
held events are replayed when render attaches (at once: rendering follows
synchronously).

The call is the exchange's ``ResponseHandler``. Header decisions are pure functions in
``twisted_netlab.http.headers`` (what to forward, what to relay); this module only
moves their results between the two sides. Where other per-response rules plug in
(security headers, Content-Type defaults): ``_relay_head``, after ``send_head``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from twisted_netlab.http.headers import forward_request_headers, strip_hop_by_hop
from twisted_netlab.http.msgframing import BodyKind, Framing
from twisted_netlab.upstream.bodies import spooled_body
from twisted_netlab.upstream.errors import IdleTimeout, UpstreamError
from twisted_netlab.upstream.exchange import Exchange
from twisted_netlab.upstream.message import BodySource, ResponseHead, UpstreamRequest
from twisted_netlab.web.channel import LimitedRequest
from twisted_netlab.web.proxy.errors import error_body, status_for
from twisted_netlab.web.proxy.interim import send_interim
from twisted_netlab.web.proxy.relay import Relayed, is_secure, relay_fields, send_head
from twisted_netlab.web.proxy.role import CallHost
from twisted_netlab.web.proxy.upload import UploadSink
from twisted_netlab.web.replay import RelayOffer, offer_relay
from twisted_netlab.web.requestlog import client_host

# ``Relayed``, ``relay_fields`` and ``send_head`` live in ``relay``; the cache imports
# them from here, as before the split.
__all__ = ["CONTINUE_WAIT", "ProxyCall", "Relayed", "body_source", "relay_fields", "send_head"]

log = Logger()

# How long a client that sent ``Expect: 100-continue`` waits for the upstream's word
# before the proxy tells it to send the body anyway (curl's own wait is 1 s).
CONTINUE_WAIT = 1.0


class ProxyCall:
    exchange: Exchange | None = None
    _head_sent = False
    _producing = False
    # A Content-Length body's bytes still to come while the exchange is not yet
    # registered as the request's producer (see ``_send_relayed``).
    _unregistered_left: int | None = None
    _client_gone = False
    _done = False

    _upload: UploadSink | None = None
    _continue_timer: IDelayedCall | None = None
    # The client head this GET came in, while its response may be recorded for relays
    # from a plan (``_offer_relay``); None: it may not.
    _relay_key: bytes | None = None
    _continued = False
    _held_pause = False

    def __init__(
        self,
        resource: CallHost,
        request: IRequest,
        target: bytes,
        *,
        method: bytes | None = None,
        version: bytes | None = None,
    ) -> None:
        self.resource = resource
        # twisted.web's Request is untyped and IRequest lacks most of what is used.
        self.request: Any = request
        self.target = target  # origin-form, as sent upstream
        # Given when the call starts at head time (before twisted.web set them).
        plain: Any = request
        self.method: bytes = plain.method if method is None else method
        self.version: bytes = plain.clientproto if version is None else version
        self.attached = True
        self._held: list[Callable[[], None]] | None = None  # made by ``_hold``

    @property
    def url(self) -> str:
        """The upstream URL, for log lines."""
        return (self.resource.mount.origin_bytes + self.target).decode("latin-1")

    def start(self) -> None:
        request = self.request
        resource = self.resource
        # Canonical names (``Headers`` keeps them so): tested below as spelled.
        raw = dict(request.requestHeaders.getAllRawHeaders())
        headers = forward_request_headers(
            raw,
            _peer_host(request),
            "https" if is_secure(request) else "http",
            self.version.partition(b"/")[2] or b"1.1",
            resource.forward_rules,
        )
        headers = self.upstream_headers(headers)
        # No framing field, no body (RFC 9112 6.3): nothing to look for in ``content``.
        if b"Content-Length" in raw or b"Transfer-Encoding" in raw:
            body = body_source(request, resource.reactor)
        else:
            body = None
        upload = request.content
        if isinstance(upload, UploadSink):
            # Streaming: detached until render; the client's Expect goes upstream.
            self._upload = upload
            upload.call = self
            self.attached = False
            if upload.expect_continue:
                headers[b"Expect"] = [b"100-continue"]
                self._continue_timer = resource.reactor.callLater(
                    CONTINUE_WAIT, self._continue_anyway
                )
        self._watch_end(request)
        if body is None and self.method == b"GET" and type(self) is ProxyCall:
            self._relay_key = _relay_key(request)
        upstream_request = UpstreamRequest(self.method, self.target, headers, body)
        self.exchange = resource.client.request(resource.origin, upstream_request, self)

    def adopt(self, exchange: Exchange) -> None:
        """Carry on the exchange a relay from a plan started for this very request
        (``web/proxy/direct.py``) instead of starting one: it fell back to the full
        path, and the caller tells this call what made it."""
        self._watch_end(self.request)
        self._relay_key = _relay_key(self.request)
        self.exchange = exchange
        exchange.handler = self

    def _watch_end(self, request: Any) -> None:
        if isinstance(request, LimitedRequest):
            request.watch_end(self._request_ended)  # no Deferred per request
        else:  # HTTP/2's requests, a test's DummyRequest
            request.notifyFinish().addCallbacks(self._request_over, self._client_lost)

    def upstream_headers(self, headers: dict[bytes, list[bytes]]) -> dict[bytes, list[bytes]]:
        """The forwarded header section as sent: the cache's hook (it swaps conditionals)."""
        return headers

    def attach(self) -> None:
        """twisted.web renders the request (its body is complete, or was ended early
        by ``_hold``): relay what the upstream said meanwhile, then carry on live."""
        if self.attached:
            return
        self.attached = True
        self._stop_continue_timer()
        if self._upload is not None:
            self._upload.complete()
        held, self._held = self._held or [], None
        for event in held:
            event()
        if self._held_pause:
            self._held_pause = False
            if self.exchange is not None and not self._done and not self._client_gone:
                self.exchange.resumeProducing()

    def upload_failed(self, reason: str) -> None:
        """The channel refused the body mid-way (it answers the client itself)."""
        self._stop_continue_timer()
        if self._done:
            return
        self._done = True
        log.info(
            "proxy {method} {target}: upload abandoned: {reason}",
            method=self.method.decode("latin-1"),
            target=self.url,
            reason=reason,
        )
        if self.exchange is not None:
            self.exchange.cancel()

    def _hold(self, event: Callable[[], None]) -> None:
        """Keep ``event`` until render; the client is still sending (or waiting to send)
        its body, so that body is ended early and render comes at once."""
        if self._held is None:
            self._held = []
        self._held.append(event)
        if self.exchange is not None and not self._held_pause:
            self._held_pause = True
            self.exchange.pauseProducing()
        if self._upload is not None:
            self._upload.end_early()

    def _continue_anyway(self) -> None:
        """The upstream said nothing within ``CONTINUE_WAIT``: it ignores Expect (or is
        slow); let the client send, as it would itself after its own wait."""
        self._continue_timer = None
        if not (self._continued or self._head_sent or self._done or self._client_gone):
            self._continued = True
            send_interim(self.request, 100, b"Continue", (), self.version)

    def _stop_continue_timer(self) -> None:
        timer, self._continue_timer = self._continue_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    # -- ResponseHandler ---------------------------------------------------------------

    def interim_received(self, head: ResponseHead) -> None:
        if self._client_gone or self._done:
            return
        if head.status == 100:
            self._stop_continue_timer()
            if self._continued:
                return  # the client has its 100 already (ours, after the wait)
            self._continued = True
        headers = strip_hop_by_hop(head.headers)
        send_interim(self.request, head.status, head.reason, headers, self.version)

    def head_received(self, head: ResponseHead) -> None:
        if self._client_gone or self._done:
            return
        if not self.attached:
            self._stop_continue_timer()
            self._hold(lambda: self.head_received(head))
            return
        try:
            self._relay_head(head)
        except Exception:
            self._bug(Failure())

    def body_received(self, data: bytes) -> None:
        if not self.attached:
            self._hold(lambda: self.body_received(data))
        elif not self._done:
            left = self._unregistered_left
            if left is not None:
                left -= len(data)
                if left > 0:  # more to come: under flow control before this write
                    self._unregistered_left = None
                    self._register_producer()
                else:
                    self._unregistered_left = left
            self.request.write(data)

    def response_done(self) -> None:
        if self._done or self._client_gone:
            return
        if not self.attached:
            self._hold(self.response_done)
            return
        if self._producing:
            self._producing = False
            self.request.unregisterProducer()
        self._finish()

    def exchange_failed(self, error: UpstreamError) -> None:
        if self._client_gone or self._done:
            return
        if not self.attached:
            self._stop_continue_timer()
            self._hold(lambda: self.exchange_failed(error))
            return
        request = self.request
        method = self.method.decode("latin-1")
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
        resource = self.resource
        # Only the dev cookie rewriting reads the scheme: no isSecure walk without it.
        secure = resource.cookie_rules is not None and is_secure(self.request)
        relayed = relay_fields(resource, head.headers, head.version, secure)
        key, memo_key = self._relay_key, head.memo_key
        if key is not None and memo_key is not None:
            self._offer_relay(key, memo_key, head)
        self._send_relayed(head.status, head.reason, relayed, head.framing)

    def _offer_relay(self, key: bytes, memo_key: bytes, head: ResponseHead) -> None:
        """Let the channel record this response for relays from a plan
        (``http/relayplan.py``): its client head is a function of the two heads."""
        framing = head.framing
        kind = framing.kind
        if kind is BodyKind.NO_BODY:
            length = 0
        elif kind is BodyKind.LENGTH and framing.length is not None:
            length = framing.length
        else:
            return
        exchange = self.exchange
        request = self.request
        peer = _peer_host(request)
        if exchange is None or peer != client_host(request.channel):
            return
        sent = exchange.request
        # The head's bytes are what a relay sends (the fields are not kept twice).
        upstream = UpstreamRequest(sent.method, sent.target, {}, None, head=exchange.head_bytes)
        offer_relay(
            request,
            RelayOffer(key, self.resource, upstream, peer, memo_key, head.memo_date, length),
        )

    def _send_relayed(
        self, status: int, reason: bytes, relayed: Relayed, framing: Framing
    ) -> None:
        """Send a head whose fields went through ``relay_fields`` (the cache reuses them)."""
        send_head(self.request, status, reason, relayed, framing)
        self._head_sent = True
        kind = framing.kind
        if kind is BodyKind.NO_BODY:
            return
        if kind is BodyKind.LENGTH and framing.length is not None:
            # Registered by ``body_received`` only if the body comes in more than one
            # piece, before the write of the first: a small body read whole with its
            # head (most responses) is written once and needs no flow control, and
            # registering and unregistering it costs more than relaying it.
            self._unregistered_left = framing.length
            return
        self._register_producer()

    def _register_producer(self) -> None:
        """The client's pace now paces the upstream: a full client socket pauses the
        exchange, which stops reading the upstream."""
        if self.exchange is not None and not self._producing:
            self._producing = True
            self.request.registerProducer(self.exchange, True)

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

    def _request_ended(self, reason: Failure | None) -> None:
        """``LimitedRequest.watch_end``'s answer: ``notifyFinish``'s two outcomes."""
        if reason is None:
            self._request_over(None)
        else:
            self._client_lost(reason)

    def _client_lost(self, failure: Failure) -> None:
        self._client_gone = True
        self._stop_continue_timer()
        if self.exchange is not None:
            self.exchange.cancel()

    def _request_over(self, _: object) -> None:
        """The request was answered; by someone else if this call never attached
        (a layer above the proxy refused it): the upstream request is dropped."""
        if self._continue_timer is not None:
            self._stop_continue_timer()
        if not self.attached and self.exchange is not None:
            self._done = True
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

    A proxy mount's upload is streamed: the site's body opener made ``request.content``
    an ``UploadSink`` when the head arrived, and its ``StreamingBody`` (fed by the
    channel as the client sends) is the source. Anything else was spooled by
    twisted.web (memory or a temp file) and is streamed from there under flow control.
    """
    content = request.content
    if isinstance(content, UploadSink):
        return content.body
    return spooled_body(content, reactor)


def _relay_key(request: Any) -> bytes | None:
    """The exact head a GET came in, if its channel may relay it from a plan later."""
    relay_key = getattr(request.channel, "relay_key", None)
    return None if relay_key is None else relay_key(request)


def _peer_host(request: Any) -> str:
    peer = request.getClientAddress()
    return str(getattr(peer, "host", "") or "unknown")
