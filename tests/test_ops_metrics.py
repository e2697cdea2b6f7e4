# mypy: disallow-untyped-calls=False
"""Pulled metrics: echo frames counted by the decoder, upstream pool gauges, in-flight
per mount, the cache hook, and the site handing its pools to ``scale.instrument``."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from tests.config_support import web_options
from tests.test_upstream_client import OK, ORIGIN, FakeEndpoint, Handler
from twisted_netlab.framing import Decoder, InvalidLength, encode
from twisted_netlab.metrics import HealthState, NetlabMetrics
from twisted_netlab.scale import instrument
from twisted_netlab.upstream.client import ClientConfig, UpstreamClient
from twisted_netlab.upstream.message import UpstreamRequest
from twisted_netlab.web.site import build_site


class RawFrameCountTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(
        bodies=st.lists(st.binary(max_size=40), max_size=30),
        cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
    )
    def test_count_matches_frames_under_any_chunking(
        self, bodies: list[bytes], cuts: list[int]
    ) -> None:
        stream = b"".join(encode(b, i + 1) for i, b in enumerate(bodies))
        points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
        decoder = Decoder("seed")
        echoed = b"".join(decoder.feed_raw(stream[a:b]) for a, b in pairwise(points))
        self.assertEqual((echoed, decoder.raw_frames), (stream, len(bodies)))

    def test_runs_of_equal_frames_are_counted(self) -> None:
        decoder = Decoder("seed")
        decoder.feed_raw(encode(b"abcd", 1) * 500 + encode(b"x", 2)[:3])
        self.assertEqual(decoder.raw_frames, 500)
        decoder.feed_raw(encode(b"x", 2)[3:])
        self.assertEqual(decoder.raw_frames, 501)

    def test_frames_before_a_bad_header_are_counted(self) -> None:
        decoder = Decoder("seed", max_frame=10)
        with self.assertRaises(InvalidLength):  # 0xffff: negative in the seed layout
            decoder.feed_raw(encode(b"ok", 1) * 3 + b"\x00\x02\xff\xff")
        self.assertEqual(decoder.raw_frames, 3)

    def test_unframed_counts_chunks(self) -> None:
        decoder = Decoder("none")
        decoder.feed_raw(b"abc")
        decoder.feed_raw(b"")
        decoder.feed_raw(b"d")
        self.assertEqual(decoder.raw_frames, 2)


class Pool:
    def __init__(self, rows: list[tuple[str, int, int]]) -> None:
        self.rows = rows

    def usage(self) -> list[tuple[str, int, int]]:
        return self.rows


class PulledTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = NetlabMetrics(self.registry, ["/api/"])

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def test_pool_gauges_read_at_scrape_time_and_summed(self) -> None:
        a = Pool([("http://127.0.0.1:81", 3, 1)])
        self.metrics.watch_pool(a)
        self.metrics.watch_pool(Pool([("http://127.0.0.1:81", 2, 2), ("https://b:443", 1, 0)]))
        self.assertEqual(self.sample("netlab_upstream_open_connections",
                                     upstream="http://127.0.0.1:81"), 5.0)
        self.assertEqual(self.sample("netlab_upstream_idle_connections",
                                     upstream="http://127.0.0.1:81"), 3.0)
        self.assertEqual(self.sample("netlab_upstream_open_connections",
                                     upstream="https://b:443"), 1.0)
        a.rows = [("http://127.0.0.1:81", 0, 0)]
        self.assertEqual(self.sample("netlab_upstream_open_connections",
                                     upstream="http://127.0.0.1:81"), 2.0)

    def test_in_flight_by_mount(self) -> None:
        api = self.metrics.request_started(b"/api/x?y")
        root = self.metrics.request_started(b"/other")
        self.metrics.request_started(b"/api/z")
        self.assertEqual((api, root), ("/api/", "/"))
        self.assertEqual(self.sample("netlab_http_requests_in_flight", mount="/api/"), 2.0)
        self.metrics.request_finished(api, 200, 5)
        self.metrics.request_finished(root, None, 0)
        self.assertEqual(self.sample("netlab_http_requests_in_flight", mount="/api/"), 1.0)
        self.assertEqual(self.sample("netlab_http_requests_in_flight", mount="/"), 0.0)
        self.assertEqual(self.sample("netlab_http_requests_total", mount="/",
                                     status_class="aborted"), 1.0)

    def test_cache_hook(self) -> None:
        self.metrics.cache_lookup("/api/", "hit")
        self.metrics.cache_lookup("/api/", "hit")
        self.metrics.cache_lookup("/api/", "miss")
        self.assertEqual(self.sample("netlab_proxy_cache_lookups_total", mount="/api/",
                                     result="hit"), 2.0)
        with self.assertRaises(ValueError) as caught:
            self.metrics.cache_lookup("/api/", "warm")
        self.assertIn("not 'warm'", str(caught.exception))

    def test_echo_pulled_from_every_watched_factory(self) -> None:
        class Echo:
            pending_total = 7

            def frames_echoed(self) -> int:
                return 11

        self.metrics.watch_echo(Echo())
        self.metrics.watch_echo(Echo())
        self.assertEqual(self.sample("netlab_echo_frames_total"), 22.0)
        self.assertEqual(self.sample("netlab_echo_pending_bytes"), 14.0)


class PoolUsageTests(SynchronousTestCase):
    def test_open_and_idle_follow_the_exchanges(self) -> None:
        clock = MemoryReactorClock()
        endpoint = FakeEndpoint()
        client = UpstreamClient(clock, ClientConfig(), endpoint_for=lambda o: endpoint)  # type: ignore[arg-type,return-value]
        label = "http://up.test:80"
        self.assertEqual(client.pool.usage(), [])
        request = UpstreamRequest(b"GET", b"/", {b"Host": [b"up.test"]}, None)
        client.request(ORIGIN, request, Handler())
        client.request(ORIGIN, request, Handler())
        self.assertEqual(client.pool.usage(), [(label, 2, 0)])
        first, second = endpoint.connections
        first.dataReceived(OK)
        self.assertEqual(client.pool.usage(), [(label, 2, 1)])
        second.dataReceived(OK)
        self.assertEqual(client.pool.usage(), [(label, 2, 2)])


class SitePoolsTests(SynchronousTestCase):
    def test_instrument_watches_the_proxy_pool_of_the_site(self) -> None:
        site = build_site(web_options("--proxy", "/api/=http://127.0.0.1:9/").web_config,
                          MemoryReactorClock())
        [pool] = site.upstream_pools
        top = MultiService()
        StreamServerEndpointService(None, site).setServiceParent(top)
        watched: list[object] = []

        class Recording(NetlabMetrics):
            def watch_pool(self, pool: Any) -> None:
                watched.append(pool)
                super().watch_pool(pool)

        instrument(top, Recording(CollectorRegistry()), HealthState(), public_ops=False)
        self.assertEqual(watched, [pool])
        self.assertEqual(pool.usage(), [])  # nothing opened before the first request

    def test_site_without_proxy_has_no_pools(self) -> None:
        self.assertEqual(build_site(web_options().web_config, MemoryReactorClock())
                         .upstream_pools, [])


class CacheOutcomeTests(SynchronousTestCase):
    """The proxy cache's outcomes reach /metrics as lookups by result."""

    def test_outcomes_map_to_results(self) -> None:
        from prometheus_client import CollectorRegistry

        from twisted_netlab.metrics import NetlabMetrics
        from twisted_netlab.scale import cache_observer

        registry = CollectorRegistry()
        observe = cache_observer(NetlabMetrics(registry))
        for outcome in ("hit", "hit", "stale-if-error", "miss", "validated", "method",
                        "purge", "collapsed"):
            observe(outcome)

        def value(result: str) -> float | None:
            return registry.get_sample_value(
                "netlab_proxy_cache_lookups_total", {"mount": "proxy", "result": result}
            )

        self.assertEqual(
            [value(r) for r in ("hit", "stale", "miss", "revalidated", "bypass")],
            [2.0, 1.0, 1.0, 1.0, 1.0],
        )
