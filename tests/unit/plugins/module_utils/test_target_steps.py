"""module_utils/target_steps.py: what secret_migrate and secret_move share about their target: where the
backups go, the lock taken only by writing steps outside check mode, and the undo variables (paths
absolute, target explicit, never a credential)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils import target_steps
from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup, factory

CANARY = "CANARY-steps-token-31b0"


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.delenv("VIBEBOX_BACKUP_KEY", raising=False)
    options = {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
               "local_key_file": str(tmp_path / "store" / "secrets.key"), "audit_log": "false"}
    manager = factory.build_manager(options, env={})
    params = dict(options, controller=None, backup_dir=str(tmp_path / "backups"), backup_key=None, backup_key_file=None,
                  vault_token=CANARY, cache_ttl=30)
    warnings = []
    module = SimpleNamespace(params=params, check_mode=False, warn=warnings.append)
    yield module, manager
    manager.close()


class Writing(target_steps.TargetSteps):
    writing = ("apply",)


def test_the_backup_folder_is_the_options_or_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert target_steps.backup_dir({"backup_dir": "/srv/b"}) == "/srv/b"
    assert target_steps.backup_dir({"backup_dir": None}) == backup.default_backup_dir()


def test_only_a_writing_step_outside_check_mode_takes_the_lock(target):
    module, manager = target
    reading = Writing(module, manager)
    reading.guard("plan")
    assert reading.lock is None
    writing = Writing(module, manager)
    writing.peek_lock()  # nobody holds it
    writing.guard("apply")
    assert writing.lock is not None
    writing.release("apply", failed=False)
    module.check_mode = True
    dry = Writing(module, manager)
    dry.guard("apply")
    assert dry.lock is None


def test_the_undo_variables_name_the_target_and_no_credential(target, tmp_path):
    module, manager = target
    key = backup.BackupKey.load(None, str(tmp_path / "keys" / "backup.key"), create=True, env={})
    variables = Writing(module, manager).undo_variables("/srv/b/run.backup", key)
    assert variables["provider"] == "local" and variables["migrate_action"] == "rollback"
    assert variables["backup"] == "/srv/b/run.backup" and variables["migrate_backup_key_file"] == key.source
    assert variables["local_path"] == str(tmp_path / "store" / "secrets.db")
    assert "vault_token" not in variables and "cache_ttl" not in variables and CANARY not in repr(variables)
    from_env = backup.BackupKey(bytes(32), backup.KEY_ENV)
    assert "migrate_backup_key_file" not in Writing(module, manager).undo_variables("/srv/b/run.backup", from_env)
