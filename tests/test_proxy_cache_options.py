"""--proxy-cache options -> ProxyCacheConfig, the TOML opt-out, and what the builder makes."""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

import os
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from tests.config_support import web_options
from twisted_netlab.cache.disk import DiskStore
from twisted_netlab.errors import ProxyConfigError
from twisted_netlab.http.cache.age import AgeInputs
from twisted_netlab.http.cache.entry import EntryMeta
from twisted_netlab.http.headers import parse_trusted
from twisted_netlab.http.proxymount import mounts_from_toml
from twisted_netlab.web.config import ProxyCacheConfig, ProxyConfig
from twisted_netlab.web.proxy import ProxyResource, build_proxy_mounts
from twisted_netlab.web.proxy.cache import ProxyCache, purge_allowed
from twisted_netlab.web.site import build_site


def parse(*args: str) -> ProxyCacheConfig:
    return web_options(*args).web_config.proxy.cache


class CacheOptionTests(SynchronousTestCase):
    def test_off_by_default(self) -> None:
        self.assertEqual(parse(), ProxyCacheConfig())
        self.assertFalse(ProxyCacheConfig().enabled)

    def test_sizes_dir_and_explain(self) -> None:
        directory = self.mktemp()
        config = parse(
            "--proxy-cache", "--proxy-cache-size", "2m", "--proxy-cache-dir", directory,
            "--proxy-cache-dir-size", "1g", "--proxy-cache-disk-min", "64k",
            "--proxy-cache-purge-all", "--explain",
        )
        self.assertEqual(
            config,
            ProxyCacheConfig(
                enabled=True, memory_bytes=2 << 20, directory=directory, disk_bytes=1 << 30,
                disk_threshold=64 << 10, purge_all=True, explain=True,
            ),
        )

    def test_bad_size_is_a_usage_error(self) -> None:
        with self.assertRaises(usage.UsageError) as caught:
            parse("--proxy-cache", "--proxy-cache-size", "lots")
        self.assertIn("--proxy-cache-size 'lots' is not a size", str(caught.exception))

    def test_purge_all_needs_a_directory(self) -> None:
        with self.assertRaises(usage.UsageError) as caught:
            parse("--proxy-cache", "--proxy-cache-purge-all")
        self.assertEqual(str(caught.exception), "--proxy-cache-purge-all needs --proxy-cache-dir")

    def test_dir_that_is_a_file_is_refused(self) -> None:
        path = self.mktemp()
        with open(path, "w") as handle:
            handle.write("x")
        with self.assertRaises(usage.UsageError):
            parse("--proxy-cache", "--proxy-cache-dir", path)


class MountOptOutTests(SynchronousTestCase):
    def test_toml_cache_false(self) -> None:
        mounts = mounts_from_toml(
            '[[proxy]]\nprefix = "/a"\nupstream = "http://127.0.0.1:1"\ncache = false\n'
            '[[proxy]]\nprefix = "/b"\nupstream = "http://127.0.0.1:2"\n'
        )
        self.assertEqual([m.cache for m in mounts], [False, True])

    def test_toml_cache_must_be_boolean(self) -> None:
        with self.assertRaises(ProxyConfigError) as caught:
            mounts_from_toml('[[proxy]]\nprefix = "/a"\nupstream = "http://h"\ncache = "no"\n')
        self.assertEqual(str(caught.exception), "[[proxy]] #1: 'cache' must be true or false")


