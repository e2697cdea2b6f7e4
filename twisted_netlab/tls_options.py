"""``--tls``, ``--tls-cert``, ``--tls-key``: HTTPS on the plain ports in one flag.

Why wrap the factory (``TLSMemoryBIOFactory``) instead of rewriting ``tcp:`` strings
into ``ssl:`` ones: it works the same for every stream endpoint (``tcp:``, ``tcp6:``,
``unix:``) and for sockets a worker adopts from the supervisor (``adoptStreamPort``
takes a factory, not an endpoint string), and it needs no escaping of key paths inside
an endpoint description.  ALPN comes for free: Twisted's ``CertificateOptions`` asks the
wrapped factory (``Site.acceptableProtocols``) and offers ``h2`` then ``http/1.1`` when
the ``twisted[http2]`` extra is installed.  Ports given as ``ssl:`` strings are left
alone (they already speak TLS).
"""

from __future__ import annotations

import datetime
import importlib.util
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import crypto
from twisted.application import strports
from twisted.application.service import IService
from twisted.internet import ssl
from twisted.internet.interfaces import IProtocolFactory
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python import usage

from twisted_netlab.endpoints import with_default_backlog
from twisted_netlab.tls import TLSError, TLSMaterial, data_folder, load_pair, self_signed

log = Logger()


@dataclass(frozen=True)
class TLSConfig:
    """What ``--tls`` decided: the certificate to serve on every non-``ssl:`` port."""

    material: TLSMaterial

    def banner(self) -> str:
        kind = "self-signed" if self.material.self_signed else "given"
        protocols = "h2, http/1.1" if h2_available() else "http/1.1 only"
        return (
            f"HTTPS ({kind} certificate {self.material.cert_path}, "
            f"SHA-256 {self.material.fingerprint}; ALPN {protocols})"
        )


def tls_config(
    enabled: bool,
    cert: str | None,
    key: str | None,
    folder: Path,
    now: datetime.datetime,
) -> TLSConfig | None:
    """Validate the three options together; ``UsageError`` with one clear line."""
    if (cert is None) != (key is None):
        raise usage.UsageError("--tls-cert and --tls-key go together: give both or neither")
    if not enabled and cert is None:
        return None
    try:
        if cert is not None and key is not None:
            material = load_pair(Path(cert), Path(key))
        else:
            material = self_signed(folder, now)
    except TLSError as exc:
        raise usage.UsageError(str(exc)) from exc
    return TLSConfig(material)


class TLSOptionsMixin(usage.Options):
    """Adds the TLS options; ``post_options_tls`` stores a ``TLSConfig | None`` as "tls-config".

    A ``usage.Options`` base (like ``WebOptions``), so ``self[...]`` is typed as it is.
    """

    optFlags = [
        ["tls", None, "Serve HTTPS on the --port endpoints (a self-signed localhost "
         "certificate kept in the user's data folder unless --tls-cert/--tls-key)."],
    ]
    optParameters = [
        ["tls-cert", None, None, "PEM certificate (chain) for --tls; implies --tls."],
        ["tls-key", None, None, "PEM private key (unencrypted) matching --tls-cert."],
    ]

    def post_options_tls(self) -> None:
        self["tls-config"] = tls_config(
            bool(self["tls"]),
            self["tls-cert"],
            self["tls-key"],
            data_folder(os.environ),
            datetime.datetime.now(datetime.UTC),
        )


def secure_factory(factory: IProtocolFactory, config: TLSConfig) -> TLSMemoryBIOFactory:
    """``factory`` behind TLS with ``config``'s certificate (ALPN from ``factory``)."""
    # The first certificate is ours; any after it are the chain up to a trusted root.
    leaf, *chain = x509.load_pem_x509_certificates(config.material.cert_pem)
    key = serialization.load_pem_private_key(config.material.key_pem, password=None)
    options = ssl.CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),  # type: ignore[arg-type]
        certificate=crypto.X509.from_cryptography(leaf),
        extraCertChain=[crypto.X509.from_cryptography(c) for c in chain],
    )
    return TLSMemoryBIOFactory(options, False, factory)


def h2_available() -> bool:
    """True when Twisted can speak HTTP/2 (the ``twisted[http2]`` extra: h2, priority)."""
    return all(importlib.util.find_spec(name) is not None for name in ("h2", "priority"))


def is_tls_endpoint(description: str) -> bool:
    return description.split(":", 1)[0].strip().lower() == "ssl"


def listen_services_tls(
    descriptions: Iterable[str], factory: IProtocolFactory, config: TLSConfig | None
) -> list[IService]:
    """One ``strports`` service per endpoint; plain ones get TLS when ``config`` is set."""
    wrapped = None if config is None else secure_factory(factory, config)
    if config is not None:
        log.info("{banner}", banner=config.banner())
    return [
        strports.service(
            with_default_backlog(d),
            factory if wrapped is None or is_tls_endpoint(d) else wrapped,
        )
        for d in descriptions
    ]
