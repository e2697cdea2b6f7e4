"""A crafted-response upstream on loopback and a self-signed TLS identity for tests."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable

from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

# What the crafted upstream sends for a request head: bytes, or a function of the head.
Reply = bytes | Callable[[bytes], bytes]


class _Crafted(Protocol):
    def __init__(self, owner: CraftedUpstream) -> None:
        self.owner = owner
        self.buffer = b""

    def connectionMade(self) -> None:
        self.owner.connections += 1
        self.owner.open.add(self)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.owner.heads.append(head)
            reply = self.owner.reply
            assert self.transport is not None
            self.transport.write(reply(head) if callable(reply) else reply)
            if self.owner.close_after:
                self.transport.loseConnection()

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.owner.open.discard(self)
        self.owner.lost += 1


class CraftedUpstream(Factory):
    """Answers every request head with ``reply``; counts connections."""

    noisy = False

    def __init__(self, reply: Reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") -> None:
        self.reply: Reply = reply
        self.close_after = False
        self.heads: list[bytes] = []
        self.connections = 0
        self.lost = 0
        self.open: set[_Crafted] = set()

    def buildProtocol(self, addr: object) -> _Crafted:
        return _Crafted(self)


def self_signed_pem(ip: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) for ``ip`` (in subjectAltName, as verifiers require)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)
