"""The words of a startup failure: exception -> the short reason a user reads.

Pure (no reactor, no output), shared by the short commands (``cli.py``) and the twistd
plugins (``twistd_errors.py``) so that both say ``cannot listen on tcp:8080: address
already in use`` in the same words, never a Python repr or a chained traceback.
"""

from __future__ import annotations

import re

from twisted.internet.error import CannotListenError

__all__ = ["HINT", "endpoint_problem", "listen_message", "one_line", "reason"]

#: The second half of every usage error.
HINT = "run with --help for the options"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def reason(exc: BaseException) -> str:
    """Why ``exc`` happened, as the operating system says it, lower case, no final dot.

    ``CannotListenError`` wraps the socket error (``[Errno 98] Address already in
    use``): only its ``strerror`` is kept.  Same words as ``cli.py``'s ``_reason``
    (its tests pin them), so the short commands can import this one.
    """
    if isinstance(exc, CannotListenError):
        inner = exc.socketError
        text = getattr(inner, "strerror", None) or str(inner)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    text = one_line(text).rstrip(".")
    # "Address already in use" -> "address already in use"; leave "IPv6 ..." alone.
    return text.lower() if text[:1].isupper() and text[1:2].islower() else text


def listen_message(where: str, exc: BaseException) -> str:
    """``cannot listen on WHERE: REASON`` for a listener that failed to open."""
    return f"cannot listen on {where}: {reason(exc)}"


def endpoint_problem(exc: BaseException) -> str:
    """What is wrong with an endpoint description, from the parser's exception.

    Twisted's ``serverFromString`` reports problems as Python sees them (``invalid
    literal for int() with base 10``, ``_parseTCP() got an unexpected keyword
    argument``); the user should read which part of the description is wrong.
    The same rules as ``cli.check_endpoint``.
    """
    text = str(exc)
    if m := re.search(r"invalid literal for int\(\) with base 10: '(.*)'", text):
        return f"{m.group(1)!r} is not a number" if m.group(1) else "a number is missing"
    if m := re.search(r"unexpected keyword argument '(.*)'", text):
        return f"unknown parameter {m.group(1)!r}"
    if m := re.search(r"missing \d+ required positional argument: '(.*)'", text):
        return f"the {m.group(1)} is missing"
    if m := re.search(r"Unknown endpoint type: '(.*)'", text):
        return (f"unknown endpoint type {m.group(1)!r} "
                "(give tcp:PORT, tcp6:PORT, unix:PATH, ssl:PORT:...)")
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot read {exc.filename}: {reason(exc)}"
    return one_line(text) or "not a valid endpoint"
