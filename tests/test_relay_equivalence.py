"""A property test of relays: whatever the conversation, a relaying site sends the
upstream and the client exactly the bytes the full path (``--no-replay``) sends.

Each step is a client request (a few heads, GET and HEAD, repeated) and an upstream
answer drawn from the cases a relay must get right or leave to the full path: the same
head with another Date, a changed head, no Date, an interim 103 first, a chunked body,
``Connection: close``, broken framing, a body cut across reads. ``Pair.answer``
compares both sites after every step. Both sites share one wall clock (``Pair``), which
moves on between steps, so the Date a server writes itself is checked too.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.relay_support import upstream_response
from tests.replay_support import get
from tests.test_relay import Pair

REQUESTS = [
    get("/p/a.txt"),
    get("/p/a.txt"),
    get("/p/b.txt?x=1"),
    get("/p/a.txt", "Accept: text/plain", "Cookie: k=v"),
    get("/p/a.txt", method="HEAD"),
]
DATES = [b"Sun, 29 Nov 2026 22:00:0%d GMT" % i for i in range(3)]


def answer_for(kind: str, date: int, method: bytes) -> bytes:
    stamp = DATES[date]
    if kind == "same":
        whole = upstream_response(date=stamp)
    elif kind == "changed":
        whole = upstream_response(b"HELLO RELAY\n", etag=b'"v2"', date=stamp)
    elif kind == "undated":
        whole = upstream_response(date=None)
    elif kind == "early":
        whole = (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                 + upstream_response(date=stamp))
    elif kind == "chunked":
        whole = (b"HTTP/1.1 200 OK\r\nDate: " + stamp + b"\r\nTransfer-Encoding: chunked"
                 b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    elif kind == "close":
        whole = upstream_response(date=stamp, extra=b"Connection: close\r\n").replace(
            b"Connection: keep-alive\r\n", b"")
    elif kind == "cookie":
        whole = upstream_response(date=stamp, extra=b"Set-Cookie: s=1; Path=/\r\n")
    else:  # "broken"
        whole = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    if method == b"HEAD" and kind not in ("chunked", "broken"):
        whole = whole[: whole.rfind(b"\r\n\r\n") + 4]
    return whole


KINDS = ["same", "same", "changed", "undated", "early", "chunked", "close", "cookie",
         "broken"]
steps = st.lists(
    st.tuples(
        st.integers(0, len(REQUESTS) - 1),
        st.sampled_from(KINDS),
        st.integers(0, len(DATES) - 1),
        st.integers(0, 3),  # 0: whole in one read; else cut at that many points
    ),
    min_size=1,
    max_size=12,
)


class RelayEquivalenceTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps, st.sampled_from([(), ("--proxy-dev",)]))
    def test_a_relaying_site_sends_what_the_full_path_sends(
        self, conversation: list[tuple[int, str, int, int]], argv: tuple[str, ...]
    ) -> None:
        pair = Pair(self, *argv)
        for index, kind, date, cuts in conversation:
            request = REQUESTS[index]
            whole = answer_for(kind, date, request.split(b" ", 1)[0])
            pieces = [whole]
            if cuts:
                points = sorted({(len(whole) * i) // (cuts + 1) for i in range(1, cuts + 1)})
                pieces = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)],
                                                     strict=True)]
            pair.send(request)
            pair.answer(*[p for p in pieces if p])
            pair.tick(0.4)  # the server's own Date turns every few steps
            if any(conn.closing for conn in pair.conns):
                break
