"""plugins/filter/rotation.py: the rotate role's filters hand their input to core/rotation_kinds.py."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vibebox.secrets.plugins.filter.rotation import FilterModule

FILTERS = FilterModule().filters()


def test_the_three_filters_are_registered():
    assert set(FILTERS) == {"rotation_plan", "rotation_summary", "rotation_failure"}


def test_a_bad_kind_or_input_is_a_filter_error_naming_the_secret():
    with pytest.raises(AnsibleFilterError, match="rotation_plan: jwt-secret: kind must be one of"):
        FILTERS["rotation_plan"]({"name": "jwt-secret", "kind": "jwt-access"})
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        FILTERS["rotation_plan"]("jwt-secret")


def test_the_role_arguments_reach_the_rules():
    planned = FILTERS["rotation_plan"]({"name": "a", "kind": "jwt", "max_age": "30d"}, secret="a", if_older_than="1d")
    assert planned["max_age"] == "1d"
    line = FILTERS["rotation_summary"]({"name": "a", "due": True, "rotated": True, "version": 2, "previous_version": 1},
                                       kind="encryption_key", reencrypt_command_ran=True)
    assert line.endswith("the re-encryption command ran")
    assert FILTERS["rotation_failure"]("a", step="s", error="e", before=1, after=1).endswith("at version 1, as before.")
