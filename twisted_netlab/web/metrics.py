# twisted.web is untyped: calling into it is the point of this adapter.
# mypy: disable-error-code="no-untyped-call"
"""``/metrics`` and ``/healthz``, and the root wrapper that counts every request.

Why a wrapper around the site's root resource (not a ``Site``/``Request`` subclass):
the limits work owns the channel and request classes; a resource wrapper composes
with whatever they become, and runs for HTTP/1.1 and HTTP/2 (H2Stream) alike.  Requests
refused before a resource is reached (a malformed head) are not counted here.

The two pages live on their own listening endpoint (``--metrics``) so a public port
never exposes them; ``--metrics-public`` also answers them on the public site, ahead of
every mount.
"""

from __future__ import annotations

from typing import cast

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource, getChildForRequest
from twisted.web.server import Request, Site

from twisted_netlab.metrics import HealthState, NetlabMetrics, split_segments

METRICS_PATH = b"metrics"
HEALTH_PATH = b"healthz"


class MetricsPage(Resource):
    isLeaf = True

    def __init__(self, metrics: NetlabMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return generate_latest(self._metrics.registry)

    render_HEAD = render_GET


class HealthPage(Resource):
    """200 while serving; 503 from the first moment of a stop (lame duck, drain)."""

    isLeaf = True

    def __init__(self, health: HealthState) -> None:
        super().__init__()
        self._health = health

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        if self._health.healthy:
            return b"ok\n"
        request.setResponseCode(http.SERVICE_UNAVAILABLE)
        return f"{self._health.phase.value}\n".encode()

    render_HEAD = render_GET


def _not_found(request: IRequest) -> bytes:
    request.setResponseCode(http.NOT_FOUND)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return b"not found: this port serves /metrics and /healthz only\n"


class OpsRoot(Resource):
    """The root of the separate ``--metrics`` listener."""

    isLeaf = True

    def __init__(self, metrics: NetlabMetrics, health: HealthState) -> None:
        super().__init__()
        self.pages: dict[bytes, IResource] = {
            METRICS_PATH: MetricsPage(metrics),
            HEALTH_PATH: HealthPage(health),
        }

    def render(self, request: IRequest) -> bytes | int:
        segments = split_segments(request.path)
        page = self.pages.get(segments[0]) if len(segments) == 1 else None
        if page is None:
            return _not_found(request)
        return cast(bytes | int, page.render(request))


def _close_after(request: IRequest) -> None:
    """HTTP/1.x: answer this request, then close (``HTTPChannel.persistent``).

    An HTTP/2 stream has no ``persistent``: the header would be stripped by h2 anyway,
    and Twisted offers no public GOAWAY, so HTTP/2 clients learn of the stop only when
    the listener closes.
    """
    channel = getattr(request, "channel", None)
    if channel is not None and hasattr(channel, "persistent"):
        channel.persistent = False
        request.setHeader(b"connection", b"close")


class OpsSite(Site):
    """No access log: a balancer polls /healthz several times a second."""

    def log(self, request: http.Request) -> None:
        pass


def build_ops_site(metrics: NetlabMetrics, health: HealthState) -> Site:
    site = OpsSite(OpsRoot(metrics, health))
    site.displayTracebacks = False
    return site


class InstrumentedRoot(Resource):
    """Counts every request that reaches the site, then renders ``inner`` as before.

    While the health state is closing (lame duck or drain), HTTP/1.1 responses carry
    ``Connection: close`` so keep-alive clients (a balancer's pool) reconnect
    elsewhere instead of having an idle connection closed under them later.
    """

    isLeaf = True

    def __init__(
        self,
        inner: IResource,
        metrics: NetlabMetrics,
        health: HealthState,
        public_ops: bool = False,
    ) -> None:
        super().__init__()
        self.inner = inner
        self._metrics = metrics
        self._health = health
        self._ops = OpsRoot(metrics, health) if public_ops else None

    # -- replay watcher (web/replay.py): a replayed request is counted as one served

    def may_replay(self) -> bool:
        """Not while closing: every response then carries ``Connection: close``."""
        return not self._health.closing

    def replayed(self, path: bytes, code: int, sent: int) -> None:
        self._metrics.request_replayed(path, code, sent)

    def relay_started(self, path: bytes) -> str:
        return self._metrics.request_started(path)

    def relay_ended(self, label: str, code: int | None, sent: int, counted: bool) -> None:
        self._metrics.request_relayed(label, code, sent, counted)

    def render(self, request: IRequest) -> bytes | int:
        req = cast(Request, request)
        path: bytes = req.path
        mount = self._metrics.request_started(path)

        def finished(result: Failure | None) -> None:
            code = None if isinstance(result, Failure) else req.code
            self._metrics.request_finished(mount, code, req.sentLength)

        req.notifyFinish().addBoth(finished)
        if self._health.closing:
            _close_after(request)
        if self._ops is not None and split_segments(path) in ([METRICS_PATH], [HEALTH_PATH]):
            return self._ops.render(request)
        return cast(bytes | int, getChildForRequest(self.inner, request).render(request))
