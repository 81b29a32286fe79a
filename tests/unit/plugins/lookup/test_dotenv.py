"""lookup/dotenv.py: a .env file with references resolved in one read, literals kept, repeated keys keeping the
last value, and a missing file or bad reference named by file and position, never by value."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleLookupError

CANARY = "CANARY-lookup-dotenv-83d5"


def test_references_are_resolved_and_literals_kept(lookup, store, tmp_path):
    options, manager = store
    manager.set("jwt-secret", CANARY)
    env_file = tmp_path / "app.env"
    env_file.write_text("MODE=production\nJWT=${secret:jwt-secret}\nRAW='${secret:jwt-secret}'\nMODE=staging\n")
    assert lookup("dotenv").run([str(env_file)], variables={}, **options) == [
        {"MODE": "staging", "JWT": CANARY, "RAW": "${secret:jwt-secret}"}]


def test_a_missing_file_and_a_missing_secret_are_named(lookup, store, tmp_path):
    options, manager = store
    with pytest.raises(AnsibleLookupError, match="could not find the file 'nowhere.env'"):
        lookup("dotenv").run(["nowhere.env"], variables={}, **options)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"OK={CANARY}\nJWT=${{secret:nope}}\n")
    with pytest.raises(AnsibleLookupError) as caught:
        lookup("dotenv").run([str(env_file)], variables={}, **options)
    assert "nope" in str(caught.value) and CANARY not in str(caught.value)


def test_no_file_is_no_result(lookup, store):
    options, _manager = store
    assert lookup("dotenv").run([], variables={}, **options) == []
