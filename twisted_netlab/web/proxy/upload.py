"""A request body streamed to the upstream as it arrives: the channel's side of it.

twisted.web spools a whole request body before the resource renders. For a proxy
mount the site's body opener (``opener.py``) starts the proxy call as soon as the
request head is in and hands the channel an ``UploadSink`` as ``request.content``:
each body chunk the channel reads is written into it and goes on through the call's
``StreamingBody`` to the upstream connection. Backpressure both ways: when the
upstream socket is full the ``StreamingBody`` pauses its client, which is this sink,
which stops reading the client socket (``pause_body_reads``).

Towards twisted.web the sink is an empty file: ``tell()`` is 0, so ``requestReceived``
neither reads it back nor parses forms (the bytes are upstream already).
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from twisted_netlab.upstream.streaming import StreamingBody


class BodyChannel(Protocol):
    """What the sink needs of the server channel (``web.channel.LimitedChannel``)."""

    def pause_body_reads(self) -> None: ...

    def resume_body_reads(self) -> None: ...

    def end_body_early(self) -> None: ...


class UploadCall(Protocol):
    """What the sink tells the proxy call it feeds."""

    def upload_failed(self, reason: str) -> None: ...


@implementer(IPushProducer)
class UploadSink:
    """``request.content`` of a streamed upload; the producer its ``StreamingBody``
    pauses. ``expect_continue``: the client sent ``Expect: 100-continue`` on HTTP/1.1
    and waits for the upstream's word before sending the body."""

    def __init__(
        self,
        channel: BodyChannel,
        length: int | None,
        *,
        expect_continue: bool = False,
        high_water: int = 256 * 1024,
    ) -> None:
        self.channel = channel
        self.body = StreamingBody(length, self, high_water)
        self.expect_continue = expect_continue
        self.call: UploadCall | None = None
        self.received = 0
        self.ended_early = False
        self._over = False

    # -- file-like, for the channel and twisted.web -------------------------------------

    def write(self, data: bytes) -> None:
        self.received += len(data)
        self.body.write(data)

    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        """Nothing to release: the bytes live in the ``StreamingBody`` until sent."""

    # -- endings ---------------------------------------------------------------------

    def complete(self) -> None:
        """The channel read the whole body (the request is being rendered)."""
        if not self._over and not self.ended_early:
            self._over = True
            self.body.finish()

    def end_early(self) -> None:
        """The answer came before the body ended: stop taking it; render now."""
        if self._over or self.ended_early:
            return
        self.ended_early = True
        self.body.stopProducing()
        self.channel.end_body_early()

    def fail(self, reason: str) -> None:
        """The channel refused the request mid-body (413, 408): the upstream
        request is abandoned, never completed with a short body."""
        if self._over:
            return
        self._over = True
        self.body.fail(reason)
        if self.call is not None:
            self.call.upload_failed(reason)

    # -- IPushProducer, for the StreamingBody ---------------------------------------------

    def pauseProducing(self) -> None:
        self.channel.pause_body_reads()

    def resumeProducing(self) -> None:
        self.channel.resume_body_reads()

    def stopProducing(self) -> None:
        """The upstream side has stopped; the channel keeps its own course."""
