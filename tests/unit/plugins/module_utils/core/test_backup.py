"""core/backup.py: where the backup key comes from (option, environment, file), file names a later rollback
finds, and a backup that reads back only under its own key. Re-keying is tested in test_rekey.py."""
from __future__ import annotations

import base64
import os

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup

KEY_TEXT = base64.b64encode(bytes(range(32))).decode()
CANARY = "CANARY-backup-5e0f"


def test_the_option_wins_over_the_environment_and_the_file(tmp_path):
    env = {backup.KEY_ENV: base64.b64encode(bytes(32)).decode()}
    assert backup.BackupKey.load(KEY_TEXT, str(tmp_path / "k"), env=env).source == "the backup_key option"
    assert backup.BackupKey.load(None, str(tmp_path / "k"), env=env).source == backup.KEY_ENV
    assert KEY_TEXT not in repr(backup.BackupKey.load(KEY_TEXT, env={}))


def test_a_key_file_is_made_only_when_asked(tmp_path):
    path = str(tmp_path / "keys" / "backup.key")
    with pytest.raises(backup.BackupError, match="no backup key"):
        backup.BackupKey.load(None, path, env={})
    made = backup.BackupKey.load(None, path, create=True, env={})
    assert made.source == path and backup.BackupKey.load(None, path, env={}).key_id == made.key_id


def test_the_defaults_follow_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert backup.default_key_file() == str(tmp_path / "data" / "vibebox" / "backup.key")
    assert backup.default_backup_dir() == str(tmp_path / "state" / "vibebox" / "migrate-backups")


def test_file_names_are_safe_and_sort_by_time(tmp_path):
    assert backup.file_name("/srv/app/.env", "20260101T000000.000000Z") == "migrate-env-20260101T000000.000000Z.backup"
    assert backup.stem("/srv/my app/.env.prod") == "migrate-env.prod-"
    path = backup.planned_path(str(tmp_path), "x.env", stamp="20260101T000000.000000Z")
    assert path == os.path.join(str(tmp_path), "migrate-x.env-20260101T000000.000000Z.backup")
    with pytest.raises(ValueError):
        backup.planned_path(str(tmp_path))


def test_a_backup_reads_back_only_under_its_own_key(tmp_path):
    key = backup.BackupKey.load(KEY_TEXT, env={})
    env_file = str(tmp_path / "app.env")
    path = backup.write(str(tmp_path), env_file, {"provider": "local", "env_file": env_file}, {"jwt": CANARY}, key)
    assert CANARY not in open(path, encoding="utf-8", errors="replace").read()
    assert backup.read(path, key).payload == {"jwt": CANARY}
    other = backup.BackupKey.load(base64.b64encode(bytes(32)).decode(), env={})
    with pytest.raises(backup.BackupError) as caught:
        backup.read(path, other)
    assert CANARY not in str(caught.value)
    assert backup.latest(str(tmp_path)) == path and [found.path for found in backup.backups(str(tmp_path))] == [path]


def test_a_folder_that_cannot_be_written_is_a_backup_error_not_a_traceback(tmp_path, monkeypatch):
    """A read-only mount (root ignores file modes, so the failure is simulated where Python meets it)."""
    import errno
    import tempfile

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    key = backup.BackupKey.load(KEY_TEXT, env={})
    env_file = str(tmp_path / "app.env")
    with pytest.raises(backup.BackupError, match="cannot write the backup .*Read-only file system") as caught:
        backup.write(str(tmp_path), env_file, {"provider": "local", "env_file": env_file}, {"jwt": CANARY}, key)
    assert "migrate_backup_dir" in str(caught.value.hint) and CANARY not in str(caught.value)


def test_a_key_made_next_to_backups_sealed_with_another_key_is_said(tmp_path):
    """The key file was deleted or moved: the next run makes a new one, and must say the older backups need
    the old key before anybody needs a rollback."""
    old = backup.BackupKey.load(KEY_TEXT, env={})
    env_file = str(tmp_path / "app.env")
    backup.write(str(tmp_path), env_file, {"provider": "local", "env_file": env_file}, {"jwt": CANARY}, old)
    made = backup.BackupKey.load(key_file=str(tmp_path / "keys" / "backup.key"), create=True, env={})
    assert made.created
    warning = backup.new_key_warning(str(tmp_path), made)
    assert warning and "1 backup(s)" in warning and "sealed with another key" in warning and CANARY not in warning
    again = backup.BackupKey.load(key_file=str(tmp_path / "keys" / "backup.key"), create=True, env={})
    assert not again.created and backup.new_key_warning(str(tmp_path), again) is None
    assert backup.new_key_warning(str(tmp_path / "empty"), made) is None
