"""An unreachable endpoint's error names the endpoint tried and the kind of failure, for every remote provider.

"cannot reach Secrets Manager (EndpointConnectionError)" leaves an operator guessing between a typo in
the host name, a stopped server, a firewall and a certificate. Each remote provider is pointed, with
the unchanged SDK, at: a closed port (refused), a host name that cannot resolve (DNS), a server that
does not speak TLS or whose certificate is not trusted (TLS: the real OpenBao and moto servers, the
GCP, Azure and Kubernetes wire fakes), and a socket that never answers (timed out). The message must
carry ``scheme://host:port`` and the kind, and never the user, password or query string the address
was given with.
"""
from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, Tuple
from urllib.parse import urlsplit

import pytest

from ansible_run import run_playbook, state_env, write_playbook
import servers

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory, network
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy

CANARY = "CANARY-endpoint-" + uuid.uuid4().hex[:12]
DEAD_HOST = "vibebox-nowhere.invalid"  # .invalid never resolves (RFC 6761)
KINDS = {"refused": network.REFUSED, "dns": network.DNS, "tls": network.TLS, "timeout": network.TIMED_OUT}


def _fault_proxy():
    return servers.load("fault_proxy")


@pytest.fixture(scope="module")
def blackhole():
    hole = _fault_proxy().Blackhole().start()
    yield urlsplit(hole.url).netloc
    hole.stop()


def _kubeconfig(folder, server: str, ca_file: str = "") -> str:
    cluster: Dict[str, Any] = {"server": server}
    if ca_file:
        cluster["certificate-authority"] = ca_file
    path = os.path.join(str(folder), f"kubeconfig-{uuid.uuid4().hex[:6]}")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                   "clusters": [{"name": "k", "cluster": cluster}],
                   "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                   "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}, handle)
    return path


def _with_secrets(url: str) -> str:
    """The same address with a user, a password and a query string that must never be shown."""
    parts = urlsplit(url)
    return f"{parts.scheme}://reader:{CANARY}@{parts.netloc}/?sig={CANARY}"


def _manager(provider: str, address: str, tmp_path, request) -> SecretManager:
    """A manager of ``provider`` aimed at ``address`` (scheme://host:port) with one attempt per call."""
    parts = urlsplit(address)
    options: Dict[str, Any] = {"provider": provider, "audit_log": "false"}
    if provider == "vault":
        options.update(vault_addr=_with_secrets(address), vault_token="not-a-real-token", vault_timeout=1)
    elif provider == "aws":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws

        backend = aws.AwsBackend(region="us-east-1", endpoint_url=_with_secrets(address), access_key_id="testing",
                                 secret_access_key="testing", connect_timeout=1, read_timeout=1)
        manager = SecretManager(backend)
        manager.retry = RetryPolicy(attempts=1)
        return manager
    elif provider == "gcp":
        options.update(gcp_project="p", gcp_endpoint=parts.netloc, gcp_access_token="not-a-real-token")
    elif provider == "azure":
        fake = request.getfixturevalue("azure_server")
        options.update(azure_vault_url=f"{address}/?sig={CANARY}", azure_auth="service_principal",
                       azure_tenant_id=fake.options.get("azure_tenant_id", "00000000-0000-0000-0000-000000000000"),
                       azure_client_id="c", azure_client_secret=CANARY, azure_authority_host=address,
                       azure_verify_challenge_resource=False)
    elif provider == "kubernetes":
        options.update(kubeconfig=_kubeconfig(tmp_path, _with_secrets(address)), k8s_namespace="default")
    manager = factory.build_manager(options, env={})
    manager.retry = RetryPolicy(attempts=1)
    return manager


