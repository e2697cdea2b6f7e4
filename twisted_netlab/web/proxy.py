"""The streaming reverse proxy: Agent + persistent pool, body pump, error mapping.

One ``Agent`` with a persistent ``HTTPConnectionPool`` serves every mount (keep-alive
to the upstreams). Per request, one ``_ProxyCall`` object is the whole state machine:
it sends the request, turns the response head into ours (rules in
``twisted_netlab.http.headers``), then becomes the body protocol and registers itself
as a push producer on the client request, so a slow client pauses the upstream socket.
Timeouts are ``callLater``s; the idle timer is re-armed lazily (checked when it fires)
so a chunk costs one clock read, not a timer reset.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error as ierror
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.web.client import (
    URI,
    Agent,
    BrowserLikePolicyForHTTPS,
    FileBodyProducer,
    HTTPConnectionPool,
    ResponseDone,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import (
    UNKNOWN_LENGTH,
    IAgentEndpointFactory,
    IBodyProducer,
    IRequest,
    IResponse,
)
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from twisted_netlab.http.headers import (
    ClientHop,
    CookieRewrite,
    TrustedProxies,
    request_headers,
    response_headers,
)
from twisted_netlab.http.proxymount import ProxyMount, ProxyPathError
from twisted_netlab.web.vary import add_vary

log = Logger()

# Bodies up to this size are read into memory and written in one go (no cooperator
# round trip); larger ones (already a temp file in twisted.web) stream from the file.
_INLINE_BODY = 64 * 1024
_NO_BODY_CODES = (204, 304)


@dataclass(frozen=True)
class ProxySettings:
    """Knobs shared by every mount (one pool, one set of timeouts)."""

    pool_size: int = 32
    connect_timeout: float = 10.0
    response_timeout: float = 60.0
    idle_timeout: float = 60.0
    cached_connection_timeout: float = 50.0
    trusted: TrustedProxies = field(default_factory=TrustedProxies)
    pseudonym: str = "netlab"
    dev: bool = False


@implementer(IAgentEndpointFactory)
class _CachedEndpoints:
    """One endpoint per upstream origin, built once.

    Agent's default factory builds a new ``HostnameEndpoint`` (IDNA-encoding the host)
    for every request even when the pool then reuses a connection; for a handful of
    configured upstreams that is pure per-request overhead.
    """

    def __init__(self, reactor: Any, connect_timeout: float) -> None:
        self._reactor = reactor
        self._timeout = connect_timeout
        self._tls = BrowserLikePolicyForHTTPS()
        self._cache: dict[tuple[bytes, bytes, int], IStreamClientEndpoint] = {}

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._cache.get(key)
        if endpoint is None:
            endpoint = HostnameEndpoint(
                self._reactor, uri.host, uri.port, timeout=self._timeout
            )
            if uri.scheme == b"https":
                creator = self._tls.creatorForNetloc(uri.host, uri.port)
                endpoint = wrapClientTLS(creator, endpoint)
            self._cache[key] = endpoint
        return endpoint


class ProxyClient:
    """The shared Agent and its pool; ``close()`` drops the cached connections."""

    def __init__(self, reactor: Any, settings: ProxySettings) -> None:
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = settings.pool_size
        self.pool.cachedConnectionTimeout = settings.cached_connection_timeout
        self.pool.retryAutomatically = True
        self.agent = Agent.usingEndpointFactory(
            reactor, _CachedEndpoints(reactor, settings.connect_timeout), pool=self.pool
        )

    def close(self) -> Deferred[None]:
        return self.pool.closeCachedConnections()


@implementer(IBodyProducer)
class _BytesProducer:
    """A small request body written in one call."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def _body_producer(request: IRequest) -> IBodyProducer | None:
    content = request.content
    if content is None:
        return None
    content.seek(0, io.SEEK_END)
    size = content.tell()
    content.seek(0)
    if size == 0:
        return None  # Agent still sends Content-Length: 0 for POST/PUT
    if size <= _INLINE_BODY:
        return _BytesProducer(content.read())
    return FileBodyProducer(content)


def _reasons(failure: Failure) -> Iterable[Failure]:
    """The failure and every failure wrapped in it (ResponseNeverReceived & co.)."""
    yield failure
    for inner in getattr(failure.value, "reasons", None) or ():
        if isinstance(inner, Failure):
            yield from _reasons(inner)


