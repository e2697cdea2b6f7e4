"""The upstream HTTP/1.1 client: one pool, one deadline sweep, exchanges on demand.

    client = UpstreamClient(reactor, ClientConfig())
    exchange = client.request(Origin("http", "127.0.0.1", 8080), request, handler)

The handler hears the 1xx heads, the final head, the body and the end (or one typed
error). The exchange is the body's push producer and can be cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from twisted_netlab.upstream.deadlines import Deadlines
from twisted_netlab.upstream.endpoints import TLSPolicy, default_tls, endpoint_factory
from twisted_netlab.upstream.exchange import Exchange
from twisted_netlab.upstream.message import Origin, ResponseHandler, UpstreamRequest
from twisted_netlab.upstream.pool import ConnectionPool, EndpointFor
from twisted_netlab.upstream.reader import DEFAULT_MAX_HEAD


@dataclass(frozen=True)
class ClientConfig:
    """Timeouts in seconds (0 turns one off). ``pool_floor``: idle connections an
    upstream may keep whatever the load; more are kept while the recent peak needs
    them. ``pool_idle_timeout``: an idle connection is closed after this long."""

    connect_timeout: float = 10.0
    response_timeout: float = 60.0
    idle_timeout: float = 60.0
    pool_floor: int = 32
    pool_idle_timeout: float = 50.0
    max_head: int = DEFAULT_MAX_HEAD
    tls: TLSPolicy = default_tls


class UpstreamClient:
    def __init__(
        self,
        reactor: IReactorTime,
        config: ClientConfig,
        endpoint_for: EndpointFor | None = None,
        *,
        clock: IReactorTime | None = None,
    ) -> None:
        """``reactor`` connects; ``clock`` (the reactor unless given) times everything:
        the deadline sweep, idle expiry, response and idle timeouts. A test passes a
        ``Clock`` to decide when time passes while the sockets stay real."""
        clock = reactor if clock is None else clock
        self.reactor = clock
        self.config = config
        self.deadlines = Deadlines(clock)
        if endpoint_for is None:
            endpoint_for = endpoint_factory(reactor, config.connect_timeout, config.tls)
        self.pool = ConnectionPool(
            clock,
            endpoint_for,
            self.deadlines,
            floor=config.pool_floor,
            idle_timeout=config.pool_idle_timeout,
            max_head=config.max_head,
        )
        # The sweep's period: a tenth of the shortest timeout, at most 1 s.
        timeouts = [t for t in (config.response_timeout, config.idle_timeout) if t > 0]
        self.tick = max(0.01, min([1.0, *(t / 10 for t in timeouts)]))

    def request(
        self, origin: Origin, request: UpstreamRequest, handler: ResponseHandler
    ) -> Exchange:
        exchange = self.exchange(origin, request, handler)
        exchange.start()
        return exchange

    def exchange(
        self, origin: Origin, request: UpstreamRequest, handler: ResponseHandler
    ) -> Exchange:
        """The exchange ``request`` would start, not started yet: a caller that must
        hold it before its handler can be called (which ``start`` may do) starts it."""
        return Exchange(
            origin=origin,
            request=request,
            handler=handler,
            pool=self.pool,
            deadlines=self.deadlines,
            reactor=self.reactor,
            response_timeout=self.config.response_timeout,
            idle_timeout=self.config.idle_timeout,
            tick=self.tick,
        )

    def close(self) -> Deferred[None]:
        """Close the idle connections and stop the sweep (at reactor shutdown)."""
        d = self.pool.close()
        self.deadlines.close()
        return d
