"""The embedded store's own guarantees, on real SQLite files in a temporary folder.

Encryption at rest, file modes, tamper detection, concurrency; the store knows its key (a wrong or
missing key is refused, a new key is never made for a store that holds secrets, an old store gets a
key check on its first write); durable key files; erasure that leaves no ciphertext in the files;
damaged and unusable stores named with the next step; the identity other code compares.

Re-keying: one transaction, the old key kept until the new one reads every value back, nothing written
in check mode, a second run changes nothing, a run that stopped after the commit is finished by the
next one, and no writer can seal under the old key.
"""
from __future__ import annotations

import base64
import hashlib
import multiprocessing
import os
import sqlite3
import stat

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, keyfile
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import local as local_mod
from ansible_collections.vibebox.secrets.plugins.module_utils.providers.local import LocalBackend, LocalStoreError

GENERATE = "urandom"  # the key-generation command every "make a key" hint contains


@pytest.fixture
def store(tmp_path):
    return LocalBackend(str(tmp_path / "vault" / "secrets.db"))


def digest(folder) -> dict:
    """Name -> sha256 of every file in ``folder`` (what 'byte-identical' means here)."""
    if not os.path.isdir(folder):
        return {}
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


def sealed_rows(path: str) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT name, version, nonce, ciphertext FROM versions ORDER BY name, version").fetchall()
    finally:
        conn.close()


def test_values_are_encrypted_at_rest_and_files_are_private(store, tmp_path):
    store.set("jwt", "CANARY-plain-text")
    folder = tmp_path / "vault"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert b"CANARY-plain-text" not in path.read_bytes()


def test_reads_never_create_the_store(tmp_path):
    backend = LocalBackend(str(tmp_path / "none" / "secrets.db"))
    with pytest.raises(errors.SecretNotFound):
        backend.get("jwt")
    assert backend.list() == []
    assert backend.exists() is False
    assert backend.identity() == {"provider": "local", "path": str(tmp_path / "none" / "secrets.db"), "store_id": ""}
    assert backend.key_id == ""
    assert not (tmp_path / "none").exists()


def test_a_ciphertext_moved_to_another_name_is_detected(store):
    store.set("a", "value-a")
    store.set("b", "value-b")
    conn = sqlite3.connect(store.path)
    row = conn.execute("SELECT nonce, ciphertext FROM versions WHERE name='a'").fetchone()
    conn.execute("UPDATE versions SET nonce=?, ciphertext=? WHERE name='b'", row)
    conn.commit()
    conn.close()
    with pytest.raises(LocalStoreError) as caught:
        store.get("b")
    assert "changed or damaged" in str(caught.value)
    assert store.get("a").value == "value-a"  # one damaged row does not take the others down


def test_key_from_environment_must_be_32_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBEBOX_LOCAL_KEY", "c2hvcnQ=")
    with pytest.raises(errors.InvalidOption) as caught:
        LocalBackend.from_options({"local_path": str(tmp_path / "s.db")})
    assert "VIBEBOX_LOCAL_KEY is not 32 bytes in base64 or hex: it decodes to 5 bytes" in str(caught.value)
    assert GENERATE in str(caught.value)  # no store yet: making a key is the right advice


def test_a_malformed_environment_key_never_suggests_a_new_key_while_a_store_exists(tmp_path, monkeypatch):
    path = str(tmp_path / "s" / "secrets.db")
    LocalBackend(path).set("jwt", "v")
    monkeypatch.setenv("VIBEBOX_LOCAL_KEY", "not a key at all")
    with pytest.raises(errors.InvalidOption) as caught:
        LocalBackend.from_options({"local_path": path})
    text = str(caught.value)
    assert "VIBEBOX_LOCAL_KEY is not 32 bytes in base64 or hex: it holds 16 characters that are neither" in text
    assert GENERATE not in text and path in text and "not a key at all" not in text


# a store knows its key ---------------------------------------------------------------------------
def test_the_store_records_a_key_id_and_check_but_never_the_key(store):
    store.set("jwt", "value")
    key = keyfile.read_key_file(store.key_file, what="key")
    conn = sqlite3.connect(store.path)
    meta = dict(conn.execute("SELECT name, value FROM store_meta"))
    conn.close()
    assert meta["key_id"] == local_mod.store_key_id(key) == store.key_id
    assert len(meta["key_check"]) == 64 and meta["format"] == local_mod.STORE_FORMAT
    data = open(store.path, "rb").read() + (open(store.path + "-wal", "rb").read() if os.path.exists(store.path + "-wal") else b"")
    assert key not in data and base64.b64encode(key) not in data and key.hex().encode() not in data


