# mypy: disallow-untyped-calls=False
"""Out of file descriptors: an honest 503, not "the file is changing"."""

from __future__ import annotations

import errno
import os

from tests.static_support import StaticTestCase
from twisted_netlab.web import filefacts

FD_MESSAGE = b"The server is out of file descriptors; retry shortly."


class OutOfDescriptorsTests(StaticTestCase):
    async def test_emfile_reading_a_small_file_is_503(self) -> None:
        self.file("small.txt", b"hello")

        def exhausted(path: str, *args: object, **kwargs: object) -> object:
            raise OSError(errno.EMFILE, "Too many open files", path)

        filefacts.open = exhausted  # type: ignore[attr-defined]  # shadows the builtin
        try:
            reply = await self.request("/small.txt")
        finally:
            del filefacts.open  # type: ignore[attr-defined]
        self.assertEqual(reply.code, 503)
        self.assertEqual(reply.header("retry-after"), "5")
        self.assertIn(FD_MESSAGE, reply.body)
        reply = await self.request("/small.txt")  # nothing was cached from the failure
        self.assertEqual((reply.code, reply.body), (200, b"hello"))

    async def test_enfile_opening_a_streamed_file_is_503(self) -> None:
        big = self.file("big.bin", b"x" * (8 << 20))
        real_open = os.open

        def exhausted(path: str, *args: int, **kwargs: int) -> int:
            if path == big:
                raise OSError(errno.ENFILE, "Too many open files in system", path)
            return real_open(path, *args, **kwargs)

        self.patch(os, "open", exhausted)
        reply = await self.request("/big.bin")
        self.assertEqual(reply.code, 503)
        self.assertIn(FD_MESSAGE, reply.body)
