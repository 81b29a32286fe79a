"""database-password rotation against a real PostgreSQL 15: zero downtime, drain, rollback.

The secret lives in the local store; the database is the session's real server, with a fresh
database and fresh blue/green roles per test. Drain timeouts are a second or two. Where a test must
act *during* the drain, the admin connection's ``sessions`` call is wrapped so that the drain
pauses at its first poll until the test has checked what it wants: no timing assumption. The last
test runs the same rotation through playbooks/rotate.yml.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time

import psycopg
import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationFailed, RotationPolicy, Rotator
from ansible_collections.vibebox.secrets.plugins.module_utils.postgres import (
    AlternatingUsers,
    DatabaseTarget,
    PostgresAdmin,
    parse_secret,
)
from ansible_run import REPO, run_playbook, state_env

NAME = "database-password"
ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")


def _strategy(app, manager, **kwargs) -> AlternatingUsers:
    options = app.module_options()
    admin = PostgresAdmin(dict(host=options["login_host"], port=options["login_port"], user=options["login_user"],
                               password=options["login_password"], dbname="postgres", connect_timeout=5))
    target = DatabaseTarget(host=app.server.host, port=app.server.port, dbname=app.dbname)
    kwargs.setdefault("verify_query", "SELECT count(*) FROM items")
    kwargs.setdefault("drain_timeout", 1)
    kwargs.setdefault("drain_interval", 0.1)
    return AlternatingUsers(Rotator(manager), admin, app.roles, target, **kwargs)


def _run(app, manager, policy=None, **kwargs):
    strategy = _strategy(app, manager, **kwargs)
    try:
        return strategy.run(NAME, policy or RotationPolicy())
    finally:
        strategy.admin.close()


def _creds(manager, version=None) -> dict:
    return parse_secret(manager.get(NAME, version=version, bypass_cache=True).value)


def _connect(creds: dict):
    """Connect the way an application does: with the URL from the secret."""
    return psycopg.connect(creds["url"], autocommit=True, connect_timeout=5)


def _count_items(conn) -> int:
    return conn.execute("SELECT count(*) FROM items").fetchone()[0]


def test_first_rotation_writes_the_json_secret_and_its_url_works(postgres_app, local_manager):
    manager = local_manager()
    result = _run(postgres_app, manager)
    assert result.rotation.rotated and result.username == postgres_app.roles[0]
    assert result.previous_username is None and result.drain is None
    creds = _creds(manager)
    assert set(creds) == {"engine", "host", "port", "dbname", "username", "password", "url"}
    assert creds["username"] == postgres_app.roles[0] and creds["dbname"] == postgres_app.dbname
    with _connect(creds) as conn:
        assert _count_items(conn) == 2


def _wait_for_sessions(postgres_app, role: str, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while postgres_app.sessions_of(role) != count:
        assert time.monotonic() < deadline, f"role {role} still has {postgres_app.sessions_of(role)} sessions"
        time.sleep(0.05)


def test_old_client_works_during_the_drain_and_is_cut_after_the_timeout(postgres_app, local_manager):
    manager = local_manager()
    _run(postgres_app, manager)
    old_creds = _creds(manager)
    old_client = _connect(old_creds)
    assert _count_items(old_client) == 2

    strategy = _strategy(postgres_app, manager, drain_timeout=1)
    in_drain, checked = threading.Event(), threading.Event()
    real_sessions = strategy.admin.sessions

    def paused_sessions(role):
        if not in_drain.is_set():
            in_drain.set()
            checked.wait(60)
        return real_sessions(role)

    strategy.admin.sessions = paused_sessions
    outcome = {}

    def rotate():
        try:
            outcome["result"] = strategy.run(NAME, RotationPolicy.from_options(grace_period="1h"))
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc
        finally:
            in_drain.set()

    worker = threading.Thread(target=rotate)
    worker.start()
    try:
        assert in_drain.wait(60)
        assert "error" not in outcome, outcome.get("error")
        # the secret is switched; the old role's session still works, new logins use the new role,
        # and the previous version of the secret still logs in too (its role was not changed)
        new_creds = _creds(manager)
        assert new_creds["username"] == postgres_app.roles[1] != old_creds["username"]
        assert _count_items(old_client) == 2
        with _connect(new_creds) as conn:
            assert _count_items(conn) == 2
        with _connect(_creds(manager, "previous")) as conn:
            assert _count_items(conn) == 2
        # a closed session leaves pg_stat_activity when its backend exits, a moment after the client
        # closed it: let the drain count only old_client, as it would without this check
        _wait_for_sessions(postgres_app, old_creds["username"], 1)
    finally:
        checked.set()
        worker.join(120)
        strategy.admin.close()
    assert "error" not in outcome, outcome.get("error")
    drain = outcome["result"].drain
    assert drain.role == old_creds["username"]
    assert drain.sessions_at_switch == 1 and drain.terminated == 1 and drain.remaining == 0 and not drain.drained
    assert postgres_app.sessions_of(old_creds["username"]) == 0
    with pytest.raises(psycopg.OperationalError):
        _count_items(old_client)
    old_client.close()


def test_a_client_that_leaves_in_time_is_not_terminated(postgres_app, local_manager):
    manager = local_manager()
    _run(postgres_app, manager)
    old_client = _connect(_creds(manager))
    strategy = _strategy(postgres_app, manager, drain_timeout=30)
    real_sessions = strategy.admin.sessions
    calls = []

    def sessions(role):
        calls.append(role)
        if len(calls) == 2:
            old_client.close()  # the application's pool moves over after the first poll
        return real_sessions(role)

    strategy.admin.sessions = sessions
    try:
        result = strategy.run(NAME, RotationPolicy())
    finally:
        strategy.admin.close()
    assert result.drain.sessions_at_switch == 1
    assert result.drain.drained and result.drain.terminated == 0 and result.drain.remaining == 0


def test_not_due_under_max_age_changes_nothing(postgres_app, local_manager):
    manager = local_manager()
    _run(postgres_app, manager)
    version = manager.describe(NAME).version
    result = _run(postgres_app, manager, RotationPolicy.from_options(max_age="90d"))
    assert not result.rotation.rotated and not result.rotation.due
    assert manager.describe(NAME).version == version
    assert result.username == postgres_app.roles[0]


def test_check_mode_touches_neither_the_secret_nor_the_roles(postgres_app, local_manager):
    manager = local_manager()
    _run(postgres_app, manager)
    version = manager.describe(NAME).version
    with postgres_app.admin_connection("postgres") as conn:
        before = conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s) ORDER BY 1",
                              (postgres_app.roles,)).fetchall()
    strategy = _strategy(postgres_app, manager)
    try:
        result = strategy.run(NAME, RotationPolicy(), check_mode=True)
    finally:
        strategy.admin.close()
    assert result.rotation.due and not result.rotation.rotated
    assert result.username == postgres_app.roles[1] and result.previous_username == postgres_app.roles[0]
    assert manager.describe(NAME).version == version
    with postgres_app.admin_connection("postgres") as conn:
        after = conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s) ORDER BY 1",
                             (postgres_app.roles,)).fetchall()
    assert after == before


def test_failed_verification_before_the_switch_restores_the_role(postgres_app, local_manager):
    """blue -> green, then blue loses its grants: the next rotation (to blue) must fail before the
    switch, leave the secret on green and give blue its old password back."""
    manager = local_manager()
    _run(postgres_app, manager)
    blue_creds = _creds(manager)
    _run(postgres_app, manager)
    version = manager.describe(NAME).version
    with postgres_app.admin_connection() as conn:
        conn.execute(f'REVOKE "{postgres_app.group}" FROM "{postgres_app.roles[0]}"')
    with pytest.raises(RotationFailed) as caught:
        _run(postgres_app, manager)
    assert "secret was not changed" in str(caught.value) and blue_creds["password"] not in str(caught.value)
    assert manager.describe(NAME).version == version
    with _connect(_creds(manager)) as conn:  # green, the active role, keeps working
        assert _count_items(conn) == 2
    with _connect(blue_creds):  # blue logs in with its old password again
        pass


class _StaleReadBack:
    """Wraps a backend so the first read after a write serves a wrong value, as a provider
    serving a stale current version would: the rotation's read-back check must catch it."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.armed = False

    def __getattr__(self, item):
        return getattr(self._backend, item)

    def set(self, name, value, description=None, tags=None):
        self.armed = not self.armed  # first write (the rotation) arms; the rollback's write does not
        return self._backend.set(name, value, description, tags)

    def get(self, name, version=None):
        found = self._backend.get(name, version)
        if self.armed and version is None:
            self.armed = False
            return Secret(found.value + "-stale", found.metadata)
        return found


