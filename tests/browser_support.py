"""Headless Chromium for tests: one place for the flags, the profile and the watchdog.

Every browser test runs Chromium the same way: a throwaway ``--user-data-dir`` (no
state leaks between runs), flags that keep it off the network and the GPU, and a
bounded run (a watchdog kills the process by PID if it hangs, and the test fails with
the tail of its stderr). The page's result comes back as ``--dump-dom`` output or a
``--screenshot`` file, so no DevTools protocol is needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from twisted.internet import reactor as global_reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

CHROMIUM = "/usr/bin/chromium"
RUN_TIMEOUT = 90.0
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def require_chromium() -> None:
    """Skip the calling test, with the reason, when Chromium is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        raise SkipTest(f"{CHROMIUM} not installed (Debian package 'chromium')")


class _Collect(ProcessProtocol):
    """Keeps all of stdout (the DOM) and the last 4 KiB of stderr (for failures)."""

    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err = (self.err + data)[-4096:]

    def processEnded(self, reason: Failure) -> None:
        reason.trap(ProcessDone, ProcessTerminated)
        self.ended.callback(None)


async def run_chromium(
    case: TestCase,
    url: str,
    *extra: str,
    reactor: Any = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """Run Chromium on ``url`` with ``extra`` flags, bounded by RUN_TIMEOUT; return stdout.

    A fresh profile folder comes from ``case.mktemp()``; the process is killed (by its
    PID) on timeout and again at cleanup, so a hung browser never outlives the test.
    """
    clock = global_reactor if reactor is None else reactor
    proto = _Collect()
    argv = [
        CHROMIUM, *FLAGS, f"--user-data-dir={os.path.abspath(case.mktemp())}", *extra, url,
    ]
    process = clock.spawnProcess(
        proto, CHROMIUM, argv, env=dict(os.environ if env is None else env)
    )

    def kill() -> None:
        if process.pid is not None:
            process.signalProcess("KILL")

    watchdog = clock.callLater(RUN_TIMEOUT, kill)
    case.addCleanup(kill)
    await proto.ended
    if not watchdog.active():
        case.fail(f"chromium did not finish in {RUN_TIMEOUT}s: {proto.err[-1000:]!r}")
    watchdog.cancel()
    return proto.out


async def dump_dom(case: TestCase, url: str, *extra: str, **kwargs: Any) -> str:
    """The DOM Chromium built for ``url`` (``--dump-dom``), decoded leniently."""
    out = await run_chromium(case, url, *extra, "--dump-dom", **kwargs)
    return out.decode("utf-8", "replace")


async def screenshot(case: TestCase, url: str, path: str, *extra: str) -> bytes:
    """Save a PNG of ``url`` to ``path`` (scrollbars hidden) and return its bytes."""
    await run_chromium(case, url, "--hide-scrollbars", *extra, f"--screenshot={path}")
    with open(path, "rb") as handle:
        return handle.read()
