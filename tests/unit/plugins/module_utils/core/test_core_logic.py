"""Pure logic of the core: names, durations, generators, cache, retry, options, errors."""
from __future__ import annotations

import json
import string

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import durations, errors, factory, generators, names, options
from ansible_collections.vibebox.secrets.plugins.module_utils.core.cache import SecretCache
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy


@pytest.mark.parametrize("provider,logical,expected", [
    ("aws", "jwt-secret", "vibebox/jwt-secret"),
    ("gcp", "jwt-secret", "vibebox-jwt-secret"),
    ("azure", "jwt-secret", "vibebox-jwt-secret"),
    ("vault", "app/jwt-secret", "vibebox/app/jwt-secret"),
    ("kubernetes", "jwt-secret", "jwt-secret"),
    ("env", "jwt-secret", "JWT_SECRET"),
    ("local", "jwt-secret", "jwt-secret"),
])
def test_default_prefixes_follow_the_seed(provider, logical, expected):
    assert names.to_provider_name(provider, logical) == expected


@pytest.mark.parametrize("provider,logical", [
    ("gcp", "has.dot"), ("azure", "under_score"), ("azure", "a" * 130), ("gcp", "a/b"),
    ("kubernetes", "a/b"), ("aws", "sp ace"), ("vault", "a/../b"), ("local", ""),
])
def test_provider_rules_reject_before_any_call(provider, logical):
    with pytest.raises(errors.InvalidSecretName) as caught:
        names.to_provider_name(provider, logical)
    assert provider in str(caught.value)


def test_explicit_prefix_wins_and_round_trips():
    assert names.to_provider_name("aws", "x", prefix="prod/") == "prod/x"
    assert names.to_logical_name("aws", "prod/x", prefix="prod/") == "x"
    assert names.to_logical_name("aws", "other/x", prefix="prod/") is None


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("15m", 900), ("2h", 7200), ("30d", 2592000), ("90", 90), (45, 45), (None, None)])
def test_durations(text, seconds):
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["2 hours", "-5", "h", True])
def test_bad_durations_name_the_option(bad):
    with pytest.raises(errors.InvalidOption) as caught:
        durations.parse_duration(bad, "grace_period")
    assert "grace_period" in str(caught.value)


@pytest.mark.parametrize("kind,length", [("hex", 64), ("base64", 44), ("urlsafe", 43), ("password", 32), ("hex", 17), ("password", 12)])
def test_generators_give_exactly_length_characters(kind, length):
    values = {generators.generate(kind, length) for _index in range(20)}
    assert len(values) == 20 and all(len(v) == length for v in values)


def test_password_has_a_minimum_of_each_class():
    for _round in range(50):
        value = generators.generate("password", 12, ["lower", "upper", "digits", "symbols"], min_each=2)
        assert sum(c in string.ascii_lowercase for c in value) >= 2
        assert sum(c in string.ascii_uppercase for c in value) >= 2
        assert sum(c in string.digits for c in value) >= 2
        assert sum(c in generators.CLASSES["symbols"] for c in value) >= 2


def test_generator_rejects_impossible_requests():
    with pytest.raises(errors.InvalidOption):
        generators.generate("password", 8, ["lower", "upper", "digits", "symbols"], min_each=3)
    with pytest.raises(errors.InvalidOption):
        generators.generate("rot13")
    assert len(generators.generate("uuid")) == 36


def _secret(value="v"):
    return Secret(value, SecretMetadata(name="n", version="1"))


def test_cache_expires_and_invalidates_every_version():
    now = [0.0]
    cache = SecretCache(ttl=10, clock=lambda: now[0])
    cache.put("n", None, _secret())
    cache.put("n", "previous", _secret("old"))
    assert cache.get("n", "current").value == "v"
    now[0] = 9.9
    assert cache.get("n", None) is not None
    cache.invalidate("n")
    assert cache.get("n", "previous") is None
    cache.put("n", None, _secret())
    now[0] = 30
    assert cache.get("n", None) is None


def test_zero_ttl_disables_the_cache():
    cache = SecretCache(ttl=0)
    cache.put("n", None, _secret())
    assert cache.get("n", None) is None


def test_retry_retries_only_retryable_errors_and_is_bounded():
    sleeps = []
    policy = RetryPolicy(attempts=4, base_delay=0.01, sleep=sleeps.append)
    calls = []

    def throttled():
        calls.append(1)
        raise errors.ProviderThrottled("slow down")

    with pytest.raises(errors.ProviderThrottled):
        policy.call(throttled)
    assert len(calls) == 4 and len(sleeps) == 3 and policy.retries == 3

    denied_calls = []

    def denied():
        denied_calls.append(1)
        raise errors.SecretDenied("no")

    with pytest.raises(errors.SecretDenied):
        policy.call(denied)
    assert len(denied_calls) == 1


def test_retry_succeeds_after_transient_failures():
    attempts = iter([errors.ProviderUnavailable("503"), errors.ProviderUnavailable("503"), "ok"])

    def flaky():
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert RetryPolicy(sleep=lambda _s: None).call(flaky) == "ok"


def test_options_read_the_seed_environment():
    resolved = options.with_environment({}, {"VAULT_ADDR": "http://v:8200", "SECRET_CACHE_TTL": "60000", "VAULT_KV_VERSION": "1"})
    assert resolved["vault_addr"] == "http://v:8200"
    assert resolved["cache_ttl"] == 60.0
    assert resolved["vault_kv_version"] == 1


def test_task_option_wins_over_environment():
    resolved = options.with_environment({"vault_addr": "http://task"}, {"VAULT_ADDR": "http://env"})
    assert resolved["vault_addr"] == "http://task"


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


def test_secret_options_are_no_log_in_the_argument_spec():
    spec = options.provider_argument_spec()
    for name in ("vault_token", "vault_secret_id", "azure_client_secret", "aws_secret_access_key", "gcp_access_token"):
        assert spec[name]["no_log"] is True


def test_error_messages_name_provider_secret_and_next_step():
    exc = errors.SecretNotFound("it does not exist", provider_name="vibebox/x", hint="Create it").with_context(provider="aws", name="x")
    assert str(exc) == "[aws] secret 'x' (vibebox/x): it does not exist. Create it"


def test_missing_sdk_names_the_pip_package():
    exc = errors.ProviderNotInstalled("aws", "boto3")
    assert "pip install boto3" in str(exc)


def test_repr_of_a_secret_hides_the_value():
    assert "s3cr3t" not in repr(Secret("s3cr3t", SecretMetadata(name="n"))) + str(Secret("s3cr3t", SecretMetadata(name="n")))


@pytest.mark.parametrize("value", [
    "v" * 8 + "-long-" + "x" * 400,              # longer than the message is cut to
    'quote"and\\backslash-' + "y" * 300,          # echoed JSON-escaped
    "line-one\nline-two-" + "z" * 20,            # echoed with its newline escaped
])
def test_scrub_hides_a_long_or_escaped_echo_before_cutting(value):
    """A service that echoes the rejected value back must not leave any stretch of it in the message."""
    for echoed in (value, json.dumps(value)[1:-1], repr(value)[1:-1]):
        message = errors.scrub(f"ValidationException: Value '{echoed}' at 'secretString' failed", value)
        assert "<hidden>" in message
        assert len(message) <= 300
        for start in range(0, len(value) - 12):
            assert value[start:start + 12] not in message
