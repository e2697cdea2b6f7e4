# twisted.application is untyped: wiring services together is the point of this module.
# mypy: disable-error-code="no-untyped-call"
"""Scale-out options and the one wiring call each plugin's ``makeService`` ends with.

``finish_service(top, config, tap_module, reactor)`` takes the plugin's ordinary
service tree and adds what ``--metrics``, ``--metrics-public`` and ``--lame-duck`` ask
for, by decorating the listening services it finds (their ``factory`` attribute):
a connection-counting wrapper around each factory, a counting root around each
``Site``'s resource, and one more listener for ``/metrics`` + ``/healthz``.  So the
plugins stay unaware of metrics, and the services themselves get their collaborator
(``NetlabMetrics``) injected rather than reaching for a global.

The stop sequence (``ScaleService.stopService``): the health state turns "lame duck"
at once (``/healthz`` 503, HTTP/1.1 responses close their connection), everything
keeps serving for ``--lame-duck`` seconds so a balancer that checks every ``inter``
and gives up after ``fall`` failures has moved traffic away, then the health state
turns "draining" and the services stop (the graceful drain of the limits work runs
inside their ``stopService``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.application import strports
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService, MultiService
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python import usage
from twisted.web.server import Site

from twisted_netlab.counting import CountingFactory
from twisted_netlab.drain import PROCESS_STOP, StopSignals
from twisted_netlab.endpoints import validate_endpoint
from twisted_netlab.metrics import HealthState, NetlabMetrics
from twisted_netlab.tcp.factory import EchoFactory
from twisted_netlab.web.metrics import InstrumentedRoot, build_ops_site

log = Logger()


@dataclass(frozen=True)
class ScaleConfig:
    metrics: str | None = None  # endpoint description of the /metrics + /healthz listener
    metrics_public: bool = False  # also answer them on the public site(s)
    lame_duck: float = 0.0  # seconds of 503-on-/healthz before the services stop
    mounts: tuple[str, ...] = ()  # metric labels: the configured mount prefixes
    workers: int = 1  # > 1: this process supervises that many workers
    argv: tuple[str, ...] = ()  # the plugin arguments, given again to each worker

    @property
    def instrumented(self) -> bool:
        return bool(self.metrics or self.metrics_public or self.lame_duck)


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise usage.UsageError(f"--{name} must be a number of seconds, not {value!r}") from None
    if not 0 <= seconds < 3600:
        raise usage.UsageError(f"--{name} must be between 0 and 3600 seconds, not {value!r}")
    return seconds


def parse_workers(value: str, cpus: int | None) -> int:
    """``N`` (1-256) or ``auto`` (the CPUs this process may run on)."""
    if value.strip().lower() == "auto":
        return max(1, cpus or 1)
    try:
        count = int(value)
    except ValueError:
        raise usage.UsageError(f"--workers must be a number or 'auto', not {value!r}") from None
    if not 1 <= count <= 256:
        raise usage.UsageError(f"--workers must be between 1 and 256, not {count}")
    return count


def _usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count()


class ScaleOptionsMixin(usage.Options):
    """``--metrics``, ``--metrics-public``, ``--lame-duck``, ``--workers``; result in "scale".

    A ``usage.Options`` base (like ``WebOptions``), so ``self[...]`` is typed as it is.
    """

    optFlags = [  # noqa: RUF012 - usage.Options reads these class lists
        ["metrics-public", None, "Also answer /metrics and /healthz on the public web "
         "port(s) (off: they stay on the --metrics endpoint only)."],
    ]
    optParameters = [  # noqa: RUF012
        ["metrics", None, None, "Serve /metrics (Prometheus) and /healthz on this "
         "separate endpoint, e.g. tcp:9100:interface=127.0.0.1."],
        ["lame-duck", None, "0", "On SIGTERM, answer /healthz with 503 and keep serving "
         "this many seconds before stopping (more than a balancer's inter x fall)."],
        ["workers", None, "1", "Worker processes sharing the listening sockets: N or "
         "'auto' (one per CPU). 1: serve in this process."],
    ]

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        # Kept so the supervisor can give each worker the very same arguments.
        self["argv"] = list(sys.argv[1:] if options is None else options)
        super().parseOptions(options)

    def post_options_scale(self, web: bool = True, mounts: Sequence[str] = ()) -> None:
        """``mounts``: the web mount prefixes (``WebConfig.mount_prefixes()``), for metrics."""
        options = self
        endpoint = options.get("metrics")
        if endpoint is not None:
            validate_endpoint(endpoint)
        public = bool(options.get("metrics-public"))
        if public and not web:
            raise usage.UsageError("--metrics-public needs a web service; use --metrics ENDPOINT")
        workers = parse_workers(options.get("workers") or "1", _usable_cpus())
        if workers > 1:
            listeners = [*options.get("ports", ()), *options.get("web-ports", ()),
                         *options.get("tcp-ports", ()), *([endpoint] if endpoint else [])]
            for description in listeners:
                if description.split(":", 1)[0].strip().lower() == "ssl":
                    raise usage.UsageError(
                        f"--workers cannot share the ssl: endpoint {description!r}; "
                        "use a tcp: port with --tls (or --tls-cert/--tls-key)"
                    )
        options["scale"] = ScaleConfig(
            metrics=endpoint,
            metrics_public=public,
            lame_duck=_seconds("lame-duck", options.get("lame-duck") or "0"),
            mounts=tuple(mounts) if web else (),
            workers=workers,
            argv=tuple(options.get("argv") or ()),
        )


def listening_services(top: MultiService) -> Iterator[StreamServerEndpointService]:
    """Every listener in ``top``, depth first, in the order the plugin added them."""
    for child in top:
        if isinstance(child, StreamServerEndpointService):
            yield child
        elif isinstance(child, MultiService):
            yield from listening_services(child)


def _site_of(factory: IProtocolFactory) -> Site | None:
    if isinstance(factory, TLSMemoryBIOFactory):
        factory = factory.wrappedFactory
    return factory if isinstance(factory, Site) else None


# Cache-Status outcomes (web/proxy/cache.py) -> the results /metrics counts; the rest
# (purge, invalidated, collapsed waits, background refreshes) are not lookups.
_CACHE_RESULT = {
    "hit": "hit", "stale": "stale", "stale-if-error": "stale", "miss": "miss",
    "validated": "revalidated", "bypass": "bypass", "method": "bypass",
    "only-if-cached": "miss",
}


def cache_observer(metrics: NetlabMetrics) -> Callable[[str], None]:
    """The proxy cache's ``on_outcome``: lookups by result (one cache serves every mount,
    so they are counted under the mount label ``proxy``)."""

    def observe(outcome: str) -> None:
        result = _CACHE_RESULT.get(outcome)
        if result is not None:
            metrics.cache_lookup("proxy", result)

    return observe


def instrument(
    top: MultiService, metrics: NetlabMetrics, health: HealthState, public_ops: bool
) -> None:
    """Wrap every listener's factory (and each distinct site's root) with counting."""
    roots_done: set[int] = set()
    for svc in listening_services(top):
        factory: IProtocolFactory = svc.factory
        site = _site_of(factory)
        if site is not None:
            if id(site) not in roots_done:
                roots_done.add(id(site))
                root = InstrumentedRoot(site.resource, metrics, health, public_ops)
                site.resource = root
                if hasattr(site, "replay_watcher"):  # replays are counted too
                    site.replay_watcher = root
                for pool in getattr(site, "upstream_pools", ()):
                    metrics.watch_pool(pool)
                for cache in getattr(site, "proxy_caches", ()):
                    cache.on_outcome = cache_observer(metrics)
            svc.factory = CountingFactory(factory, metrics, "web")
        elif isinstance(factory, EchoFactory):
            if id(factory) not in roots_done:
                roots_done.add(id(factory))
                metrics.watch_echo(factory)
            svc.factory = CountingFactory(factory, metrics, "tcp")
        else:
            svc.factory = CountingFactory(factory, metrics, "other")


class ScaleService(MultiService):
    """The plugin's services plus the ops listener, with the lame-duck stop."""

    def __init__(
        self,
        health: HealthState,
        lame_duck: float,
        clock: Any,
        signals: StopSignals | None = None,
    ) -> None:
        """``clock``: the reactor (``IReactorTime`` and ``IReactorFromThreads``)."""
        super().__init__()
        self.health = health
        self._lame_duck = lame_duck
        self._clock = clock
        self._signals = PROCESS_STOP if signals is None else signals

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        # Joined for the whole stop (not just the wait): a second signal during the
        # lame duck ends the wait, and the drains that join next are cut at once.
        wait: Deferred[None] | None = None

        def now() -> None:
            if wait is not None and not wait.called:
                log.info("second stop signal: lame duck cut short")
                wait.cancel()

        self._signals.join(now, self._clock)
        self.health.begin_lame_duck()
        try:
            if self._lame_duck and not self._signals.hurried:
                log.info(
                    "lame duck: /healthz answers 503, serving {seconds}s more before stopping",
                    seconds=self._lame_duck,
                )
                wait = deferLater(self._clock, self._lame_duck, lambda: None)
                with suppress(CancelledError):
                    await wait
            self.health.begin_drain()
            await super().stopService()
        finally:
            self._signals.leave(now)


