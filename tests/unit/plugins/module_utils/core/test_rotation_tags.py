"""core/rotation_tags.py: the rotation tags read back, unreadable ones noted (never fatal), and which version a
grace period governs."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import rotation_tags as tags

T0 = 1700000000.0


def test_tags_are_read_and_a_bad_one_becomes_a_problem():
    good = tags.read_tags({tags.TAG_ROTATED_AT: str(T0), tags.TAG_GRACE_UNTIL: "1700003600", tags.TAG_GRACE_VERSION: "4"})
    assert (good.rotated_at, good.grace_until, good.grace_version, good.problems) == (T0, T0 + 3600, "4", [])
    bad = tags.read_tags({tags.TAG_ROTATED_AT: "yesterday", tags.TAG_GRACE_UNTIL: str(tags.MAX_EPOCH + 1)})
    assert bad.rotated_at is None and bad.grace_until is None and len(bad.problems) == 2
    assert "yesterday" in bad.problems[0] and tags.read_tags(None).problems == []


def test_grace_state_says_until_ended_or_none():
    recorded = {tags.TAG_GRACE_UNTIL: str(T0), tags.TAG_GRACE_VERSION: "3"}
    assert tags.grace_state(recorded, T0 - 1) == {"state": "until", "until": "2023-11-14T22:13:20Z", "version": "3"}
    assert tags.grace_state(recorded, T0)["state"] == "ended"
    assert tags.grace_state({}, T0) == {"state": "none", "until": None, "version": None}


@pytest.mark.parametrize("version,governed", [("3", True), (None, True), ("2", False)])
def test_a_grace_governs_only_the_version_it_was_recorded_for(version, governed):
    recorded = {tags.TAG_GRACE_UNTIL: str(T0), tags.TAG_GRACE_VERSION: "3"}
    assert (tags.grace_for(recorded, version) == T0) is governed
    assert (tags.grace_ended(recorded, version, T0 + 1) == T0) is governed
    assert tags.grace_ended(recorded, version, T0 - 1) is None


def test_previous_ignoring_grace_only_for_previous():
    assert tags.version_for_read("Previous", True) == tags.PREVIOUS_IGNORING_GRACE
    assert tags.version_for_read("previous", False) == "previous"
    assert tags.version_for_read("3", True) == "3"
    assert tags.to_moment(None) is None
