"""``netlab-client``: send messages to a framed echo and print the replies.

The library part, ``exchange``, is what tests and other code call; ``main`` is the CLI
around it.  With ``--burst`` every message is written at once, as the course client
does: against ``--framing none`` the reads show the writes merged (sticky packets),
with a framing the frames come back separated whatever the reads looked like.

Every failure is one line on stderr and an exit code: 2 for a usage error (a bad
option or endpoint, a message the framing cannot carry), 1 for a runtime failure (the
host does not resolve, the connection is refused, no reply in time).  A reply that never
completes is the usual sign of a framing mismatch, so the timeout message says what
came back and which framings would have parsed it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn, TextIO, cast
from typing import Protocol as Interface

from twisted.internet import error as ierror
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from twisted_netlab.errors import NetlabError
from twisted_netlab.framing import LAYOUTS, DecodeError, Decoder, Encoder, Frame
from twisted_netlab.tcp.client_messages import connect_error, framing_hint, plural
from twisted_netlab.tcp.endpoint_check import check_client_endpoint

__all__ = [
    "ClientError",
    "ExchangeResult",
    "UsageError",
    "exchange",
    "main",
    "parse_command_line",
    "run",
]

DEFAULT_ENDPOINT = "tcp:127.0.0.1:9000"

ReadCallback = Callable[[int, bytes, list[Frame]], None]


class ClientError(NetlabError):
    """Why an exchange failed, in one line for the user (exit code 1)."""


class UsageError(ClientError):
    """A bad command line (exit code 2)."""


class _Transport(Interface):
    def write(self, data: bytes) -> None: ...
    def loseConnection(self) -> None: ...
    def abortConnection(self) -> None: ...


@dataclass
class ExchangeResult:
    replies: list[Frame] = field(default_factory=list)
    reads: list[bytes] = field(default_factory=list)


class _ExchangeProtocol(Protocol):
    def __init__(
        self, messages: list[bytes], framing: str, burst: bool, on_read: ReadCallback | None
    ) -> None:
        self.framing = framing
        self.framed = LAYOUTS[framing].header is not None
        self.encoder = Encoder(framing)
        self.decoder = Decoder(framing, max_frame=None)
        self.frames = [self.encoder.encode(m) for m in messages]
        self.total_bytes = sum(map(len, self.frames))  # what an unframed echo returns
        self.burst = burst
        self.on_read = on_read
        self.result = ExchangeResult()
        self.sent = 0
        self.sent_bytes = 0
        self.received_bytes = 0
        self.finished = False
        self.done: Deferred[ExchangeResult] = Deferred(self._cancel)

    def connectionMade(self) -> None:
        self._transport = cast(_Transport, self.transport)
        if not self.frames:
            self._finish()
        elif self.burst:
            for frame in self.frames:  # separate writes, like the course's client
                self._send(frame)
        else:
            self._send(self.frames[0])

    def _send(self, frame: bytes) -> None:
        self.sent += 1
        self.sent_bytes += len(frame)
        self._transport.write(frame)

    def dataReceived(self, data: bytes) -> None:
        if self.finished:
            return
        self.result.reads.append(data)
        self.received_bytes += len(data)
        try:
            frames = self.decoder.feed(data)
        except DecodeError as exc:
            hint = framing_hint(self.framing, b"".join(self.result.reads))
            self._fail(ClientError(f"bad reply from server: {exc}; {hint}"))
            return
        if self.framed:
            self.result.replies.extend(frames)
        if self.on_read is not None:
            self.on_read(len(self.result.reads), data, frames if self.framed else [])
        if self.framed:
            answered = len(self.result.replies) >= self.sent
            complete = len(self.result.replies) >= len(self.frames)
        else:  # an echo gives back as many bytes as it got
            answered = self.received_bytes >= self.sent_bytes
            complete = self.received_bytes >= self.total_bytes
        if complete:
            if not self.framed:
                self.result.replies = [(None, b"".join(self.result.reads))]
            self._finish()
        elif answered and not self.burst:
            self._send(self.frames[self.sent])

    def progress(self) -> str:
        if self.framed:
            return f"{len(self.result.replies)} of {plural(len(self.frames), 'reply', 'replies')}"
        return f"{self.received_bytes} of {plural(self.total_bytes, 'byte')}"

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.finished:
            self.finished = True
            self.done.errback(
                ClientError(f"server closed the connection after {self.progress()}")
            )

    def _finish(self) -> None:
        self.finished = True
        self._transport.loseConnection()
        self.done.callback(self.result)

    def _fail(self, exc: ClientError) -> None:
        self.finished = True
        self._transport.abortConnection()
        self.done.errback(exc)

    def _cancel(self, d: Deferred[ExchangeResult]) -> None:
        self.finished = True
        self._transport.abortConnection()


async def _exchange(
    reactor: IReactorTime,
    endpoint: str,
    messages: list[bytes],
    framing: str,
    burst: bool,
    on_read: ReadCallback | None,
    started: list[_ExchangeProtocol],
) -> ExchangeResult:
    target = check_client_endpoint(endpoint, UsageError)
    try:
        ep = clientFromString(reactor, endpoint)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"invalid endpoint {endpoint!r}") from exc

    def build() -> _ExchangeProtocol:
        proto = _ExchangeProtocol(messages, framing, burst, on_read)
        started.append(proto)
        return proto

    try:
        proto = await ep.connect(Factory.forProtocol(build))
    except (ierror.ConnectError, ierror.DNSLookupError) as exc:
        raise ClientError(connect_error(exc, endpoint, target)) from exc
    return cast(ExchangeResult, await proto.done)


def check_messages(messages: Sequence[bytes], framing: str) -> None:
    if framing not in LAYOUTS:
        raise UsageError(f"unknown framing {framing!r}; choose one of {', '.join(LAYOUTS)}")
    layout = LAYOUTS[framing]
    if layout.header is None:
        return
    for index, message in enumerate(messages, 1):
        if len(message) > layout.length_max:
            which = "message" if len(messages) == 1 else f"message {index}"
            raise UsageError(
                f"{which} is {len(message)} bytes; the {framing} framing carries at most "
                f"{layout.length_max} (use --framing wide)"
            )


async def exchange(
    reactor: IReactorTime,
    endpoint: str,
    messages: Sequence[bytes],
    *,
    framing: str = "seed",
    burst: bool = False,
    timeout: float = 10.0,
    on_read: ReadCallback | None = None,
) -> ExchangeResult:
    """Send ``messages``, collect every echo; raise ``ClientError`` with a clear reason."""
    check_messages(messages, framing)
    started: list[_ExchangeProtocol] = []
    d = Deferred.fromCoroutine(
        _exchange(reactor, endpoint, list(messages), framing, burst, on_read, started)
    )
    d.addTimeout(timeout, reactor)
    try:
        return await d
    except (TimeoutError, CancelledError) as exc:
        if not started:
            raise ClientError(f"timed out after {timeout:g}s connecting to {endpoint}") from exc
        proto = started[0]
        received = b"".join(proto.result.reads)
        message = f"timed out after {timeout:g}s with {proto.progress()} from {endpoint}"
        if proto.framed:
            pending = received[len(received) - proto.decoder.pending :]
            message += "; " + framing_hint(framing, pending if proto.result.replies else received)
        raise ClientError(message) from exc


def _text(body: bytes) -> str:
    return body.decode("utf-8", "backslashreplace")


def read_printer(framed: bool, out: TextIO) -> ReadCallback:
    """Print each read, so merged writes (or separated frames) are visible."""

    def show(index: int, data: bytes, frames: list[Frame]) -> None:
        if framed:
            print(f"read {index}: {plural(len(data), 'byte')}, "
                  f"{plural(len(frames), 'complete frame')}", file=out)
            for serial, body in frames:
                label = "reply" if serial is None else f"reply serial {serial}"
                print(f"  {label}: {_text(body)}", file=out)
        else:
            print(f"read {index}: {plural(len(data), 'byte')}: {_text(data)}", file=out)

    return show


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage wall
        raise UsageError(message)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="netlab-client",
        description="Send messages to a netlab-tcp echo and print each reply.",
    )
    parser.add_argument("messages", nargs="*", help="messages to send (default: stdin lines)")
    parser.add_argument("-e", "--endpoint", default=DEFAULT_ENDPOINT,
                        help=f"client endpoint string (default {DEFAULT_ENDPOINT})")
    parser.add_argument("-f", "--framing", default="seed", choices=list(LAYOUTS),
                        help="header layout; must match the server's (default seed)")
    parser.add_argument("-b", "--burst", action="store_true",
                        help="write every message at once (the sticky-packet demo)")
    parser.add_argument("-t", "--timeout", type=_seconds, default=10.0,
                        help="give up after this many seconds (default 10)")
    return parser


@dataclass(frozen=True)
class Request:
    """A validated command line."""

    endpoint: str
    framing: str
    burst: bool
    timeout: float
    messages: tuple[bytes, ...]


def parse_command_line(argv: Sequence[str] | None, stdin: TextIO) -> Request:
    """Raise ``UsageError`` (one line) for anything wrong before connecting."""
    args = build_parser().parse_args(argv)
    texts = args.messages if args.messages else [line.rstrip("\r\n") for line in stdin]
    framed = LAYOUTS[args.framing].header is not None
    messages = tuple(t.encode() for t in texts if framed or t)
    check_messages(messages, args.framing)
    check_client_endpoint(args.endpoint, UsageError)
    return Request(args.endpoint, args.framing, args.burst, args.timeout, messages)


async def run(reactor: IReactorTime, request: Request, out: TextIO, err: TextIO) -> int:
    """The exchange with printing; returns the exit code (errors: one line on ``err``)."""
    framed = LAYOUTS[request.framing].header is not None
    try:
        result = await exchange(
            reactor, request.endpoint, request.messages, framing=request.framing,
            burst=request.burst, timeout=request.timeout, on_read=read_printer(framed, out),
        )
    except UsageError as exc:
        print(f"netlab-client: {exc}", file=err)
        return 2
    except ClientError as exc:
        print(f"netlab-client: {exc}", file=err)
        return 1
    reads = plural(len(result.reads), "read")
    if framed:
        print(f"{plural(len(result.replies), 'reply', 'replies')} in {reads}", file=out)
    else:
        print(f"{plural(sum(map(len, result.reads)), 'byte')} in {reads}", file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        request = parse_command_line(argv, sys.stdin)
    except UsageError as exc:
        print(f"netlab-client: {exc} (run with --help for the options)", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    from twisted.internet import task

    status = [1]

    async def go(reactor: IReactorTime) -> None:
        try:
            status[0] = await run(reactor, request, sys.stdout, sys.stderr)
        except Exception as exc:  # a bug or an unforeseen failure: still one line
            print(f"netlab-client: unexpected {exc.__class__.__name__}: {exc}", file=sys.stderr)

    with contextlib.suppress(SystemExit):  # react always exits; keep our own status
        task.react(lambda reactor: Deferred.fromCoroutine(go(reactor)))
    return status[0]


if __name__ == "__main__":
    sys.exit(main())