class BuilderTests(SynchronousTestCase):
    def _resources(self, config: ProxyConfig) -> list[ProxyResource]:
        found = build_proxy_mounts(config, MemoryReactorClock())
        return [r for _, r in found if isinstance(r, ProxyResource)]

    def test_cache_built_only_when_enabled_and_shared(self) -> None:
        options = web_options("--proxy", "/a=http://127.0.0.1:1", "--proxy", "/b=http://127.0.0.1:2")
        off = self._resources(options.web_config.proxy)
        self.assertEqual([r.cache for r in off], [None, None])
        options = web_options(
            "--proxy-cache", "--proxy", "/a=http://127.0.0.1:1", "--proxy", "/b=http://127.0.0.1:2"
        )
        on = self._resources(options.web_config.proxy)
        self.assertIsInstance(on[0].cache, ProxyCache)
        self.assertIs(on[0].cache, on[1].cache)

    def test_purge_all_empties_the_disk_store_at_start(self) -> None:
        directory = self.mktemp()
        disk = DiskStore(directory, 1 << 20)
        writer = disk.begin(
            EntryMeta("http://h/x", 200, (), (), AgeInputs(0.0, 0, 0.0, 0.0), 60.0)
        )
        writer.append(b"body")
        self.assertIsNotNone(writer.commit())
        kept = ProxyCache(ProxyCacheConfig(enabled=True, directory=directory), MemoryReactorClock())
        self.assertEqual(len(kept.store.entries("http://h/x")), 1)
        purged = ProxyCache(
            ProxyCacheConfig(enabled=True, directory=directory, purge_all=True),
            MemoryReactorClock(),
        )
        self.assertEqual(purged.store.entries("http://h/x"), [])
        self.assertEqual(sorted(p for p in os.listdir(directory) if p != "tmp"), [])


class PurgePeerTests(SynchronousTestCase):
    def test_loopback_and_trusted_only(self) -> None:
        trusted = parse_trusted(["10.1.0.0/16"])
        self.assertTrue(purge_allowed("127.0.0.1", trusted))
        self.assertTrue(purge_allowed("::1", trusted))
        self.assertTrue(purge_allowed("::ffff:127.0.0.2", trusted))
        self.assertTrue(purge_allowed("10.1.2.3", trusted))
        self.assertFalse(purge_allowed("10.2.0.1", trusted))
        self.assertFalse(purge_allowed("192.0.2.7", trusted))
        self.assertFalse(purge_allowed("unknown", trusted))


class PurgeThroughSiteTests(SynchronousTestCase):
    """PURGE passes the limits layer (no body, early-405 rule) and the method check."""

    def _site(self) -> tuple[Any, ProxyCache]:
        root = self.mktemp()
        os.mkdir(root)
        options = web_options("--path", root, "--proxy-cache", "--proxy", "/c=http://127.0.0.1:9/o")
        site = build_site(options.web_config, MemoryReactorClock())
        proxy = next(r for _, r in site.resource.mounts if isinstance(r, ProxyResource))
        assert proxy.cache is not None
        return site, proxy.cache

    def _purge(self, site: Any, peer: str) -> bytes:
        channel = site.buildProtocol(IPv4Address("TCP", peer, 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 40000))
        channel.makeConnection(transport)
        channel.dataReceived(b"PURGE /c/a HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return bytes(transport.value())

    def _store(self, cache: ProxyCache) -> None:
        meta = EntryMeta(
            "http://127.0.0.1:9/o/a", 200, (), (), AgeInputs(0.0, 0, 0.0, 0.0), 60.0
        )
        writer = cache.store.begin(meta)
        writer.append(b"a")
        self.assertIsNotNone(writer.commit())

    def test_purge_from_loopback_removes_the_entry(self) -> None:
        site, cache = self._site()
        self._store(cache)
        answer = self._purge(site, "127.0.0.1")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer)
        self.assertIn(b"purged 1 stored response(s) for http://127.0.0.1:9/o/a\n", answer)
        self.assertEqual(cache.store.entries("http://127.0.0.1:9/o/a"), [])
        self.assertTrue(self._purge(site, "127.0.0.1").startswith(b"HTTP/1.1 404 "))

    def test_purge_from_elsewhere_is_405_and_keeps_the_entry(self) -> None:
        site, cache = self._site()
        self._store(cache)
        answer = self._purge(site, "192.0.2.7")
        self.assertTrue(answer.startswith(b"HTTP/1.1 405 "), answer)
        self.assertIn(b"Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n", answer)
        self.assertEqual(len(cache.store.entries("http://127.0.0.1:9/o/a")), 1)
