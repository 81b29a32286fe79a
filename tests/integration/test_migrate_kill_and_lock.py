"""A killed migration stops writing, one writer per target, and unfinished runs are never passed by.

- SIGKILL of ``ansible-playbook`` in the middle of a migration (300 secrets into moto, 400 into
  OpenBao): the servers' own logs (moto's request log, OpenBao's file audit device) show no write more
  than a second after the kill, and the worker fork and the module it ran end by themselves.
- A migration parked in the middle of its writes (a test-only ``sitecustomize`` makes the k-th
  SecretManager.set wait for a file) holds the target: a second migration and a rollback of the same
  target are refused before any write, naming the owner.
- A run killed while parked leaves a lock and an unfinished backup: the next migration takes the lock
  over with a warning and names the unfinished run; the default rollback refuses to pass it by, and
  migrate_rollback_to=before-first-unfinished restores the state from before it.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.lock import Process
from ansible_run import BIN, REPO, run_playbook, state_env

PLAYBOOK = os.path.join(REPO, "playbooks", "migrate.yml")
CANARY = "CANARY-" + uuid.uuid4().hex

PARK_HOOK = '''
"""Test-only: the k-th write (SecretManager.set or write_observed) of a run waits until a file exists (counted
across processes)."""
import importlib.abc
import os
import sys
import time

_TARGET = "ansible_collections.vibebox.secrets.plugins.module_utils.core.manager"
_AT = int(os.environ.get("VIBEBOX_TEST_PARK_AT_WRITE") or 0)
_COUNTER = os.environ.get("VIBEBOX_TEST_PARK_COUNTER")
_RELEASE = os.environ.get("VIBEBOX_TEST_PARK_RELEASE")
_PARKED = os.environ.get("VIBEBOX_TEST_PARKED")


def _parking(original):
    def write(self, name, *args, **kwargs):
        with open(_COUNTER, "a+") as handle:
            handle.write(name + "\\n")
        with open(_COUNTER) as handle:
            count = len(handle.read().splitlines())
        if count == _AT:
            with open(_PARKED, "w") as handle:
                handle.write(str(os.getpid()))
            deadline = time.monotonic() + 300
            while not os.path.exists(_RELEASE) and time.monotonic() < deadline:
                time.sleep(0.05)
        return original(self, name, *args, **kwargs)

    return write


def _patch(module):
    module.SecretManager.set = _parking(module.SecretManager.set)
    module.SecretManager.write_observed = _parking(module.SecretManager.write_observed)


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

def _descendants(pid: int):
    """Every process below ``pid`` now, as Process records (so they can be checked after a re-parenting)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        parent = int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            process = Process.of(child)
            if process is not None:
                found.append(process)
            todo.append(child)
    return found


