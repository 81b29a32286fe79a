"""Rotation policy: max_age, grace, hard cut, rollback and cleanup, with a fake clock.

The decisions are pure functions; the Rotator is exercised over a small in-memory backend that
follows the SecretBackend contract (versions, 'previous' = newest live older version, check-and-set
with expect_version), so these tests need no provider and no waiting.

The second half is what makes rotation safe to run unattended: one rotation when two runs fire,
grace periods that end, unreadable tags, missing secrets, provider-managed rotation and the audit
trail. The same guarantees are tested against the real servers in
tests/integration/test_rotate_concurrency.py and test_rotate_grace.py.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Dict, List, Optional

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import PREVIOUS_IGNORING_GRACE, SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata, VersionInfo
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import (
    IN_FLIGHT_SECONDS,
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
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import grace_state

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

    def set(self, name, value, description=None, tags=None, expect_version=None):
        if expect_version is not None:
            actual = str(self._current(name)) if name in self.values else ""
            if actual != expect_version:
                raise errors.SecretConflict(f"version is {actual or 'none'}", provider_name=name)
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

    def update_metadata(self, name, description=None, tags=None):
        if tags is not None:
            self.tags[name] = dict(tags)
        return self.describe(name)

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
    manager.clock = clock
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
    meta.tags = {TAG_ROTATED_AT: str(int(T0 + 3)), TAG_GRACE_VERSION: "1"}
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
    rotator.rotate("jwt", RotationPolicy(), generator=gen(["old-value-1"]), create=True)
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
    assert rotator.rotate("jwt", policy, generator=gen(["value-0001"]), create=True).rotated
    for _day in range(29):
        clock.now += DAY
        assert not rotator.rotate("jwt", policy, generator=gen(["never-used"])).rotated
    assert backend.writes == 1
    clock.now += DAY
    result = rotator.rotate("jwt", policy, generator=gen(["value-0002"]))
    assert result.rotated and result.reason == "the current value is 30d old, max_age is 30d"


def test_check_mode_reports_due_and_writes_nothing(rotator, backend, clock):
    rotator.rotate("jwt", RotationPolicy(), generator=gen(["value-0001"]), create=True)
    result = rotator.rotate("jwt", RotationPolicy(grace_period=60), generator=gen(["x" * 10]), check_mode=True)
    assert result.due and not result.rotated and result.previous_version == "1"
    assert result.grace_until == int(clock.now) + 60
    assert backend.writes == 1


def test_same_value_is_not_a_rotation(rotator, backend):
    rotator.rotate("api", RotationPolicy(), value="given-value", create=True)
    result = rotator.rotate("api", RotationPolicy(), value="given-value")
    assert not result.rotated and not result.due and backend.writes == 1


def test_hard_cut_destroys_every_older_version(rotator, backend):
    for value in ("value-0001", "value-0002"):
        rotator.rotate("refresh", RotationPolicy(), value=value, create=True)
    result = rotator.rotate("refresh", RotationPolicy(keep_previous=False), value="value-0003")
    assert sorted(result.destroyed_versions) == ["1", "2"]
    with pytest.raises(errors.SecretNotFound):
        rotator.manager.get("refresh", version="previous")
    assert backend.tags["refresh"][TAG_GRACE_UNTIL] == str(int(T0))


def test_failed_read_back_rolls_back_to_the_old_value(rotator, backend):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", description=None, create=True)
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
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)

    def broken(_secret):
        backend.fail_next_set = True
        raise RuntimeError("boom")

    with pytest.raises(RotationFailed) as caught:
        rotator.rotate("jwt", RotationPolicy(), value="value-0002", verify=broken)
    assert not caught.value.rolled_back and "rollback_to: '1'" in str(caught.value)


def test_rollback_restores_the_age_of_the_old_value(rotator, backend, clock):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)
    clock.now += 10 * DAY
    rotated = rotator.rotate("jwt", RotationPolicy(), value="value-0002")
    clock.now += 60
    back = rotator.rollback("jwt", rotated.previous_version)
    assert back.rolled_back and rotator.manager.get("jwt").value == "value-0001"
    assert backend.tags["jwt"][TAG_ROTATED_AT] == str(int(T0))  # max_age counts from the old value's birth
    assert check_due(rotator.manager.describe("jwt"), [], RotationPolicy(max_age=10 * DAY), clock()).due
    assert not rotator.rollback("jwt", back.version).rotated


def test_a_rollback_of_a_version_no_longer_current_writes_nothing(rotator):
    """A failed run undoes only its own version: another run's newer rotation stays."""
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)
    mine = rotator.rotate("jwt", RotationPolicy(), value="value-0002")
    theirs = rotator.rotate("jwt", RotationPolicy(), value="value-0003")
    with pytest.raises(errors.SecretConflict, match=f"version {theirs.version} is current, not version {mine.version}"):
        rotator.rollback("jwt", mine.previous_version, only_if_current=mine.version)
    assert rotator.manager.get("jwt").value == "value-0003"


