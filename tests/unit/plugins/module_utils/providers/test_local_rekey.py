"""Re-keying the embedded store, on real SQLite files: one transaction, the old key kept until the new
one reads every value back, nothing written in check mode, a second run changes nothing, a run that
stopped after the commit is finished by the next one, and no writer can seal under the old key."""
from __future__ import annotations

import base64
import hashlib
import os
import sqlite3

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import local as local_mod
from ansible_collections.vibebox.secrets.plugins.module_utils.providers.local import LocalBackend, LocalStoreError

VALUES = {"jwt": ["jwt-1", "jwt-2"], "api": ["api-1"], "gone": ["gone-1"]}


def digest(folder) -> dict:
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


@pytest.fixture
def filled(tmp_path):
    backend = LocalBackend(str(tmp_path / "s" / "secrets.db"))
    for name, values in VALUES.items():
        for value in values:
            backend.set(name, value)
    backend.delete("gone", recovery_days=7)  # soft-deleted values must come along
    return backend


def test_rekey_moves_every_value_and_keeps_the_old_key_aside(filled, tmp_path):
    folder = str(tmp_path / "s")
    old_key = keyfile.read_key_file(filled.key_file, what="key")
    old_id = filled.key_id
    result = LocalBackend(filled.path).rekey(min_interval=0)
    assert result["changed"] and result["versions"] == 4 and result["secrets"] == 3
    assert result["old_key_id"] == old_id and result["new_key_id"] != old_id
    new_key = keyfile.read_key_file(filled.key_file, what="key")
    assert local_mod.store_key_id(new_key) == result["new_key_id"]
    kept = f"{filled.key_file}.old-{old_id}"
    assert result["old_key_file"] == kept and keyfile.read_key_file(kept, what="key") == old_key
    assert sorted(os.listdir(folder)) == ["secrets.db", "secrets.key", f"secrets.key.old-{old_id}"]
    after = LocalBackend(filled.path)
    assert after.get("jwt").value == "jwt-2" and after.get("jwt", "1").value == "jwt-1"
    assert after.restore("gone") and after.get("gone").value == "gone-1"
    with pytest.raises(LocalStoreError) as caught:
        LocalBackend(filled.path, key=old_key).get("jwt")
    assert f"the key given is the store's old key (kept in {kept}" in str(caught.value)
    assert keyfile.read_key_file(kept, what="key")  # 0600, trusted


def test_check_mode_writes_nothing_and_a_second_run_changes_nothing(filled, tmp_path):
    folder = str(tmp_path / "s")
    before = digest(folder)
    planned = LocalBackend(filled.path).rekey(min_interval=0, check=True)
    assert planned["changed"] and planned["versions"] == 4 and "would re-encrypt" in planned["msg"]
    assert digest(folder) == before
    never = LocalBackend(filled.path).rekey(min_interval=86400, check=True)
    assert never["changed"], "a store never re-keyed must be due, however young its key"
    assert digest(folder) == before
    first = LocalBackend(filled.path).rekey(min_interval=0)
    assert first["changed"]
    settled = digest(folder)
    second = LocalBackend(filled.path).rekey(min_interval=86400)
    assert second["changed"] is False and "not re-keyed" in second["msg"]
    assert LocalBackend(filled.path).rekey(min_interval=86400, check=True)["changed"] is False
    assert digest(folder) == settled


def test_an_explicit_new_key_is_idempotent_and_copied_into_the_key_file(filled, tmp_path):
    target = tmp_path / "prepared.key"
    key = os.urandom(32)
    keyfile.write_key_file(str(target), key, what="key")
    first = LocalBackend(filled.path).rekey(new_key_file=str(target))
    assert first["changed"] and first["new_key_id"] == local_mod.store_key_id(key)
    assert keyfile.read_key_file(filled.key_file, what="key") == key and target.exists()
    again = LocalBackend(filled.path).rekey(new_key_file=str(target))
    assert again["changed"] is False
    by_value = LocalBackend(filled.path).rekey(new_key=key)
    assert by_value["changed"] is False


def test_a_failure_inside_the_transaction_changes_nothing(filled, tmp_path):
    conn = sqlite3.connect(filled.path)
    conn.execute("UPDATE versions SET ciphertext = zeroblob(40) WHERE name = 'api'")  # one damaged row
    conn.commit()
    conn.close()
    folder = str(tmp_path / "s")
    before = digest(folder)
    with pytest.raises(LocalStoreError) as caught:
        LocalBackend(filled.path).rekey(min_interval=0, new_key=os.urandom(32))
    assert "nothing was re-keyed" in str(caught.value) and caught.value.provider_name == "api"
    after = {name: digest_ for name, digest_ in digest(folder).items() if not name.endswith(".new")}
    assert after == before
    assert LocalBackend(filled.path).get("jwt").value == "jwt-2"  # still under the old key


