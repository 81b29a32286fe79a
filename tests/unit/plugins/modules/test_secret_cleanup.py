"""plugins/modules/secret_cleanup.py on the embedded store: old versions destroyed once, none in check mode."""
from __future__ import annotations

import pytest


def test_old_versions_are_destroyed_once(run_module, store):
    for number in range(3):
        run_module("secret", name="jwt", value=f"CANARY-cleanup-{number}", **store)
    checked = run_module("secret_cleanup", check_mode=True, names=["jwt"], keep=1, **store)
    assert checked["destroyed_count"] == 2 and checked["changed"] is True
    done = run_module("secret_cleanup", names=["jwt"], keep=1, **store)
    assert done["destroyed_count"] == 2 and done["changed"] is True
    again = run_module("secret_cleanup", names=["jwt"], keep=1, **store)
    assert again["destroyed_count"] == 0 and again["changed"] is False
    assert "CANARY-cleanup" not in repr([checked, done, again])


@pytest.mark.parametrize("keep", [0, 1001])
def test_a_keep_out_of_range_is_refused_naming_the_option(run_module, store, keep):
    failed = run_module("secret_cleanup", keep=keep, **store)
    assert failed["failed"] is True and "'keep'" in failed["msg"]