def test_a_version_whose_value_another_failed_run_put_back_is_still_rolled_back(rotator):
    """Run A rotated to v2 and its check is still running; run B rotated to v3, failed, and rolled back to v2's
    value (as v4), not knowing A's check would fail too. A's rollback must still take that value away."""
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)
    a = rotator.rotate("jwt", RotationPolicy(), value="value-0002")
    b = rotator.rotate("jwt", RotationPolicy(), value="value-0003")
    rotator.rollback("jwt", b.previous_version, only_if_current=b.version)
    assert rotator.manager.get("jwt").value == "value-0002"
    back = rotator.rollback("jwt", a.previous_version, only_if_current=a.version)
    assert back.rolled_back and rotator.manager.get("jwt").value == "value-0001"


def test_a_value_that_failed_one_run_is_not_made_current_by_another_runs_rollback(rotator):
    """A's check fails while B's version is current: A may not roll back, but marks its version failed; B's check
    fails next, and B's rollback skips A's failed value for the one before it."""
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)
    a = rotator.rotate("jwt", RotationPolicy(), value="value-0002")
    b = rotator.rotate("jwt", RotationPolicy(), value="value-0003")
    with pytest.raises(errors.SecretConflict):
        rotator.rollback("jwt", a.previous_version, only_if_current=a.version)
    back = rotator.rollback("jwt", b.previous_version, only_if_current=b.version)
    assert back.rolled_back and f"version {a.version} failed another run's check" in back.reason
    assert rotator.manager.get("jwt").value == "value-0001"
    again = rotator.rotate("jwt", RotationPolicy(), value="value-0004")  # the mark outlives later rotations
    assert str(a.version) in rotator.manager.describe("jwt").tags.get("vibebox-failed-versions", "")
    assert again.rotated


def test_check_mode_of_a_refused_rollback_marks_no_version_failed(rotator, backend):
    """A rollback in check mode (--check of a playbook that rolls back) writes nothing, not even the failed-version
    mark: that mark would make a later real rollback skip a value no check ever refused."""
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)
    a = rotator.rotate("jwt", RotationPolicy(), value="value-0002")
    b = rotator.rotate("jwt", RotationPolicy(), value="value-0003")
    tags = dict(backend.tags["jwt"])
    with pytest.raises(errors.SecretConflict):
        rotator.rollback("jwt", a.previous_version, check_mode=True, only_if_current=a.version)
    assert backend.tags["jwt"] == tags
    back = rotator.rollback("jwt", b.previous_version, only_if_current=b.version)
    assert back.rolled_back and rotator.manager.get("jwt").value == "value-0002"


