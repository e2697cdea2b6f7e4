"""The site's body opener: proxy uploads are streamed, every other body is spooled.

``LimitedSite`` calls the opener when a request head is in (after its early 405/413
checks). The routing is ``MountRoot``'s own (``mounts.routable``, ``target_segments``,
``pick_mount`` over the same mount list), so the call that starts here is the one the
router later renders; a request the router would refuse (bad target form, bad Host)
or the mount would refuse (``ProxyResource.plan``) is left to be spooled and refused
at render as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.web.server import Request

from twisted_netlab.http.host import BadHostError, check_host_fields
from twisted_netlab.web.bodystream import BodyStream
from twisted_netlab.web.channel import LimitedChannel
from twisted_netlab.web.connections import BodyOpener
from twisted_netlab.web.mounts import Mount, pick_mount, routable, target_segments
from twisted_netlab.web.proxy.resource import ProxyResource


def proxy_body_opener(mounts: Sequence[Mount]) -> BodyOpener:
    """An opener for ``mounts`` (sorted longest prefix first, as ``MountRoot.mounts``)."""

    def open_body(request: Request, length: int | None) -> BodyStream | None:
        if length == 0:
            return None
        channel = request.channel
        if not isinstance(channel, LimitedChannel):
            return None
        method, target, version = channel.method, channel.target, channel.version
        if not routable(method, target):
            return None
        mount = pick_mount(mounts, target_segments(target))
        if mount is None or not isinstance(mount[1], ProxyResource):
            return None
        try:
            check_host_fields(request.requestHeaders.getRawHeaders(b"host"), version)
        except BadHostError:
            return None
        return mount[1].open_upload(request, channel, method, target, version, length)

    return open_body
