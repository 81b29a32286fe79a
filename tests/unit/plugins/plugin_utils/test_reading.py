"""plugins/plugin_utils/reading.py: the one read path (direct reads here; the run cache in run_cache/test_server.py
and test_lookup.py), the get lookup's policies, and on_expired (what the lookups and the resolve filter do with a
secret past the expiry its read returned; never a value in a message)."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, expiry, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption, SecretExpired
from ansible_collections.vibebox.secrets.plugins.plugin_utils import reading
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import wire

CANARY = "CANARY-7e21"


@pytest.fixture
def options(tmp_path, monkeypatch):
    monkeypatch.delenv("ENABLE_SECRET_MANAGER", raising=False)
    monkeypatch.setenv("VIBEBOX_RUN_CACHE", "false")
    opts = {"provider": "local", "local_path": str(tmp_path / "s.db"), "local_key_file": str(tmp_path / "s.key"),
            "audit_log": "false"}
    factory.build_manager(opts, env={}).set("jwt-secret", CANARY)
    return opts


def test_read_answers_every_item_once_with_its_own_outcome(options):
    found = reading.read(options, [("jwt-secret", "current"), ("jwt-secret", None), ("missing", None)])
    assert found.provider == "local" and list(found) == [("jwt-secret", None), ("missing", None)]
    assert found.value(("jwt-secret", None)) == CANARY
    assert isinstance(found[("missing", None)], errors.SecretNotFound)


def test_options_that_cannot_work_raise_instead_of_becoming_outcomes(options):
    with pytest.raises(errors.InvalidOption, match="aws-secrets"):
        reading.read(dict(options, provider="aws-secrets"), [("a", None)])
    with pytest.raises(errors.InvalidOption, match="cache_ttl"):
        reading.read(dict(options, cache_ttl="soon"), [("a", None)])


def test_the_fallback_chain_fills_what_is_missing_and_warns(options, monkeypatch):
    monkeypatch.setenv("ONLY_IN_ENV", CANARY + "-env")
    said = []
    found = reading.read(dict(options, fallback=["env"]), [("only-in-env", None), ("jwt-secret", None)], warn=said.append)
    assert found.value(("only-in-env", None)) == CANARY + "-env"
    assert found.value(("jwt-secret", None)) == CANARY
    assert len(said) == 1 and "'only-in-env' was read from provider 'env'" in said[0] and CANARY not in said[0]


def test_development_mode_reads_the_environment(options, monkeypatch):
    monkeypatch.setenv("ENABLE_SECRET_MANAGER", "false")
    monkeypatch.setenv("JWT_SECRET", CANARY + "-dev")
    without_provider = {key: value for key, value in options.items() if key != "provider"}
    assert reading.read(without_provider, [("jwt-secret", None)]).value(("jwt-secret", None)) == CANARY + "-dev"


def outcomes(**answers):
    """Outcomes as they come from the run cache: plain answers, decoded on access."""
    encoded = {(name, None): wire.encode_outcome(answer) for name, answer in answers.items()}
    return reading.Outcomes("local", encoded)


def test_policies(monkeypatch):
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata

    found = outcomes(a=Secret("A", SecretMetadata(name="a")), gone=errors.SecretNotFound("missing"),
                     deleted=errors.SecretDeleted("deleted"), denied=errors.SecretDenied("denied"))
    said = []
    assert reading.apply_policies(found, None, "skip", "warn", "skip", warn=said.append) == ["A"]
    assert len(said) == 1 and said[0].startswith("vibebox.secrets.get: skipped:")
    assert reading.apply_policies(found, "dflt", "error", "skip", "skip") == ["A", "dflt"]
    with pytest.raises(errors.SecretDeleted):
        reading.apply_policies(found, "dflt", "skip", "skip", "error")
    with pytest.raises(errors.SecretDenied):
        reading.apply_policies(found, None, "skip", "error", "skip")
    unreachable = outcomes(down=errors.ProviderUnavailable("down"))
    with pytest.raises(errors.ProviderUnavailable):
        reading.apply_policies(unreachable, "dflt", "skip", "skip", "skip")  # no policy hides an outage


def test_policies_follow_the_asked_items_with_repeats_and_select():
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata

    found = outcomes(a=Secret("A", SecretMetadata(name="a")))
    items = [("a", None), ("a", None)]
    assert reading.apply_policies(found, None, "error", "error", "error", items=items,
                                  select=lambda name, value: f"{name}={value}") == ["a=A", "a=A"]


def test_values_are_read_without_decoding_the_answers():
    found = reading.Outcomes("local", {("a", None): {"value": "A", "metadata": {}}})
    assert found.has_value(("a", None)) and found.value(("a", None)) == "A"
    assert isinstance(found._found[("a", None)], dict)  # still as it came over the socket


# expiry -------------------------------------------------------------------------------------------------
EXPIRY_CANARY = "CANARY-expiry-8a1f"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("ENABLE_SECRET_MANAGER", raising=False)
    monkeypatch.setenv("VIBEBOX_RUN_CACHE", "false")
    opts = {"provider": "local", "local_path": str(tmp_path / "s.db"), "local_key_file": str(tmp_path / "s.key"),
            "audit_log": "false"}
    reading._warned_expired.clear()
    return opts, factory.build_manager(opts, env={})


def test_reads_follow_on_expired_without_showing_the_value(store):
    opts, manager = store
    manager.set("old-key", EXPIRY_CANARY, tags={expiry.EXPIRY_TAG: "2020-01-01T00:00:00Z"})
    manager.set("old-key", EXPIRY_CANARY + "-2")  # version 2 keeps the tags, so the secret is still expired
    manager.set("fresh-key", EXPIRY_CANARY, tags={expiry.EXPIRY_TAG: "2999-01-01T00:00:00Z"})
    said = []
    found = reading.read(dict(opts, on_expired="warn"), [("old-key", None), ("fresh-key", None)], warn=said.append)
    reading.read(dict(opts, on_expired="warn"), [("old-key", None)], warn=said.append)  # warned once only
    assert found.value(("old-key", None)) == EXPIRY_CANARY + "-2"
    assert len(said) == 1 and "'old-key' expired at 2020-01-01T00:00:00Z" in said[0] and EXPIRY_CANARY not in said[0]
    with pytest.raises(SecretExpired, match="expired at 2020-01-01T00:00:00Z") as caught:
        reading.read(dict(opts, on_expired="error"), [("old-key", None)])
    assert EXPIRY_CANARY not in str(caught.value)
    quiet = []
    reading._warned_expired.clear()
    reading.read(dict(opts, on_expired="ignore"), [("old-key", None)], warn=quiet.append)
    reading.read(dict(opts, on_expired="error"), [("old-key", "previous")], warn=quiet.append)  # not the current
    assert quiet == []
    with pytest.raises(InvalidOption, match="on_expired"):
        reading.read(dict(opts, on_expired="explode"), [("fresh-key", None)])