def test_failure_after_the_switch_rolls_the_secret_back(postgres_app, local_manager):
    manager = local_manager()
    _run(postgres_app, manager)
    old_creds = _creds(manager)
    old_version = manager.describe(NAME).version
    old_client = _connect(old_creds)
    manager.backend = _StaleReadBack(manager.backend)
    with pytest.raises(RotationFailed) as caught:
        _run(postgres_app, manager)
    assert caught.value.rolled_back and "rolled back" in str(caught.value)
    manager.backend = manager.backend._backend
    current = _creds(manager)
    assert current == old_creds and manager.describe(NAME).version != old_version  # old value, written back
    with _connect(current) as conn:  # the old role keeps working for new connections
        assert _count_items(conn) == 2
    assert _count_items(old_client) == 2  # and its sessions were not drained
    old_client.close()


def test_bare_password_needs_active_role_once(postgres_app, local_manager):
    manager = local_manager()
    manager.set(NAME, "a-bare-password-from-dotenv")
    with pytest.raises(errors.InvalidOption) as caught:
        _run(postgres_app, manager)
    assert "active_role" in str(caught.value) and "a-bare-password" not in str(caught.value)
    result = _run(postgres_app, manager, active_role=postgres_app.roles[0])
    assert result.username == postgres_app.roles[1]
    with _connect(_creds(manager)) as conn:
        assert _count_items(conn) == 2


