"""What rotation relies on, for every provider (real servers and the wire fakes): conditional writes,
one rotation when two rotators read the same version, grace periods that end, and cleanups that a
second run finds nothing left to do for.

Each test runs once per provider in CONTRACT_PROVIDERS. Concurrency is made exact, not likely: the
second rotator runs at a chosen step of the first (between its read and its write).
"""
from __future__ import annotations

import time
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import PREVIOUS_IGNORING_GRACE
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationPolicy, Rotator
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import grace_state

CANARY = "canary-" + uuid.uuid4().hex


def test_a_conditional_write_refuses_a_moved_version_and_writes_nothing(manager_factory):
    first, second = manager_factory(), manager_factory()
    written = first.set("cas", CANARY + "-1")
    moved = second.set("cas", CANARY + "-2", expect_version=written.version)
    assert moved.version != written.version
    for expect in (written.version, ""):
        with pytest.raises(errors.SecretConflict) as caught:
            first.set("cas", CANARY + "-3", expect_version=expect)
        assert first.provider in str(caught.value) and CANARY not in str(caught.value)
    assert first.get("cas", bypass_cache=True).value == CANARY + "-2"
    assert first.describe("cas").version == moved.version
    created = first.set("cas-new", CANARY + "-a", expect_version="")
    with pytest.raises(errors.SecretConflict):
        second.set("cas-new", CANARY + "-b", expect_version="")
    assert second.get("cas-new", bypass_cache=True).value == CANARY + "-a"
    assert second.describe("cas-new").version == created.version


def test_two_rotators_that_read_the_same_version_rotate_once(manager_factory):
    run_a, run_b = Rotator(manager_factory()), Rotator(manager_factory())
    run_a.manager.set("jwt", CANARY + "-1")
    before = run_a.manager.describe("jwt").version
    checked = run_a.manager.check_value

    def run_b_writes_first(name, value):  # run A has read version 1 and is about to write
        run_a.manager.check_value = checked
        assert run_b.rotate(name, RotationPolicy(grace_period=3600), value=CANARY + "-b").rotated
        return checked(name, value)

    run_a.manager.check_value = run_b_writes_first
    result = run_a.rotate("jwt", RotationPolicy(grace_period=3600), value=CANARY + "-a")
    assert result.already_rotated and not result.rotated and "by another run" in result.reason
    assert run_a.manager.get("jwt", bypass_cache=True).value == CANARY + "-b"
    if run_a.manager.backend.supports_versions:
        assert run_a.manager.get("jwt", version="previous", bypass_cache=True).value == CANARY + "-1"
    assert result.version == run_a.manager.describe("jwt").version != before


def test_previous_answers_missing_once_its_grace_has_ended(manager):
    if not manager.backend.supports_versions:
        pytest.skip(f"provider {manager.provider} keeps no previous version: there is no grace to end")
    manager.set("graced", CANARY + "-old")
    Rotator(manager).rotate("graced", RotationPolicy(grace_period=3600), value=CANARY + "-new")
    assert manager.get("graced", version="previous", bypass_cache=True).value == CANARY + "-old"
    tags = manager.describe("graced").tags
    assert grace_state(tags, time.time())["state"] == "until"
    manager.clock = lambda: time.time() + 3601
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.get("graced", version="previous", bypass_cache=True)
    assert "grace period" in str(caught.value) and CANARY not in str(caught.value)
    assert manager.get("graced", version=PREVIOUS_IGNORING_GRACE, bypass_cache=True).value == CANARY + "-old"
    assert grace_state(tags, time.time() + 3601)["state"] == "ended"


def test_a_second_cleanup_right_after_the_first_changes_nothing(manager):
    rotator = Rotator(manager)
    manager.set("cleaned", CANARY + "-1")
    for step in (2, 3):
        rotator.rotate("cleaned", RotationPolicy(), value=f"{CANARY}-{step}")
    first = rotator.cleanup("cleaned", keep=1)
    second = rotator.cleanup("cleaned", keep=1)
    if first["skipped"]:
        assert second["skipped"] == first["skipped"] and second["destroyed"] == []
        return
    assert first["destroyed"], first
    assert second["destroyed"] == [], f"{manager.provider}: the second cleanup destroyed {second['destroyed']} again"
    assert manager.get("cleaned", bypass_cache=True).value == CANARY + "-3"


def test_azure_writers_that_both_pass_the_check_settle_on_one(azure_manager):
    """Key Vault has no conditional write: run B writes between run A's check and run A's write. A
    finds B's version when it looks after its own write, puts B's value back and disables its own."""
    run_a, run_b = azure_manager(), azure_manager()
    run_a.set("raced", CANARY + "-1")
    before = run_a.describe("raced").version
    real = run_a.backend._current_props

    def run_b_writes_after_run_a_checked(name):
        props = real(name)
        run_a.backend._current_props = real
        run_b.set("raced", CANARY + "-b", expect_version=before)  # B sees no sibling yet: it wins
        return props

    run_a.backend._current_props = run_b_writes_after_run_a_checked
    with pytest.raises(errors.SecretConflict) as caught:
        run_a.set("raced", CANARY + "-a", expect_version=before)
    assert "its value is current again" in str(caught.value) and CANARY not in str(caught.value)
    assert run_a.get("raced", bypass_cache=True).value == CANARY + "-b"
    assert run_a.get("raced", version="previous", bypass_cache=True).value == CANARY + "-1"
    readable = []
    for item in run_a.versions("raced"):
        if not item.destroyed:
            readable.append(run_a.get("raced", version=item.version, bypass_cache=True).value)
    assert CANARY + "-a" not in readable, "the losing value is still readable"
