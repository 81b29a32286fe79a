"""Re-keying the migration backups, on real backup files: every backup re-sealed and read back before
any original is replaced, headers kept, the old key kept aside, check mode writes nothing, a second
run changes nothing, backups under an unknown key refused before any write."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as backup_mod
from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile
from ansible_collections.vibebox.secrets.plugins.module_utils.core import rekey as rekey_mod

CANARY = "CANARY-b4ckup-rekey"


def digest(folder) -> dict:
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


@pytest.fixture
def world(tmp_path):
    key_file = tmp_path / "keys" / "backup.key"
    key = backup_mod.BackupKey.load(key_file=str(key_file), create=True, env={})
    folder = tmp_path / "backups"
    paths = []
    for index in range(3):
        paths.append(backup_mod.write(
            str(folder), f"/srv/app{index}.env", {"env_file": f"/srv/app{index}.env", "provider": "local"},
            {"entries": [{"name": f"s{index}", "previous": f"{CANARY}-{index}"}]}, key,
            path=str(folder / f"migrate-app{index}.env-2025010{index}T000000.000000Z.backup")))

    class World:
        pass

    world = World()
    world.key_file, world.key, world.folder, world.paths, world.tmp = str(key_file), key, str(folder), paths, tmp_path
    return world


def run(world, **options):
    options.setdefault("min_interval", 0)
    return rekey_mod.BackupRekey(world.folder, backup_key_file=world.key_file, env={}, **options).run()


def test_every_backup_is_resealed_and_the_old_key_kept_aside(world):
    headers = {path: backup_mod.read_header(path).header for path in world.paths}
    payloads = {path: backup_mod.read(path, world.key).payload for path in world.paths}
    result = run(world)
    assert result["changed"] and sorted(result["rekeyed"]) == sorted(os.path.basename(p) for p in world.paths)
    new = backup_mod.BackupKey.load(key_file=world.key_file, env={})
    assert new.key_id == result["new_key_id"] != world.key.key_id
    kept = f"{world.key_file}.old-{world.key.key_id}"
    assert result["old_key_file"] == kept
    assert backup_mod.BackupKey.load(key_file=kept, env={}).key == world.key.key
    for path in world.paths:
        again = backup_mod.read(path, new)
        assert again.payload == payloads[path]
        assert dict(again.header, key_id=None) == dict(headers[path], key_id=None)
        with pytest.raises(backup_mod.BackupError, match="another key"):
            backup_mod.read(path, world.key)
        assert CANARY.encode() not in open(path, "rb").read()
    assert sorted(os.listdir(world.folder)) == sorted(os.path.basename(p) for p in world.paths)  # no temp left
    assert not os.path.exists(world.key_file + ".new")


def test_check_mode_writes_nothing_and_a_second_run_changes_nothing(world):
    keys = os.path.dirname(world.key_file)
    before, before_keys = digest(world.folder), digest(keys)
    planned = run(world, check=True, min_interval=86400)  # never re-keyed: due, however young the key
    assert planned["changed"] and len(planned["rekeyed"]) == 3
    assert digest(world.folder) == before and digest(keys) == before_keys
    assert run(world)["changed"]
    settled, settled_keys = digest(world.folder), digest(keys)
    second = run(world, min_interval=86400)
    assert second["changed"] is False and "not re-keyed" in second["msg"]
    assert digest(world.folder) == settled and digest(keys) == settled_keys


def test_an_explicit_new_key_is_idempotent(world):
    new = base64.b64encode(os.urandom(32)).decode()
    assert run(world, new_backup_key=new)["changed"]
    again = run(world, new_backup_key=new)
    assert again["changed"] is False and again["rekeyed"] == []


def test_a_backup_under_an_unknown_key_is_refused_before_any_write(world):
    stranger = backup_mod.BackupKey(os.urandom(32), "test")
    backup_mod.write(world.folder, "/srv/other.env", {"env_file": "/srv/other.env"}, {"entries": []}, stranger,
                     path=os.path.join(world.folder, "migrate-other.env-20250105T000000.000000Z.backup"))
    before = digest(world.folder)
    with pytest.raises(backup_mod.BackupError) as caught:
        run(world)
    assert "migrate-other.env" in str(caught.value) and stranger.key_id in str(caught.value)
    assert digest(world.folder) == before and not os.path.exists(world.key_file + ".new")


def test_a_failure_while_resealing_replaces_no_original(world, monkeypatch):
    before = digest(world.folder)
    real = rekey_mod.reseal
    calls = []

    def failing(path, old, new):
        calls.append(path)
        if len(calls) == 3:
            raise backup_mod.BackupError("disk full (simulated)")
        return real(path, old, new)

    monkeypatch.setattr(rekey_mod, "reseal", failing)
    with pytest.raises(backup_mod.BackupError, match="simulated"):
        run(world)
    assert digest(world.folder) == before  # two were re-sealed into temporaries, none replaced
    assert backup_mod.BackupKey.load(key_file=world.key_file, env={}).key == world.key.key


def test_a_run_killed_before_the_key_swap_is_finished_by_the_next(world, monkeypatch):
    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt("killed between the last rename and the key swap")

    monkeypatch.setattr(rekey_mod.BackupRekey, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        run(world)
    monkeypatch.undo()
    staged = world.key_file + ".new"
    new = backup_mod.BackupKey.load(key_file=staged, env={})
    assert all(backup_mod.read_header(p).header["key_id"] == new.key_id for p in world.paths)
    done = run(world, min_interval=86400)  # the swap is due, whatever the key's age
    assert done["changed"] and done["rekeyed"] == [] and not os.path.exists(staged)
    assert backup_mod.BackupKey.load(key_file=world.key_file, env={}).key == new.key
    assert run(world, min_interval=86400)["changed"] is False


def test_a_key_from_the_environment_is_rekeyed_without_touching_key_files(world):
    env = {"VIBEBOX_BACKUP_KEY": base64.b64encode(world.key.key).decode()}
    new = base64.b64encode(os.urandom(32)).decode()
    result = rekey_mod.BackupRekey(world.folder, new_backup_key=new, env=env, min_interval=0).run()
    assert result["changed"] and result["key_file"] is None
    assert any("VIBEBOX_BACKUP_KEY still holds the old backup key" in w for w in result["warnings"])
    assert keyfile.read_key_file(world.key_file, what="key") == world.key.key  # untouched
    again = rekey_mod.BackupRekey(world.folder, new_backup_key=new, env=env, min_interval=0).run()
    assert again["changed"] is False


def test_no_backups_and_no_key_is_nothing_to_do(tmp_path):
    result = rekey_mod.BackupRekey(str(tmp_path / "b"), backup_key_file=str(tmp_path / "k" / "backup.key"),
                                   env={}, min_interval=0).run()
    assert result["changed"] is False and not (tmp_path / "k").exists() and not (tmp_path / "b").exists()


def test_backups_without_their_key_are_refused(world):
    os.unlink(world.key_file)
    with pytest.raises(backup_mod.BackupError, match="no backup key"):
        run(world)


def test_a_backup_still_under_the_old_key_names_the_kept_key_and_the_playbook_variable(world, tmp_path):
    """A copy of a backup made before the re-key (restored from a file backup) is sealed with the old key:
    the refusal names the key the re-key kept aside and the variable the migrate playbook reads."""
    copy = tmp_path / "copy.backup"
    copy.write_bytes(open(world.paths[0], "rb").read())
    run(world)
    new = backup_mod.BackupKey.load(key_file=world.key_file, env={})
    with pytest.raises(backup_mod.BackupError) as caught:
        backup_mod.read(str(copy), new)
    kept = f"{world.key_file}.old-{world.key.key_id}"
    assert f"migrate_backup_key_file={kept}" in caught.value.hint
    assert backup_mod.read(str(copy), backup_mod.BackupKey.load(key_file=kept, env={})).payload


def test_without_a_kept_key_the_refusal_names_the_playbook_variables(tmp_path):
    key = backup_mod.BackupKey.load(key_file=str(tmp_path / "a" / "backup.key"), create=True, env={})
    path = backup_mod.write(str(tmp_path / "b"), "/srv/app.env", {"env_file": "/srv/app.env", "provider": "local"},
                            {"entries": []}, key)
    other = backup_mod.BackupKey.load(key_file=str(tmp_path / "c" / "backup.key"), create=True, env={})
    with pytest.raises(backup_mod.BackupError) as caught:
        backup_mod.read(path, other)
    assert "migrate_backup_key_file" in caught.value.hint and "migrate_backup_key=" in caught.value.hint
    with pytest.raises(backup_mod.BackupError) as caught:
        backup_mod.BackupKey.load(key_file=str(tmp_path / "missing" / "backup.key"), env={})
    assert "migrate_backup_key_file" in caught.value.hint


def test_a_staged_key_that_is_now_the_key_in_use_is_kept_aside_and_a_new_key_made(world):
    """With VIBEBOX_BACKUP_KEY the new key stays in backup.key.new for the operator to put in the variable. Once it
    is the key in use it is no target: a later re-key (after a leak) must re-seal every backup under a fresh key,
    keeping that copy as backup.key.old-<id>, not answer that every backup is already under it."""
    def rekey_with(key, **options):
        env = {"VIBEBOX_BACKUP_KEY": base64.b64encode(key).decode()}
        return rekey_mod.BackupRekey(world.folder, backup_key_file=world.key_file, env=env, **options).run()

    staged = world.key_file + ".new"
    assert rekey_with(world.key.key, min_interval=0)["new_key_file"] == staged
    in_use = backup_mod.BackupKey.load(key_file=staged, env={})
    again = rekey_with(in_use.key, min_interval=0)
    assert again["changed"] and again["old_key_id"] == in_use.key_id
    fresh = backup_mod.BackupKey.load(key_file=staged, env={})
    assert again["new_key_id"] == fresh.key_id != in_use.key_id
    assert sorted(again["rekeyed"]) == sorted(os.path.basename(path) for path in world.paths)
    for path in world.paths:
        assert backup_mod.read(path, fresh).payload["entries"]
    kept = f"{world.key_file}.old-{in_use.key_id}"
    assert backup_mod.BackupKey.load(key_file=kept, env={}).key == in_use.key
    young = rekey_with(fresh.key, min_interval=86400)
    assert young["changed"] is False and "not re-keyed again" in young["msg"]


def test_setting_the_variable_to_the_new_key_as_told_does_not_make_the_next_run_rekey_again(world):
    """With VIBEBOX_BACKUP_KEY no key file records when the backups were re-keyed. The operator re-keys, sets the
    variable to the key in backup.key.new as the warning says, and runs the playbook again: within min_interval
    that run must change nothing, not re-seal every backup under yet another key and leave the variable stale."""
    def rekey_with(key):
        env = {"VIBEBOX_BACKUP_KEY": base64.b64encode(key).decode()}
        return rekey_mod.BackupRekey(world.folder, backup_key_file=world.key_file, env=env,
                                     min_interval=86400).run()

    first = rekey_with(world.key.key)  # never re-keyed: due
    assert first["changed"] and first["new_key_file"] == world.key_file + ".new"
    in_use = backup_mod.BackupKey.load(key_file=first["new_key_file"], env={})
    before = digest(world.folder)
    second = rekey_with(in_use.key)
    assert second["changed"] is False and "not re-keyed again" in second["msg"]
    assert second["new_key_id"] == in_use.key_id and not second["warnings"]
    assert digest(world.folder) == before
    assert backup_mod.BackupKey.load(key_file=first["new_key_file"], env={}).key == in_use.key
