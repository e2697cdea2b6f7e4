"""What an operator and a load balancer see: Prometheus instruments and the health state.

Why a ``CollectorRegistry`` made per process and passed in (never prometheus' global
``REGISTRY``): tests build as many as they like without "duplicated timeseries"
errors, and a worker process exports only its own numbers (each worker is scraped
separately, labelled by ``pid`` in ``netlab_process_info``).

``HealthState`` is the one place that says whether this process wants new traffic.
It is the hook for the graceful stop: ``begin_lame_duck()`` makes ``/healthz`` answer
503 at once while everything keeps serving (a balancer needs ``inter`` x ``fall`` to
notice); ``begin_drain()`` marks the later phase where listeners are closed.  The drain
code calls these; nothing here knows about the reactor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from enum import Enum

from prometheus_client import CollectorRegistry, Counter, Gauge


class Phase(Enum):
    SERVING = "serving"
    LAME_DUCK = "lame-duck"  # still serving, but asking the balancer to stop sending
    DRAINING = "draining"  # listeners closed, finishing in-flight work


class HealthState:
    """Serving, lame duck, draining: ``/healthz`` is 200 only while serving."""

    def __init__(self) -> None:
        self.phase = Phase.SERVING
        self._listeners: list[Callable[[Phase], object]] = []

    @property
    def healthy(self) -> bool:
        return self.phase is Phase.SERVING

    @property
    def closing(self) -> bool:
        """True once the stop has begun: responses should carry ``Connection: close``."""
        return self.phase is not Phase.SERVING

    def on_change(self, listener: Callable[[Phase], object]) -> None:
        self._listeners.append(listener)

    def begin_lame_duck(self) -> None:
        self._move(Phase.LAME_DUCK)

    def begin_drain(self) -> None:
        self._move(Phase.DRAINING)

    def _move(self, phase: Phase) -> None:
        order = list(Phase)
        if order.index(phase) <= order.index(self.phase):
            return  # phases only move forward; a second SIGTERM changes nothing
        self.phase = phase
        for listener in self._listeners:
            listener(phase)


def status_class(code: int | None) -> str:
    """``"2xx"``...; ``"aborted"`` when the client left before the response finished."""
    if code is None or not 100 <= code <= 599:
        return "aborted"
    return f"{code // 100}xx"


def split_segments(path: bytes) -> list[bytes]:
    return [s for s in path.split(b"?", 1)[0].split(b"/") if s]


def mount_label(path: bytes, prefixes: Sequence[str]) -> str:
    """The mount a request path falls under (longest prefix wins; ``/`` otherwise).

    Labels come from the configured prefixes only, never from the request, so the
    number of time series stays bounded whatever clients send.
    """
    segments = split_segments(path)
    best, best_len = "/", -1
    for prefix in prefixes:
        want = split_segments(prefix.encode("utf-8"))
        if len(want) > best_len and segments[: len(want)] == want:
            best, best_len = prefix, len(want)
    return best


class NetlabMetrics:
    """Every instrument of one process, registered in the registry it is given."""

    def __init__(self, registry: CollectorRegistry, mounts: Iterable[str] = ()) -> None:
        self.registry = registry
        self.mounts = tuple(mounts)
        self.requests = Counter(
            "netlab_http_requests", "HTTP responses by status class and mount",
            ["mount", "status_class"], registry=registry,
        )
        self.response_bytes = Counter(
            "netlab_http_response_bytes", "HTTP response body bytes sent, by mount",
            ["mount"], registry=registry,
        )
        self.in_flight = Gauge(
            "netlab_http_requests_in_flight", "HTTP requests being answered now",
            registry=registry,
        )
        self.open_connections = Gauge(
            "netlab_open_connections", "Open connections by service",
            ["service"], registry=registry,
        )
        self.connections = Counter(
            "netlab_connections", "Connections accepted by service",
            ["service"], registry=registry,
        )
        self.echo_frames = Counter(
            "netlab_echo_frames", "Frames echoed by the TCP service", registry=registry,
        )
        info = Gauge(
            "netlab_process_info", "This process (a worker when --workers > 1)",
            ["pid"], registry=registry,
        )
        info.labels(pid=str(os.getpid())).set(1)

    def request_started(self) -> None:
        self.in_flight.inc()

    def request_finished(self, path: bytes, code: int | None, sent: int) -> None:
        self.in_flight.dec()
        mount = mount_label(path, self.mounts)
        self.requests.labels(mount=mount, status_class=status_class(code)).inc()
        if sent:
            self.response_bytes.labels(mount=mount).inc(sent)

    def connection_opened(self, service: str) -> None:
        self.connections.labels(service=service).inc()
        self.open_connections.labels(service=service).inc()

    def connection_closed(self, service: str) -> None:
        self.open_connections.labels(service=service).dec()