def test_missing_role_is_created_when_asked(postgres_app, local_manager):
    manager = local_manager()
    extra = [postgres_app.roles[0] + "_x", postgres_app.roles[1] + "_x"]
    postgres_app.extra["roles"] = extra

    def run(**kwargs):
        strategy = _strategy(postgres_app, manager, **kwargs)
        strategy.roles = extra
        try:
            return strategy.run(NAME, RotationPolicy())
        finally:
            strategy.admin.close()

    with pytest.raises(errors.SecretError) as caught:
        run()
    assert "does not exist" in str(caught.value) and "create_roles" in str(caught.value)
    result = run(create_roles=True, member_of=[postgres_app.group])
    assert result.created_role and result.username == extra[0]
    with _connect(_creds(manager)) as conn:
        assert _count_items(conn) == 2


def summary_of(run) -> str:
    match = re.search(r"Summarise the rotation\] \*+\s*\n(?:task path: .*\n)?ok: \[localhost\] => (\{.*?\n\})", run.stdout, re.S)
    assert match, run.output[-3000:]
    return "\n".join(json.loads(match.group(1))["msg"])


def test_database_rotation_through_the_role(tmp_path, postgres_app):
    """rotate.yml end to end: first run creates the JSON secret, a named run switches roles and drains
    (nothing secret in -vvvv output), a scheduled run then changes nothing."""
    env = state_env(tmp_path)
    manager = factory.build_manager({"provider": "local", "local_path": str(tmp_path / "data" / "vibebox" / "secrets.db"),
                                     "audit_log": "false", "cache_ttl": 0}, env={})
    db = {
        "rotate_db_login_host": postgres_app.server.host,
        "rotate_db_login_port": postgres_app.server.port,
        "rotate_db_login_user": postgres_app.server.user,
        "rotate_db_login_password": postgres_app.server.password,
        "rotate_db_name": postgres_app.dbname,
        "rotate_db_roles": postgres_app.roles,
        "rotate_db_verify_query": "SELECT count(*) FROM items",
        "rotate_db_drain_timeout": "1s",
    }
    first = run_playbook(ROTATE, env, "-e", "rotate_secret=database-password", extra_vars=db)
    assert first.rc == 0, first.output
    assert f"created as version 1 for role {postgres_app.roles[0]}" in summary_of(first)
    old = json.loads(manager.get("database-password", bypass_cache=True).value)
    client = postgres_app.connect_as(old["username"], old["password"])

    second = run_playbook(ROTATE, env, "-vvvv", "-e", "rotate_secret=database-password", extra_vars=db)
    assert second.rc == 0, second.output
    new = json.loads(manager.get("database-password", bypass_cache=True).value)
    assert new["username"] == postgres_app.roles[1]
    summary = summary_of(second)
    assert f"switched from role {postgres_app.roles[0]} to {postgres_app.roles[1]}" in summary
    assert "1 session(s) at the switch, 1 terminated after the drain timeout (1s), 0 left" in summary
    for secret in (old["password"], new["password"], postgres_app.server.password):
        assert secret not in second.output
    assert postgres_app.sessions_of(old["username"]) == 0
    client.close()
    with postgres_app.connect_as(new["username"], new["password"]) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2

    scheduled = run_playbook(ROTATE, env, extra_vars=db)
    assert scheduled.rc == 0, scheduled.output
    assert "database-password: not due" in summary_of(scheduled)
