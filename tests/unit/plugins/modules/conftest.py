"""Running a module's main() in the test process, on the embedded local store in a temporary folder.

The local provider is the collection's own encrypted SQLite store, not a stand-in: the module reads and
writes real files. Ansible's argument passing is replaced by its own testing helper where the release
has one (2.19+), else by the module argument buffer older releases read.
"""
from __future__ import annotations

import importlib
import json
from typing import Any, Dict

import pytest
from ansible.module_utils import basic


class Exited(Exception):
    """exit_json or fail_json was called: ``result`` is what the module returned."""

    def __init__(self, result: Dict[str, Any]):
        super().__init__(result.get("msg", ""))
        self.result = result


def _exit(self, **result):
    raise Exited(dict(result, failed=False))


def _fail(self, msg, **result):
    raise Exited(dict(result, failed=True, msg=msg))


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """Defaults that live in the home folder (the backup key, the audit log, locks) go to this test's folder:
    a module run here must never read or change the machine's own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name, folder in (("XDG_DATA_HOME", ".local/share"), ("XDG_STATE_HOME", ".local/state"),
                         ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
        monkeypatch.setenv(name, str(home / folder))
    for name in ("VIBEBOX_AUDIT_LOG", "VIBEBOX_LOCAL_PATH", "VIBEBOX_LOCAL_KEY_FILE", "VIBEBOX_BACKUP_KEY",
                 "VIBEBOX_BACKUP_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def store(tmp_path) -> Dict[str, Any]:
    """Options that select an empty embedded store of this test."""
    return {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
            "local_key_file": str(tmp_path / "store" / "secrets.key"), "audit_log": "false"}


@pytest.fixture
def run_module(monkeypatch):
    """run_module("secret", name=..., ...) -> the module's result (``failed`` set either way)."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail)
    for name in ("VAULT_ADDR", "SECRET_PROVIDER", "VIBEBOX_AUTOMATION", "JOB_ID", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)

    def run(module: str, check_mode: bool = False, **args: Any) -> Dict[str, Any]:
        args = dict(args, _ansible_check_mode=check_mode)
        main = importlib.import_module(f"ansible_collections.vibebox.secrets.plugins.modules.{module}").main
        try:
            from ansible.module_utils.testing import patch_module_args
        except ImportError:  # ansible-core before 2.19 reads the buffer alone
            monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
            context = None
        else:
            context = patch_module_args(args)
        try:
            if context is None:
                main()
            else:
                with context:
                    main()
        except Exited as exited:
            return exited.result
        raise AssertionError(f"{module} returned without exit_json or fail_json")

    return run
