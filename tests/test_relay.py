"""Relays (web/relaychannel.py, web/proxy/direct.py): a proxied GET answered again
without a twisted.web Request.

In memory, through the site ``netlab-web --proxy`` builds, each case run twice: on that
site and on one built with ``--no-replay`` (the full path every time). What the client
gets and what the upstream is sent must be the same bytes on both; what differs is
only whether the proxy resource rendered the request.
"""

from __future__ import annotations

import io
import time
from time import gmtime as time_gmtime
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import http

from tests.relay_support import UPSTREAM_DATE, Upstream, lose, proxy_site, upstream_response
from tests.replay_support import Connection, field, get
from twisted_netlab.http.relayplan import FIRST_BACKOFF
from twisted_netlab.upstream.headmemo import head_memo
from twisted_netlab.web.connections import LimitedSite
from twisted_netlab.web.proxy.resource import ProxyResource
from twisted_netlab.web.replay import current_date
from twisted_netlab.web.requestlog import RequestLog

DATE2 = b"Sun, 29 Nov 2026 22:00:01 GMT"
DATE3 = b"Sun, 29 Nov 2026 22:00:02 GMT"


class Pair:
    """The same conversation on a relaying site and on a ``--no-replay`` one."""

    def __init__(self, case: SynchronousTestCase, *argv: str, host: str = "127.0.0.1") -> None:
        # One wall clock for both sites: the Date a server writes itself (an upstream
        # that sent none) is the same on both, whenever the second turns (``tick``).
        self.now = 1_800_000_000.25
        case.patch(time, "time", lambda: self.now)
        case.patch(http, "gmtime", lambda t=None: time_gmtime(self.now if t is None else t))
        self.sites = []
        self.upstreams: list[Upstream] = []
        self.conns: list[Connection] = []
        for extra in ((), ("--no-replay",)):
            site, upstream = proxy_site(*argv, *extra)
            self.sites.append(site)
            self.upstreams.append(upstream)
            self.conns.append(Connection(site, host=host))
        self.renders = 0
        original = ProxyResource.render

        def render(resource: ProxyResource, request: Any) -> Any:
            if request.channel.site is self.sites[0]:
                self.renders += 1
            return original(resource, request)

        case.patch(ProxyResource, "render", render)

    def tick(self, seconds: float) -> None:
        """The wall clock and both sites' reactors move on."""
        self.now += seconds
        for site in self.sites:
            clock: Any = site.reactor
            clock.advance(seconds)

    def send(self, request: bytes) -> None:
        for conn in self.conns:
            conn.protocol.dataReceived(request)

    def answer(self, *pieces: bytes) -> bytes:
        """The upstreams answer as told; what the client got (the same on both)."""
        outs = []
        for upstream, conn in zip(self.upstreams, self.conns, strict=True):
            upstream.answer(*pieces)
            outs.append(conn.transport.value())
            conn.transport.clear()
        relayed, full = outs
        assert relayed == full, (relayed, full)
        relayed_sent, full_sent = (u.requests for u in self.upstreams)
        assert relayed_sent == full_sent, (relayed_sent, full_sent)
        return relayed

    def exchange(self, request: bytes, *pieces: bytes) -> bytes:
        self.send(request)
        return self.answer(*pieces)


