"""Short commands: ``netlab-web [DIR] [-p PORT]``, ``netlab-tcp``, ``netlab``.

Each runs the same service as ``twistd -n --pidfile= <plugin>`` in the foreground,
with every plugin option, plus a little vocabulary: a folder as a positional argument,
a bare port number (``-p 8081`` means ``tcp:8081:interface=127.0.0.1``) and
``-a/--address`` for the interface of bare ports and of the default port.

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

netlab-web and netlab log one compact line per request by default (``--quiet``: none);
``--access-log FILE`` writes the combined format as the plugins do.

Errors are one line on stderr: usage errors (exit 2) end with the ``--help`` hint;
startup failures (exit 1) say what could not be done.
"""

from __future__ import annotations

import dataclasses
import getopt
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TextIO

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
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

from twisted_netlab import tap as netlab_tap
from twisted_netlab.banner import Listener, banner_lines
from twisted_netlab.startup_messages import one_line as _one_line
from twisted_netlab.startup_messages import reason as _reason
from twisted_netlab.tcp import tap as tcp_tap
from twisted_netlab.web import tap as web_tap
from twisted_netlab.web.config import RequestLogConfig

__all__ = [
    "Listening",
    "StartupError",
    "check_endpoint",
    "main_netlab",
    "main_tcp",
    "main_web",
    "port_description",
    "run",
    "start",
]

HINT = "run with --help for the options"
Listening = list[tuple[str, IListeningPort]]
DEFAULT_ADDRESS = "127.0.0.1"


class StartupError(Exception):
    """A service could not start; the message is the one line the user sees."""


def port_description(option: str, value: str, address: str) -> str:
    """A bare port number -> ``tcp:PORT:interface=ADDRESS``; anything else unchanged."""
    text = value.strip()
    if not text.isdigit():
        return value
    port = int(text)
    if port > 65535:
        raise usage.UsageError(f"{option} {value!r}: port numbers go from 0 to 65535")
    return f"tcp:{port}:interface={address.replace(':', chr(92) + ':')}"


_OPTION_NAMES = {"ports": "--port", "web-ports": "--web-port", "tcp-ports": "--tcp-port"}
# Options only the short commands know (a worker gets the plugin's equivalents).
_SHORT_ONLY = frozenset(
    {"-p", "--port", "--web-port", "--tcp-port", "-a", "--address", "-q", "--quiet"}
)


def check_endpoint(option: str, value: str) -> str:
    """``value`` if Twisted can parse it; else a ``UsageError`` in the user's words.

    Twisted's parser reports problems as Python sees them (``invalid literal for
    int()``, ``_parseTCP() got an unexpected keyword argument``); we say which part of
    the description is wrong instead.
    """
    from twisted.internet import endpoints, reactor

    try:
        endpoints.serverFromString(reactor, value)
    except Exception as exc:  # the parser raises ValueError, TypeError, OSError ...
        text = str(exc)
        if m := re.search(r"invalid literal for int\(\) with base 10: '(.*)'", text):
            why = f"{m.group(1)!r} is not a number" if m.group(1) else "a number is missing"
        elif m := re.search(r"unexpected keyword argument '(.*)'", text):
            why = f"unknown parameter {m.group(1)!r}"
        elif m := re.search(r"missing \d+ required positional argument: '(.*)'", text):
            why = f"the {m.group(1)} is missing"
        elif m := re.search(r"Unknown endpoint type: '(.*)'", text):
            why = (f"unknown endpoint type {m.group(1)!r} "
                   "(give a port number, or tcp:PORT, tcp6:PORT, unix:PATH, ssl:PORT:...)")
        elif isinstance(exc, OSError) and exc.filename:
            why = f"cannot read {exc.filename}: {_reason(exc)}"
        else:
            why = _one_line(text) or "not a valid endpoint"
        raise usage.UsageError(f"{option} {value!r}: {why}") from None
    return value


def _checked_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        raise usage.UsageError(
            f"--address {value!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)"
        ) from None


