"""One-line errors under ``twistd``: usage errors (exit 2) and startup failures (exit 1).

twistd's own handling of a plugin's mistakes is a wall: for a usage error
``twisted.application.app.run`` prints the whole ``ServerOptions`` help (its
``getUsage`` delegates to the plugin's) and then ``argv[0] argv[1]: message`` on stdout,
exit 1; a listener that cannot open raises out of ``privilegedStartService`` (twistd
calls it before the reactor runs, outside any handler) and Python prints a chained
traceback into the log.

Both are caught at the one place twistd hands control to us, with public APIs only:

- ``OneLineUsage.parseOptions``: twistd parses the plugin's options as a sub-command
  (``parent`` is twistd's ``ServerOptions``); on a ``UsageError`` we print one line on
  stderr and leave with ``SystemExit(2)``, exactly as ``usage.Options.opt_help`` leaves
  with ``SystemExit(0)`` after printing the help. Without a parent (tests, the short
  commands in ``cli.py``) the ``UsageError`` propagates unchanged.
- ``StartupGuard``: the parent of the plugin's service tree; its
  ``privilegedStartService`` names the listener that failed, writes one line to the
  process's real stderr (twistd has redirected ``sys.stderr`` into the log by then) and
  to the log, and leaves with ``SystemExit(1)``. A daemon (no ``-n``) raises
  ``StartupFailed`` instead: twistd's parent process waits on a status pipe that only
  an exception writes to. ``twistd_cli`` puts the guard on the plugin entries only;
  ``cli.py``, the workers and the tests use the ``tap`` modules' unguarded trees.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_netlab.startup_messages import HINT, listen_message, one_line, reason

__all__ = [
    "OneLineUsage", "StartupFailed", "StartupGuard", "access_log_problem", "guard_startup",
]

log = Logger()


def _command(plugin: str | None) -> str:
    """``twistd netlab-web``: the command as the user typed it, without its path
    (``twist`` when run by ``twist``; ``twistd`` for ``python -c``/``-m`` launches)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    name = name if name in ("twistd", "twist") else "twistd"
    return f"{name} {plugin}" if plugin else name


def _program(options: usage.Options) -> str:
    return _command(getattr(options.parent, "subCommand", None))


def access_log_problem(path: str | None) -> str | None:
    """Why ``--access-log PATH`` cannot be opened for appending, or ``None``.

    Checked before the service is built, because ``makeService`` opens the file and
    twistd would print a traceback for the ``OSError``.
    """
    if not path or path == "-":
        return None
    if os.path.isdir(path):
        return os.strerror(errno.EISDIR).lower()
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return os.strerror(errno.ENOENT).lower()
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        return os.strerror(errno.EACCES).lower()
    return None


class OneLineUsage(usage.Options):
    """First base of a plugin's ``Options``: one line instead of twistd's help wall."""

    #: Whether twistd will daemonize (no ``-n``); read by ``twistd_cli``.
    twistd_daemon = False

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        try:
            super().parseOptions(options)  # type: ignore[no-untyped-call]
        except usage.UsageError as exc:
            if self.parent is None:
                raise
            _leave(f"{_program(self)}: {one_line(str(exc))}; {HINT}", 2, sys.stderr)
        if self.parent is not None:
            # A daemon's stderr is /dev/null and twistd's parent process waits for the
            # child to report through a pipe, which only an exception does (StartupGuard).
            self.twistd_daemon = "nodaemon" in self.parent and not self.parent["nodaemon"]
        if self.parent is not None and (why := access_log_problem(self.get("access-log"))):
            _leave(f"{_program(self)}: cannot open --access-log {self['access-log']}: {why}",
                   1, sys.stderr)


def _leave(line: str, status: int, stream: TextIO | None) -> NoReturn:
    if stream is not None:
        stream.write(line + "\n")
        stream.flush()
    raise SystemExit(status)


class _ListenFailed(Exception):
    """A listener's failure, with the endpoint description the user gave."""

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__(where, error)
        self.where = where
        self.error = error


@implementer(IStreamServerEndpoint)
class _Named:
    """An endpoint whose listen failure says which description it was."""

    def __init__(self, inner: IStreamServerEndpoint, where: str) -> None:
        self.inner = inner
        self.where = where

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        def name(failure: Failure) -> Failure:
            error = failure.value if failure.value is not None else failure
            return Failure(_ListenFailed(self.where, error))

        return self.inner.listen(factory).addErrback(name)


def _listeners(top: service.IService) -> list[StreamServerEndpointService]:
    if isinstance(top, StreamServerEndpointService):
        return [top]
    if isinstance(top, service.MultiService):
        return [leaf for child in top for leaf in _listeners(child)]
    return []


class StartupGuard(service.MultiService):
    """Holds the plugin's service tree; a failing start becomes one line and exit 1."""

    def __init__(
        self, top: service.IService, descriptions: Sequence[str], plugin: str,
        *, daemon: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        top.setServiceParent(self)
        self.descriptions = list(descriptions)
        self.plugin = plugin
        self.daemon = daemon

    def privilegedStartService(self) -> None:
        listeners = _listeners(self)
        if len(listeners) == len(self.descriptions):  # else: name from the error
            for svc, where in zip(listeners, self.descriptions, strict=True):
                if not isinstance(svc.endpoint, _Named):
                    svc.endpoint = _Named(svc.endpoint, where)
        self._guarded(super().privilegedStartService)

    def startService(self) -> None:
        # twistd calls this before the reactor runs too; the --workers supervisor
        # opens its sockets here.
        self._guarded(super().startService)

    def _guarded(self, start: Callable[[], object]) -> None:
        try:
            start()
        except _ListenFailed as failed:
            self._fail(listen_message(failed.where, failed.error))
        except CannotListenError as exc:  # a listener we could not name in advance
            self._fail(listen_message(f"{exc.interface or '*'}:{exc.port}", exc))
        except Exception as exc:  # OverflowError, OSError ... from a listener or a service
            self._fail(f"cannot start: {reason(exc)}")

    def _fail(self, text: str) -> NoReturn:
        program = _command(self.plugin)
        log.critical("{program}: {text}", program=program, text=text)
        if self.daemon:
            # twistd's parent process reads the child's status pipe, and only an
            # exception writes to it (SystemExit would leave the parent waiting for
            # ever): it prints "An error has occurred: b'StartupFailed: ...'" and exits 1.
            raise StartupFailed(f"{program}: {text}") from None
        # twistd has pointed sys.stderr at the log by now; the user's terminal is the
        # original stream (None when Python started without one).
        _leave(f"{program}: {text}", 1, sys.__stderr__)


class StartupFailed(Exception):
    """A daemon's startup failure, for twistd's parent process to print."""


def guard_startup(
    top: service.IService, descriptions: Sequence[str], plugin: str, *, daemon: bool = False
) -> StartupGuard:
    """``top`` inside a ``StartupGuard``; ``descriptions`` in listener order."""
    return StartupGuard(top, descriptions, plugin, daemon=daemon)
