"""Short commands: ``netlab-web [DIR] [-p PORT]``, ``netlab-tcp``, ``netlab``.

Each runs the same service as ``twistd -n --pidfile= <plugin>`` in the foreground,
with every plugin option, plus a little vocabulary: a folder as a positional argument,
a bare port number (``-p 8081`` means ``tcp:8081:interface=127.0.0.1``) and
``-a/--address`` for the interface of bare ports and of the default port.

Parsing and the options live here; ``foreground.py`` parses nothing and runs the
service (start, the reactor, the quiet log observer).

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
from twisted.internet.interfaces import IAddress
from twisted.python import usage

from twisted_netlab import tap as netlab_tap
from twisted_netlab.banner import Listener, banner_lines
from twisted_netlab.foreground import (
    HINT,
    Listening,
    StartupError,
    quiet_observer,
    run,
    start,
)
from twisted_netlab.startup_messages import one_line as _one_line
from twisted_netlab.startup_messages import reason as _reason
from twisted_netlab.tcp import tap as tcp_tap
from twisted_netlab.web import tap as web_tap
from twisted_netlab.web.config import RequestLogConfig

__all__ = [
    "HINT",
    "Listening",
    "StartupError",
    "check_endpoint",
    "main_netlab",
    "main_tcp",
    "main_web",
    "port_description",
    "quiet_observer",
    "run",
    "start",
]

DEFAULT_ADDRESS = "127.0.0.1"


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