class _ShortCommand(usage.Options):
    """Base for a plugin's ``Options``: folder argument, bare ports, ``--address``.

    Port options are collected raw and turned into endpoint descriptions in
    ``postOptions``, because ``-a`` may come after ``-p``.
    """

    port_keys: tuple[str, ...] = ()
    _plugin_args: list[str] = []  # noqa: RUF012  # replaced per instance by parseOptions
    default_ports: ClassVar[dict[str, str]] = {}
    takes_folder = True

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """Options may follow the folder (``netlab-web ./site -p 8081``).

        ``usage.Options`` stops at the first argument, as POSIX getopt does; we let
        ``getopt.gnu_getopt`` sort options from arguments with the same option table,
        then hand the plugin's parser the options first and the arguments after ``--``.
        """
        argv = list(sys.argv[1:] if options is None else options)
        short: str = self.shortOpt
        long: list[str] = self.longOpt
        try:
            found, args = getopt.gnu_getopt(argv, short, long)
        except getopt.error as exc:
            raise usage.UsageError(str(exc)) from None
        ordered: list[str] = []
        plugin: list[str] = []
        for flag, value in found:
            takes = (flag[2:] + "=" in long) if flag.startswith("--") else (flag[1] + ":" in short)
            ordered.extend([flag, value] if takes else [flag])
            if flag not in _SHORT_ONLY:
                plugin.extend([flag, value] if takes else [flag])
        self._plugin_args = plugin
        super().parseOptions([*ordered, "--", *args])  # type: ignore[no-untyped-call]

    def plugin_argv(self) -> list[str]:
        """These options as the plugin's own command line (what ``--workers`` hands each
        worker, which parses with the plugin's ``Options``): resolved endpoints instead
        of bare ports, ``--path`` instead of the folder argument, no ``--quiet``."""
        options: Any = self
        argv = list(self._plugin_args)
        for key in self.port_keys:
            for description in options[key]:
                argv += [_OPTION_NAMES[key], description]
        if self.takes_folder and options.get("path"):
            argv += ["--path", os.path.abspath(options["path"])]
        return argv

    def opt_address(self, address: str) -> None:
        """Interface for bare port numbers and the default port (default 127.0.0.1)."""
        self["address"] = _checked_address(address)

    opt_a = opt_address

    def _raw(self, key: str, value: str) -> None:
        self.setdefault("raw-" + key, []).append(value)

    def parseArgs(self, *args: str) -> None:
        if not self.takes_folder:
            if args:
                raise usage.UsageError(f"unexpected argument {args[0]!r}")
            return
        if len(args) > 1:
            raise usage.UsageError(f"give one folder, not {len(args)}: {' '.join(args)!r}")
        if args:
            if not os.path.isdir(args[0]):
                raise usage.UsageError(f"folder {args[0]!r} does not exist or is not a folder")
            self["path"] = args[0]

    def resolve_ports(self) -> None:
        address = self.get("address", DEFAULT_ADDRESS)
        for key in self.port_keys:
            raw = self.get("raw-" + key) or [self.default_ports[key]]
            option = _OPTION_NAMES[key]
            self[key] = [
                check_endpoint(option, port_description(option, value, address))
                for value in raw
            ]
        self["argv"] = self.plugin_argv()


