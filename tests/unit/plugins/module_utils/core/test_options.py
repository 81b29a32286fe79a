"""core/options.py: options read from the environment, the provider choice (and its refusal in automation),
the argument spec's no_log, and how the ``fallback`` option is read (providers, ``aws:<region>``,
``aws_replica_region``), with the errors a mistyped chain gets before anything is read.
"""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, options
from ansible_collections.vibebox.secrets.plugins.module_utils.core.options import fallback_steps, with_environment


def test_options_read_the_seed_environment():
    resolved = options.with_environment({}, {"VAULT_ADDR": "http://v:8200", "SECRET_CACHE_TTL": "60000", "VAULT_KV_VERSION": "1"})
    assert resolved["vault_addr"] == "http://v:8200"
    assert resolved["cache_ttl"] == 60.0
    assert resolved["vault_kv_version"] == 1


def test_task_option_wins_over_environment():
    resolved = options.with_environment({"vault_addr": "http://task"}, {"VAULT_ADDR": "http://env"})
    assert resolved["vault_addr"] == "http://task"


def test_secret_options_are_no_log_in_the_argument_spec():
    spec = options.provider_argument_spec()
    for name in ("vault_token", "vault_secret_id", "azure_client_secret", "aws_secret_access_key", "gcp_access_token"):
        assert spec[name]["no_log"] is True


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


def _plan(**raw):
    return [(provider, options.get("aws_region"), label) for provider, options, label in fallback_steps(raw)]


def test_providers_are_taken_in_order_and_aliases_allowed():
    assert _plan(fallback=["env", "k8s"]) == [("env", None, "env"), ("k8s", None, "k8s")]


def test_a_comma_separated_string_is_a_list():
    assert _plan(fallback="local, env") == [("local", None, "local"), ("env", None, "env")]


def test_no_fallback_is_no_step():
    assert not _plan()
    assert not _plan(fallback=[])


def test_aws_region_entry_keeps_the_other_options_and_drops_the_chain():
    steps = fallback_steps({"fallback": ["aws:eu-west-1"], "aws_region": "us-east-1", "prefix": "app/"})
    assert len(steps) == 1
    provider, options, label = steps[0]
    assert (provider, label) == ("aws", "aws (eu-west-1)")
    assert options["aws_region"] == "eu-west-1" and options["prefix"] == "app/"
    assert options["fallback"] is None


def test_replica_entry_expands_to_each_replica_region():
    assert _plan(fallback=["aws_replica_region", "env"], aws_replica_regions=["eu-west-1", "ap-south-1"]) == [
        ("aws", "eu-west-1", "aws (eu-west-1)"), ("aws", "ap-south-1", "aws (ap-south-1)"), ("env", None, "env")]


def test_replica_regions_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_REPLICA_REGIONS", "eu-central-1")
    assert _plan(fallback=["aws_replica_region"]) == [("aws", "eu-central-1", "aws (eu-central-1)")]


def test_replica_entry_without_regions_says_what_to_set(monkeypatch):
    monkeypatch.delenv("AWS_SECRET_REPLICA_REGIONS", raising=False)
    with pytest.raises(errors.InvalidOption, match="aws_replica_regions"):
        fallback_steps({"fallback": ["aws_replica_region"]})


@pytest.mark.parametrize("entry, words", [("vaulty", "is not a provider"), ("aws:", "names no region")])
def test_a_mistyped_entry_is_refused(entry, words):
    with pytest.raises(errors.InvalidOption, match=words):
        fallback_steps({"fallback": [entry]})


def test_list_options_from_the_environment_are_split(monkeypatch):
    """Environment variables are text; every list option reaches the providers as a list."""
    monkeypatch.setenv("AWS_SECRET_REPLICA_REGIONS", "eu-west-1, eu-central-1")
    monkeypatch.setenv("GCP_SECRET_REPLICATION", "europe-west1,europe-west4")
    resolved = with_environment({"fallback": "env,local"})
    assert resolved["aws_replica_regions"] == ["eu-west-1", "eu-central-1"]
    assert resolved["gcp_replication"] == ["europe-west1", "europe-west4"]
    assert resolved["fallback"] == ["env", "local"]
