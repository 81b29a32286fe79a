"""core/network.py: what an unreachable endpoint's error may show (scheme, host and port only), the kind of
failure read from the exception chain, and which kinds are worth a retry (the integration tests prove
the behaviour against real servers; these pin the rules).
"""
from __future__ import annotations

import socket
import ssl

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, network


# unreachable endpoints ---------------------------------------------------------------------------------
@pytest.mark.parametrize("given,shown", [
    ("https://user:pw@vault.example.com:8200/v1/x?token=abc", "https://vault.example.com:8200"),
    ("http://10.0.0.5", "http://10.0.0.5:80"),
    ("secretmanager.googleapis.com:443", "https://secretmanager.googleapis.com:443"),
    ("https://[::1]:9/", "https://[::1]:9"),
    ("", "(no address)"),
])
def test_endpoint_label_keeps_only_scheme_host_and_port(given, shown):
    assert network.endpoint_label(given) == shown


def _wrapped(inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("the SDK's own wrapper") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize("inner,kind", [
    (ConnectionRefusedError(111, "Connection refused"), network.REFUSED),
    (socket.gaierror(-2, "Name or service not known"), network.DNS),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), network.TLS),
    (TimeoutError("timed out"), network.TIMED_OUT),
    (ConnectionResetError(104, "Connection reset by peer"), network.CLOSED),
    (OSError("something else"), network.NETWORK),
    (OSError("ipv4:127.0.0.1:9: Handshake read failed (Endpoint closing)"), network.TIMED_OUT),  # gRPC, no answer
])
def test_network_failure_reads_the_exception_chain(inner, kind):
    assert network.network_failure(_wrapped(inner)) == kind


def test_unreachable_names_endpoint_and_kind_and_retries_only_what_can_heal():
    refused = network.unreachable("Vault", "http://127.0.0.1:1", _wrapped(ConnectionRefusedError(111, "refused")),
                                  address="vault_addr", provider="vault")
    assert str(refused).startswith("[vault] cannot reach Vault at http://127.0.0.1:1: connection refused.")
    assert refused.retryable and isinstance(refused, errors.ProviderUnavailable)
    dns = network.unreachable("Vault", "http://x.invalid:1", _wrapped(socket.gaierror(-2, "x")), address="vault_addr")
    assert not dns.retryable and "vault_addr" in str(dns)
