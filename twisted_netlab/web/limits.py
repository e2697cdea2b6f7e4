"""Every resource limit of netlab-web, with its default, and the pure decisions on them.

Nothing here touches Twisted: the channel (``web/channel.py``) and the connection
registry (``web/connections.py``) ask these functions what to do and do it. Keeping the
decisions pure lets the tests cover each rule exhaustively without sockets, and lets the
lead fold ``LimitsConfig`` into the typed configs without moving logic.

Defaults follow nginx where nginx has an equivalent (its ``client_header_timeout`` is
60 s; ours is stricter at 20 s because the head of a real request arrives in one
round trip, and a 20 s total deadline still leaves a phone on a bad network plenty).
"""

from __future__ import annotations

import enum
import errno
import resource
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

#: ``OSError.errno`` values meaning "out of file descriptors" (process / system):
#: a 503 saying so, never "file not found" or "file changed".
FD_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})

#: fds kept free for everything that is not a client socket (log files, listening
#: sockets, the spool of a body, DNS, ...).
FD_HEADROOM = 64


def default_max_connections(soft_fd_limit: int | None = None) -> int:
    """The connection cap that cannot run the process out of fds.

    Each client connection may hold a second fd (a file being sent, an upstream
    connection, a spooled body), so the cap is half of what is left after headroom.
    """
    if soft_fd_limit is None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft_fd_limit = soft if soft != resource.RLIM_INFINITY else 1 << 20
    return max(16, (soft_fd_limit - FD_HEADROOM) // 2)


@dataclass(frozen=True)
class LimitsConfig:
    """Every limit; seconds are floats, sizes are bytes, ``None``/0 means off where noted."""

    header_timeout: float = 20.0
    keepalive_timeout: float = 75.0
    body_timeout: float = 60.0
    send_timeout: float = 60.0
    drain_timeout: float = 30.0
    max_connections: int = 0  # 0: derive from RLIMIT_NOFILE (see default_max_connections)
    max_connections_per_ip: int = 0  # 0: off
    max_body: int = GIB
    tools_max_body: int = 10 * MIB
    max_request_line: int = 8 * KIB  # nginx large_client_header_buffers: 8k -> 414
    max_header_bytes: int = 16 * KIB  # request line plus all header lines -> 431
    max_header_count: int = 100  # -> 431
    linger_time: float = 5.0  # how long a refused body is read and discarded

    def __post_init__(self) -> None:
        for name in ("header_timeout", "keepalive_timeout", "body_timeout",
                     "send_timeout", "drain_timeout", "linger_time"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        for name in ("max_connections", "max_connections_per_ip"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (automatic/off) or positive")
        for name in ("max_body", "tools_max_body", "max_request_line",
                     "max_header_bytes", "max_header_count"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @property
    def connection_cap(self) -> int:
        """The effective ``max_connections`` (the fd-derived default when 0)."""
        return self.max_connections or default_max_connections()


class Phase(enum.Enum):
    """Where a connection is in its request cycle; decides timers and eviction."""

    IDLE = "idle"  # no byte of a request yet (new, or keep-alive between requests)
    HEAD = "head"  # some bytes of the request line/headers, not all
    BODY = "body"  # head in, reading the body
    BUSY = "busy"  # the resource has the request; the response is being made or sent
    REFUSED = "refused"  # answered early (405/413/414/431/408); lingering before close


EVICTABLE = frozenset({Phase.IDLE, Phase.HEAD})


@dataclass(frozen=True)
class ConnectionView:
    """What eviction needs to know of a connection, without the connection."""

    key: int
    host: str
    phase: Phase
    since: float  # when it entered its phase (reactor seconds)


class Admission(enum.Enum):
    ACCEPT = "accept"
    EVICT = "evict"  # close ``victim`` and accept
    REFUSE = "refuse"  # 503 and close the new connection


@dataclass(frozen=True)
class AdmissionDecision:
    verdict: Admission
    victim: int | None = None
    reason: str = ""


def _oldest_evictable(candidates: Iterable[ConnectionView]) -> ConnectionView | None:
    evictable = [v for v in candidates if v.phase in EVICTABLE]
    if not evictable:
        return None
    # Idle connections cost a client nothing to lose; a half-sent head is the
    # slowloris signature. Both go oldest first; idle before head at equal age.
    return min(evictable, key=lambda v: (v.since, v.phase is Phase.HEAD, v.key))


def admit(
    count: int,
    cap: int,
    oldest: Sequence[ConnectionView] = (),
    *,
    own_count: int = 0,
    own_oldest: Sequence[ConnectionView] = (),
    per_ip_cap: int = 0,
) -> AdmissionDecision:
    """May a new connection be served, given ``count`` live connections?

    ``oldest`` are the candidates for eviction: the longest-idle and the longest-in-head
    connection (the caller keeps them ordered, so that admission at the cap costs the
    same with 10 or 10,000 connections open); ``own_count``/``own_oldest`` are the same
    for the newcomer's address. Candidates not idle/head are ignored.

    At the per-IP cap the oldest idle/head connection of that same address is closed
    (an address cannot push out others' connections); at the global cap the oldest
    idle/head connection of anyone. With none to close, the newcomer is refused.
    """
    if per_ip_cap and own_count >= per_ip_cap:
        victim = _oldest_evictable(own_oldest)
        if victim is None:
            return AdmissionDecision(
                Admission.REFUSE, reason="too many connections from your address"
            )
        return AdmissionDecision(Admission.EVICT, victim.key, "per-address cap")
    if count >= cap:
        victim = _oldest_evictable(oldest)
        if victim is None:
            return AdmissionDecision(Admission.REFUSE, reason="server is at its connection limit")
        return AdmissionDecision(Admission.EVICT, victim.key, "connection cap")
    return AdmissionDecision(Admission.ACCEPT)


class BodyVerdict(enum.Enum):
    ACCEPT = "accept"
    NO_BODY_HERE = "no-body"  # the target takes no body: 405 (or 413 for GET/HEAD...)
    TOO_LARGE = "too-large"  # 413


#: Methods whose semantics have no body; a body sent with them to a bodiless target is
#: "too large" (413), not a wrong method (405 would tell the client to change method).
SAFE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"DELETE"})


def judge_body(method: bytes, declared_length: int | None, body_limit: int) -> BodyVerdict:
    """Refuse a body before reading a byte of it.

    ``declared_length`` is the Content-Length (``None`` for chunked); ``body_limit`` is
    what the target accepts (0: takes no body). A chunked body is judged again as it
    arrives (see ``body_overflows``).
    """
    if declared_length == 0:
        return BodyVerdict.ACCEPT
    if body_limit <= 0:
        return BodyVerdict.TOO_LARGE if method in SAFE_METHODS else BodyVerdict.NO_BODY_HERE
    if declared_length is not None and declared_length > body_limit:
        return BodyVerdict.TOO_LARGE
    return BodyVerdict.ACCEPT


def body_overflows(received: int, body_limit: int) -> bool:
    """Mid-stream check for bodies without a Content-Length."""
    return received > body_limit


def split_target_path(target: bytes) -> list[bytes]:
    """``b"/_netlab/inspect?x=1"`` -> ``[b"_netlab", b"inspect"]`` (no decoding)."""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    return [s for s in path.split(b"/") if s]


@dataclass(frozen=True)
class PrefixBodyRule:
    """Which targets take a body, by mount prefix: the answer to ``accepts_body``.

    ``prefixes`` maps a mount's path segments to the largest body it takes; anything
    else (static files, listings) takes none. Longest prefix wins, as in routing.
    """

    prefixes: tuple[tuple[tuple[bytes, ...], int], ...] = ()

    def body_limit(self, method: bytes, target: bytes) -> int:
        segments = split_target_path(target)
        best: tuple[int, int] | None = None
        for prefix, limit in self.prefixes:
            if tuple(segments[: len(prefix)]) == prefix and (best is None or len(prefix) > best[0]):
                best = (len(prefix), limit)
        return 0 if best is None else best[1]

    def accepts_body(self, method: bytes, target: bytes) -> bool:
        return self.body_limit(method, target) > 0


def drain_summary(drained: int, cut: int, idle_closed: int) -> str:
    """The one log line a graceful stop ends with."""
    return (
        f"drain finished: {drained} connection(s) finished their work, "
        f"{cut} cut at the deadline, {idle_closed} idle closed at once"
    )
