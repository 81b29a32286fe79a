"""Throw-away TLS certificates for the tests: a CA and a server certificate it signed, or a CA and a
client certificate it signed (Vault's cert login).

A real CA (not one self-signed leaf) because strict verifiers (Python 3.13+, urllib3 2.x) reject a
leaf used as its own trust anchor. The fakes (azure_fake.py, gcp_fake.py, k8s_fake.py) import this
file from their own folder, which is scripts and not a package.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from dataclasses import dataclass
from typing import Iterable, List, Tuple


@dataclass(frozen=True)
class Issued:
    key_file: str  # the server's private key (PEM, 0600)
    cert_file: str  # the server's certificate alone
    chain_file: str  # the server's certificate followed by the CA's
    ca_file: str  # the CA certificate a client trusts

    def read(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()


def _authority(common_name: str, start, end):
    """A CA key and its self-signed certificate, allowed to sign leaves only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _leaf(ca_key, ca, common_name: str, start, end, usage, names=None):
    """A leaf key and its certificate for ``usage`` (server or client authentication), signed by ``ca``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(files) -> None:
    """(path, PEM bytes) pairs; a file holding a private key is readable by its owner only."""
    for path, data in files:
        with open(path, "wb") as handle:
            handle.write(data)
        if path.endswith(".key"):
            os.chmod(path, 0o600)


def _pem(certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _validity(days: int):
    start = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5)
    return start, start + _dt.timedelta(days=days)


def issue(folder: str, hosts: Iterable[str] = ("127.0.0.1", "localhost"), name: str = "vibebox test server") -> Issued:
    """Write a fresh CA and a server certificate for ``hosts`` (IPs or DNS names) into ``folder``."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    start, end = _validity(2)
    ca_key, ca = _authority("vibebox test CA", start, end)
    names: List[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key, leaf = _leaf(ca_key, ca, name, start, end, ExtendedKeyUsageOID.SERVER_AUTH, names)
    issued = Issued(*(os.path.join(folder, item) for item in ("server.key", "server.crt", "server.pem", "ca.pem")))
    _write([(issued.key_file, _key_pem(key)), (issued.cert_file, _pem(leaf)), (issued.chain_file, _pem(leaf) + _pem(ca)),
            (issued.ca_file, _pem(ca))])
    return issued


def issue_client(folder: str, name: str, common_name: str = "ansible") -> Tuple[str, str, str]:
    """Write a fresh CA and a client certificate it signed (clientAuth) into ``folder``, each file named
    after ``name``; returns the paths of (CA certificate, client certificate, client key)."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    start, end = _validity(1)
    ca_key, ca = _authority(f"{name} client CA", start, end)
    key, leaf = _leaf(ca_key, ca, common_name, start, end, ExtendedKeyUsageOID.CLIENT_AUTH)
    paths = tuple(os.path.join(folder, f"{name}-{item}") for item in ("ca.pem", "client.pem", "client.key"))
    _write(zip(paths, (_pem(ca), _pem(leaf), _key_pem(key))))
    return paths  # type: ignore[return-value]
