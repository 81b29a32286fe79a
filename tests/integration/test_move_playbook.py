"""playbooks/migrate.yml with -e migrate_from: a provider moved into another, for real with ansible-playbook.

local -> OpenBao and OpenBao -> local: the dry run writes nothing to either side (OpenBao's own audit
device counts the writes; the local store's file is compared byte for byte, or stays absent), the move
is validated, a second run changes nothing, the source is never written, a fault at the second write
of the target is rolled back exactly, and migrate_action=rollback undoes a move. No value appears in
the output, even at -vvvv.
"""
from __future__ import annotations

import hashlib
import os
import re

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_run import REPO, run_playbook, state_env
from test_migrate_playbook import FAULT_HOOK, _token, _vault_writes

PLAYBOOK = os.path.join(REPO, "playbooks", "migrate.yml")
CANARY = "CANARY-" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]
SECRETS = {"database-password": f"{CANARY}-db", "jwt-secret": f"{CANARY}-jwt", "api-key": f"{CANARY}-api"}


def _manager(options: dict):
    return factory.build_manager({**options, "audit_log": "false", "cache_ttl": 0}, env={})


def _values(options: dict) -> dict:
    manager = _manager(options)
    try:
        return {name: manager.get(name, bypass_cache=True).value for name in manager.list()}
    finally:
        manager.close()


def _seed(options: dict, values: dict) -> None:
    manager = _manager(options)
    try:
        for name, value in values.items():
            manager.set(name, value, "seeded", {"team": "payments"})
    finally:
        manager.close()


def _digest(path) -> str:
    if not os.path.exists(path):
        return "absent"
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _local(tmp_path, name: str) -> dict:
    return {"provider": "local", "local_path": str(tmp_path / name / "secrets.db"),
            "local_key_file": str(tmp_path / name / "secrets.key")}


def _extra(tmp_path, source: dict, target: dict, **more) -> dict:
    source_options = {key: value for key, value in source.items() if key != "provider"}
    return {"migrate_from": source["provider"], "migrate_from_options": source_options,
            "migrate_backup_dir": str(tmp_path / "backups"), "migrate_backup_key_file": str(tmp_path / "backup.key"),
            "audit_log": str(tmp_path / "audit.log"), **target, **more}


def _clean(run) -> None:
    assert CANARY not in run.output, "a secret value reached the output"


@pytest.fixture
def vault(request):
    server = request.getfixturevalue("openbao_server")
    if server is None:
        pytest.skip("real Vault: the audit device is not ours to read")  # only with VIBEBOX_TEST_VAULT_REAL=1
    options = dict(request.getfixturevalue("vault_options"))
    options["vault_token"] = _token(server, ["root"])  # not "root": Ansible would mask it inside /tmp/pytest-of-root
    return server, options


