"""One behaviour suite for every provider: what a user can rely on whatever holds the secret.

Each test runs once per provider in CONTRACT_PROVIDERS, against a real server or the project's wire
fake. Where a service lacks a feature (versions, restore), the backend says so through its flags and
the test checks that it says so clearly instead of pretending.
"""
from __future__ import annotations

import json
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors

CANARY = "canary-" + uuid.uuid4().hex


def test_set_then_get_returns_the_value(manager):
    meta = manager.set("db-password", CANARY + "-1", description="database", tags={"team": "core"})
    assert meta.version
    secret = manager.get("db-password", bypass_cache=True)
    assert secret.value == CANARY + "-1"
    assert CANARY not in repr(secret)


def test_missing_secret_names_provider_and_secret(manager):
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.get("never-created", bypass_cache=True)
    text = str(caught.value)
    assert manager.provider in text and "never-created" in text


def test_new_value_adds_a_version_and_previous_reads_the_old_one(manager):
    first = manager.set("jwt-secret", CANARY + "-old")
    second = manager.set("jwt-secret", CANARY + "-new")
    assert manager.get("jwt-secret", bypass_cache=True).value == CANARY + "-new"
    if not manager.backend.supports_versions:
        with pytest.raises(errors.SecretError):
            manager.get("jwt-secret", version="previous", bypass_cache=True)
        return
    assert first.version != second.version
    assert manager.get("jwt-secret", version="previous", bypass_cache=True).value == CANARY + "-old"
    assert manager.get("jwt-secret", version=first.version, bypass_cache=True).value == CANARY + "-old"
    listed = manager.versions("jwt-secret")
    assert len([v for v in listed if not v.destroyed]) >= 2
    current = [v for v in listed if "current" in v.stages]
    assert len(current) == 1 and current[0].version == second.version


def test_previous_of_a_single_version_is_a_clear_error(manager):
    manager.set("one-version", CANARY)
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.get("one-version", version="previous", bypass_cache=True)
    assert CANARY not in str(caught.value)


def test_unknown_version_id_is_not_found(manager):
    manager.set("versioned", CANARY)
    with pytest.raises(errors.SecretError) as caught:
        manager.get("versioned", version="999999", bypass_cache=True)
    assert isinstance(caught.value, (errors.SecretNotFound, errors.InvalidOption))


def test_describe_returns_metadata_and_never_the_value(manager):
    manager.set("api-key", CANARY, description="third-party API", tags={"env": "test", "owner": "ops"})
    meta = manager.describe("api-key")
    assert meta.description == "third-party API"
    assert meta.tags.get("env") == "test" and meta.tags.get("owner") == "ops"
    assert meta.version
    assert CANARY not in json.dumps(meta.to_dict(), default=str)


def test_set_without_tags_keeps_existing_tags_and_description(manager):
    manager.set("keep-meta", CANARY + "-1", description="kept", tags={"keep": "yes"})
    manager.set("keep-meta", CANARY + "-2")
    meta = manager.describe("keep-meta")
    assert meta.description == "kept"
    assert meta.tags.get("keep") == "yes"


def test_update_metadata_changes_tags_without_a_new_value(manager):
    manager.set("retag", CANARY, tags={"a": "1"})
    before = manager.describe("retag").version
    try:
        manager.update_metadata("retag", description="new words", tags={"a": "2"})
    except errors.UnsupportedOperation:
        pytest.skip(f"{manager.provider} changes metadata only with a value")  # reported by the backend itself
    meta = manager.describe("retag")
    assert meta.tags.get("a") == "2" and meta.description == "new words"
    assert meta.version == before
    assert manager.get("retag", bypass_cache=True).value == CANARY


def test_list_returns_logical_names_under_the_prefix(manager):
    for name in ("alpha", "beta", "gamma"):
        manager.set(name, CANARY)
    assert {"alpha", "beta", "gamma"} <= set(manager.list())
    assert not [item for item in manager.list() if item.startswith(manager.prefix or "\0")]


def test_soft_delete_then_restore_brings_the_value_back(manager):
    manager.set("recoverable", CANARY)
    manager.delete("recoverable", recovery_days=7)
    with pytest.raises((errors.SecretDeleted, errors.SecretNotFound)):
        manager.get("recoverable", bypass_cache=True)
    assert "recoverable" not in manager.list()
    if not manager.backend.supports_restore:
        return
    manager.restore("recoverable")
    assert manager.get("recoverable", bypass_cache=True).value == CANARY


def test_forced_delete_removes_for_good(manager):
    manager.set("gone", CANARY)
    manager.delete("gone", force=True)
    with pytest.raises(errors.SecretNotFound):
        manager.describe("gone")
    manager.set("gone", CANARY + "-again")  # the name is free again
    assert manager.get("gone", bypass_cache=True).value == CANARY + "-again"


def test_deleting_a_missing_secret_says_not_found(manager):
    with pytest.raises(errors.SecretNotFound):
        manager.delete("no-such-secret", force=True)


@pytest.mark.parametrize("value", ["multi\nline\nvalue", "unicodé ✓ 秘密", '{"user": "app", "password": "p@ss"}', "x" * 4000])
def test_values_round_trip_exactly(manager, value):
    manager.set("roundtrip", value)
    assert manager.get("roundtrip", bypass_cache=True).value == value


@pytest.mark.parametrize("bad", ["", "has space", "../escape", "a" * 600, "new\nline"])
def test_bad_names_fail_before_any_call(manager, bad):
    with pytest.raises(errors.InvalidSecretName):
        manager.set(bad, CANARY)
    assert not manager.list() or all(CANARY not in n for n in manager.list())


def test_get_many_returns_values_and_per_name_errors(manager):
    manager.set("many-a", CANARY + "-a")
    manager.set("many-b", CANARY + "-b")
    found = manager.get_many(["many-a", "many-b", "many-missing"], bypass_cache=True)
    assert found["many-a"].value == CANARY + "-a"
    assert found["many-b"].value == CANARY + "-b"
    assert isinstance(found["many-missing"], errors.SecretNotFound)


def test_a_second_manager_sees_the_first_ones_write(manager_factory):
    writer, reader = manager_factory(), manager_factory()
    writer.set("shared", CANARY)
    assert reader.get("shared").value == CANARY


def test_delete_old_version_after_rotation(manager):
    if not manager.backend.supports_versions:
        pytest.skip(f"{manager.provider} keeps no old versions")  # declared by the backend
    old = manager.set("cleanup-me", CANARY + "-old")
    manager.set("cleanup-me", CANARY + "-new")
    manager.delete_version("cleanup-me", old.version)
    with pytest.raises(errors.SecretError):
        manager.get("cleanup-me", version=old.version, bypass_cache=True)
    assert manager.get("cleanup-me", bypass_cache=True).value == CANARY + "-new"


def test_errors_never_carry_the_value(manager):
    manager.set("leak-check", CANARY)
    failures = []
    for call in (
        lambda: manager.get("leak-check", version="424242", bypass_cache=True),
        lambda: manager.set("bad name", CANARY),
        lambda: manager.set("leak-check", ""),
    ):
        try:
            call()
        except errors.SecretError as exc:
            failures.append(str(exc) + repr(exc))
    assert failures and all(CANARY not in text for text in failures)


def test_audit_log_records_operations_without_values(manager):
    manager.set("audited", CANARY)
    manager.get("audited", bypass_cache=True)
    ops = [(entry["op"], entry["name"], entry["ok"]) for entry in manager.audit.recent]
    assert ("set", "audited", True) in ops and ("get", "audited", True) in ops
    assert CANARY not in json.dumps(list(manager.audit.recent))