def _describe(failure: Failure) -> tuple[int, str]:
    """(status, reason) for a request that got no response head."""
    for reason in _reasons(failure):
        if reason.check(ierror.TimeoutError):
            return http.GATEWAY_TIMEOUT, "connect timeout"
    for reason in _reasons(failure):
        if reason.check(ierror.DNSLookupError):
            return http.BAD_GATEWAY, "DNS lookup failed"
        if reason.check(ierror.ConnectionRefusedError):
            return http.BAD_GATEWAY, "connection refused"
        if reason.check(ierror.ConnectionLost, ierror.ConnectionDone):
            return http.BAD_GATEWAY, "connection closed before a response"
        if reason.check(ierror.ConnectError):
            return http.BAD_GATEWAY, "connect failed"
    return http.BAD_GATEWAY, "bad response"


class ProxyResource(Resource):
    """Forward every request under one mount to its upstream."""

    isLeaf = True

    def __init__(
        self,
        mount: ProxyMount,
        client: ProxyClient,
        settings: ProxySettings,
        reactor: IReactorTime,
    ) -> None:
        super().__init__()
        self.mount = mount
        self.client = client
        self.settings = settings
        self.reactor = reactor

    def render(self, request: IRequest) -> bytes | int:
        if request.method == b"CONNECT":
            request.setResponseCode(http.NOT_ALLOWED)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"CONNECT is not proxied\n"
        path, sep, query = request.uri.partition(b"?")
        try:
            target = self.mount.upstream_target(path, query if sep else None)
        except ProxyPathError as exc:
            request.setResponseCode(exc.status)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return f"{exc}\n".encode("utf-8", "replace")
        _ProxyCall(self, request, target).start()
        return NOT_DONE_YET