@pytest.mark.parametrize("direction", ["local-to-vault", "vault-to-local"])
def test_check_move_again_rollback(tmp_path, vault, direction):
    server, vault_options = vault
    local = _local(tmp_path, "store")
    source, target = (local, vault_options) if direction == "local-to-vault" else (vault_options, local)
    _seed(source, SECRETS)
    env = state_env(tmp_path)
    extra = _extra(tmp_path, source, target)
    prefix = vault_options["prefix"]
    local_before = _digest(local["local_path"])
    writes_before = _vault_writes(server, prefix)

    dry = run_playbook(PLAYBOOK, env, "--check", extra_vars=extra)
    assert dry.rc == 0, dry.output[-4000:]
    _clean(dry)
    assert re.search(r"database-password\s+-> \S*database-password\s+create", dry.stdout), dry.stdout[-3000:]
    assert "create: 3, update: 0, unchanged: 0, skip: 0, refused: 0" in dry.stdout
    assert "Backup: not written in check mode" in dry.stdout
    assert _vault_writes(server, prefix) == writes_before, "the dry run wrote to OpenBao"
    assert _digest(local["local_path"]) == local_before, "the dry run changed the local store"
    assert not (tmp_path / "backups").exists() and not (tmp_path / "backup.key").exists()

    moved = run_playbook(PLAYBOOK, env, "-vvvv", extra_vars=extra)
    assert moved.rc == 0, moved.output[-4000:]
    _clean(moved)
    assert "Validated: 3 of 3 secrets match the source" in moved.stdout
    assert _values(target) == SECRETS and _values(source) == SECRETS
    assert _manager(target).describe("api-key").tags.get("team") == "payments"
    if direction == "vault-to-local":
        assert _vault_writes(server, prefix) == writes_before, "the source was written"
    backup = re.search(r"Backup: (\S+\.backup)", moved.stdout).group(1)
    with open(backup, "rb") as handle:
        assert CANARY.encode() not in handle.read()
    if direction == "vault-to-local":
        # the re-run, validation and rollback below are the role's steps on the target, whichever the
        # source: they run once, local to Vault, where OpenBao's audit log counts the writes
        return

    writes_before = _vault_writes(server, prefix)
    local_before = _digest(local["local_path"])
    again = run_playbook(PLAYBOOK, env, extra_vars=extra)
    assert again.rc == 0, again.output[-4000:]
    assert again.changed() == 0
    assert "create: 0, update: 0, unchanged: 3" in again.stdout and "Backup: none needed" in again.stdout
    assert _vault_writes(server, prefix) == writes_before, "an unchanged second run wrote to OpenBao"
    assert _digest(local["local_path"]) == local_before, "an unchanged second run changed the local store"

    checked = run_playbook(PLAYBOOK, env, extra_vars={**extra, "migrate_action": "validate"})
    assert checked.rc == 0 and checked.changed() == 0, checked.output[-4000:]
    assert "3 of 3 secrets match the source" in checked.stdout

    target_only = {key: value for key, value in extra.items() if not key.startswith("migrate_from")}
    rolled = run_playbook(PLAYBOOK, env, extra_vars={**target_only, "migrate_action": "rollback", "backup": backup})
    assert rolled.rc == 0, rolled.output[-4000:]
    _clean(rolled)
    assert _values(target) == {} and _values(source) == SECRETS


def test_a_fault_at_the_second_write_is_rolled_back(tmp_path, vault):
    server, vault_options = vault
    source = _local(tmp_path, "store")
    _seed(source, SECRETS)
    _seed(vault_options, {"jwt-secret": f"{CANARY}-before"})
    before = _values(vault_options)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAULT_HOOK)
    env = state_env(tmp_path, {
        "PYTHONPATH": str(hook) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "VIBEBOX_TEST_FAULT_AT_WRITE": "2",
        # the hook patches the module's own interpreter (AnsiballZ): the module path, not the worker
        "VIBEBOX_SECRETS_IN_PROCESS": "false",
        "VIBEBOX_TEST_FAULT_COUNTER": str(tmp_path / "writes.txt"),
    })
    run = run_playbook(PLAYBOOK, env, "-vvvv", extra_vars=_extra(tmp_path, source, vault_options))
    assert run.rc != 0, run.output[-4000:]
    _clean(run)
    assert "injected fault at write 2" in run.stdout and "failed after 1 of 3 writes" in run.stdout
    assert "Everything was rolled back from" in run.stdout
    assert _values(vault_options) == before, "the rollback left OpenBao different"
    assert _values(source) == SECRETS


def test_refused_names_stop_before_any_write_with_a_rename_map(tmp_path, request):
    source = _local(tmp_path, "source")
    _seed(source, {"team/db+password": f"{CANARY}-x"})
    server = request.getfixturevalue("k8s_fake")
    if server is None:
        pytest.skip("writes a kubeconfig of the fake")
    target = {"provider": "kubernetes", "kubeconfig": request.getfixturevalue("k8s_kubeconfig"),
              "k8s_namespace": "default", "k8s_secret_name": "vbt-move-refused"}
    run = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=_extra(tmp_path, source, target))
    assert run.rc != 0
    _clean(run)
    assert "1 secrets cannot be moved" in run.stdout and "Nothing was written" in run.stdout
    assert '"team/db+password": "team-db-password"' in run.stdout
    assert not (tmp_path / "backups").exists()


