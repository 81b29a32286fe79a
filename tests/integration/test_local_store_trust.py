"""File trust and read-only folders of the embedded store, through ansible-playbook as a user runs it.

What ssh and gpg do with their files: a store, key or backup-key file that another user owns or that
group/others can write, a key that group/others can read, and a store folder others can write are
refused before anything is read or written, with the path, owner, mode and the command that fixes it.
A store in a read-only folder (a read-only mount here, when the test runs as root, which ignores
permission bits) still answers lookups; only writes are refused.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
import uuid

import pytest

from ansible_run import BIN, run_playbook, state_env, write_playbook

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as backup_mod
from ansible_collections.vibebox.secrets.plugins.module_utils.providers.local import LocalBackend

CANARY = "CANARY-" + uuid.uuid4().hex
AS_ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody").pw_uid
needs_root = pytest.mark.skipif(not AS_ROOT, reason="giving a file to another user needs root")

READ_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: read the secret
      ansible.builtin.assert:
        that: lookup('vibebox.secrets.get', 'jwt-secret', provider='local', local_path=store) == canary
        quiet: true
      no_log: true
"""

WRITE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: write a secret
      vibebox.secrets.secret:
        provider: local
        local_path: "{{ store }}"
        name: api-key
        value: "{{ canary }}-new"
"""


def digest(folder) -> dict:
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


@pytest.fixture
def seeded(tmp_path):
    """A store with one secret, its key file beside it, both made by this user."""
    folder = tmp_path / "store"
    backend = LocalBackend(str(folder / "secrets.db"))
    backend.set("jwt-secret", CANARY)
    return backend


def _run(tmp_path, play_text, store, *args):
    play = write_playbook(tmp_path, play_text, name=f"play-{uuid.uuid4().hex[:6]}.yml")
    return run_playbook(play, state_env(tmp_path), *args, extra_vars={"canary": CANARY, "store": store})


def _refused(run, *fragments):
    assert run.rc != 0, run.output[-3000:]
    for fragment in fragments:
        assert fragment in run.output, f"{fragment!r} not in:\n{run.output[-3000:]}"
    assert CANARY not in run.output


@pytest.mark.parametrize("mode, fix", [(0o644, "chmod 600"), (0o640, "chmod 600"), (0o620, "chmod 600")])
def test_a_key_file_others_can_read_or_write_is_refused(tmp_path, seeded, mode, fix):
    os.chmod(seeded.key_file, mode)
    before = digest(os.path.dirname(seeded.path))
    for play in (READ_PLAY, WRITE_PLAY):
        run = _run(tmp_path, play, seeded.path, "-vvvv")
        _refused(run, f"refusing the local store key file {seeded.key_file}", f"mode 0{mode:o}",
                 f"{fix} {seeded.key_file}")
    assert digest(os.path.dirname(seeded.path)) == before


def test_a_store_file_others_can_write_is_refused(tmp_path, seeded):
    os.chmod(seeded.path, 0o666)
    run = _run(tmp_path, READ_PLAY, seeded.path)
    _refused(run, f"refusing the local store {seeded.path}: group or others can write to it", "mode 0666",
             f"chmod go-w {seeded.path}")


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770])
def test_a_store_folder_others_can_write_is_refused(tmp_path, seeded, mode):
    folder = os.path.dirname(seeded.path)
    os.chmod(folder, mode)
    before = digest(folder)
    for play in (READ_PLAY, WRITE_PLAY):
        run = _run(tmp_path, play, seeded.path)
        _refused(run, f"refusing the folder of the local store {folder}: group or others can write to it",
                 f"chmod go-w {folder}")
    assert digest(folder) == before


def test_a_backup_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "keys" / "backup.key"
    made = backup_mod.BackupKey.load(key_file=str(path), create=True, env={})
    os.chmod(path, 0o644)
    with pytest.raises(backup_mod.BackupError) as caught:
        backup_mod.BackupKey.load(key_file=str(path), env={})
    text = str(caught.value)
    assert f"refusing the backup key file {path}: group or others can read it" in text and f"chmod 600 {path}" in text
    os.chmod(path, 0o600)
    assert backup_mod.BackupKey.load(key_file=str(path), env={}).key == made.key


@needs_root
@pytest.mark.parametrize("which", ["store", "key"])
def test_a_file_another_user_owns_is_refused_with_the_chown_that_fixes_it(tmp_path, seeded, which):
    target = seeded.path if which == "store" else seeded.key_file
    os.chown(target, NOBODY, -1)
    run = _run(tmp_path, READ_PLAY, seeded.path)
    _refused(run, f"{target}: it belongs to another user (owner nobody", "this run is root (uid 0)",
             f"chown root {target}")


@needs_root
def test_a_key_and_store_planted_in_a_shared_folder_are_refused(tmp_path):
    """The attack: another user prepares a key and an empty store where the victim will write."""
    shared = tmp_path / "shared"
    planted = LocalBackend(str(shared / "secrets.db"))
    planted.set("bait", "x")
    planted.delete("bait", force=True)  # an empty store under the attacker's key
    for name in os.listdir(shared):
        os.chown(shared / name, NOBODY, -1)
    os.chmod(shared, 0o1777)  # like /tmp
    before = digest(shared)
    run = _run(tmp_path, WRITE_PLAY, str(shared / "secrets.db"))
    _refused(run, f"refusing the folder of the local store {shared}")
    assert digest(shared) == before, "the victim's value was written into the planted store"
    os.chmod(shared, 0o700)  # even in a private folder, files another user made are not trusted
    run = _run(tmp_path, WRITE_PLAY, str(shared / "secrets.db"))
    _refused(run, "it belongs to another user (owner nobody")
    assert digest(shared) == before


# read-only folder -------------------------------------------------------------------------------
def _read_only_run(tmp_path, folder, play_text, store) -> subprocess.CompletedProcess:
    """ansible-playbook with ``folder`` read-only: a read-only bind mount as root, chmod otherwise."""
    play = write_playbook(tmp_path, play_text, name=f"ro-{uuid.uuid4().hex[:6]}.yml")
    extra = tmp_path / f"vars-{uuid.uuid4().hex[:6]}.yml"
    extra.write_text(f"canary: {CANARY}\nstore: {store}\n")
    command = [os.path.join(BIN, "ansible-playbook"), play, "-e", f"@{extra}"]
    env = state_env(tmp_path)
    if AS_ROOT:
        script = (f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
                  f"touch {folder}/probe 2>/dev/null && exit 97; exec \"$@\"")
        command = ["unshare", "-m", "sh", "-c", script, "sh"] + command
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode != 97, "the folder was still writable: the test proves nothing"
        return done
    os.chmod(folder, 0o500)
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        os.chmod(folder, 0o700)


def test_a_store_in_a_read_only_folder_is_read_and_only_writes_are_refused(tmp_path, seeded):
    folder = os.path.dirname(seeded.path)
    assert sorted(os.listdir(folder)) == ["secrets.db", "secrets.key"]  # no WAL left: the hard case
    before = digest(folder)
    read = _read_only_run(tmp_path, folder, READ_PLAY, seeded.path)
    assert read.returncode == 0, (read.stdout + read.stderr)[-3000:]
    write = _read_only_run(tmp_path, folder, WRITE_PLAY, seeded.path)
    output = write.stdout + write.stderr
    assert write.returncode != 0 and f"cannot write to the local store {seeded.path}" in output, output[-3000:]
    assert "reading still works" in output and "Writes need the folder writable" in output
    assert CANARY not in output
    assert digest(folder) == before
