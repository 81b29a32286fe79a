"""action/secret_move.py: what a move wrote at the target and deleted at the source is dropped from the run cache."""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.action.secret_migrate import ActionModule as MigrateAction


def test_written_and_deleted_names_are_dropped_once(action):
    result = {"changed": True, "written": [{"name": "a"}, {"name": "b"}], "deleted": [{"name": "a"}, {"other": 1}]}
    assert list(action("secret_move").written_names(result)) == ["a", "b"]
    assert list(action("secret_move").written_names({"failed": True})) == []


def test_a_failed_move_drops_every_name_its_plan_would_write_or_delete(action):
    """A write or a source delete that failed may have landed: the target's names and the source's go too."""
    plan = [{"key": "db", "name": "database", "provider_name": "new/database", "source_name": "old/db",
             "action": "unchanged"},
            {"key": "skipped", "name": "skipped", "provider_name": "new/skipped", "source_name": "old/skipped",
             "action": "skip"}]
    assert list(action("secret_move").written_names({"failed": True, "plan": plan})) == [
        "database", "new/database", "db", "old/db"]


def test_it_checks_the_controller_as_secret_migrate_does(action):
    assert isinstance(action("secret_move"), MigrateAction) and action("secret_move").takes_policy is True
