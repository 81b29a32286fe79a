"""core/keyfile.py: keys decoded from base64 or hex with errors that never show the text, key files written
private and read back, and files others could change refused (as ssh refuses such keys)."""
from __future__ import annotations

import base64
import os
import stat

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile

KEY = bytes(range(32))


def test_a_key_decodes_from_base64_or_hex():
    assert keyfile.decode_key(base64.b64encode(KEY).decode()) == KEY
    assert keyfile.decode_key(KEY.hex() + "\n") == KEY
    assert keyfile.decode_key(keyfile.encode_key(KEY).decode()) == KEY


@pytest.mark.parametrize("text,says", [("", "is empty"), ("CANARY-not-a-key!", "17 characters"),
                                       (base64.b64encode(b"short").decode(), "decodes to 5 bytes")])
def test_a_bad_key_says_what_is_wrong_never_what_it_holds(text, says):
    with pytest.raises(keyfile.KeyFileError) as caught:
        keyfile.decode_key(text)
    assert says in str(caught.value) and (not text or text not in str(caught.value))


def test_ids_and_checks_tell_keys_apart_and_depend_on_the_label():
    other = bytes(32)
    assert len(keyfile.key_id(KEY, b"a")) == 16
    assert keyfile.key_id(KEY, b"a") != keyfile.key_id(other, b"a") != keyfile.key_id(KEY, b"b")
    assert keyfile.key_check(KEY, b"a") != keyfile.key_check(KEY, b"b")
    assert len(keyfile.random_key()) == keyfile.KEY_BYTES and keyfile.random_key() != keyfile.random_key()


def test_a_created_key_file_is_private_and_reads_back(tmp_path):
    folder = tmp_path / "keys"
    keyfile.make_private_folder(str(folder), what="key folder")
    path = str(folder / "store.key")
    made = keyfile.create_key_file(path, what="key file")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert keyfile.read_key_file(path, what="key file") == made and len(made) == 32


def test_a_folder_another_process_makes_between_the_checks_is_used(tmp_path, monkeypatch):
    """Two forks' first run on one store: the folder appears after the first isdir said it was missing."""
    folder = tmp_path / "race"
    real_isdir = os.path.isdir
    calls = []

    def isdir_then_made(path):
        calls.append(path)
        if path == str(folder) and len(calls) == 1:
            os.mkdir(path, 0o700)  # the other process wins here
            return False
        return real_isdir(path)

    monkeypatch.setattr(keyfile.os.path, "isdir", isdir_then_made)
    keyfile.make_private_folder(str(folder), what="key folder")
    assert real_isdir(folder) and len(calls) > 1


def test_a_file_where_the_folder_should_be_is_refused(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(keyfile.PathError) as caught:
        keyfile.make_private_folder(str(tmp_path / "taken" / "keys"), what="key folder")
    assert "exists and is not a folder" in str(caught.value) and "taken" in str(caught.value)


def test_a_key_file_that_is_a_link_to_nothing_is_refused_naming_the_link(tmp_path):
    """A key file linked to a volume that is not mounted: no key may be made, and the error must say why."""
    link = tmp_path / "store.key"
    os.symlink(tmp_path / "unmounted" / "store.key", link)
    with pytest.raises(keyfile.KeyFileError) as caught:
        keyfile.create_key_file(str(link), what="key file")
    assert "symbolic link to" in str(caught.value) and "unmounted" in str(caught.value)
    assert os.path.islink(link) and not os.path.exists(tmp_path / "unmounted")


def test_a_key_file_others_may_write_is_refused(tmp_path):
    folder = tmp_path / "keys"
    keyfile.make_private_folder(str(folder), what="key folder")
    path = folder / "store.key"
    path.write_bytes(keyfile.encode_key(KEY))
    os.chmod(path, 0o666)
    with pytest.raises(keyfile.SecretError) as caught:
        keyfile.read_key_file(str(path), what="key file")
    assert str(path) in str(caught.value) and base64.b64encode(KEY).decode() not in str(caught.value)


def test_a_missing_key_file_is_left_to_the_caller(tmp_path):
    with pytest.raises(FileNotFoundError):
        keyfile.read_key_file(str(tmp_path / "missing.key"), what="key file")


def test_set_aside_moves_only_a_copy_of_the_given_key_and_never_loses_another(tmp_path):
    """A leftover copy of the key in use is kept under the new name; a file that holds another key (a new key a
    concurrent run just wrote there) stays where it is, and a key already kept under that name is not replaced."""
    staged, kept = str(tmp_path / "k" / "secrets.key.new"), str(tmp_path / "k" / "secrets.key.old-1")
    in_use, other = os.urandom(32), os.urandom(32)
    keyfile.write_key_file(staged, other, what="key")
    keyfile.set_aside(staged, kept, in_use, what="key")
    assert keyfile.read_key_file(staged, what="key") == other and not os.path.exists(kept)
    keyfile.write_key_file(staged, in_use, what="key", replace=True)
    keyfile.set_aside(staged, kept, in_use, what="key")
    assert not os.path.exists(staged) and keyfile.read_key_file(kept, what="key") == in_use
    keyfile.set_aside(staged, kept, in_use, what="key")  # nothing left to set aside: nothing happens
    keyfile.write_key_file(staged, in_use, what="key")
    keyfile.write_key_file(kept, other, what="key", replace=True)
    with pytest.raises(keyfile.KeyFileError, match="exists and holds another key"):
        keyfile.set_aside(staged, kept, in_use, what="key")
    assert keyfile.read_key_file(staged, what="key") == in_use and keyfile.read_key_file(kept, what="key") == other
    assert sorted(os.listdir(tmp_path / "k")) == ["secrets.key.new", "secrets.key.old-1"]