def test_delete_source_after_the_move_and_undo_it(tmp_path, vault):
    _server, vault_options = vault
    source = _local(tmp_path, "store")
    _seed(source, SECRETS)
    env = state_env(tmp_path)
    run = run_playbook(PLAYBOOK, env, "-vvvv",
                       extra_vars=_extra(tmp_path, source, vault_options, migrate_delete_source=True))
    assert run.rc == 0, run.output[-4000:]
    _clean(run)
    assert "Validated: 3 of 3 secrets match the source" in run.stdout
    match = re.search(r"Source: 3 deleted from the source; its backup is (\S+\.backup)", run.stdout)
    assert match, run.stdout[-3000:]
    assert _values(vault_options) == SECRETS and _values(source) == {}
    undo = run_playbook(PLAYBOOK, env, extra_vars={
        **source, "audit_log": str(tmp_path / "audit.log"), "migrate_action": "rollback", "backup": match.group(1),
        "migrate_rollback_force": True, "migrate_backup_key_file": str(tmp_path / "backup.key")})
    assert undo.rc == 0, undo.output[-4000:]
    _clean(undo)
    assert _values(source) == SECRETS


def test_the_collection_wide_strength_policy_refuses_a_weak_value_before_any_write(tmp_path):
    """vibebox_secrets_policy covers every writer, the move too: a weak current value is refused in the plan and
    nothing is written (enforce), or moved with a warning (warn); never shown either way."""
    source, target = _local(tmp_path, "source"), _local(tmp_path, "target")
    weak = "wk" + hashlib.sha256(os.urandom(8)).hexdigest()[:6]  # too short for the default policy, and unique
    _seed(source, {"weak-one": weak, "strong-one": f"{CANARY}-strong"})
    extra = _extra(tmp_path, source, target, vibebox_secrets_policy={})
    refused = run_playbook(PLAYBOOK, state_env(tmp_path), "-vvvv", extra_vars=extra)
    assert refused.rc != 0
    _clean(refused)
    assert weak not in refused.output
    assert "refused by the strength policy" in refused.output and "weak-one" in refused.output
    assert _digest(target["local_path"]) == "absent" and not (tmp_path / "backups").exists()
    warned = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=dict(extra, migrate_policy_mode="warn"))
    assert warned.rc == 0, warned.output[-3000:]
    _clean(warned)
    assert weak not in warned.output
    assert "secret 'weak-one' breaks the strength policy" in warned.output
    assert _values(target) == {"weak-one": weak, "strong-one": f"{CANARY}-strong"}


def test_a_move_into_a_prefix_inside_the_source_in_one_store_stops_before_any_write(tmp_path):
    """app/ -> app/v2/ of one local store, with migrate_delete_source: each target is a secret of the source too,
    so the plan refuses it (naming the migrate_exclude that fixes it) and neither side is written."""
    store = _local(tmp_path, "store")
    source, target = dict(store, prefix="app/"), dict(store, prefix="app/v2/")
    _seed(source, {"jwt-secret": f"{CANARY}-jwt"})
    before = _digest(store["local_path"])
    run = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=_extra(tmp_path, source, target,
                                                                        migrate_delete_source=True))
    assert run.rc != 0
    _clean(run)
    assert "is the source's secret 'v2/jwt-secret'" in run.stdout, run.stdout[-3000:]
    assert _digest(store["local_path"]) == before and not (tmp_path / "backups").exists()
    assert _values(source) == {"jwt-secret": f"{CANARY}-jwt"} and _values(target) == {}