def test_missing_key_file_with_secrets_is_refused_and_no_key_is_made(store, tmp_path):
    store.set("jwt", "value")
    os.unlink(store.key_file)
    before = digest(tmp_path / "vault")
    fresh = LocalBackend(store.path)
    for action in (lambda: fresh.set("new-name", "x"), lambda: fresh.get("jwt"), fresh.list):
        with pytest.raises(LocalStoreError) as caught:
            action()
        text = str(caught.value)
        assert store.key_file in text and store.path in text and "Restore the key file" in text
        assert GENERATE not in text
    assert not os.path.exists(store.key_file), "a new key was made for a store that holds secrets"
    assert digest(tmp_path / "vault") == before


def test_a_key_file_under_a_missing_folder_is_named_as_such(store, tmp_path):
    store.set("jwt", "value")
    elsewhere = LocalBackend(store.path, key_file=str(tmp_path / "gone" / "secrets.key"))
    with pytest.raises(LocalStoreError) as caught:
        elsewhere.get("jwt")
    assert f"nor does its folder {tmp_path / 'gone'}" in str(caught.value)
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("how", ["given", "env", "key_file"])
def test_a_wrong_key_is_refused_for_reads_and_writes(store, tmp_path, monkeypatch, how):
    store.set("jwt", "value")
    store_id = store.key_id
    other = os.urandom(32)
    if how == "given":
        wrong = LocalBackend(store.path, key=other)
    elif how == "env":
        monkeypatch.setenv("VIBEBOX_LOCAL_KEY", base64.b64encode(other).decode())
        wrong = LocalBackend.from_options({"local_path": store.path})
    else:
        os.unlink(store.key_file)
        keyfile.write_key_file(store.key_file, other, what="key")
        wrong = LocalBackend(store.path)
    before = digest(tmp_path / "vault")
    expected = (f"this store was encrypted with another key (store key id {store_id},"
                f" given key id {local_mod.store_key_id(other)})")
    for action in (lambda: wrong.get("jwt"), lambda: wrong.set("jwt", "x"), lambda: wrong.set("new", "x"),
                   wrong.list, lambda: wrong.describe("jwt")):
        with pytest.raises(LocalStoreError) as caught:
            action()
        assert expected in str(caught.value) and GENERATE not in str(caught.value)
    assert digest(tmp_path / "vault") == before


def test_an_empty_store_whose_key_was_lost_gets_a_new_key(tmp_path):
    path = str(tmp_path / "s" / "secrets.db")
    backend = LocalBackend(path)
    backend.set("jwt", "v")
    backend.delete("jwt", force=True)
    os.unlink(backend.key_file)
    again = LocalBackend(path)
    again.set("jwt", "v2")  # nothing was sealed under the lost key, so nothing is lost
    assert LocalBackend(path).get("jwt").value == "v2"


