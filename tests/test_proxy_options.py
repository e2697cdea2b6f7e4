"""``--proxy*`` options: parsing into a ``ProxyConfig`` and clean usage errors."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from tests.config_support import web_options
from twisted_netlab.web.config import ProxyConfig, ProxySettings
from twisted_netlab.web.proxy import ProxyResource, build_proxy_mounts


def parse(*args: str) -> ProxyConfig:
    return web_options(*args).web_config.proxy


class ProxyOptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        config = parse()
        self.assertEqual(config, ProxyConfig((), ProxySettings()))
        self.assertEqual(build_proxy_mounts(config, MemoryReactorClock()), [])
        s = config.settings
        self.assertEqual(
            (s.pool_size, s.connect_timeout, s.response_timeout, s.idle_timeout, s.dev),
            (32, 10.0, 60.0, 60.0, False),
        )

    def test_mounts_flags_and_config(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(
                '[[proxy]]\nprefix = "/conf"\nupstream = "http://127.0.0.1:7000"\n'
                "keep_prefix = false\n"
            )
        config = parse(
            "--proxy", "/api=http://127.0.0.1:9000/v1",
            "--proxy", "/b=https://example.test",
            "--proxy-keep-prefix", "--proxy-preserve-host", "--proxy-dev",
            "--proxy-config", path,
            "--proxy-pool-size", "4",
            "--proxy-connect-timeout", "1.5",
            "--proxy-response-timeout", "2",
            "--proxy-idle-timeout", "3",
            "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1",
            "--proxy-via", "edge",
        )  # fmt: skip
        mounts = config.mounts
        self.assertEqual(
            [(m.prefix, m.upstream, m.keep_prefix, m.preserve_host) for m in mounts],
            [
                ("/api", "http://127.0.0.1:9000/v1", True, True),
                ("/b", "https://example.test", True, True),
                ("/conf", "http://127.0.0.1:7000", False, True),
            ],
        )
        s = config.settings
        self.assertEqual(
            (
                s.pool_size,
                s.connect_timeout,
                s.response_timeout,
                s.idle_timeout,
                s.dev,
                s.pseudonym,
            ),
            (4, 1.5, 2.0, 3.0, True, "edge"),
        )
        self.assertIn("::1", s.trusted)
        self.assertIn("10.2.3.4", s.trusted)
        reactor = MemoryReactorClock()
        built = build_proxy_mounts(config, reactor)
        self.assertEqual([prefix for prefix, _ in built], [[b"api"], [b"b"], [b"conf"]])
        resources = [r for _, r in built]
        self.assertTrue(all(isinstance(r, ProxyResource) for r in resources))
        self.assertIs(resources[0].client, resources[2].client)  # one shared pool
        self.assertEqual(resources[0].client.pool.floor, 4)
        self.assertEqual(len(reactor.triggers["before"]["shutdown"]), 1)
        self.assertFalse(any(r.drop_cors for r in resources))
        managed = build_proxy_mounts(config, MemoryReactorClock(), cors_managed=True)
        self.assertTrue(all(r.drop_cors for _, r in managed))  # type: ignore[attr-defined]

    def test_bad_values_are_usage_errors(self) -> None:
        missing = self.mktemp()
        for args in [
            ["--proxy", "api=http://x"],
            ["--proxy", "/api=gopher://x"],
            ["--proxy", "/api"],
            ["--proxy", "/a=http://x", "--proxy", "/a=http://y"],
            ["--proxy-config", missing],
            ["--proxy-pool-size", "0"],
            ["--proxy-pool-size", "many"],
            ["--proxy-connect-timeout", "0"],
            ["--proxy-response-timeout", "nan"],
            ["--proxy-idle-timeout", "-1"],
            ["--trusted-proxy", "example.test"],
            ["--proxy-via", "two words"],
        ]:
            self.assertRaises(usage.UsageError, parse, *args)

    def test_bad_config_file_names_the_file(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[[proxy]]\nprefix = "nope"\nupstream = "http://x"\n')
        with self.assertRaises(usage.UsageError) as ctx:
            parse("--proxy-config", path)
        self.assertIn(path, str(ctx.exception))
        self.assertIn("must start with '/'", str(ctx.exception))

    def test_full_web_options_include_proxy(self) -> None:
        from twisted_netlab.web.tap import Options as WebOptions

        options = WebOptions()
        options.parseOptions(["--proxy", "/api=http://127.0.0.1:9"])
        self.assertEqual([m.prefix for m in options.web_config.proxy.mounts], ["/api"])
