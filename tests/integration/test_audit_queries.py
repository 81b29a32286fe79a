"""The jq queries of docs/audit-log.md, run with jq against an audit log the collection wrote.

The log is made by real operations on the local store: a rotation, a run that finds the secret
already rotated by another run, a rollback, a cleanup, a failed read, and the two migration entries
written through the API the migration uses (AuditLog.operation). Every ``jq`` line of the document's
shell block is run as written (``$log`` set to that file) and its output checked, so a query that
stops matching what the collection writes fails here.

jq: the one on PATH; when there is none, it is installed from Debian (apt-get) if this runs as root,
else the test fails saying how to install it (it is never skipped).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationPolicy, Rotator
from ansible_run import REPO

DOC = os.path.join(REPO, "docs", "audit-log.md")
ACTOR = "awx:admin:4711"
CANARY = "CANARY-audit-value"


@pytest.fixture(scope="session")
def jq() -> str:
    found = shutil.which("jq")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "jq"], capture_output=True, check=False, timeout=600)
        found = shutil.which("jq")
        if found:
            return found
    pytest.fail("jq is needed to test the queries of docs/audit-log.md: install it (apt-get install jq)")


def _queries() -> list:
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    block = re.search(r"From a shell, with `jq`.*?```bash\n(.*?)```", text, re.S).group(1)
    queries = []
    for line in block.splitlines():
        if line.startswith("jq "):
            command, _sep, comment = line.rpartition("   # ")
            queries.append((command.strip(), comment.strip()))
    return queries


@pytest.fixture
def audit_log(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBEBOX_AUDIT_ACTOR", ACTOR)
    path = tmp_path / "audit.log"
    options = {"provider": "local", "local_path": str(tmp_path / "secrets.db"), "audit_log": str(path), "cache_ttl": 0}
    manager, other = factory.build_manager(options, env={}), factory.build_manager(options, env={})
    rotator, other_run = Rotator(manager), Rotator(other)
    manager.set("jwt-secret", CANARY + "-1")
    rotator.rotate("jwt-secret", RotationPolicy(), value=CANARY + "-2")
    checked = manager.check_value

    def the_other_run_first(name, value):
        manager.check_value = checked
        other_run.rotate(name, RotationPolicy(), value=CANARY + "-3")
        return checked(name, value)

    manager.check_value = the_other_run_first
    assert rotator.rotate("jwt-secret", RotationPolicy(), value=CANARY + "-4").already_rotated
    rotator.rollback("jwt-secret", "2")
    rotator.cleanup("jwt-secret", keep=1)
    with pytest.raises(errors.SecretNotFound):
        manager.get("never-created")
    manager.audit.record("get", "api-key", ok=True, version="1", retries=2)  # what a throttled read writes
    # the migration writes its operations through the same API
    manager.audit.operation("migrate", ["database-password", "api-key"], ok=True,
                            versions={"database-password": {"before": None, "after": "1"},
                                      "api-key": {"before": None, "after": "1"}})
    manager.audit.operation("migrate_rollback", ["database-password", "api-key"], ok=True,
                            versions={"database-password": {"before": "1", "after": None},
                                      "api-key": {"before": "1", "after": None}})
    return path


def _run(jq_binary: str, command: str, log) -> str:
    env = dict(os.environ, log=str(log), PATH=os.path.dirname(jq_binary) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    return done.stdout


def test_every_query_of_the_audit_log_page_finds_what_it_says(jq, audit_log):
    text = audit_log.read_text()
    assert CANARY not in text
    queries = _queries()
    assert len(queries) >= 10, queries
    out = {comment: _run(jq, command, audit_log) for command, comment in queries}

    def lines(comment):
        return [line for line in out[comment].splitlines() if line.strip()]

    def objects(comment):
        return [json.loads(line) for line in lines(comment)]

    assert objects("every failure") and all(item["ok"] is False for item in objects("every failure"))
    assert any(re.fullmatch(r"\s*\d+ jwt-secret", line) for line in lines("reads per secret"))
    assert [item["retries"] for item in objects("throttling")] == [2]
    started = objects("every operation someone started")
    assert [item["op"] for item in started] == [
        "rotate", "rotate", "rotate", "rotate_rollback", "cleanup", "migrate", "migrate_rollback"]
    assert all(item["actor"] == ACTOR for item in started)
    rotations = lines("rotations: who, what, from which version to which")
    assert [line.split(" ", 1)[1] for line in rotations] == [f"{ACTOR} jwt-secret 1 -> 2", f"{ACTOR} jwt-secret 2 -> 3"]
    lost = objects("runs that found the secret already rotated by another run")
    assert len(lost) == 1 and lost[0]["versions"]["jwt-secret"] == {"before": "2", "after": "3"}
    rollbacks = objects("rollbacks of a rotation")
    assert len(rollbacks) == 1 and rollbacks[0]["versions"]["jwt-secret"] == {"before": "3", "after": "4"}
    migrations = objects("migrations and their rollbacks")
    assert [(item["op"], item["names"]) for item in migrations] == [
        ("migrate", ["api-key", "database-password"]), ("migrate_rollback", ["api-key", "database-password"])]
    cleanups = lines("what each cleanup destroyed")
    assert len(cleanups) == 1 and cleanups[0].endswith("jwt-secret destroyed 3,2,1")
    assert [item["op"] for item in objects("every operation on one secret")] == [
        "rotate", "rotate", "rotate", "rotate_rollback", "cleanup"]
    assert [item["version"] for item in objects("deletions worth a review")] == ["3", "2", "1"]
