"""What the twistd plugin entries point at: each plugin's ``Options`` and a
``makeService`` whose tree sits inside a ``StartupGuard``.

Why not guard inside the ``tap`` modules' ``makeService``: the short commands
(``cli.py``), the workers and the tests call those and look at the tree they return;
the guard is only for twistd, which starts the tree itself (``privilegedStartService``
before the reactor runs) and would print a traceback for a listener that cannot open.
``ServiceMaker`` resolves its module string with ``namedAny``, so an attribute path
(``twisted_netlab.twistd_cli.web``) names one of the entries below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application import service

from twisted_netlab import tap as netlab_tap
from twisted_netlab.tcp import tap as tcp_tap
from twisted_netlab.twistd_errors import guard_startup
from twisted_netlab.web import tap as web_tap

__all__ = ["netlab", "tcp", "web"]


class _Entry:
    """A plugin's ``Options`` class and a guarded ``makeService``."""

    def __init__(
        self,
        plugin: str,
        options: type[Any],
        make: Callable[[Any], service.IService],
        ports: Callable[[Any], list[str]],
    ) -> None:
        self.Options = options  # the name ServiceMaker.options looks up
        self._plugin = plugin
        self._make = make
        self._ports = ports

    def makeService(self, options: Any) -> service.IService:
        """The plugin's tree inside a guard that names the listener that failed."""
        daemon = bool(getattr(options, "twistd_daemon", False))
        # --metrics ENDPOINT: its listener comes after the plugin's (scale.finish_service)
        metrics = getattr(options.get("scale"), "metrics", None)
        ports = [*self._ports(options), *([metrics] if metrics else [])]
        return guard_startup(self._make(options), ports, self._plugin, daemon=daemon)


web = _Entry("netlab-web", web_tap.Options, web_tap.makeService, lambda o: list(o["ports"]))
tcp = _Entry("netlab-tcp", tcp_tap.Options, tcp_tap.makeService, lambda o: list(o["ports"]))
# netlab's makeService adds the echo listeners first, then the web ones.
netlab = _Entry(
    "netlab",
    netlab_tap.Options,
    netlab_tap.makeService,
    lambda o: [*o["tcp-ports"], *o["web-ports"]],
)
