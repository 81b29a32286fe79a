"""core/factory.py: options are resolved once into a Resolved, whose key names the backend."""
from __future__ import annotations

import uuid
from dataclasses import FrozenInstanceError

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory


@pytest.mark.parametrize("env,expected", [
    ({}, "local"),
    ({"VAULT_ADDR": "http://x"}, "vault"),
    ({"AWS_SECRET_MANAGER_REGION": "eu-west-1"}, "aws"),
    ({"GCP_PROJECT_ID": "p"}, "gcp"),
    ({"AZURE_KEYVAULT_URL": "https://x.vault.azure.net"}, "azure"),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "kubernetes"),
    ({"SECRET_PROVIDER": "k8s", "VAULT_ADDR": "http://x"}, "kubernetes"),
])
def test_provider_detection_order(env, expected):
    assert factory.resolve({}, env).provider == expected


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(errors.InvalidOption) as caught:
        factory.normalise_provider("aws-secrets")
    assert "aws-secrets" in str(caught.value) and "vault" in str(caught.value)


CANARY = "CANARY-" + uuid.uuid4().hex


def test_options_the_chosen_provider_ignores_leave_the_key_alone():
    plain = factory.resolve({"provider": "local", "local_path": "/x/s.db"}, env={})
    noisy = factory.resolve({"provider": "local", "local_path": "/x/s.db", "vault_addr": "http://v",
                             "aws_region": "eu-west-1", "fallback": ["env"]}, env={})
    assert plain == noisy and plain.key == noisy.key


@pytest.mark.parametrize("change", [
    {"prefix": "other/"}, {"cache_ttl": 5}, {"audit_log": "/tmp/elsewhere.log"}, {"local_path": "/y/s.db"},
    {"provider": "env"},
])
def test_what_reaches_the_backend_changes_the_key(change):
    base = {"provider": "local", "local_path": "/x/s.db"}
    assert factory.resolve(base, env={}).key != factory.resolve({**base, **change}, env={}).key


def test_the_environment_is_read_once_at_resolution():
    resolved = factory.resolve({"provider": "vault"}, env={"VAULT_ADDR": "http://one:8200", "VAULT_PREFIX": "p/",
                                                           "SECRET_CACHE_TTL": "2000"})
    assert resolved.provider_options()["vault_addr"] == "http://one:8200"
    assert (resolved.prefix, resolved.ttl) == ("p/", 2.0)


def test_a_forced_provider_wins_over_the_option_and_detection():
    resolved = factory.resolve({"provider": "vault"}, env={"AWS_SECRET_MANAGER_REGION": "x"}, forced="environment")
    assert resolved.provider == "env" and resolved.choice is not None and not resolved.choice.automatic
    detected = factory.resolve({}, env={"VAULT_ADDR": "http://v"})
    assert detected.provider == "vault" and detected.choice.automatic


def test_a_credential_never_shows_in_the_key_or_the_repr():
    resolved = factory.resolve({"provider": "vault", "vault_token": CANARY}, env={})
    assert CANARY not in repr(resolved) and CANARY not in resolved.key
    assert factory.resolve({"provider": "vault", "vault_token": "other"}, env={}).key != resolved.key


def test_resolved_is_frozen():
    resolved = factory.resolve({"provider": "env"}, env={})
    with pytest.raises(FrozenInstanceError):
        resolved.ttl = 0  # type: ignore[misc]


def test_bad_cache_ttl_and_unknown_provider_are_clear_errors():
    with pytest.raises(errors.InvalidOption, match="cache_ttl"):
        factory.resolve({"provider": "env", "cache_ttl": "soon"}, env={})
    with pytest.raises(errors.InvalidOption, match="aws-secrets"):
        factory.resolve({"provider": "aws-secrets"}, env={})


def test_build_manager_uses_the_resolved_options_as_they_are(tmp_path):
    resolved = factory.resolve({"provider": "local", "local_path": str(tmp_path / "a.db"), "cache_ttl": 7,
                                "audit_log": "false"}, env={})
    manager = factory.build_manager(resolved)
    assert manager.provider == "local" and manager.backend.path == str(tmp_path / "a.db")
    assert manager.cache.ttl == 7.0 and manager.audit.path is None
    # raw options are resolved first: what modules, scripts and tests pass
    assert factory.build_manager({"provider": "env", "audit_log": "false"}, env={}).provider == "env"


@pytest.mark.parametrize("provider", ["aws", "local", "env", "gcp"])
def test_engine_dynamic_for_a_provider_without_it_is_refused_naming_both(provider):
    with pytest.raises(errors.InvalidOption) as caught:
        factory.resolve({"provider": provider, "engine": "dynamic", "local_path": "/x/s.db"}, env={})
    message = str(caught.value)
    assert f"provider of this read is '{provider}'" in message and "engine=dynamic" in message
    assert "option of provider vault only" in message and "provider: vault" in (caught.value.hint or "")


def test_engine_dynamic_refusal_says_when_detection_chose_the_provider():
    with pytest.raises(errors.InvalidOption, match=r"'aws' \(detected from AWS_SECRET_MANAGER_REGION\)"):
        factory.resolve({"engine": "dynamic"}, env={"AWS_SECRET_MANAGER_REGION": "eu-west-1"})


def test_engine_kv_anywhere_and_dynamic_for_vault_or_a_forced_step_are_accepted():
    assert factory.resolve({"provider": "aws", "engine": "kv"}, env={}).provider == "aws"
    assert dict(factory.resolve({"provider": "vault", "engine": "dynamic"}, env={}).options)["engine"] == "dynamic"
    # a fallback step (or the development mode) forces another provider for the same names on purpose
    assert factory.resolve({"provider": "vault", "engine": "dynamic"}, env={}, forced="env").provider == "env"


def test_meaning_providers_lists_exactly_the_providers_that_declare_meaning_options():
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import registry

    declaring = tuple(item.name for item in registry.specs() if item.meaning_options)
    assert declaring == registry.MEANING_PROVIDERS
    assert sorted(registry.meaning_options()) == sorted(registry.MEANING_OPTIONS)
    for option, (owner, _neutral) in registry.meaning_options().items():
        assert option in registry.option_names(owner), f"{owner} declares {option} but has no such option"