@implementer(IPushProducer)
class _ProxyCall(Protocol):
    """One proxied exchange: request, response head, then the body pump."""

    _header_timer: IDelayedCall | None = None
    _idle_timer: IDelayedCall | None = None
    _response_deferred: Deferred[IResponse] | None = None
    _timed_out = False
    _client_gone = False
    _paused = False
    _done = False

    def __init__(self, resource: ProxyResource, request: IRequest, target: bytes) -> None:
        self.resource = resource
        self.request = request
        self.target = target
        self.settings = resource.settings
        self.mount = resource.mount
        self._last = 0.0

    # -- request ---------------------------------------------------------------

    def start(self) -> None:
        request = self.request
        settings = self.settings
        mount = self.mount
        host = request.getHeader(b"host")
        hop = ClientHop(
            peer=_peer_host(request),
            scheme="https" if request.isSecure() else "http",
            host=host,
            version=request.clientproto.partition(b"/")[2] or b"1.1",
        )
        pairs = [
            (name, value)
            for name, values in request.requestHeaders.getAllRawHeaders()
            for value in values
        ]
        headers = Headers()
        for name, value in request_headers(
            pairs,
            hop,
            trusted=settings.trusted,
            upstream_host=mount.host_header,
            preserve_host=mount.preserve_host,
            pseudonym=settings.pseudonym,
        ):
            headers.addRawHeader(name, value)
        d = self.resource.client.agent.request(
            request.method, self.target, headers, _body_producer(request)
        )
        self._response_deferred = d
        self._header_timer = self.resource.reactor.callLater(
            settings.response_timeout, self._response_timed_out
        )
        request.notifyFinish().addErrback(self._client_lost)
        d.addCallbacks(self._got_response, self._request_failed).addErrback(self._bug)

    def _bug(self, failure: Failure) -> None:
        """Our own code failed: log it and never leave the client hanging."""
        log.failure("proxy {target}: internal error", failure, target=self.target)
        if self._client_gone or self._done:
            return
        if self.request.startedWriting:
            self._abort_client()
        else:
            self._error_page(http.BAD_GATEWAY, "could not be relayed")

    def _response_timed_out(self) -> None:
        self._header_timer = None
        self._timed_out = True
        if self._response_deferred is not None:
            self._response_deferred.cancel()

    def _request_failed(self, failure: Failure) -> None:
        self._response_deferred = None
        self._cancel_header_timer()
        if self._client_gone:
            return
        if self._timed_out:
            status, reason = http.GATEWAY_TIMEOUT, "no response within the timeout"
        else:
            status, reason = _describe(failure)
        log.warn(
            "proxy {method} {target}: {status} ({reason}): {error}",
            method=self.request.method.decode("latin-1"),
            target=self.target.decode("latin-1"),
            status=status,
            reason=reason,
            error=failure.getErrorMessage(),
        )
        self._error_page(status, reason)

    def _error_page(self, status: int, reason: str) -> None:
        request = self.request
        body = f"{status} {http.RESPONSES[status].decode()}: upstream {self.mount.origin} {reason}\n".encode(
            "utf-8", "replace"
        )
        request.setResponseCode(status)
        request.responseHeaders.setRawHeaders(b"content-type", [b"text/plain; charset=utf-8"])
        request.responseHeaders.setRawHeaders(b"content-length", [b"%d" % len(body)])
        request.write(body)
        self._finish()

    # -- response head ---------------------------------------------------------

    def _got_response(self, response: IResponse) -> None:
        self._response_deferred = None
        self._cancel_header_timer()
        if self._client_gone:
            response.deliverBody(_Discard())
            return
        request = self.request
        settings = self.settings
        mount = self.mount
        request.setResponseCode(response.code, response.phrase)
        pairs = [
            (name, value)
            for name, values in response.headers.getAllRawHeaders()
            for value in values
        ]
        conn = _upstream_connection_headers(response)
        pairs.extend((b"Connection", v) for v in conn.getRawHeaders(b"connection", ()))
        cookies = None
        if settings.dev:
            cookies = CookieRewrite(
                map_path=mount.client_path,
                prefix=mount.prefix,
                secure_client=request.isSecure(),
            )
        out = response_headers(
            pairs,
            version=b"%d.%d" % response.version[1:],
            pseudonym=settings.pseudonym,
            rewrite_location=mount.client_location,
            cookies=cookies,
            drop_cors=bool(getattr(request, "netlab_cors_managed", False)),
        )
        _apply_headers(request, out)
        # The client parser keeps Content-Length out of response.headers.
        if response.code not in _NO_BODY_CODES:
            if request.method == b"HEAD":
                length = conn.getRawHeaders(b"content-length", ())
                if len(length) == 1 and length[0].isdigit():
                    request.responseHeaders.setRawHeaders(b"content-length", length)
            elif response.length is not UNKNOWN_LENGTH:
                request.responseHeaders.setRawHeaders(
                    b"content-length", [b"%d" % response.length]
                )
        response.deliverBody(self)

    # -- body pump (Protocol + IPushProducer) ----------------------------------

    def connectionMade(self) -> None:
        if self._client_gone:
            self.transport.stopProducing()
            return
        self.request.registerProducer(self, True)
        if self.settings.idle_timeout > 0:
            self._last = self.resource.reactor.seconds()
            self._idle_timer = self.resource.reactor.callLater(
                self.settings.idle_timeout, self._idle_check
            )

    def dataReceived(self, data: bytes) -> None:
        if self._idle_timer is not None:
            self._last = self.resource.reactor.seconds()
        self.request.write(data)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._cancel_idle_timer()
        if self._done or self._client_gone:
            return
        self.request.unregisterProducer()
        if reason.check(ResponseDone, PotentialDataLoss):
            # PotentialDataLoss: a body delimited by the connection close, which is
            # how HTTP/1.0-style upstreams end a body; there is nothing to compare.
            self._finish()
            return
        log.warn(
            "proxy {method} {target}: upstream body failed after {sent} bytes: {error}",
            method=self.request.method.decode("latin-1"),
            target=self.target.decode("latin-1"),
            sent=self.request.sentLength,
            error=_failure_text(reason),
        )
        self._abort_client()

    def pauseProducing(self) -> None:
        self._paused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._paused = False
        self._last = self.resource.reactor.seconds()
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.transport.stopProducing()

    def _idle_check(self) -> None:
        self._idle_timer = None
        reactor = self.resource.reactor
        idle = self.settings.idle_timeout
        elapsed = reactor.seconds() - self._last
        if self._paused or elapsed < idle:
            # A paused upstream is the client's doing, not the upstream's.
            wait = idle if self._paused else idle - elapsed
            self._idle_timer = reactor.callLater(wait, self._idle_check)
            return
        log.warn(
            "proxy {method} {target}: upstream idle for {idle}s mid-body, aborting",
            method=self.request.method.decode("latin-1"),
            target=self.target.decode("latin-1"),
            idle=idle,
        )
        self._done = True
        self.request.unregisterProducer()
        self.transport.stopProducing()
        self._abort_client()

    # -- endings ---------------------------------------------------------------

    def _client_lost(self, failure: Failure) -> None:
        self._client_gone = True
        self._cancel_header_timer()
        self._cancel_idle_timer()
        if self._response_deferred is not None:
            self._response_deferred.cancel()
        elif self.transport is not None and not self._done:
            self._done = True
            self.transport.stopProducing()

    def _abort_client(self) -> None:
        """End the client connection without a clean finish: it must see truncation."""
        self._done = True
        transport = getattr(self.request, "transport", None)
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

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None


