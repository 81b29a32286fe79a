"""The target lock and the guard between requests, with real processes (alive, gone, zombie) and a fake clock."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import lock as lock_mod
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderUnavailable
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gone_process() -> lock_mod.Process:
    """A process that existed and is gone (reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    found = lock_mod.Process.of(child.pid)
    child.wait()
    return found or lock_mod.Process(child.pid, "1", lock_mod.boot_id(), "here")


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "locks" / "target.lock")


def make(path, owner, clock=None, writer=None):
    return lock_mod.TargetLock(path, "provider 'local', prefix ''", owner, writer, lease=120, clock=clock or Clock())


def test_a_live_lock_refuses_another_run_and_names_its_owner(path):
    me = lock_mod.Process.current()
    first = make(path, me)
    assert first.acquire("migration") is None
    assert os.stat(path).st_mode & 0o777 == 0o600
    record = json.load(open(path))
    assert record["owner"]["pid"] == os.getpid() and record["action"] == "migration"
    other = make(path, lock_mod.Process(os.getpid(), "not-the-same-run", lock_mod.boot_id(), "h"))
    with pytest.raises(lock_mod.LockHeld) as caught:
        other.acquire("rollback")
    assert f"pid {os.getpid()}" in str(caught.value) and "a migration run by ansible-playbook" in str(caught.value)
    assert first.acquire("migration") is None  # the same run renews its own lock


def test_a_lock_whose_owner_and_writer_are_gone_is_taken_over_with_a_warning(path):
    dead = gone_process()
    assert dead.alive() is False
    make(path, dead, writer=gone_process()).acquire("migration")
    warning = make(path, lock_mod.Process.current()).acquire("migration")
    assert warning and "took over the stale lock" in warning and "is gone" in warning and f"pid {dead.pid}" in warning


def test_a_lock_is_live_while_its_writer_runs_even_when_its_owner_is_gone(path):
    make(path, gone_process(), writer=lock_mod.Process.current()).acquire("migration")
    with pytest.raises(lock_mod.LockHeld, match="module pid"):
        make(path, lock_mod.Process(1, "x", "another-boot", "elsewhere")).acquire("rollback")


def test_a_lock_of_another_machine_lives_until_its_lease_ends(path):
    clock = Clock()
    remote = lock_mod.Process(4242, "1", "another-boot", "elsewhere")
    assert remote.alive() is None
    make(path, remote, clock).acquire("migration")
    with pytest.raises(lock_mod.LockHeld, match="elsewhere"):
        make(path, lock_mod.Process.current(), clock).acquire("migration")
    clock.now += 121
    warning = make(path, lock_mod.Process.current(), clock).acquire("migration")
    assert warning and "lease ended" in warning


def test_confirm_stops_a_run_whose_lock_was_taken_over_and_renews_its_own(path):
    clock = Clock()
    remote = lock_mod.Process(4242, "1", "another-boot", "elsewhere")
    mine = make(path, remote, clock)
    mine.acquire("migration")
    clock.now += 70  # past half the lease: confirm renews
    mine.confirm()
    assert json.load(open(path))["expires_at"] == clock.now + 120
    clock.now += 121
    make(path, lock_mod.Process.current(), clock).acquire("migration")
    with pytest.raises(lock_mod.RunStopped, match="now held by"):
        mine.confirm()


def test_release_keeps_the_lock_for_the_run_or_gives_it_back(path):
    mine = make(path, lock_mod.Process.current(), writer=lock_mod.Process.current())
    mine.acquire("migration")
    mine.release(keep=True)
    record = json.load(open(path))
    assert record["writer"] is None and record["owner"]["pid"] == os.getpid()
    mine.release()
    assert open(path).read() == "" and mine.read() is None
    other = make(path, lock_mod.Process(os.getpid(), "other", lock_mod.boot_id(), "h"))
    assert other.acquire("migration") is None


def test_a_killed_process_not_yet_reaped_counts_as_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        found = lock_mod.Process.of(child.pid)
        assert found.alive() is True
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, but left unreaped: a zombie
        assert (lock_mod._stat(child.pid) or ["?"])[0] == "Z"
        assert found.alive() is False
        assert lock_mod.Process(child.pid, "999999", found.boot_id, found.host).alive() is False  # a reused pid
    finally:
        child.kill()
        child.wait()


def test_the_guard_runs_before_every_attempt_and_stops_when_the_controller_is_gone(path):
    calls = []
    policy = lock_mod.guarded(RetryPolicy(attempts=3, sleep=lambda _s: None), lambda: calls.append("guard"))

    def flaky():
        calls.append("request")
        if calls.count("request") < 3:
            raise ProviderUnavailable("503", retryable=True)
        return "ok"

    assert policy.call(flaky) == "ok"
    assert calls == ["guard", "request"] * 3
    guard = lock_mod.Guard(gone_process(), None)
    with pytest.raises(lock_mod.RunStopped, match="ansible-playbook process of this run .* is gone"):
        lock_mod.guarded(RetryPolicy(), guard).call(lambda: pytest.fail("a request after the controller died"))
    lock_mod.Guard(lock_mod.Process.current(), None)()  # alive: no error


def test_lock_paths_beside_the_local_store_and_per_target_in_the_backup_folder(tmp_path):
    local = lock_mod.lock_path({"provider": "local", "path": "/srv/store/secrets.db"}, "", str(tmp_path))
    assert local == "/srv/store/secrets.db.migrate-lock"
    one = lock_mod.lock_path({"provider": "vault", "address": "http://a:8200", "mount": "secret"}, "app/", str(tmp_path))
    two = lock_mod.lock_path({"provider": "vault", "address": "http://b:8200", "mount": "secret"}, "app/", str(tmp_path))
    assert one != two and os.path.dirname(one) == str(tmp_path / "locks")
