"""core/step_summaries.py: the one-line summaries of the secret, secret_migrate and secret_move modules.

Each line is what the migrate role prints and what a playbook can register, so its words are pinned here;
none may hold a value (the inputs hold none, and nothing here reads one).
"""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import step_summaries as lines

MIGRATE = ("create", "update", "unchanged", "skip", "blocked")


@pytest.mark.parametrize("state,changes,restored,expected", [
    ("present", ["state", "value"], False, "created"),
    ("present", ["state", "value"], True, "restored"),
    ("present", ["value", "tags"], False, "changed"),
    ("present", [], False, "unchanged"),
    ("absent", ["state"], False, "deleted"),
    ("absent", [], False, "absent"),
])
def test_one_word_says_what_a_secret_task_did(state, changes, restored, expected):
    assert lines.secret_outcome(state, changes, restored) == expected


@pytest.mark.parametrize("outcome,options,expected", [
    ("created", dict(changes=["state", "value"], version="1"), "db: created as version 1"),
    ("changed", dict(changes=["value", "tags"], version="4"), "db: changed value, tags (version 4)"),
    ("restored", dict(changes=["state", "value"], version="5"), "db: restored from deletion, value written (version 5)"),
    ("unchanged", dict(version="3"), "db: unchanged (version 3)"),
    ("deleted", dict(changes=["state"], recovery_days=7), "db: deleted, recoverable for 7 days"),
    ("deleted", dict(changes=["state"], force=True), "db: deleted for good"),
    ("deleted", dict(changes=["state"], recovery_days=0), "db: deleted for good"),
    ("deleted", dict(changes=["state"]), "db: deleted"),
    ("absent", {}, "db: already absent"),
    ("changed", dict(changes=["tags"], version="3", check_mode=True), "db: would change (tags) (check mode, nothing written)"),
    ("created", dict(changes=["state", "value"], check_mode=True), "db: would be created (check mode, nothing written)"),
    ("unchanged", dict(version="3", check_mode=True), "db: unchanged (version 3)"),
])
def test_a_secret_line_names_the_fields_and_the_version(outcome, options, expected):
    assert lines.secret_line("db", outcome, **options) == expected


def test_a_task_of_many_secrets_counts_each_outcome():
    words = ["created", "unchanged", "created", "changed"]
    assert lines.secrets_line(words) == "4 secrets: 2 created, 1 changed, 1 unchanged"
    assert lines.secrets_line(words[:1], failed=1) == "2 secrets: 1 created, 1 failed"
    assert lines.secrets_line(["created"], check_mode=True) == "1 secret: 1 would be created (check mode, nothing written)"


def test_the_plan_line_counts_every_action_even_at_zero():
    counts = dict(create=2, update=1, unchanged=0, skip=2, blocked=0)
    line = lines.plan_line("/srv/.env", lines.place("vault", "app/"), 5, "keys", counts, MIGRATE, env_rewrite=True)
    assert line == ("Plan for /srv/.env -> vault (prefix app/): 5 keys; create: 2, update: 1, unchanged: 0, skip: 2,"
                    " blocked: 0, .env file rewritten to references")
    assert lines.place("aws", "") == "aws"


def test_a_stop_line_names_each_key_with_its_reason_and_says_nothing_was_written():
    rows = [dict(key="A", reason="too long"), dict(key="B", reason="")]
    assert lines.stop_line(rows, "keys", "migrated", "Fix them.") == (
        "2 keys cannot be migrated: A: too long; B: refused. Nothing was written. Fix them.")


def test_the_rename_hint_is_the_name_map_ready_to_paste():
    assert lines.rename_hint({"app/db": "app-db"}) == 'Rename them with -e \'{"migrate_name_map": {"app/db": "app-db"}}\''
    assert "migrate_exclude" in lines.rename_hint({})


@pytest.mark.parametrize("path,count,check_mode,env_file,expected", [
    ("/b/x.backup", 3, False, True, "Backup of 3 secrets and the .env file written to /b/x.backup"),
    ("/b/x.backup", 1, False, False, "Backup of 1 secret written to /b/x.backup"),
    (None, 2, True, False, "Backup of 2 secrets: not written in check mode"),
    (None, 0, False, True, "Backup of 0 secrets and the .env file: not written in check mode"),
    (None, 0, False, False, "Backup: none needed, nothing will change"),
])
def test_the_backup_line_says_where_the_previous_values_went(path, count, check_mode, env_file, expected):
    assert lines.backup_line(path, count, check_mode=check_mode, env_file=env_file) == expected


def test_the_written_line_names_each_secret_with_its_new_version():
    written = [dict(name="a", version="1"), dict(name="b", version=None)]
    assert lines.written_line(written, "vault", check_mode=False) == "Wrote 2 secrets into vault: a (version 1), b"
    assert lines.written_line(written[1:], "vault", check_mode=True) == (
        "Would write 1 secret into vault: b (check mode, nothing written)")
    assert lines.written_line([], "vault", check_mode=False) == "Nothing to write into vault"


def test_the_validation_line_counts_matches_and_names_the_others():
    checks = [dict(key="A", name="a", status="ok"), dict(key="B", name="b", status="mismatch")]
    assert lines.validation_line("local", "vault", checks, "the source") == (
        "Validation of local against vault: 1 of 2 secrets match the source; b mismatch")
    assert lines.validation_line(".env", "aws", checks[:1], "the .env file") == (
        "Validation of .env against aws: 1 of 1 secrets match the .env file")


def test_the_rollback_line_counts_what_was_undone_and_left_alone():
    rows = [dict(action="restored"), dict(action="deleted"), dict(action="conflict"), dict(action="unchanged")]
    assert lines.rollback_line("/b/x.backup", rows, "restored") == (
        "Rollback from /b/x.backup: 2 secrets rolled back, 1 secret left alone (changed since), .env file restored")
    assert lines.rollback_line("/b/y", rows[:1], "unchanged", runs=2, check_mode=True) == (
        "Rollback (CHECK MODE, nothing was written) from /b/y (2 runs): 1 secret rolled back, .env file unchanged")


def test_the_last_steps_say_what_is_complete_and_what_became_of_the_files():
    assert lines.finish_line("move", "/b/x.backup") == "The move is complete; keep its backup /b/x.backup until it is accepted"
    assert lines.finish_line("migration", None) == "The migration is complete"
    assert lines.rewrite_line("/s/.env", True, check_mode=True) == ".env file /s/.env: would be rewritten to references"
    assert lines.rewrite_line("/s/.env", False, check_mode=False).endswith("unchanged (it already holds the references)")
    assert lines.deleted_line("local", [{}, {}], "/b/s.backup", check_mode=False) == (
        "Deleted 2 secrets from the source local; its backup is /b/s.backup")
    assert lines.deleted_line("local", [{}], None, check_mode=True) == (
        "Would delete 1 secret from the source local (check mode, nothing written)")
