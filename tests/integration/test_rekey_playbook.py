"""playbooks/rekey.yml run for real, as an operator whose keys leaked would run it.

A migration fills the local store and writes a backup (default paths, as a first-time user has them).
The re-key, in check mode, writes nothing; for real, it moves the store and the backups to new keys,
keeps the old keys aside, and leaves every value readable through the lookups and the backup
restorable by a rollback; the old key no longer opens the store. A second run changes nothing, and no
value or key appears in the output at -vvvv.
"""
from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from ansible_run import REPO, run_playbook, state_env, write_playbook

from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile

CANARY = "CANARY-" + uuid.uuid4().hex
MIGRATE = os.path.join(REPO, "playbooks", "migrate.yml")
REKEY = os.path.join(REPO, "playbooks", "rekey.yml")

READ_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: read every migrated secret back
      ansible.builtin.assert:
        that:
          - lookup('vibebox.secrets.get', 'jwt-secret', provider='local', local_key_file=key_file) == canary ~ '-jwt'
          - lookup('vibebox.secrets.get', 'api-key', provider='local', local_key_file=key_file) == canary ~ '-api'
        quiet: true
      no_log: true
"""


def tree(root) -> dict:
    found = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if "audit.log" in name:
                continue
            found[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


@pytest.fixture
def migrated(tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text(f"JWT_SECRET={CANARY}-jwt\nAPI_KEY={CANARY}-api\n")
    env = state_env(tmp_path)
    run = run_playbook(MIGRATE, env, extra_vars={"env_file": str(env_file), "provider": "local"})
    assert run.rc == 0, run.output[-3000:]
    store = tmp_path / "data" / "vibebox"
    backups = tmp_path / "state" / "vibebox" / "migrate-backups"
    assert (store / "secrets.db").exists() and (store / "backup.key").exists() and len([name for name in os.listdir(backups) if name.endswith(".backup")]) == 1
    return env, env_file, store


def test_rekey_check_then_run_then_run_again(tmp_path, migrated):
    env, env_file, store = migrated
    old_store_key = keyfile.read_key_file(str(store / "secrets.key"), what="key")
    old_backup_key = keyfile.read_key_file(str(store / "backup.key"), what="key")
    before = tree(tmp_path / "data") | tree(tmp_path / "state")

    planned = run_playbook(REKEY, env, "--check", "-vvvv")
    assert planned.rc == 0 and planned.changed() == 2, planned.output[-3000:]
    assert tree(tmp_path / "data") | tree(tmp_path / "state") == before, "check mode wrote something"

    done = run_playbook(REKEY, env, "-vvvv")
    assert done.rc == 0 and done.changed() == 2, done.output[-3000:]
    for text in (planned.output, done.output):
        assert CANARY not in text
        for key in (old_store_key, old_backup_key, keyfile.read_key_file(str(store / "secrets.key"), what="key")):
            assert keyfile.encode_key(key).strip().decode() not in text, "a key was printed"
    assert "Back up the new keys now" in done.stdout

    names = sorted(os.listdir(store))
    assert [name for name in names if name.startswith("secrets.key.old-")] and \
        [name for name in names if name.startswith("backup.key.old-")], names
    assert not [name for name in names if name.endswith(".new")], names

    read = run_playbook(write_playbook(tmp_path, READ_PLAY), env,
                        extra_vars={"canary": CANARY, "key_file": str(store / "secrets.key")})
    assert read.rc == 0, read.output[-3000:]
    old_kept = str(store / f"secrets.key.old-{keyfile.key_id(old_store_key, b'vibebox.secrets local store key id')}")
    refused = run_playbook(write_playbook(tmp_path, READ_PLAY, name="old.yml"), env,
                           extra_vars={"canary": CANARY, "key_file": old_kept})
    assert refused.rc != 0 and "this store was encrypted with another key" in refused.output
    assert "the key given is the store's old key" in refused.output and CANARY not in refused.output

    settled = tree(tmp_path / "data") | tree(tmp_path / "state")
    again = run_playbook(REKEY, env)
    assert again.rc == 0 and again.changed() == 0, again.output[-3000:]
    assert "not re-keyed again" in again.stdout
    assert tree(tmp_path / "data") | tree(tmp_path / "state") == settled

    # the re-sealed backup still undoes the migration, with the new backup key in the default key file
    rollback = run_playbook(MIGRATE, env, extra_vars={"provider": "local", "migrate_action": "rollback"})
    assert rollback.rc == 0, rollback.output[-3000:]
    assert CANARY not in rollback.output


def test_rekey_only_the_store_to_a_prepared_key(tmp_path, migrated):
    env, _env_file, store = migrated
    prepared = tmp_path / "keys" / "new-store.key"
    keyfile.write_key_file(str(prepared), os.urandom(32), what="key")
    backups_before = tree(tmp_path / "state")
    done = run_playbook(REKEY, env, extra_vars={"rekey": "store", "new_local_key_file": str(prepared)})
    assert done.rc == 0 and done.changed() == 1, done.output[-3000:]
    assert keyfile.read_key_file(str(store / "secrets.key"), what="key") == keyfile.read_key_file(str(prepared), what="key")
    assert tree(tmp_path / "state") == backups_before
    again = run_playbook(REKEY, env, extra_vars={"rekey": "store", "new_local_key_file": str(prepared)})
    assert again.rc == 0 and again.changed() == 0
    read = run_playbook(write_playbook(tmp_path, READ_PLAY), env,
                        extra_vars={"canary": CANARY, "key_file": str(store / "secrets.key")})
    assert read.rc == 0, read.output[-3000:]


def test_a_bad_new_key_is_refused_before_any_write(tmp_path, migrated):
    env, _env_file, _store = migrated
    before = tree(tmp_path / "data") | tree(tmp_path / "state")
    bad = f"{CANARY}-not-a-key"
    run = run_playbook(REKEY, env, "-vvvv", extra_vars={"new_local_key": bad, "new_backup_key": bad})
    assert run.rc != 0 and "new_key is not 32 bytes in base64 or hex" in run.output
    assert CANARY not in run.output
    assert tree(tmp_path / "data") | tree(tmp_path / "state") == before
