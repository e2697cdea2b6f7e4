"""netlab-sign: the links it prints verify, and bad input is a usage error."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import treq
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_netlab.http.hotlink import Verdict, verify
from twisted_netlab.web.sign_cli import main
from twisted_netlab.web.site import build_site
from twisted_netlab.web.tap import Options as WebOptions

KEY = "k1=0123456789abcdef-secret"
KEYS = {"k1": b"0123456789abcdef-secret"}


def run(*argv: str, now: float = 1_700_000_000) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv), now=lambda: now)
    return code, out.getvalue(), err.getvalue()


def check(url: str, now: float, path: str | None = None) -> Verdict:
    parts = urlsplit(url)
    return verify(
        path if path is not None else unquote(parts.path),
        parse_qs(parts.query),
        keys=KEYS,
        now=now,
    )


class SignCliTests(SynchronousTestCase):
    def test_default_expiry_and_base(self) -> None:
        code, out, err = run("--key", KEY, "/media/a b.png")
        self.assertEqual((code, err), (0, ""))
        url = out.strip()
        self.assertTrue(
            url.startswith("http://127.0.0.1:8080/media/a%20b.png?exp=1700003600&kid=k1&sig="), url
        )
        self.assertEqual(check(url, now=1_700_003_600), Verdict(True, "valid signature"))
        self.assertEqual(check(url, now=1_700_003_631).reason, "expired")
        self.assertEqual(check(url, now=0, path="/media/b.png").reason, "bad signature")

    def test_expires_at_base_url_and_prefix(self) -> None:
        code, out, _ = run("--key", KEY, "--base-url", "https://cdn.example/sub/",
                           "--expires-at", "2000000000", "--prefix", "/media/",
                           "/media/x.mp4")  # fmt: skip
        self.assertEqual(code, 0)
        url = out.strip()
        self.assertTrue(url.startswith("https://cdn.example/sub/media/x.mp4?exp=2000000000"), url)
        self.assertEqual(
            check(url, now=0, path="/media/y/z.png"), Verdict(True, "valid signature (prefix)")
        )
        self.assertEqual(check(url, now=0, path="/etc/z.png").reason, "path outside prefix")

    def test_key_file_and_environment(self) -> None:
        key_file = self.mktemp()
        with open(key_file, "w") as f:
            f.write("k0=zero-secret-0123456789\n" + KEY + "\n")
        code, out, _ = run("--key-file", key_file, "--key-id", "k1", "/a.png")
        self.assertEqual(code, 0)
        self.assertTrue(check(out.strip(), now=1_700_000_000).ok)
        code, out, _ = run("--key-file", key_file, "/a.png")
        self.assertIn("kid=k0", out)
        os.environ["NETLAB_SIGN_KEY"] = KEY
        self.addCleanup(os.environ.pop, "NETLAB_SIGN_KEY")
        code, out, _ = run("/a.png")
        self.assertEqual(code, 0)
        self.assertTrue(check(out.strip(), now=1_700_000_000).ok)

    def test_usage_errors(self) -> None:
        os.environ.pop("NETLAB_SIGN_KEY", None)
        cases = [
            (["/a.png"], "give --key"),
            (["--key", "k1=short", "/a.png"], "at least 16 bytes"),
            (["--key", KEY, "a.png"], "must start with '/'"),
            (["--key", KEY, "/a/../b.png"], "'.' or '..'"),
            (["--key", KEY, "--expires-in", "0", "/a.png"], "positive"),
            (["--key", KEY, "--base-url", "ftp://x", "/a.png"], "expected http(s)"),
            (["--key", KEY, "--prefix", "/b/", "/a.png"], "outside prefix"),
            (["--key", KEY, "--expires-in", "5", "--expires-at", "5", "/a.png"],
             "not allowed with"),
            (["--key", KEY, "--expires-at", "soon", "/a.png"], "invalid int value"),
        ]
        for argv, message in cases:
            code, out, err = run(*argv)
            self.assertEqual((code, out), (2, ""), argv)
            self.assertIn(message, err, argv)

    def test_module_entry_point(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "twisted_netlab.web.sign_cli", "--key", KEY,
             "--expires-at", "1900000000", "/v.webm"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(check(result.stdout.strip(), now=1_900_000_000).ok)


class EncodedPathTests(SynchronousTestCase):
    def test_encoded_and_plain_paths_mint_the_same_link(self) -> None:
        _, plain, _ = run("--key", KEY, "/media/a b.png")
        _, encoded, _ = run("--key", KEY, "/media/a%20b.png")
        self.assertEqual(encoded, plain)
        self.assertTrue(encoded.startswith("http://127.0.0.1:8080/media/a%20b.png?"), encoded)
        _, percent, _ = run("--key", KEY, "/100%.png")  # a bare '%' is a literal '%'
        self.assertTrue(percent.startswith("http://127.0.0.1:8080/100%25.png?"), percent)
        _, literal, _ = run("--key", KEY, "--prefix", "/m%C3%A9dia/", "/m%C3%A9dia/x%2541.png")
        self.assertTrue(literal.startswith("http://127.0.0.1:8080/m%C3%A9dia/x%2541.png?"), literal)
        self.assertEqual(check(literal.strip(), now=0, path="/m\u00e9dia/other.png").reason,
                         "valid signature (prefix)")

    def test_bad_escapes_are_one_line_usage_errors(self) -> None:
        for path, message in (
            ("/a%FFb.png", "netlab-sign: PATH '/a%FFb.png': percent-escapes are not UTF-8"),
            ("/a%2Fb.png",
             "netlab-sign: PATH '/a%2Fb.png': %2F (an encoded '/') cannot name a file"),
            ("/a%00.png", "netlab-sign: PATH '/a%00.png': contains a NUL or a backslash"),
        ):
            self.assertEqual(
                run("--key", KEY, path),
                (2, "", f"{message}; run with --help for the options\n"),
            )


class MintedLinkServedTests(TestCase):
    """The README's examples against a real netlab-web holding the same key."""

    async def test_readme_examples_are_served(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(root, "media"))
        for name in ("a b.png", "cat.png"):
            with open(os.path.join(root, "media", name), "wb") as handle:
                handle.write(b"PNG:" + name.encode())
        options = WebOptions()
        options.parseOptions(["--path", root, "--sign-key", KEY])
        port: Any = reactor.listenTCP(  # type: ignore[arg-type]
            0, build_site(options.web_config, reactor), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        base = f"http://127.0.0.1:{port.getHost().port}"
        for argv, name in (
            (["--expires-in", "3600", "/media/cat.png"], "cat.png"),
            (["--expires-at", "1900000000", "--prefix", "/media/", "/media/cat.png"], "cat.png"),
            (["/media/a%20b.png"], "a b.png"),
            (["/media/a b.png"], "a b.png"),
        ):
            code, out, err = run("--key", KEY, "--base-url", base, *argv, now=time.time())
            self.assertEqual((code, err), (0, ""))
            response = await treq.get(out.strip(), persistent=False)
            body = await response.content()
            self.assertEqual((response.code, body), (200, b"PNG:" + name.encode()), argv)
        unsigned = await treq.get(base + "/media/a%20b.png", persistent=False)
        await unsigned.content()
        self.assertEqual(unsigned.code, 403)
