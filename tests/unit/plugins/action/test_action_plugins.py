"""Which names each writing module's action plugin drops from the run cache after the module ran."""
from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest


def action(module: str, **args):
    cls = importlib.import_module(f"ansible_collections.vibebox.secrets.plugins.action.{module}").ActionModule
    plugin = object.__new__(cls)  # only the task's arguments matter here
    plugin._task = SimpleNamespace(args=args)
    return plugin


@pytest.mark.parametrize("module,args,result,expected", [
    ("secret", {"name": "jwt"}, {"changed": True, "name": "jwt"}, ["jwt"]),
    ("secret_rotate", {"name": "jwt"}, {"changed": True}, ["jwt"]),
    ("postgres_rotate", {}, {"changed": True}, ["database-password"]),
    ("secret_cleanup", {"names": ["a", "b"]},
     {"changed": True, "secrets": [{"name": "a", "destroyed": ["1"]}, {"name": "b", "destroyed": []}]}, ["a"]),
    ("secret_cleanup", {"names": ["a", "b"]}, {"failed": True, "secrets": []}, ["a", "b"]),
    ("secret_migrate", {}, {"changed": True, "written": [{"name": "a"}], "rollback": [{"name": "b"}]}, ["a", "b"]),
])
def test_written_names(module, args, result, expected):
    assert list(action(module, **args).written_names(result)) == expected


def test_a_read_only_module_invalidates_nothing(monkeypatch):
    from ansible_collections.vibebox.secrets.plugins.plugin_utils import action as base

    dropped = []
    monkeypatch.setattr(base._run_cache, "invalidate", dropped.append)
    action("secret_info", name="jwt").after({"changed": False})
    action("secret", name="jwt").after({"changed": False})
    assert dropped == []
    action("secret", name="jwt").after({"failed": True})  # a failed write may have written part of it
    assert [list(names) for names in dropped] == [["jwt"]]


def test_the_policy_ini_entry_is_read_from_the_runs_ansible_cfg(tmp_path):
    from ansible_collections.vibebox.secrets.plugins.plugin_utils import action as base

    cfg = tmp_path / "ansible.cfg"
    cfg.write_text('[defaults]\nforks = 2\n[vibebox_secrets]\npolicy = {"min_length": 24, "forbidden": ["%s"]}\n'
                   "policy_mode = warn\n")
    expected = {"policy": '{"min_length": 24, "forbidden": ["%s"]}', "policy_mode": "warn"}
    assert base.ini_entries("vibebox_secrets", str(cfg)) == expected
    assert base.ini_entries("vibebox_secrets", str(tmp_path / "missing.cfg")) == {}
    assert base.ini_entries("nothing", str(cfg)) == {}


@pytest.mark.parametrize("module, takes", [("secret", True), ("secret_rotate", True), ("secret_migrate", True),
                                           ("secret_info", False), ("secret_cleanup", False)])
def test_which_modules_take_the_collection_wide_policy(module, takes):
    cls = importlib.import_module(f"ansible_collections.vibebox.secrets.plugins.action.{module}").ActionModule
    assert cls.takes_policy is takes
