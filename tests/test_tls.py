"""``--tls``: the stored self-signed certificate, given pairs, and real HTTPS with curl."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from tests.tls_support import TLSServerCase
from twisted_netlab import tls
from twisted_netlab.tls_options import tls_config
from twisted_netlab.web import tap as web

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)


class DataFolderTests(SynchronousTestCase):
    def test_xdg_data_home_wins(self) -> None:
        self.assertEqual(
            tls.data_folder({"XDG_DATA_HOME": "/srv/data", "HOME": "/home/u"}),
            Path("/srv/data/twisted-netlab"),
        )

    def test_home_fallback_and_relative_xdg_ignored(self) -> None:
        for env in ({"HOME": "/home/u"}, {"HOME": "/home/u", "XDG_DATA_HOME": "rel/dir"}):
            self.assertEqual(
                tls.data_folder(env), Path("/home/u/.local/share/twisted-netlab")
            )


class SelfSignedTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.folder = Path(self.mktemp()) / "twisted-netlab"

    def test_made_once_with_sans_and_private_key(self) -> None:
        first = tls.self_signed(self.folder, NOW)
        self.assertTrue(first.self_signed)
        self.assertEqual(stat.S_IMODE(os.stat(first.key_path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.folder).st_mode), 0o700)
        cert = x509.load_pem_x509_certificate(first.cert_pem)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(sans.get_values_for_type(x509.DNSName), ["localhost"])
        self.assertEqual(
            sans.get_values_for_type(x509.IPAddress),
            [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")],
        )
        # The fingerprint is the SHA-256 of the DER certificate, colon-separated.
        der = cert.public_bytes(serialization.Encoding.DER)
        digest = hashlib.sha256(der).hexdigest().upper()
        self.assertEqual(first.fingerprint.replace(":", ""), digest)
        self.assertEqual(len(first.fingerprint), 32 * 3 - 1)
        # A second start a month later reuses it.
        again = tls.self_signed(self.folder, NOW + datetime.timedelta(days=30))
        self.assertEqual(again.fingerprint, first.fingerprint)
        self.assertEqual(again.key_pem, first.key_pem)

    def test_remade_when_expiring(self) -> None:
        first = tls.self_signed(self.folder, NOW)
        later = NOW + tls.LIFETIME - tls.RENEW_BEFORE + datetime.timedelta(seconds=1)
        second = tls.self_signed(self.folder, later)
        self.assertNotEqual(second.fingerprint, first.fingerprint)
        cert = x509.load_pem_x509_certificate(second.cert_pem)
        self.assertEqual(cert.not_valid_after_utc, later + tls.LIFETIME)

    def test_remade_when_unreadable_or_mismatched(self) -> None:
        first = tls.self_signed(self.folder, NOW)
        first.key_path.write_bytes(b"not a key")
        second = tls.self_signed(self.folder, NOW)
        self.assertNotEqual(second.fingerprint, first.fingerprint)
        # A key from another pair counts as unusable too.
        _other_cert, other_key = tls.make_self_signed(NOW)
        second.key_path.write_bytes(other_key)
        third = tls.self_signed(self.folder, NOW)
        self.assertNotIn(third.fingerprint, (first.fingerprint, second.fingerprint))
        tls.check_pair(third.cert_pem, third.key_pem, "c", "k")

    def test_unwritable_folder_is_one_clear_line(self) -> None:
        blocker = Path(self.mktemp())
        blocker.write_bytes(b"a file where a folder should be")
        exc = self.assertRaises(tls.TLSError, tls.self_signed, blocker / "sub", NOW)
        message = str(exc)
        self.assertNotIn("\n", message)
        self.assertTrue(
            message.startswith(f"cannot store the self-signed certificate in {blocker}/sub: ")
        )
        self.assertIn("pass --tls-cert/--tls-key", message)


class GivenPairTests(SynchronousTestCase):
    def setUp(self) -> None:
        folder = Path(self.mktemp())
        folder.mkdir()
        cert, key = tls.make_self_signed(NOW)
        self.cert = folder / "cert.pem"
        self.key = folder / "key.pem"
        self.cert.write_bytes(cert)
        self.key.write_bytes(key)
        self.other_key = folder / "other.pem"
        self.other_key.write_bytes(tls.make_self_signed(NOW)[1])
        self.data = Path(self.mktemp())

    def config(self, enabled: bool, cert: object, key: object) -> object:
        return tls_config(enabled, cert, key, self.data, NOW)  # type: ignore[arg-type]

    def test_given_pair_loaded(self) -> None:
        config = tls_config(False, str(self.cert), str(self.key), self.data, NOW)
        assert config is not None
        self.assertFalse(config.material.self_signed)
        self.assertEqual(config.material.cert_pem, self.cert.read_bytes())
        self.assertFalse(self.data.exists())  # nothing made when a pair is given
        self.assertIn(config.material.fingerprint, config.banner())

    def test_off_by_default(self) -> None:
        self.assertIsNone(tls_config(False, None, None, self.data, NOW))
        self.assertFalse(self.data.exists())

    def test_usage_errors(self) -> None:
        for cert, key, words in [
            (str(self.cert), None, "--tls-cert and --tls-key go together"),
            (None, str(self.key), "--tls-cert and --tls-key go together"),
            (str(self.cert), str(self.other_key),
             f"{self.other_key} does not match the certificate in {self.cert}"),
            (str(self.cert) + ".missing", str(self.key),
             f"cannot read the certificate {self.cert}.missing: No such file or directory"),
            (str(self.key), str(self.key), f"{self.key} is not a PEM certificate"),
            (str(self.cert), str(self.cert), f"{self.cert} is not an unencrypted PEM private key"),
        ]:
            exc = self.assertRaises(usage.UsageError, self.config, True, cert, key)
            self.assertIn(words, str(exc))

    def test_plugin_option_errors(self) -> None:
        options = web.Options()
        exc = self.assertRaises(
            usage.UsageError,
            options.parseOptions,
            ["--tls-cert", str(self.cert), "--tls-key", str(self.other_key)],
        )
        self.assertIn("does not match the certificate", str(exc))

    def test_services_wrap_plain_ports_only(self) -> None:
        options = web.Options()
        ssl_port = f"ssl:0:interface=127.0.0.1:privateKey={self.key}:certKey={self.cert}"
        options.parseOptions(
            ["--tls-cert", str(self.cert), "--tls-key", str(self.key),
             "--port", "tcp:0:interface=127.0.0.1", "--port", ssl_port]
        )
        plain, secure, _drain = web.makeService(options)  # type: ignore[misc]
        self.assertIsInstance(plain.factory, TLSMemoryBIOFactory)  # type: ignore[attr-defined]
        self.assertNotIsInstance(secure.factory, TLSMemoryBIOFactory)  # type: ignore[attr-defined]


class RealTLSTests(TLSServerCase):
    async def test_curl_trusts_the_self_signed_certificate(self) -> None:
        (self.root / "hello.txt").write_bytes(b"hello over TLS\n")
        self.serve(["--tls"])
        material = self.options["tls-config"].material
        self.assertEqual(
            material.cert_path, self.data_home / "twisted-netlab" / "localhost-cert.pem"
        )
        for host in ("127.0.0.1", "localhost"):
            out, err, code = await self.curl([self.url("/hello.txt", host)])
            self.assertEqual((out, err, code), ("hello over TLS\n", "", 0))

    async def test_curl_refuses_without_the_certificate(self) -> None:
        (self.root / "hello.txt").write_bytes(b"hello\n")
        self.serve(["--tls"])
        other = Path(self.mktemp())
        other.write_bytes(tls.make_self_signed(NOW)[0])
        out, _err, code = await self.curl(["--cacert", str(other), self.url("/hello.txt")])
        self.assertEqual((out, code), ("", 60))  # curl: peer certificate cannot be authenticated
