"""Replays (web/replaychannel.py): the same head answered again without a Request.

In memory, through the site ``netlab-web`` builds: a replay must be byte for byte the
full path's answer (but the Date), must stop the moment the file changes, and must be
logged, counted, timed out and drained like any request.
"""

from __future__ import annotations

import io
import os
import re
import time
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import datetimeToString

from tests.replay_support import (
    PAST,
    Connection,
    RenderCount,
    field,
    get,
    make_site,
    undated,
    write,
)
from twisted_netlab.http.signing import mint_url
from twisted_netlab.web import static_response
from twisted_netlab.web.replay import current_date
from twisted_netlab.web.requestlog import RequestLog
from twisted_netlab.web.static import StaticResource

BODY = b"hello replay\n"


def static_of(site: Any) -> StaticResource:
    resource = site.resource
    while not isinstance(resource, StaticResource):
        resource = getattr(resource, "inner", None) or resource.default
    return resource


class ReplayTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        write(self.root, "a.txt", BODY)
        self.renders = RenderCount(self)
        self.site = make_site(self.root)
        self.conn = Connection(self.site)

    def test_second_request_is_replayed_byte_for_byte(self) -> None:
        first = self.conn.send(get("/a.txt"))
        second = self.conn.send(get("/a.txt"))
        self.assertEqual(self.renders.count, 1)
        self.assertTrue(first.startswith(b"HTTP/1.1 200 OK\r\n"), first[:40])
        self.assertTrue(first.endswith(b"\r\n\r\n" + BODY))
        self.assertEqual(undated(second), undated(first))
        self.assertEqual(field(second, b"date"), current_date())
        self.assertFalse(self.conn.closing)
        # Another connection shares the plan.
        other = Connection(self.site, 40001)
        self.assertEqual(undated(other.send(get("/a.txt"))), undated(first))
        self.assertEqual(self.renders.count, 1)

    def test_revalidations_are_replayed(self) -> None:
        first = self.conn.send(get("/a.txt"))
        etag = field(first, b"etag")
        modified = field(first, b"last-modified")
        assert etag is not None and modified is not None
        for fields in ([f"If-None-Match: {etag.decode()}"],
                       [f"If-Modified-Since: {modified.decode()}"]):
            answers = [self.conn.send(get("/a.txt", *fields)) for _ in range(3)]
            self.assertTrue(answers[0].startswith(b"HTTP/1.1 304 "), answers[0][:40])
            self.assertTrue(answers[0].endswith(b"\r\n\r\n"))
            self.assertEqual({undated(a) for a in answers}, {undated(answers[0])})
        self.assertEqual(self.renders.count, 3)

    def test_answers_that_depend_on_the_clock_are_not_replayed(self) -> None:
        clock: Any = self.site.reactor
        soon = datetimeToString(clock.seconds() + 2).decode()
        for name in ("If-Modified-Since", "If-Unmodified-Since"):
            request = get("/a.txt", f"{name}: {soon}")
            before = self.conn.send(request)
            self.assertEqual(self.conn.send(request)[:12], before[:12])
            clock.advance(3)  # the date is no longer in the future: it counts now
            after = self.conn.send(request)
            self.assertEqual(
                (before[9:12], after[9:12]),
                (b"200", b"304") if name == "If-Modified-Since" else (b"200", b"200"),
            )
            soon = datetimeToString(clock.seconds() + 2).decode()
        self.assertEqual(self.renders.count, 6)

    def test_head_and_range_are_replayed(self) -> None:
        for request in (get("/a.txt", method="HEAD"), get("/a.txt", "Range: bytes=0-4")):
            answers = [self.conn.send(request) for _ in range(3)]
            self.assertEqual({undated(a) for a in answers}, {undated(answers[0])})
        self.assertEqual(self.renders.count, 2)
        self.assertTrue(answers[0].startswith(b"HTTP/1.1 206 "))
        self.assertTrue(answers[0].endswith(b"\r\n\r\nhello"))

    def test_a_changed_file_is_served_at_once(self) -> None:
        self.conn.send(get("/a.txt"))
        self.conn.send(get("/a.txt"))
        write(self.root, "a.txt", b"changed, longer\n")
        answer = self.conn.send(get("/a.txt"))
        self.assertTrue(answer.endswith(b"\r\n\r\nchanged, longer\n"), answer)
        self.assertEqual(self.renders.count, 2)
        # Same size, new mtime: a new version too.
        write(self.root, "a.txt", b"changed, LONGER\n", mtime=PAST + 10)
        answer = self.conn.send(get("/a.txt"))
        self.assertTrue(answer.endswith(b"\r\n\r\nchanged, LONGER\n"), answer)
        self.assertEqual(self.renders.count, 3)
        self.assertEqual(self.conn.send(get("/a.txt")), answer.replace(
            field(answer, b"date") or b"", current_date()))
        self.assertEqual(self.renders.count, 3)

    def test_a_removed_file_is_404_at_once(self) -> None:
        self.conn.send(get("/a.txt"))
        self.conn.send(get("/a.txt"))
        os.remove(os.path.join(self.root, "a.txt"))
        answer = self.conn.send(get("/a.txt"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 404 "), answer[:40])

    def test_a_new_sidecar_is_seen_after_its_recheck(self) -> None:
        request = get("/a.txt", "Accept-Encoding: gzip")
        first = self.conn.send(request)
        self.assertIsNone(field(first, b"content-encoding"))
        write(self.root, "a.txt.gz", b"GZ-SIDECAR")
        # Within the recheck interval the full path would not look either.
        self.assertEqual(undated(self.conn.send(request)), undated(first))
        self.assertEqual(self.renders.count, 1)
        facts = next(iter(static_of(self.site).table.values()))
        facts.sidecars_checked -= 60  # as if the interval had passed
        answer = self.conn.send(request)
        self.assertEqual(field(answer, b"content-encoding"), b"gzip")
        self.assertTrue(answer.endswith(b"GZ-SIDECAR"))
        self.assertEqual(self.renders.count, 2)

    def test_each_distinct_head_has_its_own_plan(self) -> None:
        one = self.conn.send(get("/a.txt", "User-Agent: one"))
        two = self.conn.send(get("/a.txt", "User-Agent: two"))
        self.conn.send(get("/a.txt", "User-Agent: one"))
        self.conn.send(get("/a.txt", "User-Agent: two"))
        self.assertEqual(self.renders.count, 2)
        self.assertEqual(undated(one), undated(two))
        self.assertEqual(len(self.site.replays[False]), 2)

    def test_heads_that_are_never_replayed(self) -> None:
        for request in (
            get("/a.txt", "Connection: close"),
            get("/a.txt", version="HTTP/1.0"),
            get("/a.txt", "Content-Length: 0"),
            get("/a.txt", "Expect: 100-continue"),
            get("/a.txt", "Range: bytes=0-1,3-4"),  # multipart: a boundary of its own
            get("/a.txt?sig=x") + b"\r\n",  # a stray CRLF after the head
        ):
            before = self.renders.count
            for port in (40010, 40011, 40012):
                conn = Connection(self.site, port)
                conn.send(request)
                conn.close()
            self.assertEqual(self.renders.count - before, 3, request)

    def test_pipelined_and_split_heads_take_the_full_path(self) -> None:
        both = self.conn.send(get("/a.txt") + get("/a.txt", method="HEAD"))
        self.assertEqual(both.count(b"HTTP/1.1 200 OK"), 2)
        self.assertEqual(self.renders.count, 2)
        request = get("/a.txt", "X-Split: 1")
        for _ in range(2):
            self.conn.send(request[:10])
            answer = self.conn.send(request[10:])
            self.assertTrue(answer.endswith(BODY))
        self.assertEqual(self.renders.count, 4)

    def test_keepalive_deadline_restarts_after_a_replay(self) -> None:
        clock: Any = self.site.reactor
        keepalive = self.site.limits.keepalive_timeout
        self.conn.send(get("/a.txt"))
        clock.advance(keepalive - 1)
        self.conn.send(get("/a.txt"))  # a replay
        self.assertEqual(self.renders.count, 1)
        clock.advance(keepalive - 1)
        self.assertFalse(self.conn.closing)
        clock.advance(2)
        self.assertTrue(self.conn.closing)

    def test_no_replay_while_draining(self) -> None:
        self.conn.send(get("/a.txt"))
        self.site.draining = True
        answer = self.conn.send(get("/a.txt"))
        self.assertEqual(self.renders.count, 2)
        self.assertTrue(self.conn.closing)
        self.assertTrue(answer.endswith(BODY))

    def test_tls_and_plain_connections_have_their_own_plans(self) -> None:
        self.assertIsNot(self.site.replay_table(True), self.site.replay_table(False))


class ReplayLogTests(SynchronousTestCase):
    """A replayed request is logged like the full path logs it."""

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        write(self.root, "a.txt", BODY)
        self.site = make_site(self.root)

    def test_request_log_lines(self) -> None:
        out = io.StringIO()
        self.site.request_log = RequestLog(out, self.site.reactor)  # type: ignore[arg-type]
        conn = Connection(self.site)
        for _ in range(3):
            conn.send(get("/a.txt?x=%22y"))
        self.site.request_log.flush()
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 3)
        expected = re.compile(r"^\S+ \S+ 127\.0\.0\.1 GET /a\.txt\?x=%22y 200 13B 0\.0ms$")
        for line in lines:
            self.assertRegex(line, expected)

    def test_access_log_lines(self) -> None:
        log = io.BytesIO()
        self.site._access_log = log
        conn = Connection(self.site)
        for _ in range(3):
            conn.send(get("/a.txt", 'Referer: http://r.test/"q"', "User-Agent: agent/1"))
        lines = log.getvalue().splitlines()
        self.assertEqual(len(lines), 3)
        stamp = re.compile(rb"\[[^\]]*\]")
        self.assertEqual({stamp.sub(b"[-]", line) for line in lines}, {
            b'127.0.0.1 - - [-] "GET /a.txt HTTP/1.1" 200 13 '
            b'"http://r.test/\\x22q\\x22" "agent/1"'
        })


class Watcher:
    def __init__(self) -> None:
        self.allowed = True
        self.seen: list[tuple[bytes, int, int]] = []

    def may_replay(self) -> bool:
        return self.allowed

    def replayed(self, path: bytes, code: int, sent: int) -> None:
        self.seen.append((path, code, sent))


class ReplayWatcherTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        write(self.root, "a.txt", BODY)
        self.renders = RenderCount(self)
        self.site = make_site(self.root)
        self.watcher = Watcher()
        self.site.replay_watcher = self.watcher
        self.conn = Connection(self.site)

    def test_replays_are_told(self) -> None:
        for _ in range(3):
            self.conn.send(get("/a.txt?v=2"))
        self.assertEqual(self.watcher.seen, [(b"/a.txt", 200, 13)] * 2)

    def test_the_watcher_can_stop_replays(self) -> None:
        self.conn.send(get("/a.txt"))
        self.watcher.allowed = False
        self.conn.send(get("/a.txt"))
        self.assertEqual((self.renders.count, self.watcher.seen), (2, []))


class SignedLinkTests(SynchronousTestCase):
    """A signed link's verdict depends on the clock: never replayed."""

    def test_an_expired_link_is_refused(self) -> None:
        root = os.path.abspath(self.mktemp())
        write(root, "media/cat.png", b"PNG")
        clock = MemoryReactorClock()
        clock.advance(time.time())
        site = make_site(root, "--sign-key", "k1=0123456789abcdef-secret", clock=clock)
        url = mint_url("/media/cat.png", key_id="k1", secret="0123456789abcdef-secret",
                       expires_at=int(clock.seconds()) + 10)
        conn = Connection(site)
        for _ in range(2):
            self.assertTrue(conn.send(get(url)).endswith(b"\r\n\r\nPNG"))
        clock.advance(10 + 30 + 1)  # past the expiry and the default clock skew
        answer = conn.send(get(url))
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 "), answer[:60])


class ReplayMetricsTests(SynchronousTestCase):
    """``scale.instrument`` counts replayed requests, and stops replays in a lame duck."""

    def test_replays_are_counted_and_stopped_while_closing(self) -> None:
        from prometheus_client import CollectorRegistry
        from twisted.application.internet import StreamServerEndpointService
        from twisted.application.service import MultiService

        from twisted_netlab.metrics import HealthState, NetlabMetrics
        from twisted_netlab.scale import instrument

        root = os.path.abspath(self.mktemp())
        write(root, "a.txt", BODY)
        renders = RenderCount(self)
        site = make_site(root)
        top = MultiService()
        StreamServerEndpointService(None, site).setServiceParent(top)
        registry = CollectorRegistry()
        health = HealthState()
        instrument(top, NetlabMetrics(registry), health, public_ops=False)
        conn = Connection(site)
        for _ in range(3):
            self.assertTrue(conn.send(get("/a.txt")).endswith(BODY))
        self.assertEqual(renders.count, 1)
        count = registry.get_sample_value(
            "netlab_http_requests_total", {"mount": "/", "status_class": "2xx"})
        sent = registry.get_sample_value("netlab_http_response_bytes_total", {"mount": "/"})
        self.assertEqual((count, sent), (3.0, 3.0 * len(BODY)))
        replays = registry.get_sample_value("netlab_http_replays_total", {"mount": "/"})
        in_flight = registry.get_sample_value("netlab_http_requests_in_flight", {"mount": "/"})
        self.assertEqual((replays, in_flight), (2.0, 0.0))
        health.begin_lame_duck()
        answer = conn.send(get("/a.txt"))
        self.assertEqual(renders.count, 2)
        self.assertEqual(field(answer, b"connection"), b"close")


class NoReplayOptionTests(SynchronousTestCase):
    def test_no_replay_sends_every_request_through_the_full_path(self) -> None:
        root = os.path.abspath(self.mktemp())
        write(root, "a.txt", BODY)
        renders = RenderCount(self)
        site = make_site(root, "--no-replay")
        self.assertIsNone(site.replay_table(False))
        conn = Connection(site)
        answers = [conn.send(get("/a.txt")) for _ in range(3)]
        self.assertEqual(renders.count, 3)
        self.assertEqual({undated(a) for a in answers}, {undated(answers[0])})
        self.assertIsNotNone(make_site(root).replay_table(False))  # on by default


class ReplayBudgetTests(SynchronousTestCase):
    """Replays hold no more in memory than the operator allows the static files."""

    def test_files_kept_out_of_memory_are_not_replayed(self) -> None:
        root = os.path.abspath(self.mktemp())
        write(root, "big.bin", b"b" * 5000)
        write(root, "small.bin", b"s" * 100)
        renders = RenderCount(self)
        site = make_site(root, "--memory-file-max", "4096")
        conn = Connection(site)
        for _ in range(3):
            self.assertTrue(conn.send(get("/small.bin")).endswith(b"s" * 100))
        self.assertEqual(renders.count, 1)
        offered: list[object] = []
        real = static_response.offer_replay

        def counted(request: Any, *args: Any, **kwargs: Any) -> None:
            offered.append(request)
            real(request, *args, **kwargs)

        self.patch(static_response, "offer_replay", counted)
        for _ in range(3):
            # HEAD: a GET would stream the file through the global reactor's cooperator.
            head = conn.send(get("/big.bin", method="HEAD"))
            self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head[:40])
            self.assertIn(b"\r\nContent-Length: 5000\r\n", head)
        self.assertEqual((renders.count, offered), (4, []))
        self.assertEqual(list(site.replays[False]), [get("/small.bin")])
        conn.send(get("/small.bin", "X-Other: 1"))  # the counter does count offers
        self.assertEqual(len(offered), 1)

    def test_table_budget_follows_the_memory_cache(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        small = make_site(root, "--memory-cache-size", "1m")
        self.assertEqual([t.max_bytes for t in small.replays.values()], [128 * 1024] * 2)
        default = make_site(root)
        self.assertEqual([t.max_bytes for t in default.replays.values()], [8 * 1024 * 1024] * 2)
