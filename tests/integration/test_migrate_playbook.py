"""playbooks/migrate.yml run for real with ansible-playbook, on the embedded store (always)
and on OpenBao and moto (their session fixtures): the dry run writes nothing (the store stays
absent; the servers' own request logs show no write), the migration is idempotent, validate and
rollback work on demand, and a provider that fails at the k-th write is rolled back so that every
secret and the .env file are exactly as before. No value appears in the output, even at -vvvv.

Faults: on OpenBao a real policy denies one path, so the third write of the run is refused by the
server. On the local store and moto the k-th call of SecretManager.set raises, injected from a
``sitecustomize`` that only this test puts on PYTHONPATH (the module processes import it at start),
so no test hook lives in the collection's code.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import textwrap
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_run import REPO, run_playbook, state_env

PLAYBOOK = os.path.join(REPO, "playbooks", "migrate.yml")
CANARY = "CANARY-" + uuid.uuid4().hex
ENV_TEXT = (
    "# application settings\n"
    "APP_NAME=canary-app\n"
    f"export DATABASE_PASSWORD='{CANARY}-db'\n"
    f'JWT_SECRET="{CANARY}-jwt"\n'
    f"API_KEY={CANARY}-api  # the partner key\n"
    "SENTRY_DSN=${env:SENTRY_DSN:-}\n"
)
MIGRATED = {"database-password": f"{CANARY}-db", "jwt-secret": f"{CANARY}-jwt", "api-key": f"{CANARY}-api"}
OLD_JWT = f"{CANARY}-old-jwt"

FAULT_HOOK = '''
"""Test-only: make the k-th write of a run raise (SecretManager.set or write_observed, counted in a file
across processes)."""
import importlib.abc
import os
import sys

_TARGET = "ansible_collections.vibebox.secrets.plugins.module_utils.core.manager"
_AT = int(os.environ.get("VIBEBOX_TEST_FAULT_AT_WRITE") or 0)
_COUNTER = os.environ.get("VIBEBOX_TEST_FAULT_COUNTER")


def _faulty(original):
    def write(self, name, *args, **kwargs):
        with open(_COUNTER, "a+") as handle:
            handle.write(name + "\\n")
        with open(_COUNTER) as handle:
            count = len(handle.read().splitlines())
        if count == _AT:
            from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderUnavailable
            raise ProviderUnavailable(f"injected fault at write {count}", retryable=False,
                                      provider=self.provider, name=name)
        return original(self, name, *args, **kwargs)

    return write


def _patch(module):
    module.SecretManager.set = _faulty(module.SecretManager.set)
    module.SecretManager.write_observed = _faulty(module.SecretManager.write_observed)


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


if _AT and _COUNTER and "AnsiballZ" in (sys.argv[0] if sys.argv else ""):
    sys.meta_path.insert(0, _Finder())
'''


# helpers -------------------------------------------------------------------------------------

def _write_env(tmp_path) -> str:
    path = tmp_path / "project" / "app.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ENV_TEXT)
    os.chmod(path, 0o640)
    return str(path)


def _extra(tmp_path, env_file: str, options: dict, **more) -> dict:
    return {"env_file": env_file, "migrate_exclude": ["APP_NAME"],
            "migrate_backup_dir": str(tmp_path / "backups"), "migrate_backup_key_file": str(tmp_path / "backup.key"),
            **options, **more}


def _local_options(tmp_path) -> dict:
    return {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
            "local_key_file": str(tmp_path / "store" / "secrets.key"), "audit_log": str(tmp_path / "audit.log")}


def _manager(options: dict):
    return factory.build_manager({**options, "audit_log": "false", "cache_ttl": 0}, env={})


def _values(options: dict) -> dict:
    """Every secret under the prefix with its current value."""
    manager = _manager(options)
    try:
        return {name: manager.get(name, bypass_cache=True).value for name in manager.list()}
    finally:
        manager.close()


def _digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _backup_of(run) -> str:
    match = re.search(r"Backup: (\S+\.backup)", run.stdout)
    assert match, run.output[-4000:]
    return match.group(1)


def _clean(run) -> None:
    assert CANARY not in run.output, "a secret value reached the output"


def _vault_writes(server, prefix: str) -> int:
    return sum(1 for entry in server.audit_entries("request")
               if entry["request"]["operation"] in ("create", "update", "delete")
               and prefix.strip("/") in entry["request"].get("path", ""))


def _token(server, policies) -> str:
    return server.request("POST", "auth/token/create", {"policies": policies, "ttl": "15m"})["auth"]["client_token"]


def _token_short_of(server, purpose: str, prefix: str, narrower: str) -> str:
    """A token with every capability under the test's prefix except what the ``narrower`` policy line takes
    away from one path (Vault applies the most specific path's rule)."""
    policy = f"{purpose}-{prefix.strip('/').replace('/', '-')}"
    server.write_policy(policy, textwrap.dedent(f"""
        path "secret/data/{prefix}*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
        path "secret/metadata/{prefix}*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
        path "secret/metadata/{prefix.rstrip('/')}" {{ capabilities = ["list"] }}
    """) + narrower + "\n")
    return _token(server, [policy])


@pytest.fixture(params=["local", "vault", "aws"])
def target(request, tmp_path):
    """(provider options, a function counting the writes the server saw or None for local)."""
    if request.param == "local":
        return _local_options(tmp_path), None
    if request.param == "vault":
        server = request.getfixturevalue("openbao_server")
        options = dict(request.getfixturevalue("vault_options"))
        if server is None:
            pytest.skip("real Vault: the audit device is not ours to read")  # only with VIBEBOX_TEST_VAULT_REAL=1
        # not the dev server's token "root": Ansible masks every no_log value wherever it appears in a
        # result, and "root" is part of the paths this test uses (/tmp/pytest-of-root/...)
        options["vault_token"] = _token(server, ["root"])
        return options, lambda: _vault_writes(server, options["prefix"])
    server = request.getfixturevalue("moto_server")
    options = dict(request.getfixturevalue("aws_options"))
    if server is None:
        pytest.skip("real AWS: the request log is not ours to read")  # only with VIBEBOX_TEST_AWS_REAL=1
    return options, lambda: len(server.requests.writes())


# the whole cycle on every provider -----------------------------------------------------------

def test_dry_run_migrate_again_validate_rollback(tmp_path, target):
    options, writes = target
    env = state_env(tmp_path)
    env_file = _write_env(tmp_path)
    original = _digest(env_file)
    manager = _manager(options)
    manager.set("jwt-secret", OLD_JWT)  # an existing secret: the migration updates it, the rollback restores it
    manager.close()
    before = _values(options)
    store = tmp_path / "store" / "secrets.db"
    store_digest = _digest(str(store)) if store.exists() else None
    extra = _extra(tmp_path, env_file, options)

    writes_before = writes() if writes else 0
    dry = run_playbook(PLAYBOOK, env, "--check", extra_vars=extra)
    assert dry.rc == 0, dry.output[-4000:]
    assert re.search(r"DATABASE_PASSWORD\s+-> \S*database-password\s+create", dry.stdout)
    assert re.search(r"JWT_SECRET\s+-> \S*jwt-secret\s+update", dry.stdout)
    assert re.search(r"APP_NAME\s+-> -\s+skip\s+excluded", dry.stdout)
    assert "Backup: not written in check mode" in dry.stdout
    assert not (tmp_path / "backups").exists() and not (tmp_path / "backup.key").exists()
    assert _values(options) == before and _digest(env_file) == original
    if writes:
        assert writes() == writes_before, "the dry run wrote to the server"
    else:
        assert (_digest(str(store)) if store.exists() else None) == store_digest, "the dry run changed the store"
    _clean(dry)

    applied = run_playbook(PLAYBOOK, env, "-vvvv", extra_vars=extra)
    assert applied.rc == 0, applied.output[-4000:]
    _clean(applied)
    assert "create: 2, update: 1, unchanged: 0, skip: 2, blocked: 0" in applied.stdout
    assert "Validated: 3 of 3 secrets match the .env file" in applied.stdout
    assert _values(options) == MIGRATED
    backup = _backup_of(applied)
    assert os.path.dirname(backup) == str(tmp_path / "backups")
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    with open(backup, "rb") as handle:
        assert CANARY.encode() not in handle.read()
    assert _digest(env_file) == original

    writes_before = writes() if writes else 0
    again = run_playbook(PLAYBOOK, env, extra_vars=extra)
    assert again.rc == 0, again.output[-4000:]
    assert again.changed() == 0
    assert "create: 0, update: 0, unchanged: 3" in again.stdout and "Backup: none needed" in again.stdout
    if writes:
        assert writes() == writes_before, "an unchanged second run wrote to the server"

    validated = run_playbook(PLAYBOOK, env, extra_vars={**extra, "migrate_action": "validate"})
    assert validated.rc == 0 and validated.changed() == 0, validated.output[-4000:]
    assert "3 of 3 secrets match the .env file" in validated.stdout

    rolled = run_playbook(PLAYBOOK, env, "-vvvv", extra_vars={**extra, "migrate_action": "rollback"})
    assert rolled.rc == 0, rolled.output[-4000:]
    _clean(rolled)
    assert backup in rolled.stdout  # the newest backup by default
    assert _values(options) == before
    assert _digest(env_file) == original


# faults at the k-th write --------------------------------------------------------------------

FAULT_ENV = (
    "# four secrets; the third write of the run fails\n"
    f"A_EXISTING='{CANARY}-a'\n"
    f"B_NEW={CANARY}-b\n"
    f"C_DENIED={CANARY}-c\n"
    f"D_NEW={CANARY}-d\n"
)


def _fault_setup(tmp_path, options):
    path = tmp_path / "project" / "fault.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAULT_ENV)
    manager = _manager(options)
    manager.set("a-existing", f"{CANARY}-old-a")
    manager.close()
    return str(path), _values(options), _digest(str(path))


def _assert_rolled_back(run, options, before, env_file, env_digest, failing_name):
    assert run.rc != 0, run.output[-4000:]
    _clean(run)
    assert f"'{failing_name}'" in run.stdout and "failed after 2 of 4 writes" in run.stdout
    assert "Everything was rolled back from" in run.stdout
    assert _values(options) == before, "the rollback left the provider different"
    assert _digest(env_file) == env_digest


def test_openbao_policy_missing_a_capability_stops_the_plan_before_any_write(tmp_path, request):
    """The token may only read one of the paths: the plan asks sys/capabilities-self and stops, naming it."""
    server = request.getfixturevalue("openbao_server")
    if server is None:
        pytest.skip("changes the server's policies: runs only against the test server")
    options = dict(request.getfixturevalue("vault_options"))
    options["vault_token"] = _token(server, ["root"])
    env_file, before, env_digest = _fault_setup(tmp_path, options)
    prefix = options["prefix"]
    limited = {**options, "vault_token": _token_short_of(server, "migrate", prefix,
                                                         f'path "secret/data/{prefix}c-denied" {{ capabilities = ["read"] }}')}
    writes_before = _vault_writes(server, prefix)
    run = run_playbook(PLAYBOOK, state_env(tmp_path), "-vvvv", extra_vars=_extra(tmp_path, env_file, limited))
    assert run.rc != 0, run.output[-4000:]
    _clean(run)
    assert f"lack 'create' on secret/data/{prefix}c-denied" in run.stdout, run.stdout[-4000:]
    assert "1 keys cannot be migrated" in run.stdout and "Nothing was written" in run.stdout
    assert _vault_writes(server, prefix) == writes_before, "a write reached the server"
    assert not (tmp_path / "backups").exists()
    assert _values(options) == before and _digest(env_file) == env_digest


def test_a_rollback_whose_token_may_not_delete_stops_before_any_write(tmp_path, request):
    """Migrated with a full token, rolled back with one that may not delete a secret the migration created:
    the rollback asks sys/capabilities-self first and stops, naming the path, instead of stopping half-way."""
    server = request.getfixturevalue("openbao_server")
    if server is None:
        pytest.skip("changes the server's policies: runs only against the test server")
    options = {**request.getfixturevalue("vault_options"), "vault_token": _token(server, ["root"])}
    env_file, _before, _env_digest = _fault_setup(tmp_path, options)
    migrated = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=_extra(tmp_path, env_file, options))
    assert migrated.rc == 0, migrated.output[-4000:]
    after_migration = _values(options)
    prefix = options["prefix"]
    limited = {**options, "vault_token": _token_short_of(
        server, "rollback", prefix, f'path "secret/metadata/{prefix}d-new" {{ capabilities = ["read", "list"] }}')}
    writes_before = _vault_writes(server, prefix)
    run = run_playbook(PLAYBOOK, state_env(tmp_path), "-vvvv",
                       extra_vars=_extra(tmp_path, env_file, limited, migrate_action="rollback"))
    assert run.rc != 0, run.output[-4000:]
    _clean(run)
    assert f"lack what the rollback needs: 'delete' on secret/metadata/{prefix}d-new" in run.stdout, run.stdout[-4000:]
    assert "Nothing was written" in run.stdout
    assert _vault_writes(server, prefix) == writes_before, "a write reached the server"
    assert _values(options) == after_migration


