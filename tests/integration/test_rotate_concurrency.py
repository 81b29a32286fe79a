"""Two (here three) rotations of one secret at the same moment rotate it once, on real servers.

Three ``ansible-playbook rotate.yml`` processes are started together against OpenBao, moto and the
local store. To make "at the same moment" certain rather than likely, every process is let read the
secret and then held just before its write, until all three are there:

- for OpenBao and moto a proxy on the wire (tests/servers/fault_proxy.py) holds each write request
  until three are waiting, then lets them all go at once;
- for the local store the test holds SQLite's write lock (what every writer takes first) until the
  audit log shows that all three processes have read the current value.

Then exactly one new version exists, one run reports the rotation, two report "already rotated ...
by another run" with changed=0 and succeed, and a cleanup right after destroys no version that was
ever current. Without the conditional write, each of the three would write a version, and the
cleanup would destroy one that was current for a moment.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from typing import Any, Callable, Dict, List

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_run import REPO, run_playbook, state_env
import servers

ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
CLEANUP = os.path.join(REPO, "playbooks", "cleanup.yml")
RUNS = 3
NAME = "jwt-secret"
CANARY = "CANARY-race-" + uuid.uuid4().hex


def _load_proxy_module():
    return servers.load("fault_proxy")


fault_proxy = _load_proxy_module()


class WriteGate(fault_proxy.FaultProxy):
    """Forwards everything, but holds each write request until ``count`` writes are waiting."""

    def __init__(self, upstream: str, count: int) -> None:
        super().__init__(upstream)
        self.count = count
        self.waiting = 0
        self.opened = threading.Event()
        self._gate_lock = threading.Lock()

    def _decide(self, request):
        if request.is_write and not self.opened.is_set():
            with self._gate_lock:
                self.waiting += 1
                if self.waiting >= self.count:
                    self.opened.set()
            self.opened.wait(240)
        return super()._decide(request)


@pytest.fixture(scope="module")
def vault_token(openbao_server) -> str:
    """A token of its own: Ansible masks no_log values everywhere, and the dev token "root" is in paths."""
    if openbao_server is None:
        pytest.skip("the write gate needs the local OpenBao server, not a real one (VIBEBOX_TEST_VAULT_REAL=1)")
    answer = openbao_server.request("POST", "auth/token/create", {"policies": ["root"], "ttl": "2h"})
    return answer["auth"]["client_token"]


def _start_together(command: Callable[[int], Any]) -> List[Any]:
    results: List[Any] = [None] * RUNS

    def one(index: int) -> None:
        try:
            results[index] = command(index)
        except BaseException as exc:  # reported below
            results[index] = exc

    threads = [threading.Thread(target=one, args=(index,)) for index in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    return results


def _check_one_rotation(runs, manager, before_versions: List[str]) -> None:
    for run in runs:
        assert not isinstance(run, BaseException), run
        assert run.rc == 0, run.output[-4000:]
        assert CANARY not in run.output
    summaries = [run.stdout for run in runs]
    rotated = [text for text in summaries if f"{NAME}: rotated to version" in text]
    lost = [text for text in summaries if f"{NAME}: not rotated by this run: already rotated at" in text]
    assert len(rotated) == 1 and len(lost) == RUNS - 1, "\n----\n".join(text[-2500:] for text in summaries)
    assert all("by another run" in text for text in lost)
    assert sorted(run.changed() for run in runs) == [0] * (RUNS - 1) + [1]
    versions = [item.version for item in manager.versions(NAME) if not item.destroyed]
    new = [version for version in versions if version not in before_versions]
    assert len(new) == 1, f"{len(new)} new versions: {versions}"
    assert manager.describe(NAME).version == new[0]


def _race(tmp_path, options: Dict[str, Any], direct: Dict[str, Any], hold: Callable[[], None],
          release_when_ready: Callable[[], None]) -> None:
    """Seed the secret (``direct``: not through the gate), start RUNS rotations held before their write
    (``options``), then run a cleanup right after."""
    seeding = factory.build_manager({**direct, "cache_ttl": 0, "audit_log": "false"}, env={})
    seeding.set(NAME, CANARY)
    before = [item.version for item in seeding.versions(NAME)]
    env = state_env(tmp_path)
    hold()
    releaser = threading.Thread(target=release_when_ready)
    releaser.start()
    runs = _start_together(lambda index: run_playbook(ROTATE, env, "-e", f"rotate_secret={NAME}", extra_vars=options))
    releaser.join(60)
    _check_one_rotation(runs, seeding, before)
    ever_current = before[:1] + [seeding.describe(NAME).version]

    cleaned = run_playbook(CLEANUP, env, extra_vars={**options, "names": [NAME]})
    assert cleaned.rc == 0, cleaned.output[-4000:]
    live = [item.version for item in seeding.versions(NAME) if not item.destroyed]
    assert set(ever_current) <= set(live), f"cleanup destroyed a version that was current: {ever_current} vs {live}"
    assert seeding.get(NAME, version="previous", bypass_cache=True).value == CANARY  # still in its grace
    seeding.close()


def test_three_runs_against_openbao_rotate_once(tmp_path, openbao_server, vault_token):
    gate = WriteGate(openbao_server.addr, RUNS).start()
    try:
        direct = {"provider": "vault", "vault_addr": openbao_server.addr, "vault_token": vault_token,
                  "prefix": f"race-{uuid.uuid4().hex[:6]}/"}
        _race(tmp_path, {**direct, "vault_addr": gate.url}, direct, hold=lambda: None, release_when_ready=lambda: None)
    finally:
        gate.stop()


def test_three_runs_against_moto_rotate_once(tmp_path, moto_server):
    if moto_server is None:
        pytest.skip("the write gate needs the local moto server, not the real AWS (VIBEBOX_TEST_AWS_REAL=1)")
    env = moto_server.env()
    gate = WriteGate(moto_server.url, RUNS).start()
    try:
        direct = {"provider": "aws", "aws_endpoint_url": moto_server.url, "aws_region": env["AWS_SECRET_MANAGER_REGION"],
                  "aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                  "prefix": f"vibebox/race-{uuid.uuid4().hex[:6]}/"}
        _race(tmp_path, {**direct, "aws_endpoint_url": gate.url}, direct, hold=lambda: None,
              release_when_ready=lambda: None)
    finally:
        gate.stop()


def test_three_runs_against_the_local_store_rotate_once(tmp_path):
    store = tmp_path / "store" / "secrets.db"
    audit = tmp_path / "state" / "vibebox" / "audit.log"  # where the playbook runs write (XDG_STATE_HOME)
    options = {"provider": "local", "local_path": str(store), "local_key_file": str(tmp_path / "store" / "secrets.key")}
    holder: Dict[str, sqlite3.Connection] = {}

    def hold() -> None:
        connection = sqlite3.connect(str(store), isolation_level=None, timeout=60, check_same_thread=False)
        connection.execute("BEGIN IMMEDIATE")  # every writer waits here (busy_timeout), readers do not
        holder["connection"] = connection

    def release_when_ready() -> None:
        deadline = time.monotonic() + 300
        try:
            while time.monotonic() < deadline:
                if audit.exists():
                    reads = [entry for entry in map(json.loads, audit.read_text().splitlines())
                             if entry.get("op") == "get" and entry.get("name") == NAME and entry.get("ok")]
                    if len(reads) >= RUNS:  # each run has read the current value it would roll back to
                        return
                time.sleep(0.1)
        finally:
            holder["connection"].execute("ROLLBACK")
            holder["connection"].close()

    _race(tmp_path, options, options, hold=hold, release_when_ready=release_when_ready)


def test_a_named_run_started_before_another_run_rotated_does_not_rotate_again(tmp_path):
    """Runs started a few seconds apart are not "at the same moment" for the conditional write: the
    later one reads the version the first one wrote. What stops it is the moment it started (the role
    passes it as unless_rotated_since); here the moment is given with -e, which outranks the role's own."""
    store = tmp_path / "store" / "secrets.db"
    options = {"provider": "local", "local_path": str(store), "local_key_file": str(tmp_path / "store" / "secrets.key")}
    manager = factory.build_manager({**options, "cache_ttl": 0, "audit_log": "false"}, env={})
    manager.set(NAME, CANARY)
    env = state_env(tmp_path)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))

    first = run_playbook(ROTATE, env, "-e", f"rotate_secret={NAME}", extra_vars=options)
    assert first.rc == 0 and first.changed() == 1, first.output[-3000:]
    after_first = manager.describe(NAME).version

    late = run_playbook(ROTATE, env, "-e", f"rotate_secret={NAME}", "-e", f"rotate_started_at={started}",
                        extra_vars=options)
    assert late.rc == 0 and late.changed() == 0, late.output[-3000:]
    assert f"{NAME}: not rotated by this run: already rotated at" in late.stdout
    assert manager.describe(NAME).version == after_first
    assert manager.get(NAME, version="previous", bypass_cache=True).value == CANARY  # its grace is intact

    again = run_playbook(ROTATE, env, "-e", f"rotate_secret={NAME}", extra_vars=options)  # started after: rotates
    assert again.rc == 0 and again.changed() == 1, again.output[-3000:]
    assert manager.describe(NAME).version != after_first
    for run in (first, late, again):
        assert CANARY not in run.output
    manager.close()
