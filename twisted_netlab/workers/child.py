"""A worker: build the plugin's services as usual, but serve inherited sockets.

The supervisor starts ``python -m twisted_netlab.workers --tap MODULE --fd 3:2 ...
-- PLUGIN-ARGS``.  The worker parses the same plugin arguments (with ``--workers 1``),
so it builds the same service tree in the same order as the supervisor did; the i-th
listener's endpoint is then replaced by the i-th inherited socket, adopted with
``reactor.adoptStreamPort``.  Everything else (TLS, metrics, lame duck, drain) is the
plugin's own code, unchanged.  SIGTERM stops the reactor, which runs ``stopService``.
"""

# twisted.application is untyped: driving it is the point of this module.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import FileLogObserver, Logger, eventAsText, globalLogBeginner
from zope.interface import implementer

from twisted_netlab.scale import listening_services

log = Logger()


@implementer(IStreamServerEndpoint)
class AdoptedEndpoint:
    """An endpoint whose ``listen`` adopts an already-listening inherited socket."""

    def __init__(self, reactor: Any, fd: int, family: int) -> None:
        self._reactor = reactor
        self.fd = fd
        self.family = family

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return succeed(self._reactor.adoptStreamPort(self.fd, self.family, factory))


def _fd_spec(text: str) -> tuple[int, int]:
    fd, _, family = text.partition(":")
    return int(fd), int(family)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m twisted_netlab.workers")
    parser.add_argument("--tap", required=True, help="the plugin's tap module")
    parser.add_argument("--index", type=int, default=1)
    parser.add_argument("--fd", type=_fd_spec, action="append", default=[],
                        help="FD:FAMILY of an inherited listening socket, in listener order")
    parser.add_argument("plugin_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.plugin_args[:1] == ["--"]:
        args.plugin_args = args.plugin_args[1:]
    return args


def adopt(top: MultiService, fds: list[tuple[int, int]], reactor: Any) -> None:
    listeners = list(listening_services(top))
    if len(listeners) != len(fds):
        raise SystemExit(
            f"worker: {len(fds)} inherited sockets for {len(listeners)} listeners; "
            "the supervisor and the worker disagree about the options"
        )
    for svc, (fd, family) in zip(listeners, fds, strict=True):
        svc.endpoint = AdoptedEndpoint(reactor, fd, family)


def main(argv: list[str] | None = None) -> int:
    from twisted.internet import reactor

    args = parse_args(sys.argv[1:] if argv is None else argv)
    globalLogBeginner.beginLoggingTo(
        [FileLogObserver(sys.stderr, lambda e: eventAsText(e, includeTimestamp=False) + "\n")],
        redirectStandardIO=False,
    )
    module: Any = importlib.import_module(args.tap)
    options = module.Options()
    options.parseOptions([*args.plugin_args, "--workers", "1"])
    top = module.makeService(options)
    adopt(top, args.fd, reactor)

    def start() -> None:
        # Stops come from the supervisor, which forwards each of its own.  A terminal's
        # Ctrl-C reaches the whole process group: taken directly *and* forwarded, it
        # would count as two signals here and cut the drain at once.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        top.startService()
        log.info("ready: serving {n} inherited sockets", n=len(args.fd))

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()
    return 0
