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

Numbers the services already keep are *pulled* when ``/metrics`` is scraped rather than
pushed on every event: the echo's frame count and pending bytes (``EchoSource``) and
each upstream pool's open and idle connections (``PoolSource``).  The serving paths pay
nothing for them, and nothing when ``--metrics`` is off.  ``watch_echo``/``watch_pool``
are how ``scale.instrument`` hands a service's source over (injected, never global).

The proxy cache's hits and misses: ``cache_lookup(mount, result)`` is the hook (a
counter ``netlab_proxy_cache_lookups_total{mount,result}``, ``result`` one of
``CACHE_RESULTS``).  The cache wiring receives this ``NetlabMetrics`` (or anything with
that method, ``CacheObserver``) the same way the pools are found: through the built
site, in ``scale.instrument``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import Enum
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CACHE_RESULTS = ("hit", "miss", "stale", "revalidated", "bypass")


class EchoSource(Protocol):
    """What the metrics read of an echo server (``EchoFactory``) at scrape time."""

    pending_total: int

    def frames_echoed(self) -> int: ...


class PoolSource(Protocol):
    """What the metrics read of an upstream pool (``ConnectionPool``) at scrape time."""

    def usage(self) -> Iterable[tuple[str, int, int]]:
        """``(upstream, open, idle)`` per upstream; labels come from the configuration."""
        ...


class CacheObserver(Protocol):
    def cache_lookup(self, mount: str, result: str) -> None: ...


class _Pulled(Collector):
    """Reads the watched echo servers and pools when the registry is collected."""

    def __init__(self) -> None:
        self.echoes: list[EchoSource] = []
        self.pools: list[PoolSource] = []

    def collect(self) -> Iterator[Metric]:
        frames = CounterMetricFamily(
            "netlab_echo_frames", "Frames echoed by the TCP service"
        )
        frames.add_metric([], float(sum(e.frames_echoed() for e in self.echoes)))
        pending = GaugeMetricFamily(
            "netlab_echo_pending_bytes", "Bytes held for incomplete echo frames"
        )
        pending.add_metric([], float(sum(e.pending_total for e in self.echoes)))
        opened = GaugeMetricFamily(
            "netlab_upstream_open_connections",
            "Open upstream connections (busy, connecting or idle), by upstream",
            labels=["upstream"],
        )
        idle = GaugeMetricFamily(
            "netlab_upstream_idle_connections",
            "Idle keep-alive upstream connections, by upstream", labels=["upstream"],
        )
        totals: dict[str, list[int]] = {}
        for pool in self.pools:
            for upstream, open_, idle_ in pool.usage():
                total = totals.setdefault(upstream, [0, 0])
                total[0] += open_
                total[1] += idle_
        for upstream, (open_, idle_) in sorted(totals.items()):
            opened.add_metric([upstream], float(open_))
            idle.add_metric([upstream], float(idle_))
        yield from (frames, pending, opened, idle)


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
            "netlab_http_requests_in_flight", "HTTP requests being answered now, by mount",
            ["mount"], registry=registry,
        )
        self.open_connections = Gauge(
            "netlab_open_connections", "Open connections by service",
            ["service"], registry=registry,
        )
        self.connections = Counter(
            "netlab_connections", "Connections accepted by service",
            ["service"], registry=registry,
        )
        self.replays = Counter(
            "netlab_http_replays", "HTTP responses replayed from the bytes written for the "
            "same request head before (also counted in netlab_http_requests), by mount",
            ["mount"], registry=registry,
        )
        self.cache_lookups = Counter(
            "netlab_proxy_cache_lookups", "Proxy cache lookups by mount and result",
            ["mount", "result"], registry=registry,
        )
        self._pulled = _Pulled()
        registry.register(self._pulled)
        info = Gauge(
            "netlab_process_info", "This process (a worker when --workers > 1)",
            ["pid"], registry=registry,
        )
        info.labels(pid=str(os.getpid())).set(1)

    def request_started(self, path: bytes) -> str:
        """Count ``path`` in flight; returns its mount label for ``request_finished``."""
        mount = mount_label(path, self.mounts)
        self.in_flight.labels(mount=mount).inc()
        return mount

    def request_relayed(self, mount: str, code: int | None, sent: int, counted: bool) -> None:
        """A relay (``web/relaychannel.py``) started by ``request_started`` is over:
        counted as a request and (if answered) a replay, unless the full path took it over
        (``counted`` False: it counts the request itself, from its own start)."""
        if not counted:
            self.in_flight.labels(mount=mount).dec()
            return
        self.request_finished(mount, code, sent)
        if code is not None:
            self.replays.labels(mount=mount).inc()

    def request_replayed(self, path: bytes, code: int, sent: int) -> None:
        """A request answered by a replay (``web/replaychannel.py``): counted as one
        answered request, and as a replay."""
        mount = mount_label(path, self.mounts)
        self.requests.labels(mount=mount, status_class=status_class(code)).inc()
        if sent:
            self.response_bytes.labels(mount=mount).inc(sent)
        self.replays.labels(mount=mount).inc()

    def request_finished(self, mount: str, code: int | None, sent: int) -> None:
        self.in_flight.labels(mount=mount).dec()
        self.requests.labels(mount=mount, status_class=status_class(code)).inc()
        if sent:
            self.response_bytes.labels(mount=mount).inc(sent)

    def connection_opened(self, service: str) -> None:
        self.connections.labels(service=service).inc()
        self.open_connections.labels(service=service).inc()

    def connection_closed(self, service: str) -> None:
        self.open_connections.labels(service=service).dec()

    def watch_echo(self, echo: EchoSource) -> None:
        self._pulled.echoes.append(echo)

    def watch_pool(self, pool: PoolSource) -> None:
        self._pulled.pools.append(pool)

    def cache_lookup(self, mount: str, result: str) -> None:
        """The proxy cache's hook: one lookup under ``mount`` ended as ``result``."""
        if result not in CACHE_RESULTS:
            raise ValueError(f"cache result must be one of {CACHE_RESULTS}, not {result!r}")
        self.cache_lookups.labels(mount=mount, result=result).inc()