def test_a_rotation_that_would_keep_an_expiry_already_past_is_refused(rotator, backend, clock):
    """A rotation keeps the expiry the secret has; when that moment has passed, the new value would be expired
    the moment it is written (readers with on_expired=error refuse it). Refused before any write, check mode too;
    a rotation that gives the new value its own expiry goes on."""
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True, expires_at=at(clock.now + DAY))
    clock.now += 2 * DAY
    for check_mode in (True, False):
        with pytest.raises(errors.InvalidOption, match="expired at") as caught:
            rotator.rotate("jwt", RotationPolicy(), value="value-0002", check_mode=check_mode)
        assert "value-000" not in str(caught.value) + str(caught.value.hint)
    assert rotator.manager.get("jwt").value == "value-0001" and rotator.manager.describe("jwt").version == "1"
    result = rotator.rotate("jwt", RotationPolicy(), value="value-0002", expires_at=at(clock.now + 30 * DAY))
    assert result.rotated and rotator.manager.describe("jwt").expires_at == at(clock.now + 30 * DAY)


def test_rotating_during_a_running_grace_warns(rotator, clock):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)
    rotator.rotate("jwt", RotationPolicy(grace_period=3600), value="value-0002")
    clock.now += 60
    result = rotator.rotate("jwt", RotationPolicy(grace_period=3600), value="value-0003")
    assert result.warnings and "no longer readable" in result.warnings[0]


def test_cleanup_reports_and_check_mode_destroys_nothing(rotator, backend, clock):
    for value in ("value-0001", "value-0002"):
        rotator.rotate("jwt", RotationPolicy(), value=value, create=True)
    rotator.rotate("jwt", RotationPolicy(grace_period=600), value="value-0003")
    report = rotator.cleanup("jwt", keep=1, check_mode=True)
    assert report["destroyed"] == ["1"] and backend.values["jwt"][1] is not None
    clock.now += 601
    report = rotator.cleanup("jwt", keep=1)
    assert report["destroyed"] == ["2", "1"] and backend.values["jwt"][2] is None
    assert rotator.cleanup("jwt", keep=1)["destroyed"] == []
    assert rotator.cleanup("never", keep=1)["skipped"]


def test_deleted_secret_is_not_rotated(rotator, backend):
    rotator.rotate("jwt", RotationPolicy(), value="value-0001", create=True)
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


def make_rotator(backend, clock, tmp_path=None, cache_ttl=0):
    audit = AuditLog(str(tmp_path / "audit.log") if tmp_path else None, "memory")
    manager = SecretManager(backend, prefix="", cache_ttl=cache_ttl, audit=audit)
    manager.clock = clock
    return Rotator(manager, clock=clock)


# --- two runs at once ----------------------------------------------------------------------------
def test_two_rotations_at_the_same_moment_rotate_once(backend, clock):
    """Run A reads version 1, run B rotates to version 2 before A writes: A writes nothing and says so."""
    run_a, run_b = make_rotator(backend, clock), make_rotator(backend, clock)
    run_a.rotate("jwt", RotationPolicy(), value="value-1", create=True)
    clock.now += 3600
    checked = run_a.manager.check_value

    def run_b_gets_there_first(name, value):  # run A has read version 1 and is about to write
        run_a.manager.check_value = checked
        run_b.rotate("jwt", RotationPolicy(grace_period=7200), value="value-from-b")
        return checked(name, value)

    run_a.manager.check_value = run_b_gets_there_first
    result = run_a.rotate("jwt", RotationPolicy(grace_period=7200), value="value-from-a")
    assert result.already_rotated and not result.rotated and not result.due
    assert result.reason.startswith(f"already rotated at {at(T0 + 3600).isoformat().replace('+00:00', 'Z')}"
                                    " by another run")
    assert result.version == "2"
    assert backend.values["jwt"] == {1: "value-1", 2: "value-from-b"}
    assert result.to_dict()["already_rotated"] is True


def test_two_creations_at_the_same_moment_create_once(backend, clock):
    run_a, run_b = make_rotator(backend, clock), make_rotator(backend, clock)
    checked = run_a.manager.check_value

    def run_b_gets_there_first(name, value):
        run_a.manager.check_value = checked
        run_b.rotate("key", RotationPolicy(), value="value-from-b", create=True)
        return checked(name, value)

    run_a.manager.check_value = run_b_gets_there_first
    result = run_a.rotate("key", RotationPolicy(), value="value-from-a", create=True)
    assert result.already_rotated and backend.values["key"] == {1: "value-from-b"}


