"""What the exchange, the connection and the pool need of one another.

The three call each other (a pool hands an exchange a connection; the connection reports
the response to the exchange and gives itself back to the pool), so each names the
others only through these protocols: the modules import this leaf and never one
another, and the import graph stays a tree (``.ci/check_imports.py``).
"""

from __future__ import annotations

import enum
from typing import Protocol, TypeVar

from twisted_netlab.upstream.errors import UpstreamError
from twisted_netlab.upstream.message import Origin, UpstreamRequest
from twisted_netlab.upstream.reader import ReaderEvents

__all__ = ["Carrier", "ConnectionHome", "ConnectionSource", "ExchangeRole", "State"]

C_contra = TypeVar("C_contra", contravariant=True)


class State(enum.Enum):
    """Where an exchange is."""

    CONNECTING = "connecting"
    WAITING = "waiting"  # request sent, no final head yet
    BODY = "body"
    DONE = "done"


class Carrier(Protocol):
    """A connection, as the exchange it carries sees it."""

    def send(self, exchange: ExchangeRole) -> None: ...

    def abandon(self, exchange: ExchangeRole) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class ExchangeRole(ReaderEvents, Protocol):
    """An exchange, as its connection and the pool see it."""

    request: UpstreamRequest
    origin: Origin
    head_bytes: bytes
    state: State

    def connected(self, connection: Carrier, reused: bool) -> None: ...

    def connect_failed(self, error: UpstreamError) -> None: ...

    def completed(self) -> None: ...

    def lost(self, error: UpstreamError, retryable: bool) -> None: ...

    def body_failed(self, reason: str) -> None: ...

    def body_progress(self) -> None:
        """A request-body write went out: an upload in progress is not a silent upstream."""


class ConnectionSource(Protocol):
    """The pool, as an exchange asking for a connection sees it."""

    def acquire(self, exchange: ExchangeRole, fresh: bool = False) -> None: ...


class ConnectionHome(Protocol[C_contra]):
    """The pool, as a connection giving itself back sees it."""

    def release(self, connection: C_contra) -> None: ...

    def discard(self, connection: C_contra) -> None: ...

    def forget(self, connection: C_contra) -> None: ...
