"""In-memory connections to a built netlab-web site, for the replay tests."""

from __future__ import annotations

import os
import re
import time
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from tests.config_support import web_options
from twisted_netlab.web.connections import LimitedSite
from twisted_netlab.web.site import build_site
from twisted_netlab.web.static import StaticResource

_DATE = re.compile(rb"\r\nDate: [^\r]*")
PAST = 1_700_000_000  # file mtimes: well before any clock these tests use


def undated(response: bytes) -> bytes:
    """``response`` with its Date value blanked (it is the only part that changes)."""
    return _DATE.sub(b"\r\nDate: -", response)


def write(root: str, name: str, data: bytes, mtime: int = PAST) -> str:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.utime(path, (mtime, mtime))
    return path


def make_site(root: str, *argv: str, clock: MemoryReactorClock | None = None) -> LimitedSite:
    """The site ``netlab-web --path ROOT ARGV`` builds, on a fake clock set to now."""
    if clock is None:
        clock = MemoryReactorClock()
        clock.advance(time.time())
    return build_site(web_options("--path", root, *argv).web_config, clock)


class Connection:
    """One client connection on a ``StringTransport``."""

    def __init__(self, site: LimitedSite, port: int = 40000, host: str = "127.0.0.1") -> None:
        self.protocol: Any = site.buildProtocol(IPv4Address("TCP", host, port))
        self.transport = StringTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8080),
            peerAddress=IPv4Address("TCP", host, port),
        )
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> bytes:
        """Hand ``data`` to the channel as one read; what it wrote in answer."""
        self.protocol.dataReceived(data)
        out = self.transport.value()
        self.transport.clear()
        return out

    @property
    def closing(self) -> bool:
        return bool(self.transport.disconnecting)

    def close(self) -> None:
        if not self.transport.disconnected:
            self.transport.disconnected = True
            self.protocol.connectionLost(Failure(ConnectionDone()))


class RenderCount:
    """Counts ``StaticResource.render`` calls: a replay makes none."""

    def __init__(self, case: Any) -> None:
        self.count = 0
        original = StaticResource.render

        def render(resource: StaticResource, request: Any) -> Any:
            self.count += 1
            return original(resource, request)

        case.patch(StaticResource, "render", render)


def get(path: str, *fields: str, method: str = "GET", version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1:8080", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def field(response: bytes, name: bytes) -> bytes | None:
    head = response.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b": ")
        if key.lower() == name.lower():
            return value
    return None