def test_a_scheduled_run_between_the_value_and_the_tags_of_another_run_is_not_due():
    """Vault and AWS write the value, then the tags: a run that looks in between must see a new value."""
    versions = [VersionInfo("2", at(T0 + 31 * DAY), ["current"]), VersionInfo("1", at(T0), ["previous"])]
    tags_of_version_1 = {TAG_ROTATED_AT: str(int(T0))}  # written when version 1 was created
    meta = SecretMetadata(name="jwt", version="2", tags=tags_of_version_1)
    due = check_due(meta, versions, RotationPolicy(max_age=30 * DAY), T0 + 31 * DAY + 1)
    assert not due.due and due.age == 1


def test_tags_written_ahead_of_the_value_mean_another_run_is_rotating():
    """GCP writes the labels first: while they name the current version as replaced, it is being rotated."""
    versions = [VersionInfo("1", at(T0), ["current"])]
    meta = SecretMetadata(name="jwt", version="1", tags={TAG_ROTATED_AT: str(int(T0 + 31 * DAY)), TAG_GRACE_VERSION: "1"})
    policy = RotationPolicy(max_age=30 * DAY)
    assert not check_due(meta, versions, policy, T0 + 31 * DAY + 5).due
    # a run that died between the labels and the value must not hold the rotation off for max_age
    assert check_due(meta, versions, policy, T0 + 31 * DAY + IN_FLIGHT_SECONDS).due


def test_a_rollback_still_counts_age_from_the_old_value(backend, clock):
    rotator = make_rotator(backend, clock)
    rotator.rotate("jwt", RotationPolicy(), value="value-1", create=True)
    clock.now += 20 * DAY
    rotator.rotate("jwt", RotationPolicy(), value="value-2")
    clock.now += 60
    rotator.rollback("jwt", "1")
    meta, versions = rotator.state("jwt")
    due = check_due(meta, versions, RotationPolicy(max_age=20 * DAY), clock())
    assert due.due and due.age == 20 * DAY + 60


# --- missing secrets, provider-managed rotation ---------------------------------------------------
def test_rotating_a_missing_secret_fails_unless_create(backend, clock):
    rotator = make_rotator(backend, clock)
    for check_mode in (True, False):
        with pytest.raises(errors.SecretNotFound) as caught:
            rotator.rotate("jwt", RotationPolicy(), value="value-1", check_mode=check_mode)
        assert "not found; set create: true to create it" in str(caught.value)
    assert backend.writes == 0
    assert rotator.rotate("jwt", RotationPolicy(), value="value-1", create=True).rotated


def test_a_secret_the_provider_rotates_is_refused_unless_taken_over(backend, clock):
    rotator = make_rotator(backend, clock)
    rotator.rotate("db", RotationPolicy(), value="value-1", create=True)
    described = backend.describe

    def with_lambda(name):
        meta = described(name)
        meta.rotation = {"by": "aws-lambda", "lambda": "arn:aws:lambda:eu-west-1:1:function:rotate", "next": None}
        return meta

    backend.describe = with_lambda
    with pytest.raises(errors.InvalidOption) as caught:
        rotator.rotate("db", RotationPolicy(), value="value-2")
    assert "rotates it itself (arn:aws:lambda:eu-west-1:1:function:rotate" in str(caught.value)
    assert "take_over: true" in str(caught.value) and backend.writes == 1
    taken = rotator.rotate("db", RotationPolicy(), value="value-2", take_over=True)
    assert taken.rotated and "cancel-rotate-secret" in taken.warnings[0]


def test_a_bad_grace_period_is_refused_before_any_write(backend, clock):
    rotator = make_rotator(backend, clock)
    rotator.rotate("jwt", RotationPolicy(), value="value-1", create=True)
    with pytest.raises(errors.InvalidOption):
        RotationPolicy.from_options(grace_period="99999999999999w")
    assert backend.writes == 1


