"""The everyday mistakes around migrations, refused before any write or handled correctly, with ansible-playbook.

- a re-run after a rotation leaves the rotated secret alone (local store, OpenBao, moto); a second
  ``make demo`` (playbooks/demo.yml twice on the same state folders) does too;
- a rollback against another store refuses and shows both identities (local store; moto in another
  region), never creates a store, and force overrides an identity that differs;
- the printed undo command works pasted into a new shell, from another folder, with other XDG folders;
- a .env file with a malformed reference or a key defined twice fails the plan with file, line and
  column, and nothing is written.
"""
from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_run import REPO, run_playbook, state_env

MIGRATE = os.path.join(REPO, "playbooks", "migrate.yml")
ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
DEMO = os.path.join(REPO, "playbooks", "demo.yml")
CANARY = "CANARY-" + uuid.uuid4().hex
ENV_TEXT = (
    "APP_NAME=canary-app\n"
    f"DATABASE_PASSWORD={CANARY}-db\n"
    f"JWT_SECRET={CANARY}-jwt\n"
)


def _env_file(tmp_path, text: str = ENV_TEXT) -> str:
    path = tmp_path / "project" / "app.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _local(tmp_path, name: str = "store") -> dict:
    return {"provider": "local", "local_path": str(tmp_path / name / "secrets.db"),
            "local_key_file": str(tmp_path / name / "secrets.key")}


def _extra(tmp_path, env_file: str, options: dict, **more) -> dict:
    return {"env_file": env_file, "migrate_exclude": ["APP_NAME"], "migrate_backup_dir": str(tmp_path / "backups"),
            "migrate_backup_key_file": str(tmp_path / "backup.key"), **options, **more}


def _manager(options: dict):
    return factory.build_manager({**options, "audit_log": "false", "cache_ttl": 0}, env={})


def _value(options: dict, name: str, version=None) -> str:
    manager = _manager(options)
    try:
        return manager.get(name, version=version, bypass_cache=True).value
    finally:
        manager.close()


def _clean(*runs) -> None:
    for run in runs:
        assert CANARY not in run.output, "a secret value reached the output"


def _token(server) -> str:
    return server.request("POST", "auth/token/create", {"policies": ["root"], "ttl": "15m"})["auth"]["client_token"]


@pytest.fixture(params=["local", "vault", "aws"])
def target(request, tmp_path):
    if request.param == "local":
        return _local(tmp_path)
    if request.param == "vault":
        server = request.getfixturevalue("openbao_server")
        options = dict(request.getfixturevalue("vault_options"))
        if server is not None:
            options["vault_token"] = _token(server)  # not "root": Ansible masks no_log values inside paths
        return options
    return dict(request.getfixturevalue("aws_options"))


# a re-run never reverts a rotated secret -----------------------------------------------------------

def test_a_rerun_after_a_rotation_leaves_the_rotated_secret_alone(tmp_path, target):
    env = state_env(tmp_path)
    extra = _extra(tmp_path, _env_file(tmp_path), target)
    first = run_playbook(MIGRATE, env, extra_vars=extra)
    assert first.rc == 0, first.output[-4000:]
    rotated = run_playbook(ROTATE, env, extra_vars={**target, "rotate_secret": "jwt-secret", "grace_period": "2h"})
    assert rotated.rc == 0, rotated.output[-4000:]
    new_value = _value(target, "jwt-secret")
    assert new_value != f"{CANARY}-jwt"

    again = run_playbook(MIGRATE, env, "-vvvv", extra_vars=extra)
    assert again.rc == 0, again.output[-4000:]
    assert re.search(r"JWT_SECRET\s+-> \S*jwt-secret\s+skip\s+changed since the last migration: rotated at 20", again.stdout), \
        again.stdout[-4000:]
    assert again.changed() == 0 and "Backup: none needed" in again.stdout
    assert _value(target, "jwt-secret") == new_value, "the re-run reverted the rotation"
    if target.get("provider") != "local":
        # what follows is the plan's own decision on the rotation mark it has just read back from this
        # provider: it is the same for every provider, so it runs once, on the store without a server
        _clean(first, rotated, again)
        return

    # the operator edits the .env file too: still not written over the rotation unless they say so
    # (a new value: writing back an older one also works, but moto's BatchGetSecretValue then serves the
    # stale AWSCURRENT after UpdateSecretVersionStage, which the validation would read)
    _env_file(tmp_path, ENV_TEXT.replace(f"{CANARY}-jwt", f"{CANARY}-jwt2"))
    edited = run_playbook(MIGRATE, env, extra_vars=extra)
    assert edited.rc == 0, edited.output[-4000:]
    assert re.search(r"JWT_SECRET\s+-> \S*jwt-secret\s+skip\s+changed since .* the .env value changed too", edited.stdout)
    assert _value(target, "jwt-secret") == new_value
    forced = run_playbook(MIGRATE, env, extra_vars={**extra, "migrate_overwrite": "always"})
    assert forced.rc == 0, forced.output[-4000:]
    assert re.search(r"JWT_SECRET\s+-> \S*jwt-secret\s+update", forced.stdout)
    assert _value(target, "jwt-secret") == f"{CANARY}-jwt2"
    _clean(first, rotated, again, edited, forced)


