"""rotate.yml and cleanup.yml run for real with ansible-playbook, on the embedded store: check mode
writes nothing, a scheduled run is idempotent, a failed follow-up step rolls back, a failure report
says the version before and after, a job pointed at an empty store fails, out-of-range durations and
unreadable tags are handled, and no secret value appears in the output even at -vvvv. The database
rotation through the role is in test_rotate_database.py, concurrent runs in test_rotate_concurrency.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import uuid

import pytest
import yaml

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory, options
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import (
    TAG_GRACE_UNTIL,
    TAG_GRACE_VERSION,
    RotationPolicy,
    Rotator,
)
from ansible_run import REPO, run_playbook, state_env

ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
CLEANUP = os.path.join(REPO, "playbooks", "cleanup.yml")
CANARY = "CANARY-" + uuid.uuid4().hex
#: the secrets a playbook test rotates under "all" (the database is skipped without connection settings)
KEYS = ["jwt-secret", "jwt-refresh-secret", "encryption-key"]


@pytest.fixture
def env(tmp_path):
    return state_env(tmp_path)


def _store(tmp_path):
    data = tmp_path / "data" / "vibebox"
    return factory.build_manager(
        {"provider": "local", "local_path": str(data / "secrets.db"), "audit_log": "false", "cache_ttl": 0}, env={}
    )


def _digest(tmp_path) -> dict:
    folder = tmp_path / "data" / "vibebox"
    if not folder.exists():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _summary(run) -> str:
    match = re.search(r"Summarise the (?:rotation|cleanup)\] \*+\s*\n(?:task path: [^\n]*\n)?ok: \[localhost\] => (\{.*?\n\})", run.stdout, re.S)
    assert match, run.output[-3000:]
    return "\n".join(json.loads(match.group(1))["msg"])


def test_playbooks_pass_every_provider_option():
    """The playbooks pass through the options listed in playbooks/vars/provider_options.yml; the list
    must follow core/options.py, or a new option would be silently ignored by rotate.yml."""
    with open(os.path.join(REPO, "playbooks", "vars", "provider_options.yml")) as handle:
        listed = yaml.safe_load(handle)["provider_option_names"]
    assert sorted(listed) == sorted(options.OPTION_NAMES), (
        "update playbooks/vars/provider_options.yml to the options of plugins/module_utils/core/options.py"
    )
    for path in (ROTATE, CLEANUP):
        with open(path) as handle:
            play = yaml.safe_load(handle)[0]
        assert "vars/provider_options.yml" in play["vars_files"]
        assert play["vars"]["rotate_provider_options"] == "{{ provider_options_given }}"


def test_scheduled_run_rotates_once_then_reports_no_change_and_check_writes_nothing(tmp_path, env):
    checked = run_playbook(ROTATE, env, "--check", "-e", "rotate_create=true")
    assert checked.rc == 0, checked.output
    assert _digest(tmp_path) == {}, "a check run created the store"
    assert "would be rotated" in _summary(checked)

    first = run_playbook(ROTATE, env, "-e", "rotate_create=true")
    assert first.rc == 0, first.output
    assert first.changed() == len(KEYS)
    summary = _summary(first)
    assert "database-password: skipped, no database connection" in summary
    manager = _store(tmp_path)
    assert manager.list() == sorted(KEYS)
    before = _digest(tmp_path)
    versions = {name: manager.describe(name).version for name in KEYS}

    second = run_playbook(ROTATE, env)
    assert second.rc == 0, second.output
    assert second.changed() == 0
    assert all(f"{name}: not due" in _summary(second) for name in KEYS)

    named_check = run_playbook(ROTATE, env, "--check", "-e", "rotate_secret=jwt-secret")
    assert named_check.rc == 0, named_check.output
    assert "jwt-secret: would be rotated" in _summary(named_check)
    assert _digest(tmp_path) == before
    assert {name: manager.describe(name).version for name in KEYS} == versions


def test_named_jwt_rotation_with_grace_shows_no_value_at_vvvv(tmp_path, env):
    manager = _store(tmp_path)
    manager.set("jwt-secret", CANARY)
    run = run_playbook(ROTATE, env, "-vvvv", "-e", "rotate_secret=jwt-secret", "-e", "grace_period=2h",
                       extra_vars={"provider": "local", "vault_token": CANARY + "-token"})
    assert run.rc == 0, run.output
    new_value = manager.get("jwt-secret", bypass_cache=True).value
    assert new_value != CANARY
    assert manager.get("jwt-secret", version="previous", bypass_cache=True).value == CANARY
    for secret in (CANARY, new_value):
        assert secret not in run.output
    meta = manager.describe("jwt-secret")
    assert meta.tags[TAG_GRACE_VERSION] == "1" and int(meta.tags[TAG_GRACE_UNTIL]) > 0
    assert "stays readable as 'previous' until" in _summary(run)

    manager.set("jwt-refresh-secret", CANARY + "-refresh")
    refresh = run_playbook(ROTATE, env, "-e", "rotate_secret=jwt-refresh-secret")
    assert refresh.rc == 0, refresh.output
    assert "re-authentication forced" in _summary(refresh)

    manager.set("encryption-key", CANARY + "-key")
    key = run_playbook(ROTATE, env, "-e", "rotate_secret=encryption-key",
                       "-e", "rotate_reencrypt_command='touch " + str(tmp_path / "reencrypted") + "'")
    assert key.rc == 0, key.output
    assert "RE-ENCRYPTION REQUIRED: the re-encryption command ran" in _summary(key)
    assert (tmp_path / "reencrypted").exists()


def test_failed_follow_up_command_rolls_the_secret_back(tmp_path, env):
    manager = _store(tmp_path)
    manager.set("jwt-secret", CANARY)
    run = run_playbook(ROTATE, env, "-e", "rotate_secret=jwt-secret", "-e", "rotate_after_command=false")
    assert run.rc != 0
    assert "Rolled back: the value of version 1 is current again (as version 3)" in run.output, run.output[-3000:]
    assert manager.get("jwt-secret", bypass_cache=True).value == CANARY
    assert CANARY not in run.output


def test_cleanup_destroys_what_is_out_of_grace_and_keeps_what_is_in(tmp_path, env):
    manager = _store(tmp_path)
    manager.set("jwt-secret", CANARY + "-1")
    manager.set("encryption-key", CANARY + "-k1")
    manager.set("encryption-key", CANARY + "-k2")
    manager.set("encryption-key", CANARY + "-k3")
    Rotator(manager).rotate("jwt-secret", RotationPolicy.from_options(grace_period="2h"), value=CANARY + "-2")

    checked = run_playbook(CLEANUP, env, "--check")
    assert checked.rc == 0, checked.output
    assert "encryption-key: destroyed 1; kept 3, 2" in _summary(checked)
    assert manager.get("encryption-key", version="1", bypass_cache=True).value == CANARY + "-k1"

    cleaned = run_playbook(CLEANUP, env)
    assert cleaned.rc == 0, cleaned.output
    summary = _summary(cleaned)
    assert "jwt-secret: destroyed nothing; kept 2, 1; grace until" in summary
    assert "encryption-key: destroyed 1; kept 3, 2" in summary  # cleanup_keep 2: previous kept for decryption
    assert manager.get("jwt-secret", version="previous", bypass_cache=True).value == CANARY + "-1"
    assert cleaned.changed() == 1


def test_a_job_pointed_at_an_empty_store_fails_and_creates_nothing(tmp_path, env):
    run = run_playbook(ROTATE, env)
    assert run.rc != 0
    assert "not found; set create: true to create it" in run.output
    assert "The secret was not changed: it is at version none (it does not exist), as before." in run.output
    assert _digest(tmp_path) == {}, "a failed run created the store"


def _after_command(tmp_path, code: str) -> str:
    script = tmp_path / "after.py"
    script.write_text(code)
    return f"{sys.executable} {script}"


def test_a_failed_rollback_reports_the_versions_before_and_after(tmp_path, env):
    """The follow-up command fails after destroying the old version (as a cleanup by someone else
    would), so the rollback cannot happen: the report must say the secret changed, from which
    version to which, and how to go back, never that it was not changed."""
    manager = _store(tmp_path)
    manager.set("jwt-secret", CANARY)
    store = tmp_path / "data" / "vibebox" / "secrets.db"
    command = _after_command(tmp_path, (
        "import sqlite3, sys\n"
        f"db = sqlite3.connect({str(store)!r})\n"
        "db.execute(\"UPDATE versions SET destroyed = 1, nonce = NULL, ciphertext = NULL WHERE version = 1\")\n"
        "db.commit()\n"
        "sys.exit(3)\n"))
    run = run_playbook(ROTATE, env, "-e", "rotate_secret=jwt-secret", extra_vars={"rotate_after_command": command})
    assert run.rc != 0
    assert "The secret changed: version before 1, version after 2." in run.output, run.output[-3000:]
    assert "It was NOT rolled back" in run.output and "rollback_to: '1'" in run.output
    assert "not changed" not in run.output
    assert CANARY not in run.output and manager.describe("jwt-secret").version == "2"


def test_a_failed_run_does_not_roll_back_a_rotation_another_run_made_meanwhile(tmp_path, env):
    """Run A rotates, then its follow-up command fails; meanwhile run B rotated the same secret (here: the
    follow-up command does it, so the order is certain). A's rescue must not write its old value over B's."""
    manager = _store(tmp_path)
    manager.set("jwt-secret", CANARY + "-1")
    collections = os.path.abspath(factory.__file__).split(os.sep + "ansible_collections" + os.sep)[0]
    command = _after_command(tmp_path, (
        "import sys\n"
        f"sys.path.insert(0, {collections!r})\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationPolicy, Rotator\n"
        f"manager = factory.build_manager({{'provider': 'local', 'local_path': {str(tmp_path / 'data' / 'vibebox' / 'secrets.db')!r},"
        " 'audit_log': 'false', 'cache_ttl': 0}, env={})\n"
        f"Rotator(manager).rotate('jwt-secret', RotationPolicy.from_options(grace_period='2h'), value={CANARY + '-other'!r})\n"
        "sys.exit(3)\n"))
    run = run_playbook(ROTATE, env, "-e", "rotate_secret=jwt-secret", extra_vars={"rotate_after_command": command})
    assert run.rc != 0
    assert "Another run changed the secret after this run's rotation (this run made version 2; version 3 is current" \
        in run.output, run.output[-3000:]
    assert "NOT rolled back" in run.output and "rollback_to" not in run.output.split("Another run changed")[-1]
    assert manager.get("jwt-secret", bypass_cache=True).value == CANARY + "-other"
    assert manager.describe("jwt-secret").version == "3"
    assert CANARY not in run.output


def test_a_grace_period_beyond_100_years_is_refused_before_any_write(tmp_path, env):
    manager = _store(tmp_path)
    manager.set("jwt-secret", CANARY)
    run = run_playbook(ROTATE, env, "-e", "rotate_secret=jwt-secret", "-e", "grace_period=99999999999999w")
    assert run.rc != 0
    assert "option 'grace_period' is longer than 100 years" in run.output
    assert "The secret was not changed: it is at version 1, as before." in run.output
    assert manager.describe("jwt-secret").version == "1"
    again = run_playbook(ROTATE, env, "-e", "rotate_secret=jwt-secret", "-e", "grace_period=2h")
    assert again.rc == 0, again.output[-3000:]


def test_unreadable_rotation_tags_do_not_block_rotation_or_cleanup(tmp_path, env):
    manager = _store(tmp_path)
    manager.set("jwt-secret", CANARY)
    Rotator(manager).rotate("jwt-secret", RotationPolicy.from_options(grace_period="2h"), value=CANARY + "-2")
    manager.update_metadata("jwt-secret", tags={TAG_GRACE_UNTIL: "99999999999999999999", TAG_GRACE_VERSION: "1",
                                                "vibebox-rotated-at": "edited-by-hand"})
    rotated = run_playbook(ROTATE, env, "-e", "rotate_secret=jwt-secret")
    assert rotated.rc == 0, rotated.output[-3000:]
    assert "vibebox-rotated-at holds 'edited-by-hand'" in rotated.output and "treated as absent" in rotated.output
    manager.update_metadata("jwt-secret", tags={TAG_GRACE_UNTIL: "not-a-date", TAG_GRACE_VERSION: "2"})
    cleaned = run_playbook(CLEANUP, env)
    assert cleaned.rc == 0, cleaned.output[-3000:]
    assert "vibebox-grace-until holds 'not-a-date'" in cleaned.output
    assert "jwt-secret: destroyed 2, 1; kept 3" in _summary(cleaned)
