"""Fixtures of the webhook tests: a resolver that answers chosen names, a TLS certificate for a name, an
injected clock, a local store and registry, and receivers made on first use."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.governance.registry import OrganizationRegistry
from pipeline.store.local import LocalStore
from tests.pipeline.webhooks._harness import Clock, Receiver

TLS_NAME = "hooks.acme.test"


@dataclass
class Dns:
    """The names the resolver answers with the addresses set in `answers` (other names resolve as
    usual), and every name it was asked for, in order."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    resolver = Dns()
    real: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        resolver.asked.append(host)
        if host not in resolver.answers:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)) if ":" in address
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in resolver.answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # socket.create_connection's too
    return resolver


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext  # serves a certificate for TLS_NAME; records the SNI names it is asked for
    client: ssl.SSLContext  # trusts only the CA that signed it
    sni: list[str | None]


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)  # valid for years either side: OpenSSL reads the real clock, not a shifted one
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Percus test CA")])

    def certificate(subject: x509.Name, public: ec.EllipticCurvePublicKey, serial: int
                    ) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public)
                .serial_number(serial).not_valid_before(now - timedelta(days=3650))
                .not_valid_after(now + timedelta(days=3650)))

    ca = (certificate(ca_name, ca_key.public_key(), 1)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_NAME)]), key.public_key(), 2)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_NAME)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    sni: list[str | None] = []
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain, key_file)
    server.sni_callback = lambda _socket, name, _context: sni.append(name)  # type: ignore[func-returns-value]
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return Tls(server, client, sni)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bucket")


@pytest.fixture
def registry(store: LocalStore) -> OrganizationRegistry:
    return OrganizationRegistry(store, cache_seconds=0, actor="cli:test")


@pytest.fixture
def receivers(clock: Clock) -> Iterator[dict[str, Receiver]]:
    made: dict[str, Receiver] = {}

    class Factory(dict[str, Receiver]):
        def __missing__(self, org: str) -> Receiver:
            made[org] = self[org] = Receiver(org, clock)
            return made[org]

    yield Factory()
    for receiver in made.values():
        receiver.close()


@pytest.fixture
def tls_receiver(clock: Clock, tls: Tls) -> Iterator[Receiver]:
    """acme's endpoint over TLS, with a certificate for TLS_NAME (which the `dns` fixture resolves)."""
    receiver = Receiver("acme", clock, tls.server)
    yield receiver
    receiver.close()
