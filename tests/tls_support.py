"""A real netlab-web over TLS on 127.0.0.1:0, driven by curl (HTTPS and HTTP/2 tests)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.protocols.policies import WrappingFactory
from twisted.trial.unittest import SkipTest, TestCase


def client_env() -> dict[str, str]:
    """The environment minus proxy settings, which would send loopback requests away."""
    return {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise SkipTest(f"{program} not installed")
    return path


async def close_server(reactor: Any, port: Any, wrapper: WrappingFactory) -> None:
    """Stop listening, give finished clients' sockets a bounded moment, abort the rest."""
    await port.stopListening()
    for _ in range(100):  # the clients have exited: let their sockets close
        if not wrapper.protocols:
            break
        await deferLater(reactor, 0.02, lambda: None)
    for proto in list(wrapper.protocols):
        proto.transport.abortConnection()
    await deferLater(reactor, 0, lambda: None)


class TLSServerCase(TestCase):
    """``serve(argv)`` starts netlab-web with ``--tls`` options over ``self.root``."""

    timeout = 60

    def setUp(self) -> None:
        from twisted.internet import reactor

        self.reactor: Any = reactor
        self.root = Path(self.mktemp()).resolve()
        self.root.mkdir(parents=True)
        # The self-signed certificate goes to a private data folder, never the user's.
        self.data_home = Path(self.mktemp()).resolve()
        self.patch(os, "environ", {**os.environ, "XDG_DATA_HOME": str(self.data_home)})
        self.port: Any = None

    def serve(self, argv: list[str]) -> Any:
        from twisted_netlab.web.site import build_site
        from twisted_netlab.web.tap import Options

        options = Options()
        options.parseOptions(["--path", str(self.root), *argv])
        from twisted_netlab.tls_options import secure_factory

        site = build_site(options.web_config, self.reactor)
        self.options = options
        self.wrapper = WrappingFactory(secure_factory(site, options["tls-config"]))
        self.port = self.reactor.listenTCP(0, self.wrapper, interface="127.0.0.1")
        self.addCleanup(close_server, self.reactor, self.port, self.wrapper)
        return options

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port.getHost().port}{path}"

    @property
    def cafile(self) -> str:
        return str(self.options["tls-config"].material.cert_path)

    async def curl(self, args: list[str]) -> tuple[str, str, int]:
        curl = require("curl")
        d: Deferred[tuple[bytes, bytes, int]] = getProcessOutputAndValue(
            curl,
            ["--silent", "--show-error", "--max-time", "20", "--cacert", self.cafile, *args],
            env=client_env(),
            reactor=self.reactor,
        )
        out, err, code = await d
        return out.decode("latin-1"), err.decode(errors="replace"), code
