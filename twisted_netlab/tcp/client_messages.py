"""What ``netlab-client`` tells the user: one-line reasons, plurals, framing hints.

Pure functions (no reactor, no I/O) so each message is tested exactly.
"""

from __future__ import annotations

from twisted.internet import error as ierror

from twisted_netlab.framing import LAYOUTS, DecodeError, Decoder

__all__ = ["connect_error", "framing_hint", "plural"]


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def framing_hint(framing: str, received: bytes) -> str:
    """Say what came back and which other framings would parse it into whole frames."""
    others = [name for name in LAYOUTS if name != framing]
    if not received:
        return (
            f"nothing came back; the server may use another framing (this client sent "
            f"{framing} frames; try --framing {', '.join(others)})"
        )
    fits = []
    for name in others:
        if LAYOUTS[name].header is None:
            continue
        decoder = Decoder(name, max_frame=None)
        try:
            frames = decoder.feed(received)
        except DecodeError:
            continue
        if frames and not decoder.pending:
            fits.append(name)
    head = received[:8].hex(" ")
    seen = f"{plural(len(received), 'byte')} came back (starting {head})"
    if fits:
        return (
            f"{seen} that do not complete a {framing} frame but parse as whole "
            f"{' or '.join(fits)} frames: the server probably uses --framing {fits[0]}"
        )
    return f"{seen} that do not complete a {framing} frame; the server may use another framing"


def connect_error(
    exc: ierror.ConnectError | ierror.DNSLookupError, endpoint: str, target: tuple[str, int] | None
) -> str:
    """One line for a failed connect, without Python or Twisted internals."""
    where = f"{target[0]}:{target[1]}" if target else endpoint
    if isinstance(exc, ierror.DNSLookupError):
        return f"cannot resolve host {target[0] if target else endpoint!r}"
    if isinstance(exc, ierror.ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused (is the server running?)"
    if isinstance(exc, ierror.TimeoutError):
        return f"cannot connect to {where}: no answer to the connection attempt"
    reason = exc.osError if getattr(exc, "osError", None) else exc.__class__.__name__
    return f"cannot connect to {where}: {reason}"
