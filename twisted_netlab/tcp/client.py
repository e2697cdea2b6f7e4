"""``netlab-client``: send messages to a framed echo and print the replies.

The library part, ``exchange``, is what tests and other code call; ``main`` is the CLI
around it.  With ``--burst`` every message is written at once, as the course client
does: against ``--framing none`` the reads show the writes merged (sticky packets),
with a framing the frames come back separated whatever the reads looked like.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from twisted.internet import error as ierror
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from twisted_netlab.errors import NetlabError
from twisted_netlab.framing import LAYOUTS, DecodeError, Decoder, Encoder, Frame

DEFAULT_ENDPOINT = "tcp:127.0.0.1:9000"

ReadCallback = Callable[[int, bytes, list[Frame]], None]


class ClientError(NetlabError):
    """Why an exchange failed, in one line for the user."""


@dataclass
class ExchangeResult:
    replies: list[Frame] = field(default_factory=list)
    reads: list[bytes] = field(default_factory=list)


class _ExchangeProtocol(Protocol):
    def __init__(
        self, messages: list[bytes], framing: str, burst: bool, on_read: ReadCallback | None
    ) -> None:
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
        self.transport.write(frame)

    def dataReceived(self, data: bytes) -> None:
        if self.finished:
            return
        self.result.reads.append(data)
        self.received_bytes += len(data)
        try:
            frames = self.decoder.feed(data)
        except DecodeError as exc:
            self._fail(ClientError(f"bad reply from server: {exc}"))
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

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.finished:
            got = (
                f"{len(self.result.replies)} of {len(self.frames)} replies"
                if self.framed
                else f"{self.received_bytes} of {self.total_bytes} bytes"
            )
            self.finished = True
            self.done.errback(ClientError(f"server closed the connection after {got}"))

    def _finish(self) -> None:
        self.finished = True
        self.transport.loseConnection()
        self.done.callback(self.result)

    def _fail(self, exc: ClientError) -> None:
        self.finished = True
        self.transport.abortConnection()
        self.done.errback(exc)

    def _cancel(self, d: Deferred[ExchangeResult]) -> None:
        self.finished = True
        self.transport.abortConnection()


async def _exchange(
    reactor: IReactorCore,
    endpoint: str,
    messages: list[bytes],
    framing: str,
    burst: bool,
    on_read: ReadCallback | None,
) -> ExchangeResult:
    try:
        ep = clientFromString(reactor, endpoint)
    except Exception as exc:  # the parser raises ValueError, KeyError, TypeError, ...
        raise ClientError(f"invalid endpoint {endpoint!r}: {exc}") from exc
    factory = Factory.forProtocol(lambda: _ExchangeProtocol(messages, framing, burst, on_read))
    try:
        proto = await ep.connect(factory)
    except ierror.ConnectError as exc:
        raise ClientError(f"cannot connect to {endpoint}: {exc}") from exc
    return await proto.done


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
    if framing not in LAYOUTS:
        raise ClientError(f"unknown framing {framing!r}; choose one of {', '.join(LAYOUTS)}")
    d = Deferred.fromCoroutine(
        _exchange(reactor, endpoint, list(messages), framing, burst, on_read)
    )
    d.addTimeout(timeout, reactor)
    try:
        return await d
    except (TimeoutError, CancelledError) as exc:
        raise ClientError(f"timed out after {timeout:g}s waiting for {endpoint}") from exc


def _text(body: bytes) -> str:
    return body.decode("utf-8", "backslashreplace")


def read_printer(framed: bool) -> ReadCallback:
    """Print each read, so merged writes (or separated frames) are visible."""

    def show(index: int, data: bytes, frames: list[Frame]) -> None:
        if framed:
            print(f"read {index}: {len(data)} bytes, {len(frames)} complete frame(s)")
            for serial, body in frames:
                print(f"  reply serial {serial}: {_text(body)}")
        else:
            print(f"read {index}: {len(data)} bytes: {_text(data)}")

    return show


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser.add_argument("-t", "--timeout", type=float, default=10.0,
                        help="give up after this many seconds (default 10)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return int(exc.code or 0)
    if args.timeout <= 0:
        print("netlab-client: --timeout must be > 0", file=sys.stderr)
        return 2
    texts = args.messages if args.messages else [line.rstrip("\r\n") for line in sys.stdin]
    framed = LAYOUTS[args.framing].header is not None
    messages = [t.encode() for t in texts if framed or t]
    status = [0]

    async def run(reactor: IReactorTime) -> None:
        result = await exchange(
            reactor, args.endpoint, messages, framing=args.framing,
            burst=args.burst, timeout=args.timeout, on_read=read_printer(framed),
        )
        if framed:
            print(f"{len(result.replies)} replies in {len(result.reads)} read(s)")
        else:
            print(f"{sum(map(len, result.reads))} bytes in {len(result.reads)} read(s)")

    from twisted.internet import task

    def start(reactor: IReactorTime) -> Deferred[None]:
        d = Deferred.fromCoroutine(run(reactor))

        def report(failure: Failure) -> None:
            failure.trap(ClientError)
            print(f"netlab-client: {failure.value}", file=sys.stderr)
            status[0] = 1

        return d.addErrback(report)

    try:
        task.react(start)
    except SystemExit as exc:  # react always exits; keep our own status
        return status[0] or int(exc.code or 0)
    return status[0]


if __name__ == "__main__":
    sys.exit(main())