def test_a_second_demo_leaves_the_rotated_jwt_secret_alone(tmp_path):
    env = state_env(tmp_path)
    demo_env = os.path.join(REPO, "examples", "app.env")
    with open(demo_env) as handle:
        original = re.search(r"^JWT_SECRET=(.*)$", handle.read(), re.M).group(1)
    first = run_playbook(DEMO, env, extra_vars={"demo_env_file": demo_env})
    assert first.rc == 0, first.output[-4000:]
    second = run_playbook(DEMO, env, extra_vars={"demo_env_file": demo_env})
    assert second.rc == 0, second.output[-4000:]
    assert re.search(r"JWT_SECRET\s+-> jwt-secret\s+skip\s+changed since the last migration: rotated at", second.stdout), \
        second.stdout[-4000:]
    store = tmp_path / "data" / "vibebox"
    options = {"provider": "local", "local_path": str(store / "secrets.db"), "local_key_file": str(store / "secrets.key")}
    manager = _manager(options)
    try:
        versions = sorted(int(item.version) for item in manager.versions("jwt-secret"))
        held = [manager.get("jwt-secret", version=str(number), bypass_cache=True).value for number in versions]
    finally:
        manager.close()
    assert held[0] == original and len(held) == 3  # migrated, rotated, rotated again: never the .env value back
    assert original not in held[1:], "a second demo wrote the stale .env value over the rotated key"


# a rollback restores into the store it was taken from, or refuses ----------------------------------------

def test_a_rollback_against_another_local_store_refuses_and_never_creates_one(tmp_path):
    env = state_env(tmp_path)
    store = _local(tmp_path)
    manager = _manager(store)
    manager.set("jwt-secret", "before")
    manager.close()
    extra = _extra(tmp_path, _env_file(tmp_path), store)
    migrated = run_playbook(MIGRATE, env, extra_vars=extra)
    assert migrated.rc == 0, migrated.output[-4000:]
    rollback = {**extra, "migrate_action": "rollback"}

    missing = run_playbook(MIGRATE, env, extra_vars={**rollback, **_local(tmp_path, "never"),
                                                     "migrate_rollback_force": True})
    assert missing.rc != 0 and "does not exist: a rollback restores into the store the migration changed" in missing.stdout
    assert not (tmp_path / "never").exists(), "the rollback created a store"

    other = _local(tmp_path, "other")
    manager = _manager(other)
    manager.set("unrelated", "kept")
    manager.close()
    with open(other["local_path"], "rb") as handle:
        before = handle.read()
    refused = run_playbook(MIGRATE, env, extra_vars={**rollback, **other})
    assert refused.rc != 0
    assert f"path={store['local_path']}" in refused.stdout and f"path={other['local_path']}" in refused.stdout
    assert "Nothing was written" in refused.stdout
    with open(other["local_path"], "rb") as handle:
        assert handle.read() == before
    assert _value(store, "jwt-secret") == f"{CANARY}-jwt"

    forced = run_playbook(MIGRATE, env, extra_vars={**rollback, **other, "migrate_rollback_force": True})
    assert forced.rc == 0, forced.output[-4000:]
    assert "going on because force is set" in forced.output
    assert _value(other, "jwt-secret") == "before"  # the operator's choice: restored where they pointed it
    _clean(migrated, missing, refused, forced)


