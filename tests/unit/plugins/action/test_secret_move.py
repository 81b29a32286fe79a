"""action/secret_move.py: what a move wrote at the target and deleted at the source is dropped from the run cache."""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.action.secret_migrate import ActionModule as MigrateAction


def test_written_and_deleted_names_are_dropped_once(action):
    result = {"changed": True, "written": [{"name": "a"}, {"name": "b"}], "deleted": [{"name": "a"}, {"other": 1}]}
    assert list(action("secret_move").written_names(result)) == ["a", "b"]
    assert list(action("secret_move").written_names({"failed": True})) == []


def test_it_checks_the_controller_as_secret_migrate_does(action):
    assert isinstance(action("secret_move"), MigrateAction) and action("secret_move").takes_policy is True
