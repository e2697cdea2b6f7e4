# mypy: disallow-untyped-calls=False
"""The default listen backlog (511, as nginx) and its override."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_netlab.endpoints import with_default_backlog


class BacklogTests(SynchronousTestCase):
    def test_tcp_gets_511(self) -> None:
        self.assertEqual(with_default_backlog("tcp:8080:interface=127.0.0.1"),
                         "tcp:8080:interface=127.0.0.1:backlog=511")
        self.assertEqual(with_default_backlog("tcp6:0"), "tcp6:0:backlog=511")

    def test_explicit_backlog_wins(self) -> None:
        self.assertEqual(with_default_backlog("tcp:8080:backlog=64"), "tcp:8080:backlog=64")
        self.assertEqual(
            with_default_backlog("tcp:port=8080:backlog=64"), "tcp:port=8080:backlog=64"
        )

    def test_other_endpoints_unchanged(self) -> None:
        self.assertEqual(with_default_backlog("unix:/tmp/x.sock"), "unix:/tmp/x.sock")
        self.assertEqual(with_default_backlog("ssl:443"), "ssl:443")