@pytest.mark.parametrize("bad", ["99999999999999999999", "-5", "nan", "inf", "yesterday", "1e400"])
def test_unreadable_rotation_tags_warn_and_do_not_block(backend, clock, bad):
    rotator = make_rotator(backend, clock)
    rotator.rotate("jwt", RotationPolicy(), value="value-1", create=True)
    rotator.rotate("jwt", RotationPolicy(grace_period=60), value="value-2")
    backend.tags["jwt"].update({TAG_ROTATED_AT: bad, TAG_GRACE_UNTIL: bad})
    clock.now += 2 * DAY  # due by the version's own age, the unreadable tag being ignored
    result = rotator.rotate("jwt", RotationPolicy(max_age=DAY, grace_period=60), value="value-3")
    assert result.rotated
    assert any(TAG_ROTATED_AT in warning and "treated as absent" in warning for warning in result.warnings)
    result.to_dict()  # no date out of range
    backend.tags["jwt"].update({TAG_ROTATED_AT: bad, TAG_GRACE_UNTIL: bad})
    clock.now += 120
    report = rotator.cleanup("jwt", keep=1)
    assert report["destroyed"] == ["2", "1"] and any(TAG_GRACE_UNTIL in warning for warning in report["warnings"])
    assert grace_state(backend.tags["jwt"], clock())["state"] == "none"
    assert rotator.manager.get("jwt").value == "value-3"


# --- grace ends ------------------------------------------------------------------------------------
def test_previous_is_missing_after_the_grace_unless_ignored(backend, clock):
    rotator = make_rotator(backend, clock, cache_ttl=300)
    manager = rotator.manager
    rotator.rotate("jwt", RotationPolicy(), value="value-1", create=True)
    rotator.rotate("jwt", RotationPolicy(grace_period=60), value="value-2")
    assert manager.get("jwt", version="previous").value == "value-1"  # cached from here on
    assert grace_state(backend.tags["jwt"], clock())["state"] == "until"
    clock.now += 60
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.get("jwt", version="previous")
    assert "grace period of its previous version 1 ended at" in str(caught.value)
    assert "ignore_grace: true" in str(caught.value) and "value-1" not in str(caught.value)
    with pytest.raises(errors.SecretNotFound):
        manager.get("jwt", version="previous", bypass_cache=True)
    assert manager.get("jwt", version=PREVIOUS_IGNORING_GRACE).value == "value-1"
    assert manager.get("jwt", version="1").value == "value-1"  # an explicit version id is not a 'previous'
    assert grace_state(backend.tags["jwt"], clock()) == {
        "state": "ended", "until": at(T0 + 60).isoformat().replace("+00:00", "Z"), "version": "1"}
    back = rotator.rollback("jwt", "previous")  # going back is allowed after the grace
    assert back.rolled_back and manager.get("jwt").value == "value-1"


def test_without_a_grace_period_previous_stays_readable_until_cleanup(backend, clock):
    rotator = make_rotator(backend, clock)
    rotator.rotate("key", RotationPolicy(), value="key-1", create=True)
    rotator.rotate("key", RotationPolicy(), value="key-2")
    clock.now += 400 * DAY
    assert rotator.manager.get("key", version="previous").value == "key-1"
    assert grace_state(backend.tags["key"], clock())["state"] == "none"


def test_a_grace_recorded_for_another_version_does_not_hide_previous(backend, clock):
    rotator = make_rotator(backend, clock)
    rotator.rotate("jwt", RotationPolicy(), value="value-1", create=True)
    rotator.rotate("jwt", RotationPolicy(grace_period=60), value="value-2")
    rotator.manager.set("jwt", "value-3")  # a plain write after the rotation keeps the old tags
    clock.now += 3600
    assert rotator.manager.get("jwt", version="previous").value == "value-2"


# --- cleanup and the audit trail --------------------------------------------------------------------
def test_cleanup_twice_changes_nothing_the_second_time(backend, clock):
    rotator = make_rotator(backend, clock)
    for value in ("value-1", "value-2", "value-3"):
        rotator.rotate("jwt", RotationPolicy(), value=value, create=True)
    assert rotator.cleanup("jwt")["destroyed"] == ["2", "1"]
    assert rotator.cleanup("jwt")["destroyed"] == []