def test_a_rollback_against_another_aws_region_refuses_before_any_write(tmp_path, request):
    server = request.getfixturevalue("moto_server")
    if server is None:
        pytest.skip("counts writes in the test server's request log")
    options = dict(request.getfixturevalue("aws_options"))
    env = state_env(tmp_path)
    extra = _extra(tmp_path, _env_file(tmp_path), options)
    migrated = run_playbook(MIGRATE, env, extra_vars=extra)
    assert migrated.rc == 0, migrated.output[-4000:]
    writes = len(server.requests.writes())
    refused = run_playbook(MIGRATE, env, extra_vars={**extra, "migrate_action": "rollback", "aws_region": "eu-west-3"})
    assert refused.rc != 0
    assert "region=us-east-1" in refused.stdout and "region=eu-west-3" in refused.stdout, refused.stdout[-3000:]
    assert "account=123456789012" in refused.stdout
    assert len(server.requests.writes()) == writes, "a refused rollback wrote"
    _clean(migrated, refused)


# the printed undo command works pasted into a new shell ------------------------------------------------

def test_the_printed_undo_command_works_pasted_into_a_new_shell(tmp_path):
    store = _local(tmp_path)
    manager = _manager(store)
    manager.set("jwt-secret", "before")
    manager.close()
    env_file = _env_file(tmp_path)
    with open(env_file, "rb") as handle:
        original = handle.read()
    extra = _extra(tmp_path, env_file, store, migrate_backup_dir=str(tmp_path / "my backups"),
                   migrate_rewrite_env=True)
    migrated = run_playbook(MIGRATE, state_env(tmp_path), extra_vars=extra)
    assert migrated.rc == 0, migrated.output[-4000:]
    match = re.search(r"Undo with: (ansible-playbook [^\"\n]*)", migrated.stdout)
    assert match, migrated.stdout[-4000:]
    command = match.group(1)
    assert "backup_key_file" not in command or "migrate_backup_key_file" in command
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shell = subprocess.run(["bash", "-c", command], env=state_env(elsewhere), cwd=str(elsewhere),
                           capture_output=True, text=True, timeout=300, check=False)
    assert shell.returncode == 0, command + "\n" + shell.stdout[-4000:] + shell.stderr[-2000:]
    assert _value(store, "jwt-secret") == "before"
    manager = _manager(store)
    assert manager.list() == ["jwt-secret"]
    manager.close()
    with open(env_file, "rb") as handle:
        assert handle.read() == original
    assert CANARY not in shell.stdout + shell.stderr


# the .env file must be unambiguous ----------------------------------------------------------------

# one malformed reference and one ambiguous key through the role; every other kind of malformed reference
# takes the same path to the plan's refusal, and the unit tests of the plan check each message
@pytest.mark.parametrize("line, where, reason", [
    ("DB=${secrte:db}", "line 4, column 4", "unknown reference kind: only secret: and env: are supported"),
    (f"JWT_SECRET={CANARY}-other", None, "JWT_SECRET is defined on line 3 and line 4 with different values"),
], ids=["misspelt-kind", "defined-twice"])
def test_a_malformed_env_file_fails_the_plan_before_any_write(tmp_path, line, where, reason):
    env_file = _env_file(tmp_path, ENV_TEXT + line + "\n")
    store = _local(tmp_path)
    for args in ((), ("--check",)):
        run = run_playbook(MIGRATE, state_env(tmp_path), *args, extra_vars=_extra(tmp_path, env_file, store))
        assert run.rc != 0
        assert reason in run.stdout and env_file in run.stdout, run.stdout[-3000:]
        if where:
            assert f"{env_file}, {where}" in run.stdout
        _clean(run)
    assert not (tmp_path / "store").exists() and not (tmp_path / "backups").exists()