def _wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _start(env, extra_vars, log_path):
    fd, vars_file = tempfile.mkstemp(prefix="vars-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(extra_vars, handle)
    log = open(log_path, "wb")
    try:
        return subprocess.Popen([os.path.join(BIN, "ansible-playbook"), PLAYBOOK, "-e", "@" + vars_file],
                                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def _end(processes):
    """Only processes this test started (descendants of its ansible-playbook), by pid, if still there."""
    for process in processes:
        if process.alive():
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _env_file(tmp_path, count: int) -> str:
    path = tmp_path / "project" / "big.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"KEY_{index:04d}={CANARY}-{index}\n" for index in range(count)))
    return str(path)


def _extra(tmp_path, env_file, options, **more):
    return {"env_file": env_file, "migrate_backup_dir": str(tmp_path / "backups"),
            "migrate_backup_key_file": str(tmp_path / "backup.key"), "migrate_batch_size": 1000,
            **options, **more}


def _token(server) -> str:
    return server.request("POST", "auth/token/create", {"policies": ["root"], "ttl": "15m"})["auth"]["client_token"]


def _audit_time(text: str) -> float:
    head, _dot, rest = text.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6].ljust(6, "0")
    moment = _dt.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp() + int(fraction) / 1e6


@pytest.fixture(params=["aws", "vault"])
def server_target(request):
    """(provider options, secrets to migrate, a function returning the times of the writes the server saw)."""
    if request.param == "aws":
        server = request.getfixturevalue("moto_server")
        if server is None:
            pytest.skip("counts writes in the test server's own request log")
        options = dict(request.getfixturevalue("aws_options"))
        start = len(server.requests.entries())

        def aws_writes():
            return [entry["time"] for entry in server.requests.entries()[start:]
                    if (entry.get("target") or "").split(".", 1)[-1] in _AWS_WRITES]

        return options, 300, aws_writes
    server = request.getfixturevalue("openbao_server")
    if server is None:
        pytest.skip("counts writes in the test server's own audit device")
    options = {**request.getfixturevalue("vault_options"), "vault_token": _token(server)}
    prefix = options["prefix"].strip("/")

    def vault_writes():
        return [_audit_time(entry["time"]) for entry in server.audit_entries("request")
                if entry["request"]["operation"] in ("create", "update", "delete")
                and prefix in entry["request"].get("path", "")]

    return options, 400, vault_writes


_AWS_WRITES = {"CreateSecret", "PutSecretValue", "UpdateSecret", "DeleteSecret", "RestoreSecret", "TagResource",
               "UntagResource", "UpdateSecretVersionStage"}


# SIGKILL -------------------------------------------------------------------------------------

def test_sigkill_of_ansible_playbook_stops_every_write_within_a_second(tmp_path, server_target):
    options, count, writes = server_target
    env_file = _env_file(tmp_path, count)
    run = _start(state_env(tmp_path), _extra(tmp_path, env_file, options), tmp_path / "run.log")
    below = []
    try:
        assert _wait_until(lambda: len(writes()) >= 20 or run.poll() is not None, timeout=240), "no write seen"
        assert run.poll() is None, "the migration ended before it could be killed:\n" + (tmp_path / "run.log").read_text()[-3000:]
        below = [process for process in _descendants(run.pid) if process.alive()]
        seen_before = len(writes())
        killed_at = time.time()
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        # nothing hangs: the worker fork and the module end by themselves
        ended = _wait_until(lambda: all(process.alive() is False for process in below), timeout=60, step=0.1)
        stuck = [process.pid for process in below if process.alive()]
        times = writes()
        last = max(times)
        late = [moment - killed_at for moment in times if moment > killed_at + 1.0]
        print(f"\n[{options['provider']}] writes before the kill: {seen_before}, after: {len(times) - seen_before},"
              f" of {count} secrets; last write {1000 * (last - killed_at):.1f} ms after the SIGKILL;"
              f" {len(below) - len(stuck)} of {len(below)} processes below ansible-playbook ended")
        assert not late, f"{len(late)} writes landed more than 1 s after the SIGKILL (up to {max(late):.2f} s)"
        assert ended, f"still running 60 s after the kill: {stuck}"
        full = count * (2 if options["provider"] == "vault" else 1)  # Vault: the value, then description and tags
        assert len(times) < full, "the killed run wrote everything anyway"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        _end(below)
    log = (tmp_path / "run.log").read_text()
    assert CANARY not in log
    # the killed run's backup is unfinished: a rollback says so and undoes it
    journal = [json.loads(line) for path in (tmp_path / "backups").glob("*.journal") for line in open(path)]
    assert journal and not any(entry["event"] == "complete" for entry in journal)


# one writer per target -----------------------------------------------------------------------

def _parked_env(tmp_path, at: int):
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(PARK_HOOK)
    return state_env(tmp_path, {
        "PYTHONPATH": str(hook) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "VIBEBOX_TEST_PARK_AT_WRITE": str(at),
        # the hook patches the module's own interpreter (AnsiballZ): the module path, not the worker
        "VIBEBOX_SECRETS_IN_PROCESS": "false",
        "VIBEBOX_TEST_PARK_COUNTER": str(tmp_path / "writes.txt"),
        "VIBEBOX_TEST_PARK_RELEASE": str(tmp_path / "release"),
        "VIBEBOX_TEST_PARKED": str(tmp_path / "parked"),
    })


def _local(tmp_path):
    return {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
            "local_key_file": str(tmp_path / "store" / "secrets.key"), "audit_log": str(tmp_path / "audit.log")}


def _values(options):
    manager = factory.build_manager({**options, "audit_log": "false", "cache_ttl": 0}, env={})
    try:
        return {name: manager.get(name, bypass_cache=True).value for name in manager.list()}
    finally:
        manager.close()


@pytest.mark.parametrize("provider", ["local", "aws"])
def test_a_second_migration_and_a_rollback_are_refused_while_a_run_holds_the_target(tmp_path, request, provider):
    options = _local(tmp_path) if provider == "local" else dict(request.getfixturevalue("aws_options"))
    env_file = _env_file(tmp_path, 6)
    extra = _extra(tmp_path, env_file, options)
    first = _start(_parked_env(tmp_path, at=3), extra, tmp_path / "first.log")
    try:
        assert _wait_until(lambda: (tmp_path / "parked").exists() or first.poll() is not None, timeout=240)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        owner = first.pid
        values_during = _values(options)
        assert len(values_during) == 2  # two written, the third waits

        second = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=extra)
        assert second.rc != 0
        assert f"is locked by a migration run by ansible-playbook pid {owner}" in second.stdout, second.stdout[-3000:]
        rollback = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars={**extra, "migrate_action": "rollback"})
        assert rollback.rc != 0 and f"ansible-playbook pid {owner}" in rollback.stdout, rollback.stdout[-3000:]
        assert _values(options) == values_during, "a refused run wrote"
    finally:
        (tmp_path / "release").write_text("go")
        first.wait(timeout=300)
    assert first.returncode == 0, (tmp_path / "first.log").read_text()[-3000:]
    assert len(_values(options)) == 6
    again = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=extra)  # the lock was given back
    assert again.rc == 0 and again.changed() == 0, again.output[-3000:]
    assert "stale lock" not in again.output


