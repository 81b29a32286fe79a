"""action/secret_migrate.py: written and rolled-back names are dropped; the controller is the worker's parent."""
from __future__ import annotations

import os

from ansible_collections.vibebox.secrets.plugins.action import secret_migrate


def test_written_and_rolled_back_names_are_dropped(action):
    result = {"changed": True, "written": [{"name": "a"}], "rollback": [{"name": "b"}, "not-a-row", {"name": ""}]}
    assert list(action("secret_migrate").written_names(result)) == ["a", "b"]


def test_it_takes_the_collection_wide_policy(action):
    assert action("secret_migrate").takes_policy is True


def test_the_controller_is_the_parent_of_this_process(monkeypatch):
    controller = secret_migrate.controller_process()
    assert controller is not None and controller.pid == os.getppid()
    assert controller.alive() is True
    monkeypatch.setattr(os, "getppid", lambda: 1)  # orphaned: adopted by init, which is no controller
    assert secret_migrate.controller_process() is None