def _targets(request, blackhole) -> Dict[Tuple[str, str], str]:
    """(provider, kind) -> the scheme://host:port the provider is pointed at."""
    closed = _fault_proxy().closed_port()
    plain_http = urlsplit(request.getfixturevalue("moto_server").url).netloc  # a server that does not speak TLS
    gcp_tls = request.getfixturevalue("gcp_server").fake.endpoint  # self-signed: not trusted without gcp_ca_cert
    azure_tls = urlsplit(request.getfixturevalue("azure_server").fake.url).netloc
    k8s_tls = urlsplit(request.getfixturevalue("k8s_fake").url).netloc
    openbao = urlsplit(request.getfixturevalue("openbao_server").addr).netloc
    targets = {}
    for provider, scheme in (("vault", "http"), ("aws", "http"), ("gcp", "https"), ("azure", "https"),
                             ("kubernetes", "https")):
        targets[(provider, "refused")] = f"{scheme}://127.0.0.1:{closed}"
        targets[(provider, "dns")] = f"{scheme}://{DEAD_HOST}:8443"
    targets[("vault", "tls")] = f"https://{openbao}"
    targets[("aws", "tls")] = f"https://{plain_http}"
    targets[("gcp", "tls")] = f"https://{gcp_tls}"
    targets[("azure", "tls")] = f"https://{azure_tls}"
    targets[("kubernetes", "tls")] = f"https://{k8s_tls}"
    targets[("vault", "timeout")] = f"http://{blackhole}"
    targets[("aws", "timeout")] = f"http://{blackhole}"
    return targets


CASES = [(provider, kind) for provider in ("vault", "aws", "gcp", "azure", "kubernetes")
         for kind in ("refused", "dns", "tls", "timeout")
         if kind != "timeout" or provider in ("vault", "aws")]  # the others have no timeout option to shorten


@pytest.mark.parametrize("provider,kind", CASES, ids=[f"{p}-{k}" for p, k in CASES])
def test_the_error_names_endpoint_and_kind(provider, kind, request, tmp_path, blackhole):
    address = _targets(request, blackhole)[(provider, kind)]
    manager = _manager(provider, address, tmp_path, request)
    with pytest.raises(errors.SecretError) as caught:
        manager.get("jwt-secret", bypass_cache=True)
    message = str(caught.value)
    assert isinstance(caught.value, errors.ProviderUnavailable), message
    parts = urlsplit(address)
    expected = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    assert f" at {expected}: {KINDS[kind]}" in message, message
    assert f"[{provider}]" in message
    assert CANARY not in message and CANARY not in repr(caught.value.__dict__), message
    assert isinstance(caught.value, errors.ProviderUnreachable) and caught.value.endpoint == expected
    assert caught.value.retryable == (kind in ("refused", "timeout"))  # a typo or a certificate does not heal


def test_a_lookup_shows_the_endpoint_and_kind_through_the_run_cache(tmp_path):
    """The message reaches the user the same way through ansible-playbook (the run cache sends errors
    between processes as fields, not as text)."""
    closed = _fault_proxy().closed_port()
    playbook = write_playbook(tmp_path, """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: read from a Vault nobody runs
      ansible.builtin.debug:
        msg: "{{ lookup('vibebox.secrets.get', 'jwt-secret', provider='vault', vault_addr=dead_vault,
                 vault_token='not-a-real-token', audit_log=false) | length }}"
""")
    done = run_playbook(playbook, state_env(tmp_path), extra_vars={
        "dead_vault": f"http://reader:{CANARY}@127.0.0.1:{closed}/?sig={CANARY}"})
    assert done.rc != 0
    assert f"cannot reach Vault at http://127.0.0.1:{closed}: connection refused" in done.output, done.output[-2000:]
    assert CANARY not in done.output


def test_azure_names_the_sign_in_endpoint_when_the_token_request_gets_no_answer(azure_server):
    """The vault answers, the authority does not: the message names the sign-in endpoint, and does not
    blame the tenant, client id or secret (before, it said "Azure sign-in failed" and listed them)."""
    closed = _fault_proxy().closed_port()
    options = dict(azure_server.options, provider="azure", audit_log="false",
                   azure_authority_host=f"https://127.0.0.1:{closed}")
    manager = factory.build_manager(options, env={})
    manager.retry = RetryPolicy(attempts=1)
    with pytest.raises(errors.SecretError) as caught:
        manager.get("jwt-secret", bypass_cache=True)
    message = str(caught.value)
    assert isinstance(caught.value, errors.ProviderUnreachable), message
    assert f"cannot reach the Azure sign-in endpoint at https://127.0.0.1:{closed}: connection refused" in message
    assert "azure_authority_host" in message and "azure_client_secret" not in message
