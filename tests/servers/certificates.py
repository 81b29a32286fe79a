"""Throw-away TLS certificates for the test servers: one CA and one server certificate it signed.

A real CA (not one self-signed leaf) because strict verifiers (Python 3.13+, urllib3 2.x) reject a
leaf used as its own trust anchor. The fakes (azure_fake.py, gcp_fake.py, k8s_fake.py) import this
file from their own folder, which is scripts and not a package.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from dataclasses import dataclass
from typing import Iterable, List


@dataclass(frozen=True)
class Issued:
    key_file: str  # the server's private key (PEM, 0600)
    cert_file: str  # the server's certificate alone
    chain_file: str  # the server's certificate followed by the CA's
    ca_file: str  # the CA certificate a client trusts

    def read(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()


def issue(folder: str, hosts: Iterable[str] = ("127.0.0.1", "localhost"), name: str = "vibebox test server") -> Issued:
    """Write a fresh CA and a server certificate for ``hosts`` (IPs or DNS names) into ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5)
    end = start + _dt.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vibebox test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: List[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    issued = Issued(*(os.path.join(folder, item) for item in ("server.key", "server.crt", "server.pem", "ca.pem")))
    leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    for path, data in ((issued.key_file, key_pem), (issued.cert_file, leaf_pem), (issued.chain_file, leaf_pem + ca_pem),
                       (issued.ca_file, ca_pem)):
        with open(path, "wb") as handle:
            handle.write(data)
    os.chmod(issued.key_file, 0o600)
    return issued
