"""core/rotation_kinds.py: what each kind means for a rotation, and the lines that report it (never a value)."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_kinds import (
    KINDS,
    failure,
    kind_of,
    plan,
    summary,
)

ROTATED = dict(name="k", due=True, rotated=True, version="3", previous_version="2", reason="no max_age: rotated now")


def test_the_table_says_what_each_kind_means():
    assert set(KINDS) == {"generic", "jwt", "jwt_refresh", "database", "encryption_key"}
    refresh = KINDS["jwt_refresh"]
    assert (refresh.grace, refresh.keep_previous, refresh.reauth) == (False, False, True)
    assert KINDS["database"].module == "postgres_rotate" and not KINDS["database"].grace
    assert KINDS["encryption_key"].reencrypt and KINDS["encryption_key"].keep_previous
    assert kind_of("encryption-key") is KINDS["encryption_key"] and kind_of("secret") is KINDS["generic"]
    assert kind_of(None) is KINDS["generic"] and kind_of(KINDS["jwt"]) is KINDS["jwt"]
    with pytest.raises(errors.InvalidOption, match="kind must be one of generic, jwt, jwt_refresh"):
        kind_of("jwt-access")


@pytest.mark.parametrize("secret,force,expected", [
    ("all", False, "30d"),        # a schedule honours the secret's max_age
    ("all", True, ""),            # forced: now
    ("jwt-secret", False, "25d"),  # named: only if_older_than
])
def test_plan_works_out_max_age(secret, force, expected):
    item = dict(name="jwt-secret", kind="jwt", max_age="30d", grace_period="2h")
    assert plan(item, secret=secret, force=force, if_older_than="25d")["max_age"] == expected


def test_plan_applies_the_runs_grace_except_to_a_hard_cut_and_spots_transit():
    assert plan(dict(name="a", kind="jwt", grace_period="2h"))["grace_period"] == "2h"
    assert plan(dict(name="a", kind="jwt", grace_period="2h"), grace_period="5m")["grace_period"] == "5m"
    refresh = plan(dict(name="a", kind="jwt_refresh", grace_period="2h"), grace_period="5m")
    assert refresh["grace_period"] == "" and refresh["keep_previous"] is False and refresh["module_kind"] == "jwt_refresh"
    transit = plan(dict(name="e", kind="encryption_key", vault_transit_key="app"))
    assert transit["transit"] and transit["module_kind"] == "encryption-key"
    assert not plan(dict(name="e", kind="encryption_key"))["transit"]
    assert plan(dict(name="d", kind="database"))["module"] == "postgres_rotate"


def test_summaries_of_not_due_check_mode_created_and_raced():
    assert summary(dict(name="k", due=False, reason="below max_age 30d", next_rotation="2027-01-01T00:00:00Z")) == (
        "k: not due (below max_age 30d); next rotation 2027-01-01T00:00:00Z")
    assert summary(dict(name="k", due=True, reason="no max_age: rotated now")) == (
        "k: would be rotated (no max_age: rotated now); check mode, nothing written")
    assert "the password of role app" in summary(dict(name="d", due=True, username="app"), "database")
    assert summary(dict(name="k", due=True, rotated=True, version="1")) == "k: created as version 1"
    assert summary(dict(name="k", already_rotated=True, due=False, reason="rotated by another run")) == (
        "k: not rotated by this run: rotated by another run")


def test_summaries_say_what_each_kind_leaves_to_do():
    assert "stays readable as 'previous' until 2026-12-03T12:00:00Z (grace period)" in summary(
        dict(ROTATED, grace_until="2026-12-03T12:00:00Z"), "jwt")
    assert "with no grace period (cleanup may remove it)" in summary(ROTATED)
    refresh = summary(dict(ROTATED, destroyed_versions=["2", "1"]), "jwt_refresh")
    assert "re-authentication forced" in refresh and refresh.endswith("destroyed versions 2, 1")
    assert summary(ROTATED, "encryption_key").endswith("RE-ENCRYPTION REQUIRED: re-encrypt the data with the new key,"
                                                       " then run cleanup")
    assert "(rotate_reencrypt_command automates it)" in summary(ROTATED, "encryption_key", reencrypt_command_ran=False)
    ran = summary(ROTATED, "encryption_key", reencrypt_command_ran=True)
    assert "RE-ENCRYPTION REQUIRED: the re-encryption command ran" in ran
    database = summary(dict(ROTATED, username="app", sessions_before=2), "database")
    assert "2 session(s) opened with the old password" in database


def test_transit_summaries_say_whether_the_data_was_rewrapped():
    line = summary(ROTATED, "encryption-key", transit_key="app")
    assert line.startswith("k: transit key app rotated to version 3; version 2 still decrypts until a cleanup.")
    assert "RE-WRAP REQUIRED" in line and "rewrap_names" not in line
    assert "(rewrap_names automates it for secrets)" in summary(ROTATED, "encryption_key", transit_key="app", rewrap={})
    done = summary(ROTATED, "encryption_key", transit_key="app", rewrap=dict(rewrapped=2, total=2))
    assert done.endswith("Re-wrapped 2 of 2 ciphertext(s) to version 3") and "REQUIRED" not in done


def test_a_rollback_is_reported_as_one():
    line = summary(dict(ROTATED, rolled_back=True, reason="rollback to version 1"))
    assert line == "k: rolled back (rollback to version 1): version 3 is current, replacing version 2"


def _failure(**kwargs):
    base = dict(before="1", after="1", read_back=True)
    return failure("jwt-secret", "Reload", "exit 1", **{**base, **kwargs})


def test_failure_reports_every_state_the_secret_can_be_in():
    assert _failure().endswith("The secret was not changed: it is at version 1, as before.")
    assert _failure().startswith("jwt-secret: the step 'Reload' failed: exit 1.")
    assert "it is at version none (it does not exist), as before" in _failure(before=None, after=None)
    unknown = _failure(read_back=False, read_back_error="denied")
    assert "Reading the secret back failed (denied)" in unknown and "it was at version 1 before" in unknown
    changed = _failure(after="2")
    assert "version before 1, version after 2." in changed and "It was NOT rolled back" in changed
    assert "rollback_to: '1'" in changed
    rolled = _failure(after="3", outcome=dict(previous_version="1"), rollback=dict(rolled_back=True, version="3"))
    assert "Rolled back: the value of version 1 is current again (as version 3)." in rolled
    by_module = _failure(after="3", failed=dict(rolled_back=True, version="3"))
    assert "The module rolled back: the old value is current again (as version 3)." in by_module
    assert "created by this run and stays" in _failure(before=None, after="1")
    assert "The rollback failed too: locked." in _failure(after="2", rollback=dict(msg="locked"))


def test_failure_of_a_transit_rotation_says_whether_the_key_moved():
    moved = _failure(transit_key="app", outcome=dict(rotated=True, previous_version="1", version="2"))
    assert "was rotated from version 1 to version 2" in moved and "no data is lost" in moved
    assert _failure(transit_key="app").endswith("The transit key app was not rotated.")


def test_cleanup_lines_say_what_was_destroyed_and_kept():
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_kinds import cleanup_line, cleanup_summary

    report = dict(name="jwt-secret", destroyed=[], kept=[dict(version="2"), dict(version="1")],
                  grace_until="2026-12-03T12:00:00Z")
    assert cleanup_line(report) == "jwt-secret: destroyed nothing; kept 2, 1; grace until 2026-12-03T12:00:00Z"
    assert cleanup_line(dict(name="k", destroyed=["2", "1"], kept=[dict(version="3")])) == "k: destroyed 2, 1; kept 3"
    assert cleanup_line(dict(name="e", skipped="provider 'env' keeps no old versions")) == (
        "e: skipped, provider 'env' keeps no old versions")
    assert cleanup_summary(2, False) == "destroyed 2 old version(s)"
    assert cleanup_summary(0, True) == "destroyed 0 old version(s) (check mode: nothing destroyed)"


def test_a_rollback_refused_because_another_run_rotated_says_so_and_offers_no_rollback():
    text = failure("jwt-secret", "Run the command that follows a rotation", "non-zero return code",
                   before="1", after="3", read_back=True, outcome={"rotated": True, "version": "2", "previous_version": "1"},
                   rollback={"failed": True, "error_kind": "conflict", "msg": "version 3 is current"})
    assert "this run made version 2; version 3 is current now" in text and "NOT rolled back" in text
    assert "rollback_to" not in text