def finish_service(
    top: MultiService, config: ScaleConfig, reactor: Any, tap_module: str
) -> IService:
    """What the plugin's ``makeService`` returns, given its plain service tree.

    ``--workers N`` (N > 1): a supervisor that opens the sockets of the tree's
    listeners and runs N ``python -m twisted_netlab.workers --tap tap_module`` that
    rebuild the same tree (with ``--workers 1``) and adopt them.  Otherwise ``top``
    itself, or ``top`` inside a ``ScaleService`` when metrics or lame duck are on.
    """
    served = _instrumented(top, config, reactor)
    if config.workers <= 1:
        return served
    from twisted_netlab.workers.supervisor import SupervisorService

    listeners = list(listening_services(served))

    def argv_for(fds: list[tuple[int, int]], index: int) -> list[str]:
        fd_args = [a for fd, family in fds for a in ("--fd", f"{fd}:{family}")]
        return [sys.executable, "-m", "twisted_netlab.workers", "--tap", tap_module,
                "--index", str(index), *fd_args, "--", *config.argv]

    return SupervisorService(
        reactor, listeners, config.workers, argv_for, kill_after=config.lame_duck + 60
    )


def _instrumented(top: MultiService, config: ScaleConfig, clock: IReactorTime) -> MultiService:
    if not config.instrumented:
        return top
    health = HealthState()
    metrics = NetlabMetrics(CollectorRegistry(), config.mounts)
    instrument(top, metrics, health, config.metrics_public)
    outer = ScaleService(health, config.lame_duck, clock)
    top.setServiceParent(outer)
    if config.metrics is not None:
        strports.service(config.metrics, build_ops_site(metrics, health)).setServiceParent(
            outer
        )
    return outer
