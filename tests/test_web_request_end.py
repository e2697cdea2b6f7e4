# mypy: disallow-untyped-calls=False
"""``LimitedRequest.watch_end`` (notifyFinish without a Deferred) and the proxy's use of it.

The watcher must hear exactly what ``notifyFinish`` would say, at the same point, after
its Deferreds: ``None`` once the response is finished, the reason when the connection
is lost first, once either way. The proxy watches through it on ``LimitedSite`` and
through ``notifyFinish`` on any other request class (HTTP/2's ``H2Stream`` requests are
the plain site's): both must cancel the upstream exchange when the client leaves.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from tests.limits_support import TOOLS_RULE
from tests.relay_support import Upstream
from twisted_netlab.web.accesslog import NetlabSite, TimedRequest
from twisted_netlab.web.channel import LimitedRequest
from twisted_netlab.web.connections import LimitedSite
from twisted_netlab.web.limits import LimitsConfig
from twisted_netlab.web.negotiation import NegotiatingProtocol

PEER = IPv4Address("TCP", "127.0.0.1", 5000)
GET = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"


class HeldOpen(Resource):
    """Keeps each request open; records what its Deferred and its watchers heard."""

    isLeaf = True

    def __init__(self, *watchers: Any) -> None:
        super().__init__()
        self.requests: list[LimitedRequest] = []
        self.heard: list[tuple[str, object]] = []
        self.watchers = watchers

    def render(self, request: Any) -> Any:
        self.requests.append(request)
        request.notifyFinish().addBoth(lambda r: self.heard.append(("deferred", r)))
        for watcher in self.watchers:
            request.watch_end(watcher)
        request.watch_end(lambda r: self.heard.append(("watcher", r)))
        return NOT_DONE_YET


def connect(site: Site) -> tuple[Any, StringTransport]:
    protocol = site.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    if isinstance(protocol, NegotiatingProtocol):
        protocol = protocol.inner
    return protocol, transport


def limited_site(resource: Resource, clock: Clock) -> LimitedSite:
    return LimitedSite(resource, LimitsConfig(max_connections=10), TOOLS_RULE, reactor=clock)


class WatchEndTests(SynchronousTestCase):
    def test_finish_tells_none_once_after_the_deferreds(self) -> None:
        resource = HeldOpen()
        channel, _ = connect(limited_site(resource, Clock()))
        channel.dataReceived(GET)
        (request,) = resource.requests
        self.assertIsInstance(request, LimitedRequest)
        self.assertEqual(resource.heard, [])
        request.write(b"hi")
        request.finish()
        self.assertEqual(resource.heard, [("deferred", None), ("watcher", None)])
        self.assertIsNone(request.end_watchers)
        channel.connectionLost(Failure(ConnectionDone()))  # after the end: nothing more
        self.assertEqual(len(resource.heard), 2)

    def test_connection_lost_tells_the_reason(self) -> None:
        resource = HeldOpen()
        channel, _ = connect(limited_site(resource, Clock()))
        channel.dataReceived(GET)
        reason = Failure(ConnectionLost("gone"))
        channel.connectionLost(reason)
        self.assertEqual(len(resource.heard), 2)
        (kind_d, failure_d), (kind_w, failure_w) = resource.heard
        self.assertEqual((kind_d, kind_w), ("deferred", "watcher"))
        self.assertIs(failure_w, reason)
        self.assertIs(failure_d, reason)
        self.assertIsNone(resource.requests[0].end_watchers)

    def test_a_failing_watcher_is_logged_and_the_others_still_hear(self) -> None:
        def broken(reason: Failure | None) -> None:
            raise ZeroDivisionError("watcher bug")

        resource = HeldOpen(broken)
        site = limited_site(resource, Clock())
        channel, _ = connect(site)
        channel.dataReceived(GET)
        channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([kind for kind, _ in resource.heard], ["deferred", "watcher"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(site.channels, {})  # the channel's own cleanup still ran

    def test_watchers_are_per_request(self) -> None:
        resource = HeldOpen()
        channel, _ = connect(limited_site(resource, Clock()))
        channel.dataReceived(GET)
        resource.requests[0].finish()
        channel.dataReceived(GET)
        self.assertEqual(len(resource.requests), 2)
        self.assertIsNone(resource.requests[0].end_watchers)
        self.assertEqual(len(resource.requests[1].end_watchers or []), 1)
        resource.requests[1].finish()
        self.assertEqual(resource.heard, [("deferred", None), ("watcher", None)] * 2)


class ShutdownClock(Clock):
    """A Clock that keeps the shutdown triggers ``build_site`` adds, to run them."""

    def __init__(self) -> None:
        super().__init__()
        self.shutdown: list[Any] = []

    def addSystemEventTrigger(self, phase: str, event: str, f: Any, *a: Any) -> None:
        self.shutdown.append(lambda: f(*a))


class ProxyClientGoneTests(SynchronousTestCase):
    """The client leaving before the upstream answered cancels the exchange, whichever
    way the call hears it."""

    def proxy_site(self) -> tuple[LimitedSite, Upstream]:
        from twisted_netlab.web.site import build_site
        from twisted_netlab.web.tap import Options as WebOptions

        root = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, root)
        options = WebOptions()
        options.parseOptions(["--path", root, "--proxy", "/p=http://127.0.0.1:9"])
        clock = ShutdownClock()
        site = build_site(options.web_config, clock)
        self.addCleanup(lambda: [stop() for stop in clock.shutdown])
        upstream = Upstream()
        for pool in site.upstream_pools:
            pool.endpoint_for = upstream.endpoint_for
        return site, upstream

    def check_cancel(self, site: Site, upstream: Upstream, request_class: type) -> None:
        made: list[object] = []

        class Recorded(site.requestFactory):  # type: ignore[name-defined,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        site.requestFactory = Recorded
        channel, _ = connect(site)
        channel.dataReceived(b"GET /p/held HTTP/1.1\r\nHost: t\r\n\r\n")
        (request,) = made
        self.assertIsInstance(request, request_class)
        self.assertEqual(isinstance(request, LimitedRequest), request_class is LimitedRequest)
        ((_, up),) = upstream.connections
        self.assertTrue(up.value().startswith(b"GET /held HTTP/1.1\r\n"), up.value())
        self.assertFalse(up.disconnecting)
        channel.connectionLost(Failure(ConnectionLost("client gone")))
        self.assertTrue(up.disconnecting)  # the exchange was cancelled

    def test_limited_site_cancels_through_watch_end(self) -> None:
        site, upstream = self.proxy_site()
        self.assertIs(site.requestFactory, LimitedRequest)
        self.check_cancel(site, upstream, LimitedRequest)

    def test_other_request_classes_cancel_through_notify_finish(self) -> None:
        site, upstream = self.proxy_site()
        plain = NetlabSite(site.resource, reactor=Clock())  # what HTTP/2 streams use
        plain.timeOut = None
        self.check_cancel(plain, upstream, TimedRequest)