def wants_colour(stream: TextIO, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


class _RequestLogFlag(usage.Options):
    """``--quiet``: the web short commands log every request unless told not to."""

    def opt_quiet(self) -> None:
        """No request log on the terminal (--access-log still writes its file)."""
        self["quiet"] = True

    opt_q = opt_quiet

    def with_request_log(self) -> None:
        options: Any = self
        # Workers (--workers N) run the plugin, which has no request log of its own.
        workers = getattr(options.get("scale"), "workers", 1)
        quiet = bool(options.get("quiet")) or options["access-log"] == "-" or workers > 1
        wanted = None if quiet else RequestLogConfig(colour=wants_colour(sys.stdout, os.environ))
        options.web_config = dataclasses.replace(options.web_config, request_log=wanted)


class WebCommand(_ShortCommand, _RequestLogFlag, web_tap.Options):
    synopsis = "Usage: netlab-web [DIR] [-p PORT|ENDPOINT] [-a ADDRESS] [netlab-web options]"
    port_keys = ("ports",)
    default_ports: ClassVar[dict[str, str]] = {"ports": "8080"}

    def opt_port(self, description: str) -> None:
        """Listen here (repeatable): a port number or an endpoint, default 8080"""
        self._raw("ports", description)

    opt_p = opt_port

    def postOptions(self) -> None:
        self.resolve_ports()
        super().postOptions()
        self.with_request_log()


class TCPCommand(_ShortCommand, tcp_tap.Options):
    synopsis = "Usage: netlab-tcp [-p PORT|ENDPOINT] [-a ADDRESS] [netlab-tcp options]"
    port_keys = ("ports",)
    default_ports: ClassVar[dict[str, str]] = {"ports": "9000"}
    takes_folder = False

    def opt_port(self, description: str) -> None:
        """Listen here (repeatable): a port number or an endpoint, default 9000"""
        self._raw("ports", description)

    opt_p = opt_port

    def postOptions(self) -> None:
        self.resolve_ports()
        super().postOptions()


class NetlabCommand(_ShortCommand, _RequestLogFlag, netlab_tap.Options):
    synopsis = (
        "Usage: netlab [DIR] [--web-port PORT] [--tcp-port PORT] [-a ADDRESS] [netlab options]"
    )
    port_keys = ("web-ports", "tcp-ports")
    default_ports: ClassVar[dict[str, str]] = {"web-ports": "8080", "tcp-ports": "9000"}

    def opt_web_port(self, description: str) -> None:
        """Web endpoint or port number (repeatable), default 8080"""
        self._raw("web-ports", description)

    def opt_tcp_port(self, description: str) -> None:
        """TCP echo endpoint or port number (repeatable), default 9000"""
        self._raw("tcp-ports", description)

    def postOptions(self) -> None:
        self.resolve_ports()
        super().postOptions()
        self.with_request_log()


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


def banner_listeners(prog: str, options: Any, listening: Listening) -> list[Listener]:
    """Each configured endpoint, in start order, with its real address when this process
    opened it (a ``--workers`` supervisor leaves them to the workers)."""
    if prog == "netlab":
        roles = [("tcp", d) for d in options["tcp-ports"]]
        roles += [("web", d) for d in options["web-ports"]]
    else:
        role = "tcp" if prog == "netlab-tcp" else "web"
        roles = [(role, d) for d in options["ports"]]
    opened: list[IAddress | None] = [port.getHost() for _, port in listening]
    if len(opened) != len(roles):
        opened = [None] * len(roles)
    return [Listener(d, role, address) for (role, d), address in zip(roles, opened, strict=True)]


def print_banner(out: TextIO, prog: str) -> Callable[[Any, Listening], None]:
    """The ``on_started`` of the short commands: the banner on ``out``."""

    def show(options: Any, listening: Listening) -> None:
        lines = banner_lines(
            prog, banner_listeners(prog, options, listening),
            web=getattr(options, "web_config", None),
            echo=options.get("tcp-config") or options.get("config"),
            tls=options.get("tls-config"), scale=options.get("scale"),
            colour=wants_colour(out, os.environ),
        )
        out.write("".join(line + "\n" for line in lines))
        out.flush()

    return show


def _main(
    command: type[usage.Options],
    ports: Callable[[Any], list[str]],
    make_service: Callable[[Any], service.IService],
    prog: str,
    argv: Sequence[str] | None,
    stderr: TextIO | None,
    stdout: TextIO | None,
    reactor: Any,
) -> int:
    out = sys.stdout if stdout is None else stdout
    return run(
        command, ports, make_service, argv, prog=prog, stderr=stderr, stdout=out,
        reactor=reactor, on_started=print_banner(out, prog),
    )


def main_web(
    argv: Sequence[str] | None = None, *, stderr: TextIO | None = None,
    stdout: TextIO | None = None, reactor: Any = None,
) -> int:
    return _main(WebCommand, lambda o: list(o["ports"]), web_tap.makeService, "netlab-web",
                 argv, stderr, stdout, reactor)


def main_tcp(
    argv: Sequence[str] | None = None, *, stderr: TextIO | None = None,
    stdout: TextIO | None = None, reactor: Any = None,
) -> int:
    return _main(TCPCommand, lambda o: list(o["ports"]), tcp_tap.makeService, "netlab-tcp",
                 argv, stderr, stdout, reactor)


def main_netlab(
    argv: Sequence[str] | None = None, *, stderr: TextIO | None = None,
    stdout: TextIO | None = None, reactor: Any = None,
) -> int:
    # makeService adds the TCP listeners first, then the web ones
    return _main(NetlabCommand, lambda o: [*o["tcp-ports"], *o["web-ports"]],
                 netlab_tap.makeService, "netlab", argv, stderr, stdout, reactor)
