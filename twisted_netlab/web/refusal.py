"""One shape for every refusal netlab-web writes itself: a short plain-text answer.

A refused request (a bad path, a bad Host, a method a mount does not forward) gets its
status, ``text/plain``, ``nosniff`` and ``no-store`` (a cache must not hand a refusal to
a request that would pass), and a body of one line: ``400 Bad Request: <reason>``. The
reason comes from our own rule modules, which word it for people (no Python reprs).
"""

from __future__ import annotations

from twisted.web import http
from twisted.web.iweb import IRequest

__all__ = ["refusal_body", "refuse"]


def refusal_body(status: int, reason: str) -> bytes:
    """``403 Forbidden: reason`` plus a newline, UTF-8."""
    phrase = http.RESPONSES.get(status, b"Error").decode("latin-1")
    return f"{status} {phrase}: {reason}\n".encode("utf-8", "replace")


def refuse(request: IRequest, status: int, reason: str) -> bytes:
    """Set the refusal's status and headers on ``request``; return its body."""
    request.setResponseCode(status)
    headers = request.responseHeaders
    for name in (b"content-encoding", b"content-length", b"content-range", b"etag",
                 b"last-modified"):
        headers.removeHeader(name)
    headers.setRawHeaders(b"content-type", [b"text/plain; charset=utf-8"])
    headers.setRawHeaders(b"x-content-type-options", [b"nosniff"])
    headers.setRawHeaders(b"cache-control", [b"no-store"])
    body = refusal_body(status, reason)
    if request.method == b"HEAD":
        headers.setRawHeaders(b"content-length", [b"%d" % len(body)])
        return b""
    return body
