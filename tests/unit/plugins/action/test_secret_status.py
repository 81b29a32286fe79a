"""action/secret_status.py: a relative ``path`` is taken from where ansible-playbook was started, not the module's host dir."""
from __future__ import annotations

import os

from ansible_collections.vibebox.secrets.plugins.action.secret_status import from_start_directory


def test_relative_and_home_paths_become_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/ops")
    assert from_start_directory("status/index.html") == os.path.join(str(tmp_path), "status/index.html")
    assert from_start_directory("~/status.html") == "/home/ops/status.html"
    assert from_start_directory("/srv/status.html") == "/srv/status.html"


def test_the_module_gets_the_absolute_path(action, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    plugin = action("secret_status", path="page.html", names=["a"])
    assert plugin.module_arguments({}) == {"path": os.path.join(str(tmp_path), "page.html"), "names": ["a"]}
    assert plugin._task.args["path"] == "page.html"  # the task itself is left as written