def test_a_killed_run_is_taken_over_and_rolled_back_from_before_it(tmp_path):
    options = _local(tmp_path)
    manager = factory.build_manager({**options, "audit_log": "false"}, env={})
    manager.set("key-0001", "before the migrations")
    manager.close()
    before = _values(options)
    env_file = _env_file(tmp_path, 6)
    extra = _extra(tmp_path, env_file, options)
    killed = _start(_parked_env(tmp_path, at=3), extra, tmp_path / "killed.log")
    below = []
    try:
        assert _wait_until(lambda: (tmp_path / "parked").exists() or killed.poll() is not None, timeout=240)
        assert killed.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        below = [process for process in _descendants(killed.pid) if process.alive()]
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        (tmp_path / "release").write_text("go")  # the parked module goes on, finds its controller gone, stops
        assert _wait_until(lambda: all(process.alive() is False for process in below), timeout=60, step=0.1)
    finally:
        _end(below)
    partial = _values(options)
    assert len(partial) == 2 and partial["key-0001"] != before["key-0001"]  # two writes made, the third stopped

    after = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars=extra)
    assert after.rc == 0, after.output[-3000:]
    assert "took over the stale lock" in after.output and "is gone" in after.output
    assert "an earlier migration of this file never completed" in after.output
    assert len(_values(options)) == 6

    refused = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars={**extra, "migrate_action": "rollback"})
    assert refused.rc != 0
    assert "an older migration of" in refused.stdout and "never completed" in refused.stdout, refused.stdout[-3000:]
    assert len(_values(options)) == 6, "the refused rollback wrote"

    undone = run_playbook(PLAYBOOK, state_env(tmp_path), extra_vars={
        **extra, "migrate_action": "rollback", "migrate_rollback_to": "before-first-unfinished"})
    assert undone.rc == 0, undone.output[-3000:]
    assert "(2 runs)" in undone.stdout
    assert _values(options) == before
    assert CANARY not in after.output + refused.output + undone.output
