"""Forward a 1xx to the client: the smallest extension of twisted.web that does it.

twisted.web writes exactly one response head per request and has no interim-response
API. On HTTP/1.1 a 1xx is a complete head written before the final one, so writing it
straight to the channel's transport is correct as long as no byte of the final
response has gone out (``startedWriting``) and the request is the one the channel is
answering (twisted.web answers pipelined requests one at a time, in order). HTTP/1.0
clients never get a 1xx (RFC 9110 15.2); HTTP/2 streams are skipped (their channel is
not an ``HTTPChannel``; H2 would need a HEADERS frame).
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.web.http import HTTPChannel
from twisted.web.iweb import IRequest

from twisted_netlab.http.interim import Pair, interim_head


def send_interim(
    request: IRequest,
    status: int,
    reason: bytes,
    headers: Iterable[Pair],
    version: bytes | None = None,
) -> bool:
    """Write a 1xx head before the final response; False when it cannot be sent.

    ``version``: the client's HTTP version when the request is not rendered yet (a
    streamed upload's call runs from the head on; twisted.web sets ``clientproto``
    only at render).
    """
    if version is None:
        version = getattr(request, "clientproto", None)
    if version != b"HTTP/1.1":
        return False
    if getattr(request, "startedWriting", True) or getattr(request, "finished", True):
        return False
    channel = getattr(request, "channel", None)
    if not isinstance(channel, HTTPChannel) or channel.transport is None:
        return False
    channel.transport.write(interim_head(status, reason, headers))
    return True
