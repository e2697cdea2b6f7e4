"""A response head from the upstream onto the twisted.web request: the relay rules
applied to its fields, then status, fields and our framing set on the request.

Split from ``call`` (the exchange's state machine) because the proxy cache relays
stored heads through the same two steps (``cache_head``), and because it is where the
per-response cost of the head lies: one pass over the upstream's fields
(``http.relay.relay_response_pairs``), one ``setRawHeaders`` per field kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from twisted.web.http import NO_BODY_CODES

from twisted_netlab.http.msgframing import Framing
from twisted_netlab.http.relay import relay_response_pairs
from twisted_netlab.web.proxy.role import CallHost
from twisted_netlab.web.vary import add_vary

__all__ = ["Relayed", "is_secure", "relay_fields", "send_head"]


Relayed = list[tuple[bytes, list[bytes]]]


def relay_fields(
    resource: CallHost, pairs: Iterable[tuple[bytes, bytes]], version: bytes, secure: bool
) -> Relayed:
    """The upstream's header fields as the client gets them: every relay rule applied
    (``http.relay.relay_response_pairs``: hop-by-hop and Connection-named fields,
    Via, Location rewriting, dev cookie rewriting, CORS dropping). Framing is ours to
    state, never the upstream's copy, so Content-Length is left out. A function of its
    arguments only: the cache works it out once per stored header section."""
    cookies = None
    if resource.cookie_rules is not None:
        cookies = resource.cookie_rules[secure]
    return relay_response_pairs(
        pairs,
        via=resource.via_for(version),
        rewrite_location=resource.mount.client_location,
        cookies=cookies,
        drop_cors=resource.drop_cors,
    )


def send_head(
    request: Any, status: int, reason: bytes, relayed: Relayed, framing: Framing
) -> None:
    """Status, relayed fields and our framing on ``request`` (nothing written yet)."""
    request.setResponseCode(status, reason or None)
    # No Content-Type that nobody chose: twisted.web would add text/html.
    request.defaultContentType = None
    # The upstream's fields replace ours (Date, Server); Vary is merged.
    target = request.responseHeaders
    set_raw = target.setRawHeaders
    for name, values in relayed:
        if name == b"vary":
            add_vary(request, *values)
        else:
            set_raw(name, values)
    if status not in NO_BODY_CODES and framing.length is not None:
        set_raw(b"content-length", [b"%d" % framing.length])


# Whether each client connection is TLS, asked once per connection: ``isSecure``
# walks an adapter lookup per call, and a connection does not change transport.
_SECURE: WeakKeyDictionary[Any, bool] = WeakKeyDictionary()


def is_secure(request: Any) -> bool:
    """``request.isSecure()``, remembered for its channel (the client connection)."""
    channel = request.channel
    if channel is None:  # the client is gone; twisted.web dropped the channel
        return bool(request.isSecure())
    secure = _SECURE.get(channel)
    if secure is None:
        secure = _SECURE[channel] = bool(request.isSecure())
    return secure