class RelayTests(SynchronousTestCase):
    def test_a_repeated_get_is_relayed_with_the_upstreams_date(self) -> None:
        pair = Pair(self)
        request = get("/p/a.txt")
        first = pair.exchange(request, upstream_response())
        self.assertTrue(first.startswith(b"HTTP/1.1 200 OK\r\n"), first)
        self.assertTrue(first.endswith(b"\r\n\r\nhello relay\n"), first)
        self.assertEqual(field(first, b"date"), UPSTREAM_DATE)
        second = pair.exchange(request, upstream_response(date=DATE2))
        third = pair.exchange(request, upstream_response(b"HELLO RELAY\n", date=DATE3))
        self.assertEqual(second, first.replace(UPSTREAM_DATE, DATE2))
        self.assertTrue(third.endswith(b"\r\n\r\nHELLO RELAY\n"), third)
        self.assertEqual(field(third, b"date"), DATE3)
        self.assertEqual(pair.renders, 1)
        self.assertEqual(len(pair.upstreams[0].connections), 1)  # kept alive, reused
        self.assertFalse(pair.conns[0].closing)

    def test_a_new_upstream_head_goes_the_full_path_then_is_relayed(self) -> None:
        pair = Pair(self)
        request = get("/p/a.txt")
        pair.exchange(request, upstream_response())
        pair.exchange(request, upstream_response())
        changed = pair.exchange(request, upstream_response(etag=b'"v2"', date=DATE2))
        self.assertEqual(field(changed, b"etag"), b'"v2"')
        self.assertEqual(pair.renders, 2)
        # A relay fell back: the next FIRST_BACKOFF requests take the full path untried.
        for _ in range(FIRST_BACKOFF):
            pair.exchange(request, upstream_response(etag=b'"v2"', date=DATE3))
        self.assertEqual(pair.renders, 2 + FIRST_BACKOFF)
        for date in (DATE3, DATE2):
            pair.exchange(request, upstream_response(etag=b'"v2"', date=date))
            pair.exchange(request, upstream_response(date=date))
        self.assertEqual(pair.renders, 2 + FIRST_BACKOFF)

    def test_other_heads_and_other_clients_get_their_own_requests(self) -> None:
        pair = Pair(self)
        pair.exchange(get("/p/a.txt"), upstream_response())
        pair.exchange(get("/p/a.txt", "Accept: text/html"), upstream_response())
        self.assertEqual(pair.renders, 2)
        sent = pair.upstreams[0].requests
        self.assertNotEqual(sent[0], sent[1])
        # The forwarded fields name the client: a plan is for its address only, and
        # each address has its own (clients taking turns are all relayed).
        first = pair.conns
        second = [Connection(site, host="127.0.0.2") for site in pair.sites]
        pair.conns = second
        pair.exchange(get("/p/a.txt"), upstream_response())
        self.assertIn(b"X-Forwarded-For: 127.0.0.2\r\n", pair.upstreams[0].requests[-1])
        self.assertEqual(pair.renders, 3)
        for conns in (first, second, first, second):
            pair.conns = conns
            pair.exchange(get("/p/a.txt"), upstream_response(date=DATE2))
        self.assertEqual(pair.renders, 3)
        self.assertIn(b"X-Forwarded-For: 127.0.0.1\r\n", pair.upstreams[0].requests[-2])
        self.assertIn(b"X-Forwarded-For: 127.0.0.2\r\n", pair.upstreams[0].requests[-1])

    def test_an_upstream_that_never_repeats_its_head_is_tried_less_and_less(self) -> None:
        pair = Pair(self)
        tries = []
        original = ProxyResource.relay

        def relay(resource: ProxyResource, channel: Any, *args: Any) -> Any:
            if channel.site is pair.sites[0]:
                tries.append(len(pair.upstreams[0].requests))
            return original(resource, channel, *args)

        self.patch(ProxyResource, "relay", relay)
        request = get("/p/a.txt")
        for n in range(40):  # a request id of its own in every answer
            pair.exchange(request, upstream_response(extra=b"X-Request-Id: %d\r\n" % n))
        # Tried on the 2nd request, then after 8 and 16 untried ones (FIRST_BACKOFF).
        self.assertEqual(tries, [1, 10, 27])
        self.assertEqual(pair.renders, 40)
        # The upstream settles: the last request of the back-off is recorded again (its
        # new head learnt), so the try after it relays, and so does every request since.
        for _ in range(40):
            pair.exchange(request, upstream_response())
        self.assertEqual(tries[3:], list(range(60, 80)))
        self.assertEqual(pair.renders, 60)

    def test_an_interim_response_is_relayed_by_the_full_path(self) -> None:
        pair = Pair(self)
        request = get("/p/a.txt")
        pair.exchange(request, upstream_response())
        early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        out = pair.exchange(request, early + upstream_response(date=DATE2))
        self.assertTrue(out.startswith(b"HTTP/1.1 103 Early Hints\r\n"), out)
        self.assertIn(b"Link: </style.css>; rel=preload\r\n", out)
        self.assertTrue(out.endswith(b"\r\n\r\nhello relay\n"), out)
        self.assertEqual(len(pair.upstreams[0].requests), 2)  # never sent twice
        self.assertEqual(pair.renders, 2)

    def test_a_body_in_pieces_is_streamed_by_the_full_path(self) -> None:
        pair = Pair(self)
        request = get("/p/a.txt")
        pair.exchange(request, upstream_response())
        whole = upstream_response(date=DATE2)
        out = pair.exchange(request, whole[:-5], whole[-5:])  # tried, fell back
        for _ in range(FIRST_BACKOFF):
            self.assertEqual(out, pair.exchange(request, whole))
        self.assertEqual(pair.renders, 2 + FIRST_BACKOFF)
        self.assertEqual(out, pair.exchange(request, whole))  # relayed
        self.assertEqual(pair.renders, 2 + FIRST_BACKOFF)
        # Even when the upstream head is parsed anew (the reader's memo was emptied),
        # a body that is not whole in the read is never gathered by a relay.
        head_memo.clear()
        self.assertEqual(out, pair.exchange(request, whole[:-5], whole[-5:]))
        self.assertEqual(pair.renders, 3 + FIRST_BACKOFF)

    def test_upstream_errors_and_timeouts_are_answered_by_the_full_path(self) -> None:
        pair = Pair(self)
        request = get("/p/a.txt")
        pair.exchange(request, upstream_response())
        bad = pair.exchange(request, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: zip\r\n\r\n")
        self.assertTrue(bad.startswith(b"HTTP/1.1 502 "), bad)
        self.assertEqual(pair.renders, 2)
        pair.send(request)
        for site in pair.sites:
            clock: Any = site.reactor
            clock.advance(61)  # past the upstream response timeout
        outs = [conn.transport.value() for conn in pair.conns]
        self.assertTrue(outs[0].startswith(b"HTTP/1.1 504 "), outs[0])
        self.assertEqual(outs[0], outs[1])
        self.assertEqual(pair.renders, 3)
        self.assertEqual(len(pair.upstreams[0].requests), 2)  # the third was never answered

    def test_a_pipelined_request_during_a_relay_is_answered_in_order(self) -> None:
        pair = Pair(self)
        pair.exchange(get("/p/a.txt"), upstream_response())
        pair.send(get("/p/a.txt"))
        pair.send(get("/p/b.txt"))  # while the first is upstream
        first = pair.answer(upstream_response(date=DATE2))
        second = pair.answer(upstream_response(b"bee\n", etag=b'"b"'))
        self.assertTrue(first.endswith(b"\r\n\r\nhello relay\n"), first)
        self.assertTrue(second.endswith(b"\r\n\r\nbee\n"), second)
        self.assertEqual(pair.renders, 3)
        # The client made that relay fall back, not the upstream: no back-off.
        pair.exchange(get("/p/a.txt"), upstream_response(date=DATE3))
        self.assertEqual(pair.renders, 3)

    def relay_in_flight(self) -> tuple[LimitedSite, Upstream, Connection, bytes]:
        """A site, its upstream and a client whose second GET is being relayed."""
        site, upstream = proxy_site()
        conn = Connection(site)
        request = get("/p/a.txt")
        conn.protocol.dataReceived(request)
        upstream.answer(upstream_response())
        conn.transport.clear()
        conn.protocol.dataReceived(request)
        self.assertIsNotNone(conn.protocol.inner.relaying)
        return site, upstream, conn, request

    def test_a_client_that_leaves_cancels_the_upstream_request(self) -> None:
        site, upstream, conn, request = self.relay_in_flight()
        self.assertEqual(upstream.connections[0][1].value(), upstream.requests[0])
        lose(conn.protocol, conn.transport)
        self.assertTrue(upstream.connections[0][1].disconnecting)  # not reused mid-message
        conn2 = Connection(site, 40001)
        conn2.protocol.dataReceived(request)
        upstream.answer(upstream_response())
        self.assertTrue(conn2.transport.value().endswith(b"hello relay\n"))

    def test_a_drain_closes_the_connection_after_the_relay(self) -> None:
        site, upstream, conn, _ = self.relay_in_flight()
        drained = site.start_drain()
        self.assertNoResult(drained)
        upstream.answer(upstream_response(date=DATE2))
        self.assertTrue(conn.transport.value().endswith(b"hello relay\n"))
        self.assertTrue(conn.closing)
        lose(conn.protocol, conn.transport)
        self.successResultOf(drained)

    def test_without_an_upstream_date_the_servers_own_is_sent(self) -> None:
        pair = Pair(self)
        request = get("/p/a.txt")
        first = pair.exchange(request, upstream_response(date=None))
        pair.tick(5)
        second = pair.exchange(request, upstream_response(date=None))
        self.assertEqual(field(second, b"date"), current_date())
        self.assertNotEqual(field(second, b"date"), field(first, b"date"))
        self.assertEqual(second, first.replace(field(first, b"date") or b"", current_date()))
        self.assertEqual(pair.renders, 1)

    def test_head_requests_and_no_replay_go_the_full_path(self) -> None:
        pair = Pair(self)
        head = get("/p/a.txt", method="HEAD")
        for _ in range(3):
            out = pair.exchange(head, upstream_response()[: -len(b"hello relay\n")])
            self.assertTrue(out.endswith(b"\r\n\r\n"), out)
        self.assertEqual(pair.renders, 3)

    def test_relays_are_logged_and_counted_as_requests(self) -> None:
        from prometheus_client import CollectorRegistry
        from twisted.application.internet import StreamServerEndpointService
        from twisted.application.service import MultiService

        from twisted_netlab.metrics import HealthState, NetlabMetrics
        from twisted_netlab.scale import instrument

        logs = []
        for extra in ((), ("--no-replay",)):
            site, upstream = proxy_site(*extra)
            top = MultiService()
            StreamServerEndpointService(None, site).setServiceParent(top)
            registry = CollectorRegistry()
            instrument(top, NetlabMetrics(registry), HealthState(), public_ops=False)
            out = io.StringIO()
            site.request_log = RequestLog(out, site.reactor)
            conn = Connection(site)

            def in_flight(registry: CollectorRegistry = registry) -> float | None:
                return registry.get_sample_value(
                    "netlab_http_requests_in_flight", {"mount": "/"})

            for date in (UPSTREAM_DATE, DATE2, DATE3):
                conn.protocol.dataReceived(get("/p/a.txt?q=1", "User-Agent: t/1"))
                self.assertEqual(in_flight(), 1.0)  # a relay in flight too
                upstream.answer(upstream_response(date=date))
                self.assertEqual(in_flight(), 0.0)
            count = registry.get_sample_value(
                "netlab_http_requests_total", {"mount": "/", "status_class": "2xx"})
            sent = registry.get_sample_value(
                "netlab_http_response_bytes_total", {"mount": "/"})
            self.assertEqual((count, sent), (3.0, 36.0))
            replays = registry.get_sample_value("netlab_http_replays_total", {"mount": "/"})
            self.assertEqual(replays, None if extra else 2.0)
            # A relay that falls back is counted once, by the full path.
            conn.protocol.dataReceived(get("/p/a.txt?q=1", "User-Agent: t/1"))
            upstream.answer(upstream_response(b"HELLO\n", date=DATE3))
            self.assertEqual(in_flight(), 0.0)
            count = registry.get_sample_value(
                "netlab_http_requests_total", {"mount": "/", "status_class": "2xx"})
            self.assertEqual(count, 4.0)
            # A client gone mid-relay is counted as an aborted request, as in full.
            conn.protocol.dataReceived(get("/p/a.txt?q=1", "User-Agent: t/1"))
            lose(conn.protocol, conn.transport)
            aborted = registry.get_sample_value(
                "netlab_http_requests_total", {"mount": "/", "status_class": "aborted"})
            self.assertEqual((aborted, in_flight()), (1.0, 0.0))
            site.request_log.flush()
            logs.append(out.getvalue().splitlines())
        relayed, full = logs
        self.assertEqual(len(relayed), 4)
        # The lines differ in their time taken only (its last field).
        self.assertEqual([line.rsplit(" ", 1)[0] for line in relayed],
                         [line.rsplit(" ", 1)[0] for line in full])


class RelayClockTests(SynchronousTestCase):
    def test_the_keepalive_deadline_runs_again_after_a_relay(self) -> None:
        clock = MemoryReactorClock()
        clock.advance(1_800_000_000)
        site, upstream = proxy_site("--keepalive-timeout", "5", clock=clock)
        conn = Connection(site)
        for date in (UPSTREAM_DATE, DATE2):
            conn.protocol.dataReceived(get("/p/a.txt"))
            clock.advance(4)  # the upstream is slow: no read deadline while BUSY
            upstream.answer(upstream_response(date=date))
        self.assertFalse(conn.closing)
        clock.advance(4)
        self.assertFalse(conn.closing)
        clock.advance(1.5)
        self.assertTrue(conn.closing)