@pytest.mark.parametrize("provider", ["local", "aws", "vault"])
def test_a_fault_at_the_third_write_is_rolled_back(tmp_path, request, provider):
    if provider == "local":
        options = _local_options(tmp_path)
    elif provider == "aws":
        if request.getfixturevalue("moto_server") is None:
            pytest.skip("injects a fault into the test server's client only")
        options = dict(request.getfixturevalue("aws_options"))
    else:
        server = request.getfixturevalue("openbao_server")
        if server is None:
            pytest.skip("injects a fault into the test server's client only")
        options = {**request.getfixturevalue("vault_options"), "vault_token": _token(server, ["root"])}
    env_file, before, env_digest = _fault_setup(tmp_path, options)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAULT_HOOK)
    env = state_env(tmp_path, {
        "PYTHONPATH": str(hook) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "VIBEBOX_TEST_FAULT_AT_WRITE": "3",
        # the hook patches the module's own interpreter (AnsiballZ): the module path, not the worker
        "VIBEBOX_SECRETS_IN_PROCESS": "false",
        "VIBEBOX_TEST_FAULT_COUNTER": str(tmp_path / "writes.txt"),
    })
    run = run_playbook(PLAYBOOK, env, "-vvvv", extra_vars=_extra(tmp_path, env_file, options))
    _assert_rolled_back(run, options, before, env_file, env_digest, "c-denied")
    assert "injected fault at write 3" in run.stdout
    with open(tmp_path / "writes.txt") as handle:
        written = handle.read().split()
    assert written[:3] == ["a-existing", "b-new", "c-denied"]  # then the rollback's own write of a-existing


