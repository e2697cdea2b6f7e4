"""Offering a response for replay: what a resource says, and the current date.

A resource whose answer is a function of the request head and of a version it can
check cheaply (a static file: its stat key) calls ``offer_replay(request, check)``
before writing; the channel (``web/replaychannel.py``) then records what is written
and answers the same head again from the recording while ``check()`` holds. A wrapper
whose decision depends on more than the head (the clock: a signed link's expiry) calls
``forbid_replay(request)``, which no later offer undoes; a resource retrying after a
failure withdraws its offer (``withdraw_replay``). The server's own state is the
channel's to check on each replay (draining, a connection about to close) and the
site's ``ReplayWatcher`` (metrics: a lame duck). The rules of what is recorded are
``http/replay.py``.

The functions accept any request: one that cannot be replayed (HTTP/2, a plain
twisted.web ``Request`` in a test) has no ``replay_offer`` and is left alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from twisted.web.http import datetimeToString
from twisted.web.iweb import IRequest

from twisted_netlab.upstream.message import UpstreamRequest

__all__ = [
    "FORBIDDEN",
    "RelayOffer",
    "ReplayOffer",
    "ReplayWatcher",
    "current_date",
    "forbid_replay",
    "offer_relay",
    "offer_replay",
    "withdraw_replay",
]


class ReplayOffer:
    """A resource's offer: ``check()`` says the version the answer was made from is
    still current; ``dated``: the answer's ``Date`` is the server's own (made now, so
    a replay carries the current one), not a stored response's; ``replayed`` is
    called after each replay (what the full path would have counted)."""

    __slots__ = ("check", "dated", "replayed")

    def __init__(
        self, check: Callable[[], bool], dated: bool = True,
        replayed: Callable[[], None] | None = None,
    ) -> None:
        self.check = check
        self.dated = dated
        self.replayed = replayed


FORBIDDEN = ReplayOffer(lambda: False)  # a marker no offer replaces


def _always() -> bool:
    return True


class RelayOffer(ReplayOffer):
    """A proxy's offer (``http/relayplan.py``): the client head this response is
    written for may be relayed again from a plan. ``relay`` makes the relays (the
    mount's), ``request`` is the ``UpstreamRequest`` sent (its ``head`` the bytes sent),
    ``peer`` the client address it names; ``memo_key``/``upstream_date`` are the
    upstream head's (``ResponseHead``), ``length`` its body's."""

    __slots__ = ("key", "length", "memo_key", "peer", "relay", "request", "upstream_date")

    def __init__(
        self, key: bytes, relay: object, request: UpstreamRequest, peer: str,
        memo_key: bytes, upstream_date: bytes | None, length: int,
    ) -> None:
        super().__init__(_always)
        self.key = key  # the client head it came in (``relay_key``)
        self.relay = relay
        self.request = request
        self.peer = peer
        self.memo_key = memo_key
        self.upstream_date = upstream_date
        self.length = length


def offer_replay(
    request: IRequest, check: Callable[[], bool], *, dated: bool = True,
    replayed: Callable[[], None] | None = None,
) -> None:
    """This response may be replayed for the same head while ``check()`` is true."""
    if getattr(request, "replay_offer", FORBIDDEN) is None:
        _place(request, ReplayOffer(check, dated, replayed))


def offer_relay(request: IRequest, offer: RelayOffer) -> None:
    """This proxied response may be relayed again from a plan (see ``RelayOffer``)."""
    if getattr(request, "replay_offer", FORBIDDEN) is None:
        _place(request, offer)


def _place(request: IRequest, offer: ReplayOffer) -> None:
    """Give ``request`` its offer and tell its channel (which may record the response)."""
    request.replay_offer = offer  # type: ignore[attr-defined]
    offered = getattr(getattr(request, "channel", None), "replay_offered", None)
    if offered is not None:
        offered(request)


def withdraw_replay(request: IRequest) -> None:
    """Take back an offer (the response is being made again, perhaps differently)."""
    if getattr(request, "replay_offer", FORBIDDEN) is not FORBIDDEN:
        request.replay_offer = None  # type: ignore[attr-defined]


def forbid_replay(request: IRequest) -> None:
    """This response depends on more than the head: never replay it."""
    if hasattr(request, "replay_offer"):
        request.replay_offer = FORBIDDEN


class ReplayWatcher(Protocol):
    """What the site tells, and asks, of something that sees every request (metrics)."""

    def may_replay(self) -> bool:
        """False while replays must not be made (the watcher changes responses now)."""

    def replayed(self, path: bytes, code: int, sent: int) -> None:
        """A request for ``path`` was answered by a replay (``code``, ``sent`` bytes)."""

    def relay_started(self, path: bytes) -> str:
        """A proxied GET for ``path`` is being relayed (``web/relaychannel.py``): it is
        in flight until ``relay_ended``; returns the label to end it with."""

    def relay_ended(self, label: str, code: int | None, sent: int, counted: bool) -> None:
        """That relay is over: answered (``code``, ``sent`` bytes), or aborted by the
        client (``code`` None); ``counted`` False when the full path took it over and
        counts it itself."""


_date_second = -1
_date_value = b""


def current_date() -> bytes:
    """The ``Date`` value twisted.web would write now, formatted once per second."""
    global _date_second, _date_value
    now = time.time()
    second = int(now)
    if second != _date_second:
        _date_value = datetimeToString(now)
        _date_second = second
    return _date_value