def _legacy_store(path: str, key: bytes, values: dict) -> None:
    """A store as the code before key checks wrote it: the two tables, no store_meta."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(local_mod._SCHEMA.split("CREATE TABLE IF NOT EXISTS store_meta", maxsplit=1)[0])
    for index, (name, value) in enumerate(values.items()):
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, value.encode(), f"vibebox.secrets:{name}:1".encode())
        conn.execute("INSERT INTO versions (name, version, nonce, ciphertext, created_at) VALUES (?, 1, ?, ?, ?)",
                     (name, nonce, sealed, 1000.0 + index))
        conn.execute("INSERT INTO secrets (name, tags, created_at, updated_at, current) VALUES (?, '{}', ?, ?, 1)",
                     (name, 1000.0 + index, 1000.0 + index))
    conn.close()
    os.chmod(path, 0o600)


def test_a_store_from_before_key_checks_gets_one_on_its_first_write(tmp_path):
    path = str(tmp_path / "old" / "secrets.db")
    key = os.urandom(32)
    _legacy_store(path, key, {"jwt": "old-jwt", "api": "old-api"})
    keyfile.write_key_file(str(tmp_path / "old" / "secrets.key"), key, what="key")
    before = digest(tmp_path / "old")
    reader = LocalBackend(path)
    assert reader.get("jwt").value == "old-jwt"
    assert reader.identity()["store_id"] == ""  # given on its first write, with the key check
    assert digest(tmp_path / "old") == before, "a read changed an old store"
    with pytest.raises(LocalStoreError, match="another key"):
        LocalBackend(path, key=os.urandom(32)).set("new", "x")
    LocalBackend(path).set("new", "x")
    conn = sqlite3.connect(path)
    meta = dict(conn.execute("SELECT name, value FROM store_meta"))
    conn.close()
    assert meta["key_id"] == local_mod.store_key_id(key)
    assert LocalBackend(path).get("api").value == "old-api"
    with pytest.raises(LocalStoreError, match=r"store key id " + meta["key_id"]):
        LocalBackend(path, key=os.urandom(32)).get("api")


def test_a_wrong_key_on_an_old_store_is_refused_before_any_write(tmp_path):
    path = str(tmp_path / "old" / "secrets.db")
    _legacy_store(path, os.urandom(32), {"jwt": "old-jwt"})
    before = digest(tmp_path / "old")
    with pytest.raises(LocalStoreError, match="store key id unknown"):
        LocalBackend(path, key=os.urandom(32)).set("jwt", "x")
    assert digest(tmp_path / "old") == before


def test_a_writer_that_kept_an_old_key_cannot_mix_keys(tmp_path):
    """Two processes, one re-keys: the other must not seal under the key it still holds in memory."""
    path = str(tmp_path / "s" / "secrets.db")
    first = LocalBackend(path, key=os.urandom(32))
    first.set("jwt", "v1")
    newer = LocalBackend(path, key=os.urandom(32))
    with pytest.raises(LocalStoreError):
        newer.set("jwt", "v2")
    assert LocalBackend(path, key=first._given_key).get("jwt").value == "v1"


# durability and erasure --------------------------------------------------------------------------
def test_the_key_file_and_its_folder_are_fsynced_before_the_first_value_is_sealed(tmp_path, monkeypatch):
    path = str(tmp_path / "d" / "secrets.db")
    seen = []
    real_fsync = os.fsync

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        sealed = 0
        if os.path.exists(path):
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                sealed = conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
            except sqlite3.OperationalError:
                sealed = 0
            finally:
                conn.close()
        seen.append((target, sealed))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    LocalBackend(path).set("jwt", "value")
    key_syncs = [entry for entry in seen if entry[0].startswith(str(tmp_path / "d" / ".key-"))]
    folder_syncs = [entry for entry in seen if entry[0] == str(tmp_path / "d")]
    assert key_syncs and folder_syncs, seen
    assert all(sealed == 0 for _target, sealed in key_syncs + folder_syncs)


def _files_hold(path: str, needle: bytes) -> list:
    return [name for name in (path, path + "-wal") if os.path.exists(name) and needle in open(name, "rb").read()]


@pytest.fixture
def without_secure_delete_by_default(monkeypatch):
    """Act like a SQLite build without SQLITE_SECURE_DELETE (Debian's has it): the store must turn it on."""
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete=OFF")
        return conn

    monkeypatch.setattr(local_mod.sqlite3, "connect", connect)


@pytest.mark.parametrize("how", ["destroy", "force_delete", "rekey"])
def test_an_erased_value_leaves_no_ciphertext_in_the_files(store, without_secure_delete_by_default, how):
    store.set("jwt", "first-" + "x" * 200)
    store.set("jwt", "second")
    doomed = [row[3] for row in sealed_rows(store.path) if (how != "destroy" or row[1] == 1)]
    idle = sqlite3.connect(store.path)  # another process's idle connection keeps the WAL file alive
    assert idle.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 2  # opens the database and its WAL
    try:
        for sealed in doomed:
            assert _files_hold(store.path, sealed)  # it is there before
        if how == "destroy":
            store.delete_version("jwt", "1")
        elif how == "force_delete":
            store.delete("jwt", force=True)
        else:
            store.rekey(check=False)
        for sealed in doomed:
            assert _files_hold(store.path, sealed) == [], f"ciphertext left behind after {how}"
    finally:
        idle.close()


def test_every_connection_turns_secure_delete_on(store, without_secure_delete_by_default):
    store.set("jwt", "v")
    with store._db(write=False) as conn:
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    with store._db(write=True) as conn:
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


# a damaged or unusable store says so ---------------------------------------------------------------
def _assert_names_file_and_no_new_key(exc, path):
    text = str(exc)
    assert path in text and GENERATE not in text, text
    return text


def test_random_bytes_are_named_as_a_damaged_store(store, tmp_path):
    store.set("jwt", "v")
    with open(store.path, "wb") as handle:
        handle.write(os.urandom(8192))
    for action in (lambda: store.get("jwt"), lambda: store.set("jwt", "x"), store.list):
        with pytest.raises(LocalStoreError) as caught:
            action()
        text = _assert_names_file_and_no_new_key(caught.value, store.path)
        assert "is damaged: it is not a SQLite database" in text and "Restore" in text and "keep" in text


def test_a_truncated_store_is_named_as_such(store):
    for index in range(40):
        store.set(f"s{index}", "v" * 500)
    size = os.path.getsize(store.path)
    assert size > 8192
    with open(store.path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(LocalStoreError) as caught:
        store.get("s1")
    assert "is truncated" in _assert_names_file_and_no_new_key(caught.value, store.path)


def test_a_store_that_grows_back_while_it_is_checked_is_not_called_damaged(store, monkeypatch):
    """Another process checkpointing writes the header before the pages that grow the file: a reader that
    catches it in between sees a file shorter than its header. Whole again a moment later, it is not damaged."""
    for index in range(40):
        store.set(f"s{index}", "v" * 500)
    with open(store.path, "rb") as handle:
        whole = handle.read()
    with open(store.path, "r+b") as handle:
        handle.truncate(len(whole) // 2)
    waited = []

    def checkpoint_finishes(seconds):
        waited.append(seconds)
        with open(store.path, "wb") as handle:
            handle.write(whole)

    monkeypatch.setattr(local_mod.time, "sleep", checkpoint_finishes)
    assert store.get("s1").value == "v" * 500
    assert waited == [local_mod._RECHECK_DELAY]


@pytest.mark.parametrize("content, reason", [
    (b"\xff\xfe\x00garbage", "is not text: it holds a non-ASCII byte at offset 0"),
    (b"c2hvcnQ=\n", "it decodes to 5 bytes"),
    (b"\n", "is empty"),
    (b"this is not a key!\n", "it holds 18 characters that are neither"),
])
def test_a_malformed_key_file_is_named_without_suggesting_a_new_key(store, content, reason):
    store.set("jwt", "v")
    with open(store.key_file, "wb") as handle:
        handle.write(content)
    with pytest.raises(errors.SecretError) as caught:
        LocalBackend(store.path).get("jwt")
    text = _assert_names_file_and_no_new_key(caught.value, store.key_file)
    assert reason in text


def test_a_path_under_a_missing_folder_is_explained_on_read_and_created_on_write(tmp_path):
    path = str(tmp_path / "a" / "b" / "secrets.db")
    with pytest.raises(errors.SecretNotFound) as caught:
        LocalBackend(path).get("jwt")
    assert f"the local store {path} does not exist yet, and its folder {tmp_path / 'a' / 'b'} is missing" in str(caught.value)
    LocalBackend(path).set("jwt", "v")
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b").st_mode) == 0o700


def test_a_path_through_a_file_or_to_a_folder_is_refused(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(errors.SecretError) as caught:
        LocalBackend(str(tmp_path / "plain" / "secrets.db")).set("jwt", "v")
    assert str(tmp_path / "plain") in str(caught.value) and "not a folder" in str(caught.value)
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(LocalStoreError, match="is a folder, not a store file"):
        LocalBackend(str(tmp_path / "dir.db")).get("jwt")


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "app" / "app.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    before = digest(path.parent)
    with pytest.raises(LocalStoreError, match="not a vibebox.secrets store"):
        LocalBackend(str(path)).set("jwt", "v")
    assert digest(path.parent) == before


# identity for the rollback and lock code ------------------------------------------------------------
def test_identity_names_the_store_without_a_key_and_survives_a_rekey(store, tmp_path):
    assert store.identity()["store_id"] == "" and store.exists() is False
    store.set("jwt", "v")
    assert store.exists() is True
    identity = store.identity()
    assert set(identity) == {"provider", "path", "store_id"} and len(identity["store_id"]) == 16
    assert identity["path"] == store.path and len(store.key_id) == 16
    store.rekey(new_key=os.urandom(32), check=False)
    assert store.identity() == identity  # a re-key keeps the store the same store
    os.unlink(store.key_file)
    assert LocalBackend(store.path).identity() == identity  # recorded in the store: no key needed
    assert LocalBackend(store.path).key_id == ""
    os.unlink(store.path)
    other = LocalBackend(store.path)
    other.set("jwt", "v")  # another store put at the same path
    assert other.identity()["store_id"] not in ("", identity["store_id"])


# concurrency ---------------------------------------------------------------------------------------
def _writer(path: str, index: int) -> None:
    backend = LocalBackend(path)
    for round_ in range(10):
        backend.set(f"own-{index}", f"v{round_}")
        backend.set("shared", f"{index}-{round_}")


def test_eight_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "c" / "secrets.db")
    LocalBackend(path).set("seed", "x")  # key file exists before the race, as after a first run
    workers = [multiprocessing.Process(target=_writer, args=(path, i)) for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    backend = LocalBackend(path)
    assert len(backend.versions("shared")) == 80
    assert all(backend.get(f"own-{i}").value == "v9" for i in range(8))


def test_key_file_race_on_first_use_gives_one_key(tmp_path):
    path = str(tmp_path / "race" / "secrets.db")
    workers = [multiprocessing.Process(target=_writer, args=(path, i)) for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert LocalBackend(path).get("own-0").value == "v9"
    assert [name for name in os.listdir(tmp_path / "race") if "key" in name] == ["secrets.key"]


def test_threads_reading_through_one_new_backend_all_get_the_key(tmp_path):
    """get_many opens the store from several threads of one backend at once; each must see the cipher."""
    path = str(tmp_path / "t" / "secrets.db")
    seed = LocalBackend(path)
    names = [f"n{index}" for index in range(16)]
    for name in names:
        seed.set(name, f"value-{name}")
    for _round in range(20):
        fetched = LocalBackend(path).get_many(names)
        assert {name: getattr(item, "value", item) for name, item in fetched.items()} == {
            name: f"value-{name}" for name in names}


VALUES = {"jwt": ["jwt-1", "jwt-2"], "api": ["api-1"], "gone": ["gone-1"]}


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


def test_a_staged_key_that_is_now_the_key_in_use_is_kept_aside_and_a_new_key_made(tmp_path, monkeypatch):
    """With VIBEBOX_LOCAL_KEY the new key stays in secrets.key.new for the operator to put in the variable. Once it
    is the key in use it is no target: a later re-key (after a leak) must move the store to a fresh key, keeping
    that copy as secrets.key.old-<id>, not answer that the store is already under it."""
    path = str(tmp_path / "e" / "secrets.db")
    first_key = os.urandom(32)
    LocalBackend(path, key=first_key).set("jwt", "v")
    monkeypatch.setenv("VIBEBOX_LOCAL_KEY", base64.b64encode(first_key).decode())
    staged = LocalBackend.from_options({"local_path": path}).rekey(min_interval=0)["new_key_file"]
    in_use = keyfile.read_key_file(staged, what="key")
    monkeypatch.setenv("VIBEBOX_LOCAL_KEY", base64.b64encode(in_use).decode())
    young = LocalBackend.from_options({"local_path": path}).rekey(min_interval=86400)
    assert young["changed"] is False and "not re-keyed again" in young["msg"]
    again = LocalBackend.from_options({"local_path": path}).rekey(min_interval=0)
    assert again["changed"] and again["old_key_id"] == local_mod.store_key_id(in_use)
    fresh = keyfile.read_key_file(staged, what="key")
    assert again["new_key_id"] == local_mod.store_key_id(fresh) != local_mod.store_key_id(in_use)
    kept = tmp_path / "e" / f"secrets.key.old-{local_mod.store_key_id(in_use)}"
    assert keyfile.read_key_file(str(kept), what="key") == in_use
    assert LocalBackend(path, key=fresh).get("jwt").value == "v"
    with pytest.raises(LocalStoreError, match="the key given is the store's old key"):
        LocalBackend(path, key=in_use).get("jwt")
