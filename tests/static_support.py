"""Shared fixtures for the static-resource tests: a real Site on 127.0.0.1:0.

treq (with a per-test pool) for well-formed requests; a raw TCP client for request
lines that treq/hyperlink would normalise (traversal, encoded separators, NUL).
"""

from __future__ import annotations

import os
from typing import Any

import treq
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from tests.config_support import static_config
from tests.raw_support import raw_exchange
from twisted_netlab.web.connections import LimitedSite, body_rule_for
from twisted_netlab.web.limits import LimitsConfig
from twisted_netlab.web.site import MountRoot
from twisted_netlab.web.static import StaticResource, build_static_resource


class Reply:
    def __init__(self, code: int, headers: Headers, body: bytes, length: Any) -> None:
        self.code = code
        self.headers = headers
        self.body = body
        self.length = length  # the client strips Content-Length from the headers

    def header(self, name: str) -> str | None:
        if name.lower() == "content-length":
            return None if not isinstance(self.length, int) else str(self.length)
        values = self.headers.getRawHeaders(name)
        return values[-1] if values else None


def write(path: str, data: bytes, *, mtime: int | None = None) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


class StaticTestCase(TestCase):
    """Start a server over a fresh directory; ``self.root`` is the served path."""

    timeout = 30  # every exchange is local; fail fast rather than after trial's 120 s

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(self.pool.closeCachedConnections)
        self.port: Any = None

    def serve(self, **options: Any) -> StaticResource:
        if self.port is not None:
            self.port.stopListening()
        resource = build_static_resource(static_config(self.root, **options), reactor)
        # The site netlab-web runs (limited channel, replays): a pooled client's repeated
        # request may be answered by a replay; every answer checked here is recorded.
        limits = LimitsConfig()
        rule = body_rule_for([], [], limits)
        site = LimitedSite(MountRoot(resource), limits, rule, reactor=reactor)
        self.site = site
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        assert isinstance(resource, StaticResource)
        return resource

    def file(self, name: str, data: bytes, *, mtime: int | None = None) -> str:
        return write(os.path.join(self.root, name), data, mtime=mtime)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port.getHost().port}{path}"

    async def request(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Reply:
        if self.port is None:
            self.serve()
        # A bare Agent: treq.request always sends Accept-Encoding: gzip and decodes,
        # which would hide exactly what these tests check.
        agent = Agent(reactor, pool=self.pool)
        response = await agent.request(
            method.encode("ascii"),
            self.url(path).encode("ascii"),
            Headers(
                {k.encode("latin-1"): [v.encode("latin-1")] for k, v in (headers or {}).items()}
            ),
        )
        body = await treq.content(response)
        return Reply(response.code, response.headers, body, response.length)

    async def raw(self, request: bytes) -> bytes:
        if self.port is None:
            self.serve()
        return await raw_exchange(self.port.getHost().port, request)

    async def raw_get(
        self,
        target: bytes,
        extra: bytes = b"",
        version: bytes = b"HTTP/1.1",
        method: bytes = b"GET",
    ) -> bytes:
        return await self.raw(
            method
            + b" "
            + target
            + b" "
            + version
            + b"\r\nHost: x\r\nConnection: close\r\n"
            + extra
            + b"\r\n"
        )


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def raw_header(raw: bytes, name: bytes) -> bytes | None:
    head = raw.partition(b"\r\n\r\n")[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None
