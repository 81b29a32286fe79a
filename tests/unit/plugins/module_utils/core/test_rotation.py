"""Rotation policy: max_age, grace, hard cut, rollback and cleanup, with a fake clock.

The decisions are pure functions; the Rotator is exercised over a small in-memory backend that
follows the SecretBackend contract (versions, 'previous' = newest live older version), so these
tests need no provider and no waiting.
"""
from __future__ import annotations

import datetime as _dt
from typing import Dict, List, Optional

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata, VersionInfo
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import (
    TAG_GRACE_UNTIL,
    TAG_GRACE_VERSION,
    TAG_ROTATED_AT,
    RotationFailed,
    RotationPolicy,
    Rotator,
    check_due,
    current_version_born,
    plan_cleanup,
    rotation_tags,
)

T0 = 1_700_000_000.0
DAY = 86400


def at(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MemoryBackend(SecretBackend):
    """Versions 1, 2, ... per name; destroyed versions keep their number; tags per secret."""

    name = "memory"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.values: Dict[str, Dict[int, Optional[str]]] = {}
        self.born: Dict[str, Dict[int, float]] = {}
        self.tags: Dict[str, Dict[str, str]] = {}
        self.fail_next_set = False
        self.writes = 0

    def _current(self, name: str) -> int:
        return max(self.values[name])

    def _previous(self, name: str) -> Optional[int]:
        older = [n for n, v in self.values[name].items() if n < self._current(name) and v is not None]
        return max(older) if older else None

    def _meta(self, name: str, number: int) -> SecretMetadata:
        return SecretMetadata(name=name, version=str(number), tags=dict(self.tags[name]),
                              updated_at=at(self.born[name][number]))

    def get(self, name: str, version: Optional[str] = None) -> Secret:
        if name not in self.values:
            raise errors.SecretNotFound("missing", provider_name=name)
        if version in (None, "current"):
            number = self._current(name)
        elif version == "previous":
            number = self._previous(name)
            if number is None:
                raise errors.VersionNotFound("no previous", provider_name=name)
        else:
            number = int(version)
        value = self.values[name].get(number)
        if value is None:
            raise errors.VersionNotFound("destroyed", provider_name=name)
        return Secret(value, self._meta(name, number))

    def set(self, name, value, description=None, tags=None):
        if self.fail_next_set:
            self.fail_next_set = False
            raise errors.ProviderUnavailable("injected", retryable=False)
        self.writes += 1
        versions = self.values.setdefault(name, {})
        number = (max(versions) if versions else 0) + 1
        versions[number] = value
        self.born.setdefault(name, {})[number] = self.clock()
        if tags is not None or name not in self.tags:
            self.tags[name] = dict(tags or {})
        return self._meta(name, number)

    def delete(self, name, recovery_days=None, force=False):
        self.values.pop(name, None)

    def describe(self, name):
        if name not in self.values:
            raise errors.SecretNotFound("missing", provider_name=name)
        return self._meta(name, self._current(name))

    def versions(self, name):
        current, previous = self._current(name), self._previous(name)
        return [
            VersionInfo(str(n), at(self.born[name][n]),
                        ["current"] if n == current else (["previous"] if n == previous else []),
                        enabled=v is not None, destroyed=v is None)
            for n, v in sorted(self.values[name].items(), reverse=True)
        ]

    def delete_version(self, name, version):
        if int(version) == self._current(name):
            raise errors.UnsupportedOperation("current")
        self.values[name][int(version)] = None

    def list(self, prefix=""):
        return sorted(n for n in self.values if n.startswith(prefix))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def backend(clock):
    return MemoryBackend(clock)


@pytest.fixture
def rotator(backend, clock):
    manager = SecretManager(backend, prefix="", cache_ttl=0)
    return Rotator(manager, clock=clock)


def gen(values: List[str]):
    items = iter(values)
    return lambda: next(items)


# --- pure rules ----------------------------------------------------------------------------------
def test_missing_secret_is_due():
    due = check_due(None, [], RotationPolicy(max_age=30 * DAY), T0)
    assert due.due and not due.exists


def test_without_max_age_a_rotation_is_always_due():
    meta = SecretMetadata(name="x", version="1", tags={TAG_ROTATED_AT: str(int(T0))})
    assert check_due(meta, [], RotationPolicy(), T0 + 1).due


@pytest.mark.parametrize("elapsed,due", [(0, False), (30 * DAY - 1, False), (30 * DAY, True), (400 * DAY, True)])
def test_max_age_boundary(elapsed, due):
    meta = SecretMetadata(name="x", version="1", tags={TAG_ROTATED_AT: str(int(T0))})
    result = check_due(meta, [], RotationPolicy(max_age=30 * DAY), T0 + elapsed)
    assert result.due is due and result.age == elapsed and result.next_due == T0 + 30 * DAY


def test_age_comes_from_the_rotation_tag_then_the_current_version():
    versions = [VersionInfo("2", at(T0 + 10 * DAY), ["current"]), VersionInfo("1", at(T0), ["previous"])]
    meta = SecretMetadata(name="x", version="2", updated_at=at(T0 + 20 * DAY))
    assert current_version_born(meta, versions) == T0 + 10 * DAY
    meta.tags = {TAG_ROTATED_AT: str(int(T0 + 3))}
    assert current_version_born(meta, versions) == T0 + 3
    meta.tags = {TAG_ROTATED_AT: "edited-by-hand"}
    assert current_version_born(meta, versions) == T0 + 10 * DAY
    assert current_version_born(SecretMetadata(name="x", version="9", updated_at=at(T0)), []) == T0


def test_unknown_age_is_due_to_be_safe():
    assert check_due(SecretMetadata(name="x", version="1"), [], RotationPolicy(max_age=DAY), T0).due


def test_rotation_tags_keep_user_tags_and_are_label_safe():
    tags = rotation_tags({"team": "core", TAG_GRACE_UNTIL: "1"}, T0 + 0.7, RotationPolicy(grace_period=7200), "4")
    assert tags == {"team": "core", TAG_ROTATED_AT: str(int(T0)), TAG_GRACE_UNTIL: str(int(T0) + 7200),
                    TAG_GRACE_VERSION: "4"}
    assert all(value.replace("-", "").isalnum() and value == value.lower() for value in tags.values())
    hard = rotation_tags({}, T0, RotationPolicy(keep_previous=False), "4")
    assert hard[TAG_GRACE_UNTIL] == str(int(T0))
    assert TAG_GRACE_UNTIL not in rotation_tags({}, T0, RotationPolicy(grace_period=60), None)


def test_policy_parses_durations_and_rejects_grace_with_hard_cut():
    policy = RotationPolicy.from_options("30d", "2h")
    assert (policy.max_age, policy.grace_period, policy.keep_previous) == (30 * DAY, 7200, True)
    with pytest.raises(errors.InvalidOption):
        RotationPolicy.from_options(None, "2h", keep_previous=False)
    with pytest.raises(errors.InvalidOption):
        RotationPolicy.from_options("soon")


def _versions(*numbers_ages):
    return [VersionInfo(str(n), at(T0 + age), ["current"] if i == 0 else []) for i, (n, age) in enumerate(numbers_ages)]


def test_cleanup_keeps_the_version_in_grace_until_it_ends():
    versions = _versions((3, 300), (2, 200), (1, 100))
    tags = {TAG_GRACE_UNTIL: str(int(T0 + 1000)), TAG_GRACE_VERSION: "2"}
    during = plan_cleanup(versions, "3", tags, T0 + 999, keep=1)
    assert during.destroy == ["1"] and ("2", f"in grace until {at(T0 + 1000).isoformat().replace('+00:00', 'Z')}") in during.keep
    after = plan_cleanup(versions, "3", tags, T0 + 1000, keep=1)
    assert after.destroy == ["2", "1"]


def test_cleanup_keeps_the_newest_n_and_skips_destroyed():
    versions = _versions((4, 400), (3, 300), (2, 200), (1, 100))
    versions[3].destroyed = True
    plan = plan_cleanup(versions, "4", {}, T0 + 10_000, keep=2)
    assert plan.destroy == ["2"] and [v for v, _when in plan.keep] == ["4", "3"]
    with pytest.raises(errors.InvalidOption):
        plan_cleanup(versions, "4", {}, T0, keep=0)


def test_grace_without_a_version_protects_the_newest_old_one():
    plan = plan_cleanup(_versions((3, 300), (2, 200), (1, 100)), "3", {TAG_GRACE_UNTIL: str(int(T0 + 999))}, T0, 1)
    assert plan.destroy == ["1"]


# --- the Rotator ---------------------------------------------------------------------------------
def test_rotate_records_grace_and_previous_stays_readable(rotator, backend, clock):
    rotator.rotate("jwt", RotationPolicy(), generator=gen(["old-value-1"]))
    clock.now += 60
    result = rotator.rotate("jwt", RotationPolicy(grace_period=7200), generator=gen(["new-value-2"]))
    assert result.rotated and (result.version, result.previous_version) == ("2", "1")
    assert result.grace_until == int(clock.now) + 7200
    assert backend.tags["jwt"][TAG_GRACE_VERSION] == "1"
    assert rotator.manager.get("jwt", version="previous").value == "old-value-1"
    data = result.to_dict()
    assert data["grace_until"].endswith("Z") and data["grace_until_epoch"] == int(clock.now) + 7200
    assert "old-value" not in repr(data) and "new-value" not in repr(data)


def test_scheduled_runs_are_idempotent_until_due(rotator, backend, clock):
    policy = RotationPolicy(max_age=30 * DAY)
    assert rotator.rotate("jwt", policy, generator=gen(["value-0001"])).rotated
    for _day in range(29):
        clock.now += DAY
        assert not rotator.rotate("jwt", policy, generator=gen(["never-used"])).rotated
    assert backend.writes == 1
    clock.now += DAY
    result = rotator.rotate("jwt", policy, generator=gen(["value-0002"]))
    assert result.rotated and result.reason == "the current value is 30d old, max_age is 30d"


def test_check_mode_reports_due_and_writes_nothing(rotator, backend, clock):
    rotator.rotate("jwt", RotationPolicy(), generator=gen(["value-0001"]))
    result = rotator.rotate("jwt", RotationPolicy(grace_period=60), generator=gen(["x" * 10]), check_mode=True)
    assert result.due and not result.rotated and result.previous_version == "1"
    assert result.grace_until == int(clock.now) + 60
    assert backend.writes == 1


def test_same_value_is_not_a_rotation(rotator, backend):
    rotator.rotate("api", RotationPolicy(), value="given-value")
    result = rotator.rotate("api", RotationPolicy(), value="given-value")
    assert not result.rotated and not result.due and backend.writes == 1


def test_hard_cut_destroys_every_older_version(rotator, backend):
    for value in ("value-0001", "value-0002"):
        rotator.rotate("refresh", RotationPolicy(), value=value)
    result = rotator.rotate("refresh", RotationPolicy(keep_previous=False), value="value-0003")
    assert sorted(result.destroyed_versions) == ["1", "2"]
    with pytest.raises(errors.SecretNotFound):
        rotator.manager.get("refresh", version="previous")
    assert backend.tags["refresh"][TAG_GRACE_UNTIL] == str(int(T0))


def test_failed_read_back_rolls_back_to_the_old_value(rotator, backend):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", description=None)
    backend.tags["jwt"]["team"] = "core"
    tags_before = dict(backend.tags["jwt"])

    def broken(_secret):
        raise RuntimeError("health check failed")

    with pytest.raises(RotationFailed) as caught:
        rotator.rotate("jwt", RotationPolicy(grace_period=60), value="value-0002", verify=broken)
    assert caught.value.rolled_back and caught.value.version == "3"
    assert "health check failed" in str(caught.value) and "value-000" not in str(caught.value)
    assert rotator.manager.get("jwt").value == "value-0001"
    assert backend.tags["jwt"] == tags_before  # the grace of the failed rotation is not left behind


def test_failed_rollback_says_how_to_roll_back_by_hand(rotator, backend):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001")

    def broken(_secret):
        backend.fail_next_set = True
        raise RuntimeError("boom")

    with pytest.raises(RotationFailed) as caught:
        rotator.rotate("jwt", RotationPolicy(), value="value-0002", verify=broken)
    assert not caught.value.rolled_back and "rollback_to: '1'" in str(caught.value)


def test_rollback_restores_the_age_of_the_old_value(rotator, backend, clock):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001")
    clock.now += 10 * DAY
    rotated = rotator.rotate("jwt", RotationPolicy(), value="value-0002")
    clock.now += 60
    back = rotator.rollback("jwt", rotated.previous_version)
    assert back.rolled_back and rotator.manager.get("jwt").value == "value-0001"
    assert backend.tags["jwt"][TAG_ROTATED_AT] == str(int(T0))  # max_age counts from the old value's birth
    assert check_due(rotator.manager.describe("jwt"), [], RotationPolicy(max_age=10 * DAY), clock()).due
    assert not rotator.rollback("jwt", back.version).rotated


def test_rotating_during_a_running_grace_warns(rotator, clock):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001")
    rotator.rotate("jwt", RotationPolicy(grace_period=3600), value="value-0002")
    clock.now += 60
    result = rotator.rotate("jwt", RotationPolicy(grace_period=3600), value="value-0003")
    assert result.warnings and "no longer readable" in result.warnings[0]


def test_cleanup_reports_and_check_mode_destroys_nothing(rotator, backend, clock):
    for value in ("value-0001", "value-0002"):
        rotator.rotate("jwt", RotationPolicy(), value=value)
    rotator.rotate("jwt", RotationPolicy(grace_period=600), value="value-0003")
    report = rotator.cleanup("jwt", keep=1, check_mode=True)
    assert report["destroyed"] == ["1"] and backend.values["jwt"][1] is not None
    clock.now += 601
    report = rotator.cleanup("jwt", keep=1)
    assert report["destroyed"] == ["2", "1"] and backend.values["jwt"][2] is None
    assert rotator.cleanup("jwt", keep=1)["destroyed"] == []
    assert rotator.cleanup("never", keep=1)["skipped"]


def test_deleted_secret_is_not_rotated(rotator, backend):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001")
    original = backend.describe

    def deleted(name):
        meta = original(name)
        meta.deleted_at = at(T0)
        return meta

    backend.describe = deleted
    with pytest.raises(errors.SecretDeleted):
        rotator.rotate("jwt", RotationPolicy(), value="value-0002")


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (45, "45s"), (5400, "1h30m"), (30 * DAY, "30d"), (DAY + 61, "1d1m"), (None, "unknown")])
def test_human_durations(seconds, text):
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import human

    assert human(seconds) == text
