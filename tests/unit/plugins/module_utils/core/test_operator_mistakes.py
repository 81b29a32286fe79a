"""Pure logic behind three operator mistakes: the provider choice in automation, path segments in
names, and what an unreachable endpoint's error may show (the integration tests prove the behaviour
against real servers; these pin the rules)."""
from __future__ import annotations

import socket
import ssl

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, names, network, options


# provider choice ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env,variables,expected", [
    ({}, {"awx_job_id": 7}, "awx_job_id"),
    ({}, {"tower_job_id": "7"}, "tower_job_id"),
    ({"JOB_ID": "7", "AWX_HOST": "https://awx"}, None, "JOB_ID"),
    ({"JOB_ID": "7"}, None, None),  # JOB_ID alone is too common a name to mean AWX
    ({"VIBEBOX_AUTOMATION": "true"}, None, "true"),
    ({"VIBEBOX_AUTOMATION": "false"}, None, None),
    ({}, {"awx_job_id": ""}, None),
])
def test_automation_marker(env, variables, expected):
    assert options.automation_marker(variables, env) == expected


def test_the_local_fallback_is_refused_in_a_job_unless_a_path_is_given():
    env = {"VIBEBOX_AUTOMATION": "awx_job_id"}
    with pytest.raises(errors.InvalidOption) as caught:
        options.choose_provider({}, env)
    text = str(caught.value)
    assert "awx_job_id" in text and "credential" in text and "local_path" in text and "provider" in text
    assert options.choose_provider({"local_path": "/srv/s.db"}, env) == options.ProviderChoice("local", "")
    assert options.choose_provider({"provider": "local"}, env) == options.ProviderChoice("local")
    assert options.choose_provider({}, dict(env, VAULT_ADDR="http://v")).provider == "vault"


def test_the_notice_names_the_variable_never_its_value():
    choice = options.choose_provider({}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "AWS_SECRET_MANAGER_REGION": "x"})
    assert choice == options.ProviderChoice("aws", "AWS_SECRET_MANAGER_REGION")
    assert "AWS_SECRET_MANAGER_REGION" in choice.notice and "'aws'" in choice.notice
    pod = options.choose_provider({}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert "KUBERNETES_SERVICE_HOST" in pod.notice and "10.0.0.1" not in pod.notice
    assert not options.choose_provider({"provider": "vault"}, {"AWS_SECRET_MANAGER_REGION": "x"}).automatic


# names --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [".", "./x", "a/./b", "a//b", "x/", "/x", "a/..", "a/../b"])
@pytest.mark.parametrize("provider", ["aws", "vault", "local", "gcp", "azure", "kubernetes"])
def test_dot_and_empty_segments_are_refused_for_every_provider(provider, bad):
    with pytest.raises(errors.InvalidSecretName, match="path segment"):
        names.to_provider_name(provider, bad)


def test_the_refusal_suggests_the_clean_name_and_checks_a_vault_prefix():
    with pytest.raises(errors.InvalidSecretName, match="Use 'x/y'"):
        names.to_provider_name("vault", "x/./y")
    with pytest.raises(errors.InvalidSecretName, match="prefix"):
        names.to_provider_name("vault", "x", prefix="team//")
    assert names.to_provider_name("vault", "a.b/c.d") == "vibebox/a.b/c.d"


@pytest.mark.parametrize("prefix", ["team//", "a/../", "./", "/team/"])
def test_a_local_prefix_with_dot_or_empty_segments_is_refused(prefix):
    """The local store is where secrets wait before moving to Vault: a prefix Vault would fold is refused here too."""
    with pytest.raises(errors.InvalidSecretName, match="prefix"):
        names.to_provider_name("local", "x", prefix=prefix)
    assert names.to_provider_name("local", "x", prefix="team/app/") == "team/app/x"


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
