"""The embedded store's own guarantees: encryption at rest, file modes, tamper detection, concurrency."""
from __future__ import annotations

import multiprocessing
import os
import stat

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers.local import LocalBackend


@pytest.fixture
def store(tmp_path):
    return LocalBackend(str(tmp_path / "vault" / "secrets.db"))


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
    assert not (tmp_path / "none").exists()


def test_wrong_key_fails_clearly(store, tmp_path):
    store.set("jwt", "value")
    other = LocalBackend(store.path, key=os.urandom(32))
    with pytest.raises(errors.ProviderUnavailable) as caught:
        other.get("jwt")
    assert "cannot be decrypted" in str(caught.value)


def test_a_ciphertext_moved_to_another_name_is_detected(store):
    import sqlite3

    store.set("a", "value-a")
    store.set("b", "value-b")
    conn = sqlite3.connect(store.path)
    row = conn.execute("SELECT nonce, ciphertext FROM versions WHERE name='a'").fetchone()
    conn.execute("UPDATE versions SET nonce=?, ciphertext=? WHERE name='b'", row)
    conn.commit()
    conn.close()
    with pytest.raises(errors.ProviderUnavailable):
        store.get("b")


def test_key_from_environment_must_be_32_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBEBOX_LOCAL_KEY", "c2hvcnQ=")
    with pytest.raises(errors.InvalidOption):
        LocalBackend.from_options({"local_path": str(tmp_path / "s.db")})


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