class _Discard(Protocol):
    """Body sink for a response whose client left: close rather than read it all."""

    def connectionMade(self) -> None:
        self.transport.stopProducing()


_NO_HEADERS = Headers()


def _upstream_connection_headers(response: IResponse) -> Headers:
    """The connection-control headers Agent keeps out of ``response.headers``.

    Needed for the names listed in ``Connection`` (to drop them) and for the
    Content-Length of a HEAD answer. Agent has no public API for them, so this walks
    private attributes (transport -> protocol -> parser) and degrades to no headers.
    """
    node: Any = getattr(getattr(response, "_transport", None), "_producer", None)
    for _ in range(4):
        parser = getattr(node, "_parser", None)
        if parser is not None and hasattr(parser, "connHeaders"):
            return parser.connHeaders  # type: ignore[no-any-return]
        node = (
            getattr(node, "protocol", None)
            or getattr(node, "_wrappedProtocol", None)
            or getattr(node, "wrappedProtocol", None)
        )
    return _NO_HEADERS


def _failure_text(reason: Failure) -> str:
    return "; ".join(
        f"{r.type.__name__}: {r.getErrorMessage()}" for r in _reasons(reason)
    )


def _peer_host(request: IRequest) -> str:
    peer = request.getClientAddress()
    return str(getattr(peer, "host", "") or "unknown")


def _apply_headers(request: IRequest, pairs: Sequence[tuple[bytes, bytes]]) -> None:
    """Set the upstream's headers, replacing ours (Date, Server) and merging Vary."""
    grouped: dict[bytes, list[bytes]] = {}
    for name, value in pairs:
        grouped.setdefault(name.lower(), []).append(value)
    target = request.responseHeaders
    for name, values in grouped.items():
        if name == b"vary":
            tokens = [
                t.strip()
                for v in values
                for t in v.decode("latin-1").split(",")
                if t.strip()
            ]
            if "*" in tokens:
                target.setRawHeaders(b"vary", [b"*"])
            else:
                add_vary(request, *tokens)
        elif name == b"via":
            target.setRawHeaders(b"via", values)
        else:
            target.setRawHeaders(name, values)


def build_proxy_client(reactor: Any, settings: ProxySettings) -> ProxyClient:
    return ProxyClient(reactor, settings)


def make_proxy_mounts(
    mounts: Sequence[ProxyMount],
    settings: ProxySettings,
    client: ProxyClient,
    reactor: IReactorTime,
) -> list[tuple[list[bytes], IResource]]:
    from twisted_netlab.web.site import split_prefix

    return [
        (split_prefix(m.prefix), ProxyResource(m, client, settings, reactor))
        for m in mounts
    ]


def settings_from_options(options: Any) -> ProxySettings:
    from twisted_netlab.http.headers import parse_trusted

    trusted = options.get("proxy-trusted")
    if not isinstance(trusted, TrustedProxies):
        trusted = parse_trusted(options.get("trusted-proxy") or [])
    return ProxySettings(
        pool_size=int(options.get("proxy-pool-size") or 32),
        connect_timeout=float(options.get("proxy-connect-timeout") or 10.0),
        response_timeout=float(options.get("proxy-response-timeout") or 60.0),
        idle_timeout=float(options.get("proxy-idle-timeout") or 60.0),
        trusted=trusted,
        pseudonym=str(options.get("proxy-via") or "netlab"),
        dev=bool(options.get("proxy-dev")),
    )


def build_proxy_mounts(
    options: Any, reactor: Any
) -> list[tuple[list[bytes], IResource]]:
    """The proxy mounts declared in ``options["proxy-mounts"]``, sharing one pool."""
    mounts: list[ProxyMount] = list(options.get("proxy-mounts") or [])
    if not mounts:
        return []
    settings = settings_from_options(options)
    client = build_proxy_client(reactor, settings)
    reactor.addSystemEventTrigger("before", "shutdown", client.close)
    return make_proxy_mounts(mounts, settings, client, reactor)