def test_a_run_killed_after_the_commit_is_finished_by_the_next(filled, tmp_path, monkeypatch):
    old_id = filled.key_id

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt("killed between the commit and the key swap")

    monkeypatch.setattr(local_mod._Rekey, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        LocalBackend(filled.path).rekey(min_interval=0)
    monkeypatch.undo()
    staged = filled.key_file + ".new"
    new_id = local_mod.store_key_id(keyfile.read_key_file(staged, what="key"))
    with pytest.raises(LocalStoreError) as caught:
        LocalBackend(filled.path).get("jwt")  # the key file still holds the old key: refused, and says why
    assert f"store key id {new_id}, given key id {old_id}" in str(caught.value)
    assert f"the key in {staged}: run the re-key again to finish" in str(caught.value)
    planned = LocalBackend(filled.path).rekey(check=True)
    assert planned["changed"] and "would put the new key" in planned["msg"]
    done = LocalBackend(filled.path).rekey()
    assert done["changed"] and done["new_key_id"] == new_id and not os.path.exists(staged)
    assert LocalBackend(filled.path).get("jwt").value == "jwt-2"
    assert LocalBackend(filled.path).rekey(min_interval=86400)["changed"] is False


def test_a_store_keyed_by_environment_is_rekeyed_without_touching_files(filled, tmp_path, monkeypatch):
    old = os.urandom(32)
    path = str(tmp_path / "e" / "secrets.db")
    LocalBackend(path, key=old).set("jwt", "v")
    new = os.urandom(32)
    monkeypatch.setenv("VIBEBOX_LOCAL_KEY", base64.b64encode(old).decode())
    result = LocalBackend.from_options({"local_path": path}).rekey(new_key=new)
    assert result["changed"] and result["key_file"] is None
    assert any("VIBEBOX_LOCAL_KEY still holds the old key" in warning for warning in result["warnings"])
    assert sorted(os.listdir(tmp_path / "e")) == ["secrets.db"]
    again = LocalBackend.from_options({"local_path": path}).rekey(new_key=new)
    assert again["changed"] is False
    assert LocalBackend(path, key=new).get("jwt").value == "v"


def test_a_writer_that_loaded_the_old_key_file_follows_the_new_one(filled):
    writer = LocalBackend(filled.path)
    writer.get("jwt")  # holds the old key in memory now
    LocalBackend(filled.path).rekey(min_interval=0)
    writer.set("jwt", "jwt-3")  # re-reads the key file instead of sealing under the old key
    assert LocalBackend(filled.path).get("jwt").value == "jwt-3"
    conn = sqlite3.connect(filled.path)
    meta = dict(conn.execute("SELECT name, value FROM store_meta"))
    conn.close()
    assert meta["key_id"] == LocalBackend(filled.path).key_id


def test_a_store_under_an_unknown_key_is_refused(filled):
    with pytest.raises(LocalStoreError, match="neither the current key"):
        LocalBackend(filled.path, key=os.urandom(32)).rekey(min_interval=0)


def test_a_missing_store_is_nothing_to_rekey(tmp_path):
    result = LocalBackend(str(tmp_path / "none" / "secrets.db")).rekey(min_interval=0)
    assert result["changed"] is False and not (tmp_path / "none").exists()


def test_moving_to_the_key_in_use_changes_nothing(filled, tmp_path):
    before = digest(str(tmp_path / "s"))
    same = keyfile.read_key_file(filled.key_file, what="key")
    assert LocalBackend(filled.path).rekey(new_key=same)["changed"] is False
    assert digest(str(tmp_path / "s")) == before


def test_a_new_key_file_that_does_not_exist_is_made_and_left_in_place(filled, tmp_path):
    target = tmp_path / "keys" / "next.key"
    result = LocalBackend(filled.path).rekey(new_key_file=str(target))
    assert result["changed"] and target.exists()
    made = keyfile.read_key_file(str(target), what="key")
    assert keyfile.read_key_file(filled.key_file, what="key") == made
    assert result["new_key_id"] == local_mod.store_key_id(made)
    assert LocalBackend(filled.path).get("api").value == "api-1"


def test_the_environment_warning_names_the_key_that_was_given_not_a_stale_file(tmp_path, monkeypatch):
    old, new = os.urandom(32), os.urandom(32)
    path = str(tmp_path / "e" / "secrets.db")
    LocalBackend(path, key=old).set("jwt", "v")
    keyfile.write_key_file(str(tmp_path / "e" / "secrets.key.new"), os.urandom(32), what="key")  # stale
    monkeypatch.setenv("VIBEBOX_LOCAL_KEY", base64.b64encode(old).decode())
    result = LocalBackend.from_options({"local_path": path}).rekey(new_key=new)
    assert result["changed"] and result["new_key_file"] is None
    assert [w for w in result["warnings"] if "set it to the new key you gave" in w], result["warnings"]
