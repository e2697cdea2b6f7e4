"""Certificates for ``--tls``: a self-signed one made once, or the operator's own pair.

Why a stored self-signed certificate: HTTPS on a developer machine should need one
flag, and a certificate that changes at every start breaks ``curl --cacert`` and
browser exceptions.  So it is made once (``cryptography``), kept in the user's data
folder (``$XDG_DATA_HOME/twisted-netlab``, else ``~/.local/share/twisted-netlab``), the
key readable by its owner only, and made again only when it has expired, is about to,
or cannot be read.  Its SHA-256 fingerprint goes in the banner so a user can compare
what the browser shows.

Every failure a user can cause (unwritable folder, unreadable file, key that does not
belong to the certificate) is a ``TLSError`` with a one-line message; the options turn it
into a usage error before the reactor starts.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from twisted_netlab.errors import NetlabError

APP_FOLDER = "twisted-netlab"
CERT_NAME = "localhost-cert.pem"
KEY_NAME = "localhost-key.pem"
DNS_NAMES = ("localhost",)
IP_ADDRESSES = ("127.0.0.1", "::1")
LIFETIME = datetime.timedelta(days=365)
# Made again this long before expiry, so a server started today does not serve an
# expired certificate tomorrow.
RENEW_BEFORE = datetime.timedelta(days=7)


class TLSError(NetlabError):
    """A certificate or key that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class TLSMaterial:
    """A certificate and its key, both PEM, plus what the banner shows."""

    cert_pem: bytes
    key_pem: bytes
    fingerprint: str
    cert_path: Path
    key_path: Path
    self_signed: bool


def data_folder(environ: Mapping[str, str]) -> Path:
    """Where user data lives (XDG base directory spec), our subfolder included."""
    base = environ.get("XDG_DATA_HOME", "")
    if not base or not os.path.isabs(base):  # the spec says relative values are ignored
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "share")
    return Path(base) / APP_FOLDER


def fingerprint(cert: x509.Certificate) -> str:
    """``AB:CD:...``: the SHA-256 fingerprint as browsers and ``openssl x509`` show it."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def make_self_signed(now: datetime.datetime) -> tuple[bytes, bytes]:
    """A fresh P-256 key and a certificate for localhost, 127.0.0.1 and ::1 (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost (twisted-netlab)")])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in IP_ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clock skew
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        # CA:TRUE lets curl --cacert / a browser trust it as its own anchor.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def check_pair(
    cert_pem: bytes, key_pem: bytes, cert_label: str, key_label: str
) -> x509.Certificate:
    """Parse both and check the key belongs to the certificate; ``TLSError`` otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise TLSError(f"{cert_label} is not a PEM certificate ({exc})") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TLSError(
            f"{key_label} is not an unencrypted PEM private key ({exc})"
        ) from exc
    if key.public_key() != cert.public_key():
        raise TLSError(f"{key_label} does not match the certificate in {cert_label}")
    return cert


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TLSError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc


def load_pair(cert_path: Path, key_path: Path) -> TLSMaterial:
    """The operator's own certificate and key (``--tls-cert``/``--tls-key``)."""
    cert_pem = _read(cert_path, "certificate")
    key_pem = _read(key_path, "key")
    cert = check_pair(cert_pem, key_pem, str(cert_path), str(key_path))
    return TLSMaterial(cert_pem, key_pem, fingerprint(cert), cert_path, key_path, False)


def _still_good(folder: Path, now: datetime.datetime) -> TLSMaterial | None:
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    try:
        material = load_pair(cert_path, key_path)
    except TLSError:
        return None  # missing, unreadable or mismatched: make a new one
    cert = x509.load_pem_x509_certificate(material.cert_pem)
    if cert.not_valid_after_utc - RENEW_BEFORE <= now:
        return None
    return TLSMaterial(
        material.cert_pem, material.key_pem, material.fingerprint, cert_path, key_path, True
    )


def _write_private(path: Path, data: bytes, mode: int) -> None:
    # Write beside, then rename: a reader never sees half a key, and the mode is set
    # before the first byte lands (no window where the key is world-readable).
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is reduced by the umask; be exact
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def self_signed(folder: Path, now: datetime.datetime) -> TLSMaterial:
    """The stored localhost certificate, made (again) when needed."""
    material = _still_good(folder, now)
    if material is not None:
        return material
    cert_pem, key_pem = make_self_signed(now)
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(key_path, key_pem, 0o600)
        _write_private(cert_path, cert_pem, 0o644)
    except OSError as exc:
        raise TLSError(
            f"cannot store the self-signed certificate in {folder}: "
            f"{exc.strerror or exc}; set XDG_DATA_HOME to a writable folder "
            "or pass --tls-cert/--tls-key"
        ) from exc
    cert = x509.load_pem_x509_certificate(cert_pem)
    return TLSMaterial(cert_pem, key_pem, fingerprint(cert), cert_path, key_path, True)