def test_blocked_keys_stop_the_run_before_any_write(tmp_path):
    options = _local_options(tmp_path)
    env_file = _write_env(tmp_path)
    run = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=_extra(
        tmp_path, env_file, options, migrate_name_map={"API_KEY": "database-password"}))
    assert run.rc != 0
    assert "2 keys cannot be migrated" in run.stdout and "Nothing was written" in run.stdout
    assert not (tmp_path / "store").exists() and not (tmp_path / "backups").exists()
    _clean(run)


def test_rewrite_env_then_rollback_restores_the_file(tmp_path):
    options = _local_options(tmp_path)
    env_file = _write_env(tmp_path)
    original = _digest(env_file)
    extra = _extra(tmp_path, env_file, options, migrate_rewrite_env=True)
    run = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=extra)
    assert run.rc == 0, run.output[-4000:]
    with open(env_file) as handle:
        text = handle.read()
    assert CANARY not in text
    assert "export DATABASE_PASSWORD=${secret:database-password}\n" in text
    assert "API_KEY=${secret:api-key}  # the partner key\n" in text and "APP_NAME=canary-app\n" in text
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o640
    again = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=extra)
    assert again.rc == 0 and again.changed() == 0, again.output[-4000:]
    rolled = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars={
        **extra, "migrate_action": "rollback", "backup": _backup_of(run)})
    assert rolled.rc == 0, rolled.output[-4000:]
    assert _digest(env_file) == original and _values(options) == {}
    with pytest.raises(errors.SecretNotFound):
        _manager(options).get("api-key")