def test_rotations_rollbacks_and_cleanups_are_audit_operations(backend, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("VIBEBOX_AUDIT_ACTOR", "awx:admin:42")
    rotator = make_rotator(backend, clock, tmp_path)
    rotator.rotate("jwt", RotationPolicy(), value="CANARY-value-1", create=True)
    rotator.rotate("jwt", RotationPolicy(), value="CANARY-value-2")
    rotator.rollback("jwt", "1")
    rotator.cleanup("jwt")
    text = (tmp_path / "audit.log").read_text()
    assert "CANARY" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    ops = [entry for entry in entries if entry.get("names")]
    assert [entry["op"] for entry in ops] == ["rotate", "rotate", "rotate_rollback", "cleanup"]
    assert all(entry["actor"] == "awx:admin:42" and entry["names"] == ["jwt"] and entry["ok"] for entry in ops)
    assert ops[0]["outcome"] == "created" and ops[0]["versions"] == {"jwt": {"before": None, "after": "1"}}
    assert ops[1]["version"] == "2" and ops[1]["versions"]["jwt"] == {"before": "1", "after": "2"}
    assert ops[2]["versions"]["jwt"] == {"before": "2", "after": "3"}
    assert ops[3]["versions"]["jwt"] == {"destroyed": ["2", "1"], "current": "3"}
    # the reads and writes of those operations are still written as they happened
    assert [entry["op"] for entry in entries if not entry.get("names")].count("set") == 3


# --- a run started together with another ------------------------------------------------------------
def test_a_run_does_not_rotate_what_another_run_rotated_after_it_started(rotator, backend, clock):
    rotator.rotate("jwt", RotationPolicy(), generator=gen(["value-0001"]), create=True)
    clock.now += DAY
    started = clock.now  # runs B and C start here
    clock.now += 5
    first = rotator.rotate("jwt", RotationPolicy(grace_period=7200, unless_rotated_since=started),
                           generator=gen(["value-0002"]))
    assert first.rotated and first.version == "2"
    clock.now += 3  # B reads only after A has written: the conditional write cannot see a race
    second = rotator.rotate("jwt", RotationPolicy(grace_period=7200, unless_rotated_since=started),
                            generator=gen(["never-used"]))
    assert not second.rotated and second.already_rotated and not second.due
    assert second.reason.startswith("already rotated at ") and "by another run" in second.reason
    assert backend.writes == 2
    assert rotator.manager.get("jwt", version="previous").value == "value-0001"  # its grace is intact
    clock.now += 60  # a run started after A finished rotates again, as asked
    third = rotator.rotate("jwt", RotationPolicy(unless_rotated_since=clock.now - 1), generator=gen(["value-0003"]))
    assert third.rotated and third.version == "3"


@pytest.mark.parametrize("text,expected", [
    ("2023-11-14T22:13:20Z", T0), ("2023-11-14T22:13:20", T0), ("2023-11-14 22:13:20+00:00", T0),
    ("2023-11-14T22:13:20.250000Z", T0 + 0.25), (str(int(T0)), T0), ("", None), (None, None),
])
def test_unless_rotated_since_reads_iso_and_epoch(text, expected):
    assert RotationPolicy.from_options(unless_rotated_since=text).unless_rotated_since == expected


@pytest.mark.parametrize("text", ["yesterday", "2999-01-01T00:00:00Z"])
def test_unless_rotated_since_refuses_unreadable_and_future_moments(text):
    with pytest.raises(errors.InvalidOption, match="unless_rotated_since"):
        RotationPolicy.from_options(unless_rotated_since=text)


def test_a_fingerprint_tells_values_apart_but_is_no_hash_a_guess_can_be_checked_against():
    import hashlib

    from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import fingerprint

    assert fingerprint("short") == fingerprint("short") != fingerprint("other")
    assert fingerprint("short") != hashlib.sha256(b"short").hexdigest()[:12]
