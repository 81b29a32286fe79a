"""How the ``fallback`` option is read: providers, ``aws:<region>`` and ``aws_replica_region``.

Pure logic (no backend is called): the chain the lookups and the resolve filter walk, and the
errors a mistyped chain gets before anything is read.
"""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.options import fallback_steps, with_environment


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
