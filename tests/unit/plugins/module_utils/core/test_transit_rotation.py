"""core/transit_rotation.py: the rotation and cleanup policy of a transit key over a small in-memory key;
max_age and the grace period are measured on the key's own version creation times.
"""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, transit_rotation
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationPolicy
# the in-memory key is the one core/transit.py's own tests use
from ansible_collections.vibebox.secrets.tests.unit.plugins.module_utils.core.test_transit import DAY, NOW, FakeKey


def test_rotation_honours_max_age_check_mode_and_unless_rotated_since():
    key = FakeKey({1: NOW - 400 * DAY})
    policy = RotationPolicy(max_age=int(365 * DAY))
    checked = transit_rotation.rotate(key, "encryption-key", policy, check_mode=True, clock=lambda: NOW)
    assert checked.due and not checked.rotated and max(key.versions) == 1
    done = transit_rotation.rotate(key, "encryption-key", policy, clock=lambda: NOW)
    assert done.rotated and (done.previous_version, done.version) == ("1", "2")
    again = transit_rotation.rotate(key, "encryption-key", policy, clock=lambda: NOW + 60)
    assert not again.due and not again.rotated and max(key.versions) == 2
    raced = transit_rotation.rotate(key, "encryption-key", RotationPolicy(unless_rotated_since=NOW - 5),
                                    clock=lambda: NOW + 1)
    assert raced.already_rotated and not raced.rotated


def test_a_hard_cut_stops_old_versions_at_once_and_a_missing_key_needs_create():
    key = FakeKey({1: NOW - 3 * DAY, 2: NOW - 2 * DAY})
    cut = transit_rotation.rotate(key, "encryption-key", RotationPolicy(keep_previous=False), clock=lambda: NOW)
    assert cut.version == "3" and cut.destroyed_versions == ["1", "2"] and key.min_decryption == 3
    missing = FakeKey(exists=False)
    with pytest.raises(errors.SecretNotFound):
        transit_rotation.rotate(missing, "encryption-key", RotationPolicy(), clock=lambda: NOW)
    made = transit_rotation.rotate(missing, "encryption-key", RotationPolicy(), create=True, clock=lambda: NOW)
    assert made.rotated and made.version == "1"


def test_cleanup_retires_old_versions_only_after_the_grace_period():
    key = FakeKey({1: NOW - 10 * DAY, 2: NOW - DAY})
    kept = transit_rotation.retire(key, "encryption-key", "2d", clock=lambda: NOW)
    assert kept["destroyed"] == [] and kept["grace_until"] and key.min_decryption == 1
    assert [item["version"] for item in kept["kept"]] == ["2", "1"]
    checked = transit_rotation.retire(key, "encryption-key", "12h", check_mode=True, clock=lambda: NOW)
    assert checked["destroyed"] == ["1"] and key.min_decryption == 1
    retired = transit_rotation.retire(key, "encryption-key", "12h", clock=lambda: NOW)
    assert retired["destroyed"] == ["1"] and key.min_decryption == 2
    again = transit_rotation.retire(key, "encryption-key", "12h", clock=lambda: NOW)
    assert again["destroyed"] == []
