"""twisted-netlab's own HTTP/1.1 client for upstreams (used by the reverse proxy).

Modules, one concept each: ``message`` (values and roles), ``errors`` (typed
failures), ``reader`` (httptools parsing + the RFC 9112 framing rule, no Twisted),
``connection`` (one keep-alive connection), ``exchange`` (one request/response: state,
timeouts, retry, flow control), ``pool`` (connections per upstream, sized by load),
``deadlines`` (one timeout sweep), ``bodies`` (request body sources), ``endpoints``
(TCP/TLS), ``client`` (the entry point).
"""

from twisted_netlab.upstream.client import ClientConfig, UpstreamClient
from twisted_netlab.upstream.errors import UpstreamError
from twisted_netlab.upstream.exchange import Exchange
from twisted_netlab.upstream.message import (
    BodySink,
    BodySource,
    Origin,
    ResponseHandler,
    ResponseHead,
    UpstreamRequest,
)

__all__ = [
    "BodySink",
    "BodySource",
    "ClientConfig",
    "Exchange",
    "Origin",
    "ResponseHandler",
    "ResponseHead",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamRequest",
]