def test_a_run_that_only_rewrites_the_env_file_is_backed_up_and_its_rollback_restores_that_file(tmp_path):
    """Every secret already migrated, the .env file edited since: the rewrite run takes a backup of the file as it
    is, so its rollback puts back that file (not the first run's copy) and leaves the first run's secrets."""
    options = _local_options(tmp_path)
    env_file = _write_env(tmp_path)
    extra = _extra(tmp_path, env_file, options)
    first = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=extra)
    assert first.rc == 0, first.output[-4000:]
    with open(env_file, "a") as handle:
        handle.write("LOG_LEVEL=debug\n")
    edited = _digest(env_file)
    rewrite = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars={
        **extra, "migrate_rewrite_env": True, "migrate_exclude": ["APP_NAME", "LOG_LEVEL"]})
    assert rewrite.rc == 0, rewrite.output[-4000:]
    _clean(rewrite)
    assert "create: 0, update: 0, unchanged: 3" in rewrite.stdout
    assert "Backup: none needed" not in rewrite.stdout
    backup = _backup_of(rewrite)
    assert backup != _backup_of(first)
    with open(env_file) as handle:
        assert CANARY not in handle.read()
    rolled = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars={**extra, "migrate_action": "rollback"})
    assert rolled.rc == 0, rolled.output[-4000:]
    _clean(rolled)
    assert backup in rolled.stdout
    assert _digest(env_file) == edited and _values(options) == MIGRATED
