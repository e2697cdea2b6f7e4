"""A complete HTTP/1.1 answer as bytes, for when there is no Request to answer through.

The channel's refusals (408, 413, 414, 431, early 405) happen before or without a
resource, and the site's 503 at the connection cap before a channel parses anything:
both write these bytes straight to the transport and close.  Tests compare what a
client received with the same bytes, so they are built in one place.
"""

from __future__ import annotations

from twisted.web.http import RESPONSES

__all__ = ["plain_response"]


def plain_response(code: int, message: str, extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A complete ``Connection: close`` answer written without a Request object."""
    body = message.encode("utf-8") + b"\n"
    lines = [
        b"HTTP/1.1 %d %s" % (code, RESPONSES.get(code, b"Error")),
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Length: %d" % len(body),
        b"Connection: close",
        *(name + b": " + value for name, value in extra),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
