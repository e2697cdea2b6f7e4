"""The proxy in front of a real nginx upstream (skipped when nginx is not installed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

from twisted.internet import reactor, task
from twisted.internet.protocol import ClientFactory
from twisted.trial.unittest import SkipTest

from twisted_netlab.http.proxymount import ProxyMount

from ._proxy_support import ProxyTestCase, RawClient

_CONF = """
worker_processes 1;
daemon off;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
{user}
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        add_header X-Conn $connection always;
        location = /site/cookie {{
            add_header Set-Cookie "sid=1; Path=/site/; Domain=127.0.0.1; Secure" always;
            return 200 "cookie\\n";
        }}
        location = /site/moved {{ return 302 http://127.0.0.1:{port}/site/new; }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxUpstreamTests(ProxyTestCase):
    async def start_nginx(self) -> None:
        nginx = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
        )
        if nginx is None:
            raise SkipTest("nginx not installed")
        root = os.path.abspath(self.mktemp())
        for sub in ("www/site/dir", "tmp"):
            os.makedirs(os.path.join(root, sub))
        with open(os.path.join(root, "www/site/file.bin"), "wb") as f:
            f.write(bytes(range(256)) * 4096)  # 1 MiB
        with open(os.path.join(root, "www/site/dir/index.html"), "wb") as f:
            f.write(b"<p>index</p>\n")
        with open(os.path.join(root, "www/outside.txt"), "wb") as f:
            f.write(b"OUTSIDE the mount\n")
        self.nginx_port = _free_port()
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = os.path.join(root, "nginx.conf")
        with open(conf, "w") as f:
            f.write(_CONF.format(root=root, port=self.nginx_port, user=user))
        proc = subprocess.Popen(
            [nginx, "-p", root, "-c", conf],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(self._stop, proc)
        for _ in range(100):
            if proc.poll() is not None:
                raise SkipTest(f"nginx failed to start: {proc.stderr.read().decode()[:300]}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.nginx_port), 0.2).close()
                break
            except OSError:
                await task.deferLater(reactor, 0.05, lambda: None)
        else:
            raise SkipTest("nginx did not start listening")
        upstream = f"http://127.0.0.1:{self.nginx_port}/site"
        self.base = self.start_proxy([ProxyMount("/api", upstream)], dev=True)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    async def test_keep_alive_and_big_file(self) -> None:
        await self.start_nginx()
        conns = set()
        for _ in range(5):
            response = await self.http.get(self.base + "/api/file.bin")
            self.assertEqual(response.code, 200)
            body = await self.content(response)
            self.assertEqual(body, bytes(range(256)) * 4096)
            conns.update(response.headers.getRawHeaders(b"x-conn"))
        self.assertEqual(len(conns), 1, conns)  # one upstream connection, reused

    async def test_head_and_directory_redirect(self) -> None:
        await self.start_nginx()
        response = await self.http.head(self.base + "/api/file.bin")
        self.assertEqual(response.code, 200)
        self.assertEqual(await self.content(response), b"")
        client = await self.raw(
            b"HEAD /api/file.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        await client.closed
        head, _, body = client.data.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nContent-Length: 1048576", head)
        self.assertEqual(body, b"")
        response = await self.http.get(self.base + "/api/dir", allow_redirects=False)
        await self.content(response)
        self.assertEqual(response.code, 301)
        self.assertEqual(response.headers.getRawHeaders(b"location"), [b"/api/dir/"])
        response = await self.http.get(self.base + "/api/dir/")
        self.assertEqual(await self.content(response), b"<p>index</p>\n")
        response = await self.http.get(self.base + "/api/moved", allow_redirects=False)
        await self.content(response)
        self.assertEqual(response.headers.getRawHeaders(b"location"), [b"/api/new"])

    async def test_dev_cookie_and_missing_file(self) -> None:
        await self.start_nginx()
        response = await self.http.get(self.base + "/api/nope")
        self.assertEqual(response.code, 404)
        await self.content(response)
        self.assertEqual(response.headers.getRawHeaders(b"via"), [b"1.1 netlab"])
        response = await self.http.get(self.base + "/api/cookie")
        self.assertEqual(await self.content(response), b"cookie\n")
        self.assertEqual(response.headers.getRawHeaders(b"set-cookie"), [b"sid=1; Path=/api/"])

    async def test_encoded_walk_out_of_the_mount_is_refused(self) -> None:
        await self.start_nginx()
        # Control: nginx itself resolves the encoded walk-out to /outside.txt.
        client = RawClient(
            b"GET /site/..%2foutside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        connector = reactor.connectTCP(
            "127.0.0.1", self.nginx_port, ClientFactory.forProtocol(lambda: client)
        )
        self.addCleanup(connector.disconnect)
        await client.closed
        self.assertIn(b"OUTSIDE the mount", bytes(client.data))
        for target in (b"/api/..%2foutside.txt", b"/api/%2e%2e%2foutside.txt",
                       b"/api/.%2e%2foutside.txt", b"/api/%2e%2e/outside.txt"):
            proxied = await self.raw(
                b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            await proxied.closed
            self.assertTrue(bytes(proxied.data).startswith(b"HTTP/1.1 400 "), target)
            self.assertNotIn(b"OUTSIDE", bytes(proxied.data))
