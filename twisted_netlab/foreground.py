"""Running a plugin's service in the foreground, as the short commands do.

Why not ``twisted.scripts.twistd.run`` with a built argv: twistd prints the whole help
before every usage error, writes tracebacks for listen failures (they happen in a
reactor startup trigger) and knows nothing about our vocabulary. The twistd
machinery adds nothing we need in the foreground (no pidfile, no daemon, no
privilege drop), so we do with public APIs what it does:

1. parse with the plugin's own ``Options`` subclass (so every option is the same and
   validated by the same ``postOptions``) and build with the plugin's ``makeService``;
2. ``privilegedStartService()`` then ``startService()`` before the reactor runs, so a
   listen failure (``strports`` services raise synchronously) becomes one line and
   exit status 1 instead of a logged traceback;
3. ``stopService`` as a "before shutdown" trigger: the reactor's own SIGINT/SIGTERM
   handling stops it, and it waits for the services' Deferreds (closing ports,
   draining) as twistd does;
4. log to stdout through ``twisted.logger``, without Twisted's "<Factory> starting on
   PORT" lines: the banner (``twisted_netlab/banner.py``) says where we listen, with
   clickable URLs, before anything else is printed.

Split from ``cli.py`` (which holds the commands' vocabulary and options).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogEvent,
    PredicateResult,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python import usage
from zope.interface import implementer, provider

from twisted_netlab.startup_messages import one_line as _one_line
from twisted_netlab.startup_messages import reason as _reason

__all__ = ["HINT", "Listening", "StartupError", "quiet_observer", "run", "start"]

HINT = "run with --help for the options"
Listening = list[tuple[str, IListeningPort]]


class StartupError(Exception):
    """A service could not start; the message is the one line the user sees."""



def _leaves(svc: service.IService) -> list[service.IService]:
    """Services depth-first, in the order ``MultiService`` would start them."""
    if isinstance(svc, service.MultiService):
        return [leaf for child in svc for leaf in _leaves(child)]
    return [svc]


@implementer(IStreamServerEndpoint)
class _Recording:
    """Wraps a listener's endpoint to keep the port it opens (the real one for tcp:0)."""

    def __init__(self, inner: IStreamServerEndpoint, description: str, into: Listening) -> None:
        self._inner = inner
        self._description = description
        self._into = into

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        def keep(port: IListeningPort) -> IListeningPort:
            self._into.append((self._description, port))
            return port

        return self._inner.listen(factory).addCallback(keep)


def start(top: service.IService, descriptions: Sequence[str]) -> Listening:
    """Start every service now and return ``(description, port)`` per listener.

    ``descriptions`` are the endpoints in the order the plugin created its listeners,
    so a message can name the one that failed (``StartupError``) and a banner can
    show the real address of each. Listeners already opened are closed on failure.
    """
    listening: Listening = []
    listeners = 0
    started: list[service.IService] = []
    for leaf in _leaves(top):
        is_listener = isinstance(leaf, StreamServerEndpointService)
        where = descriptions[listeners] if is_listener and listeners < len(descriptions) else None
        if isinstance(leaf, StreamServerEndpointService) and where is not None:
            leaf.endpoint = _Recording(leaf.endpoint, where, listening)
        try:
            leaf.privilegedStartService()
        except Exception as exc:  # any listen error: CannotListenError, OverflowError ...
            for done in reversed(started):
                if isinstance(done, StreamServerEndpointService):
                    done.stopService()
            place = where or getattr(exc, "interface", None) or "the endpoint"
            raise StartupError(f"cannot listen on {place}: {_reason(exc)}") from exc
        started.append(leaf)
        listeners += is_listener
    top.startService()
    if not listening:  # a --workers supervisor opens the sockets itself, in order
        opened = [p for leaf in _leaves(top) for p in getattr(leaf, "ports", ())]
        listening = list(zip(descriptions, opened, strict=False))
    return listening


def run(
    command: Callable[[], usage.Options],
    descriptions: Callable[[usage.Options], list[str]],
    make_service: Callable[[Any], service.IService],
    argv: Sequence[str] | None,
    *,
    prog: str,
    stderr: TextIO | None = None,
    reactor: Any = None,
    on_started: Callable[[Any, Listening], None] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Parse, build, start, run the reactor; return the exit status."""
    err = sys.stderr if stderr is None else stderr
    out = sys.stdout if stdout is None else stdout
    options = command()
    try:
        options.parseOptions(list(sys.argv[1:] if argv is None else argv))
    except usage.UsageError as exc:
        print(f"{prog}: {_one_line(str(exc))}; {HINT}", file=err)
        return 2
    try:
        top = make_service(options)
    except OSError as exc:
        named = exc.filename == options.get("access-log")
        what = f"--access-log {exc.filename}" if named else exc.filename
        print(f"{prog}: cannot open {what}: {_reason(exc)}", file=err)
        return 1
    if reactor is None:
        from twisted.internet import reactor
    try:
        listening = start(top, descriptions(options))
    except StartupError as exc:
        print(f"{prog}: {_one_line(str(exc))}", file=err)
        return 1
    if on_started is not None:  # the place for a banner (URLs with real ports)
        on_started(options, listening)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    globalLogBeginner.beginLoggingTo([quiet_observer(textFileLogObserver(out))],
                                     redirectStandardIO=False)
    reactor.run()
    return 0


# Twisted's ports log "<Factory> starting on <port>" as a legacy message (not gated by
# ``Factory.noisy``), and --tls logs its certificate: the banner already said both.
_NO: PredicateResult = PredicateResult.no
_MAYBE: PredicateResult = PredicateResult.maybe
_STARTING_ON = re.compile(r"^\S.* starting on \d+$")


@provider(ILogFilterPredicate)
def _not_port_noise(event: LogEvent) -> PredicateResult:
    if event.get("log_namespace") == "twisted_netlab.tls_options" and "banner" in event:
        return _NO  # the banner shows the certificate and its fingerprint
    message = event.get("message")
    if (
        event.get("log_namespace") == "log_legacy"
        and message
        and len(message) == 1
        and isinstance(message[0], str)
        and _STARTING_ON.match(message[0])
    ):
        return _NO
    return _MAYBE


def quiet_observer(observer: ILogObserver) -> ILogObserver:
    """``observer`` without what the banner already said ("starting on", the TLS line)."""
    return FilteringLogObserver(observer, [_not_port_noise])
