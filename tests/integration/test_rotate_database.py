"""database-password rotation against a real PostgreSQL 15: the secret and the role change together,
failures put both back, two runs at once rotate once, and one secret format serves every consumer.

The secret lives in the local store; the database is the session's real server, with a fresh
database, group role and login role per test. Where a test must act while a rotation is half-way,
a step of the admin connection is wrapped so that the rotation pauses there until the test has
done what it wants (checked through pg_locks, never by waiting a fixed time).
"""
from __future__ import annotations

import datetime
import json
import os
import re
import socket
import threading
import time
from urllib.parse import quote

import psycopg
import pytest
import yaml
from psycopg import sql

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationFailed, RotationPolicy, Rotator
from ansible_collections.vibebox.secrets.plugins.module_utils.postgres import PostgresAdmin, SingleRole, lock_key
from ansible_run import REPO, run_playbook, state_env, write_playbook

NAME = "database-password"
ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
MIGRATE = os.path.join(REPO, "playbooks", "migrate.yml")
VERIFY = "SELECT count(*) FROM items"


def _admin(app, user: str = "", password: str = "") -> PostgresAdmin:
    return PostgresAdmin(dict(host=app.server.host, port=app.server.port, user=user or app.server.user,
                              password=password or app.server.password, dbname="postgres", connect_timeout=5))


def _strategy(app, manager, admin=None, **kwargs) -> SingleRole:
    kwargs.setdefault("verify_query", VERIFY)
    return SingleRole(Rotator(manager), admin or _admin(app), app.role, app.dbname, **kwargs)


def _run(app, manager, policy=None, admin=None, create=False, **kwargs):
    return _run_closing(_strategy(app, manager, admin, **kwargs), policy, create=create)


def _run_closing(strategy: SingleRole, policy=None, **kwargs):
    """One run of ``strategy``, its admin connection closed however the run ends."""
    try:
        return strategy.run(NAME, policy or RotationPolicy(), **kwargs)
    finally:
        strategy.admin.close()


def _health_check_fails(strategy: SingleRole) -> SingleRole:
    """The application's login with the new password fails, so the rotation rolls back."""
    def login_with_secret_fails(_secret):
        raise psycopg.OperationalError("the application's health check failed")

    strategy._verify_secret = login_with_secret_fails
    return strategy


def _value(manager, version=None) -> str:
    return manager.get(NAME, version=version, bypass_cache=True).value


def _logs_in(app, password: str) -> bool:
    try:
        with psycopg.connect(app.url(password), autocommit=True, connect_timeout=5) as conn:
            return conn.execute(VERIFY).fetchone()[0] == 2
    except psycopg.OperationalError:
        return False


def _seed(app, manager, password: str = "Seed0Password0From0Env0File") -> str:
    """The state after a migration: the role has a password and the secret holds exactly that."""
    app.set_password(password)
    manager.set(NAME, password)
    return password


def test_rotation_changes_the_role_password_and_the_bare_secret_together(postgres_app, local_manager):
    manager = local_manager()
    old = _seed(postgres_app, manager)
    open_session = psycopg.connect(postgres_app.url(old), autocommit=True, connect_timeout=5)
    result = _run(postgres_app, manager)
    new = _value(manager)
    assert result.rotation.rotated and result.username == postgres_app.role
    assert new != old and not new.startswith("{") and len(new) == 32 and new.isalnum()
    assert _logs_in(postgres_app, new) and not _logs_in(postgres_app, old)
    assert open_session.execute(VERIFY).fetchone()[0] == 2, "a session opened with the old password was cut"
    assert result.sessions_before == 1
    open_session.close()
    assert _value(manager, "previous") == old  # kept for a rollback


def test_a_verify_failure_before_the_write_gives_the_old_password_back(postgres_app, local_manager):
    manager = local_manager()
    old = _seed(postgres_app, manager)
    with pytest.raises(RotationFailed) as caught:
        _run(postgres_app, manager, verify_query="SELECT * FROM no_such_table")
    assert "the secret was not changed" in str(caught.value) and "has its old password again" in str(caught.value)
    assert _value(manager) == old and manager.describe(NAME).version == "1"
    assert _logs_in(postgres_app, old)


def test_a_secret_whose_expiry_has_passed_is_refused_before_the_role_password_changes(postgres_app, local_manager):
    """The rotation keeps the secret's expiry, so a past one is refused - before ALTER ROLE, and in check mode
    too: refused only when the secret was written, the role had a new password that nobody held until it got
    the old one back, and the hint named expires_in, which postgres_rotate does not take."""
    manager = local_manager()
    old = _seed(postgres_app, manager)
    manager.set_expiry(NAME, datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1))
    admin = _admin(postgres_app)
    changed = []
    set_password = admin.set_password

    def recorded(role, password):
        changed.append(role)
        return set_password(role, password)

    admin.set_password = recorded
    a_week_later = Rotator(manager, clock=lambda: time.time() + 7 * 86400)
    strategy = SingleRole(a_week_later, admin, postgres_app.role, postgres_app.dbname, verify_query=VERIFY)
    try:
        for check_mode in (True, False):
            with pytest.raises(errors.InvalidOption, match="expired at") as caught:
                strategy.run(NAME, RotationPolicy(), check_mode=check_mode)
            assert "expires_in" not in caught.value.hint and "vibebox.secrets.secret" in caught.value.hint
    finally:
        admin.close()
    assert changed == [], "the role's password was changed for a rotation that was refused"
    assert _value(manager) == old and manager.describe(NAME).version == "1" and _logs_in(postgres_app, old)


@pytest.mark.parametrize("superuser", [True, False], ids=["stored-hash-restored", "old-password-set-again"])
def test_a_failure_after_the_write_rolls_back_the_secret_and_the_password(postgres_app, local_manager, superuser):
    """With a superuser the role's stored hash is put back; an admin that may not read pg_authid
    (CREATEROLE only) sets the old password from the secret again. Either way the old pair works."""
    manager = local_manager()
    old = _seed(postgres_app, manager)
    admin = None
    if not superuser:
        rotator_role = f"rotator_{postgres_app.role}"
        with postgres_app.admin_connection("postgres") as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'rotator-pw'").format(sql.Identifier(rotator_role)))
        postgres_app.extra.setdefault("roles", []).append(rotator_role)
        admin = _admin(postgres_app, rotator_role, "rotator-pw")
    with pytest.raises(RotationFailed) as caught:
        _run_closing(_health_check_fails(_strategy(postgres_app, manager, admin)))
    assert caught.value.rolled_back
    assert "has its old password again" in str(caught.value) or "has the password the secret holds again" in str(caught.value)
    assert _value(manager) == old and manager.describe(NAME).version == "3"
    assert _logs_in(postgres_app, old)


def _stopped_after_setting_the_password(app, manager) -> str:
    """Run a rotation that is stopped (as a cancelled job is) right after it set the role's password, before
    it wrote the secret: the role is left with a password that no one has. Returns that password."""
    strategy = _strategy(app, manager)
    set_password, left = strategy.admin.set_password, []

    def set_then_stop(role, password):
        set_password(role, password)
        left.append(password)
        raise KeyboardInterrupt  # the job was cancelled here

    strategy.admin.set_password = set_then_stop
    with pytest.raises(KeyboardInterrupt):
        _run_closing(strategy)
    return left[0]


def test_a_run_stopped_between_the_password_and_the_secret_is_reported_then_repaired(postgres_app, local_manager):
    """The secret still holds the old password and the role has another one: applications cannot log in.
    A scheduled run that is not due says so (a failure naming the disagreement) instead of reporting nothing
    to do, in check mode too; a rotation gives both one new password and warns what it found."""
    manager = local_manager()
    old = _seed(postgres_app, manager)
    _stopped_after_setting_the_password(postgres_app, manager)
    assert not _logs_in(postgres_app, old) and _value(manager) == old
    scheduled = RotationPolicy.from_options("90d")
    for check_mode in (False, True):
        with pytest.raises(errors.SecretError) as caught:
            _run_closing(_strategy(postgres_app, manager), scheduled, check_mode=check_mode)
        assert "disagree" in str(caught.value) and "version 1" in str(caught.value), caught.value
        assert old not in str(caught.value) and old not in str(caught.value.hint)
    assert manager.describe(NAME).version == "1"

    preview = _run_closing(_strategy(postgres_app, manager), check_mode=True)
    assert preview.rotation.due and any("disagree" in warning for warning in preview.rotation.warnings)
    repaired = _run(postgres_app, manager)
    assert repaired.rotation.rotated and any("disagree" in warning for warning in repaired.rotation.warnings)
    assert _logs_in(postgres_app, _value(manager))
    assert _run(postgres_app, manager, policy=scheduled).rotation.rotated is False


def test_a_failed_rotation_after_a_disagreement_leaves_the_role_on_the_secrets_password(postgres_app, local_manager):
    """Giving the role 'its old password back' must mean the password the secret holds: the stored hash
    from before the rotation is the unpublished one a stopped run left, and restoring it keeps the outage."""
    manager = local_manager()
    old = _seed(postgres_app, manager)
    _stopped_after_setting_the_password(postgres_app, manager)
    with pytest.raises(RotationFailed) as caught:
        _run_closing(_health_check_fails(_strategy(postgres_app, manager)))
    assert caught.value.rolled_back and "has the password the secret holds again" in str(caught.value)
    assert _value(manager) == old and _logs_in(postgres_app, old)


def _stored_hash(app) -> str:
    with app.admin_connection("postgres") as conn:
        return conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (app.role,)).fetchone()[0]


def test_a_login_refused_for_another_reason_than_the_password_is_no_disagreement(postgres_app, local_manager):
    """The role takes the password the secret holds, but the server turns the login away for another reason
    (here the role's CONNECTION LIMIT is used up, as a full application pool does): no run may say that the
    database and the secret disagree and send the operator to rotate, and a due rotation changes nothing."""
    manager = local_manager()
    old = _seed(postgres_app, manager)
    with postgres_app.admin_connection("postgres") as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(sql.Identifier(postgres_app.role)))
    stored = _stored_hash(postgres_app)
    for policy, check_mode in ((RotationPolicy.from_options("90d"), False), (RotationPolicy(), True),
                               (RotationPolicy(), False)):
        with pytest.raises(errors.SecretError) as caught:
            _run_closing(_strategy(postgres_app, manager), policy, check_mode=check_mode)
        message = str(caught.value) + str(caught.value.hint)
        assert "too many connections" in message and "CONNECTION LIMIT" in message, message
        assert "disagree" not in message and "rotate now" not in message, message
        assert old not in message
    assert manager.describe(NAME).version == "1" and _stored_hash(postgres_app) == stored
    with postgres_app.admin_connection("postgres") as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(sql.Identifier(postgres_app.role)))
    assert _logs_in(postgres_app, old)


def test_a_role_that_does_not_exist_is_named_as_such_not_as_a_disagreement(postgres_app, local_manager):
    """A secret whose login role is gone (dropped, or the role option names another): the run that is not due
    says the role does not exist, not that its password disagrees with the secret."""
    manager = local_manager()
    _seed(postgres_app, manager)
    strategy = SingleRole(Rotator(manager), _admin(postgres_app), f"nobody_{postgres_app.role}", postgres_app.dbname)
    with pytest.raises(errors.SecretError) as caught:
        _run_closing(strategy, RotationPolicy.from_options("90d"))
    assert "does not exist" in str(caught.value) and "create_role" in str(caught.value)
    assert "disagree" not in str(caught.value) and manager.describe(NAME).version == "1"


def test_a_server_that_cannot_be_reached_is_named_as_such_not_as_a_disagreement(postgres_app, local_manager):
    manager = local_manager()
    _seed(postgres_app, manager)
    with socket.socket() as probe:  # a port that nothing listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        admin = PostgresAdmin(dict(host="127.0.0.1", port=probe.getsockname()[1], user=postgres_app.server.user,
                                   password=postgres_app.server.password, dbname="postgres", connect_timeout=5))
        with pytest.raises(errors.SecretError) as caught:
            _run_closing(_strategy(postgres_app, manager, admin), RotationPolicy.from_options("90d"))
    assert "cannot connect as the admin user" in str(caught.value) and "disagree" not in str(caught.value)


def _waiting_for_lock(app, key: int) -> bool:
    """Whether a session waits for the advisory lock ``key`` (a bigint key is classid:objid in pg_locks)."""
    with app.admin_connection("postgres") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid::bigint = %s AND objid::bigint = %s",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
    return row[0] > 0


def test_two_rotations_at_the_same_moment_rotate_once(postgres_app, local_manager):
    """Run A holds the lock half-way (password set, secret not yet written); run B reads the same
    version and waits for the lock; when A finishes, B reports it and changes nothing."""
    manager = local_manager()
    _seed(postgres_app, manager)
    run_a, run_b = _strategy(postgres_app, local_manager()), _strategy(postgres_app, local_manager())
    half_way, go_on = threading.Event(), threading.Event()
    set_password = run_a.admin.set_password

    def pause_after_setting(role, password):
        set_password(role, password)
        half_way.set()
        assert go_on.wait(60)

    run_a.admin.set_password = pause_after_setting
    results = {}

    def rotate(label, strategy):
        try:
            results[label] = strategy.run(NAME, RotationPolicy())
        except BaseException as exc:  # reported by the main thread
            results[label] = exc
        finally:
            strategy.admin.close()

    first = threading.Thread(target=rotate, args=("a", run_a))
    first.start()
    assert half_way.wait(60)
    second = threading.Thread(target=rotate, args=("b", run_b))
    second.start()
    deadline = time.monotonic() + 60
    while not _waiting_for_lock(postgres_app, lock_key(NAME)):
        assert time.monotonic() < deadline and "b" not in results, results.get("b")
        time.sleep(0.05)
    go_on.set()
    first.join(60)
    second.join(60)
    a, b = results["a"], results["b"]
    assert not isinstance(a, BaseException) and not isinstance(b, BaseException), (a, b)
    assert a.rotation.rotated and not b.rotation.rotated and b.rotation.already_rotated
    assert "already rotated at" in b.rotation.reason and "by another run" in b.rotation.reason
    assert manager.describe(NAME).version == "2"
    assert _logs_in(postgres_app, _value(manager))


def test_missing_secret_role_and_old_document_are_refused_before_any_change(postgres_app, local_manager):
    manager = local_manager()
    with pytest.raises(errors.SecretNotFound) as caught:
        _run(postgres_app, manager)
    assert "set create: true" in str(caught.value)
    created = _run(postgres_app, manager, create=True)
    assert created.rotation.rotated and _logs_in(postgres_app, _value(manager))

    document = json.dumps({"username": postgres_app.role, "password": "x", "url": "postgresql://..."})
    manager.set(NAME, document)
    with pytest.raises(errors.InvalidOption) as caught:
        _run(postgres_app, manager)
    assert "JSON document" in str(caught.value) and postgres_app.role in str(caught.value)
    assert _value(manager) == document

    manager.set(NAME, "whatever-it-was")
    missing_role = SingleRole(Rotator(manager), _admin(postgres_app), f"nobody_{postgres_app.role}", postgres_app.dbname)
    try:
        with pytest.raises(errors.SecretError) as caught:
            missing_role.run(NAME, RotationPolicy())
    finally:
        missing_role.admin.close()
    assert "does not exist" in str(caught.value) and "create_role" in str(caught.value)
    assert _value(manager) == "whatever-it-was"


# --- one format for every consumer ---------------------------------------------------------------
CONSUMERS = """
- name: What applications read, through each consumer of the collection
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    options: {provider: local, local_path: "{{ store }}", audit_log: false}
  tasks:
    - name: Resolve the rewritten .env file and the connection string template, and read with the lookup
      ansible.builtin.copy:
        dest: "{{ out }}"
        mode: "0600"
        content: "{{ {'dotenv': lookup('vibebox.secrets.dotenv', env_file, **options),
                      'url_template': lookup('vibebox.secrets.dotenv', url_file, **options),
                      'filter': url_text | vibebox.secrets.resolve(**options),
                      'lookup': lookup('vibebox.secrets.get', 'database-password', **options)} | to_json }}"
      no_log: true
"""


def _external_secret(manifest_text: str, target: str) -> dict:
    for document in yaml.safe_load_all(manifest_text):
        if document and document.get("kind") == "ExternalSecret" and document["spec"]["target"]["name"] == target:
            return document
    raise AssertionError(f"no ExternalSecret for {target}")


def _as_the_operator(document: dict, manager) -> dict:
    """What the External Secrets Operator puts into the target Secret: each remoteRef fetched (the key
    is the provider name; the local store has no prefix here), then the v2 template, of which these
    manifests use only ``{{ index . "KEY" }}`` and ``| urlquery``."""
    fetched = {item["secretKey"]: manager.get(item["remoteRef"]["key"], bypass_cache=True).value
               for item in document["spec"]["data"]}
    out = dict(fetched)

    def render(text: str) -> str:
        def one(match):
            value = fetched[match.group(1)]
            return quote(value, safe="") if match.group(2) else value
        return re.sub(r'\{\{ index \. "([^"]+)"( \| urlquery)? \}\}', one, text)

    for key, text in ((document["spec"]["target"].get("template") or {}).get("data") or {}).items():
        out[key] = render(text)
    return out


def test_one_database_secret_format_serves_every_consumer_across_rotations(tmp_path, postgres_app):
    """Migrate a .env file, then rotate twice with rotate.yml: after the migration and after each
    rotation, the rewritten .env (dotenv lookup), a connection string template (dotenv and the resolve
    filter), the get lookup and the External Secrets manifests all give a password that logs in."""
    env = state_env(tmp_path)
    store = str(tmp_path / "data" / "vibebox" / "secrets.db")
    manager = factory.build_manager({"provider": "local", "local_path": store, "audit_log": "false", "cache_ttl": 0},
                                    env={})
    first_password = "Migrated0From0The0Env0File"
    postgres_app.set_password(first_password)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"DATABASE_USER={postgres_app.role}\nDATABASE_PASSWORD={first_password}\n")
    template = "postgresql://" + postgres_app.role + ":${secret:database-password}@" \
        + f"{postgres_app.server.host}:{postgres_app.server.port}/{postgres_app.dbname}"
    url_file = tmp_path / "url.env"
    url_file.write_text(f"DATABASE_URL={template}\n")

    migrated = run_playbook(MIGRATE, env, extra_vars={
        "env_file": str(env_file), "provider": "local", "local_path": store,
        "migrate_include": ["DATABASE_PASSWORD"], "migrate_rewrite_env": True,
        "migrate_backup_dir": str(tmp_path / "backups"), "migrate_backup_key_file": str(tmp_path / "backup.key")})
    assert migrated.rc == 0, migrated.output[-4000:]
    assert "DATABASE_PASSWORD=${secret:database-password}" in env_file.read_text()

    manifests = tmp_path / "eso"
    rendered = run_playbook(write_playbook(tmp_path, """
- name: Render the External Secrets manifests
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: vibebox.secrets.external_secrets
""", "eso.yml"), env, extra_vars={
        "external_secrets_provider": "aws", "external_secrets_aws_region": "eu-west-1", "external_secrets_prefix": "",
        "external_secrets_output_dir": str(manifests),
        "external_secrets_database_user": postgres_app.role, "external_secrets_database_host": postgres_app.server.host,
        "external_secrets_database_port": postgres_app.server.port,
        "external_secrets_database_name": postgres_app.dbname})
    assert rendered.rc == 0, rendered.output[-4000:]
    database = _external_secret((manifests / "external-secrets.yaml").read_text(), "vibebox-database")

    consumers = write_playbook(tmp_path, CONSUMERS, "consumers.yml")
    db = {
        "provider": "local", "local_path": store,
        "rotate_db_login_host": postgres_app.server.host, "rotate_db_login_port": postgres_app.server.port,
        "rotate_db_login_user": postgres_app.server.user, "rotate_db_login_password": postgres_app.server.password,
        "rotate_db_name": postgres_app.dbname, "rotate_db_role": postgres_app.role, "rotate_db_verify_query": VERIFY,
    }
    seen = []
    for step in ("after the migration", "after the first rotation", "after the second rotation"):
        if step != "after the migration":
            rotated = run_playbook(ROTATE, env, "-e", "rotate_secret=database-password", extra_vars=db)
            assert rotated.rc == 0, rotated.output[-4000:]
            assert f"new password for role {postgres_app.role}" in rotated.stdout
        out = tmp_path / "consumers.json"
        read = run_playbook(consumers, env, extra_vars={
            "store": store, "out": str(out), "env_file": str(env_file), "url_file": str(url_file), "url_text": template})
        assert read.rc == 0, read.output[-4000:]
        got = json.loads(out.read_text())
        out.unlink()
        current = _value(manager)
        operator = _as_the_operator(database, manager)
        urls = {
            "dotenv (.env rewritten by the migration)": postgres_app.url(got["dotenv"]["DATABASE_PASSWORD"]),
            "dotenv (connection string template)": got["url_template"]["DATABASE_URL"],
            "resolve filter": got["filter"],
            "get lookup": postgres_app.url(got["lookup"]),
            "External Secrets DATABASE_URL": operator["DATABASE_URL"],
            "External Secrets DATABASE_PASSWORD": postgres_app.url(operator["DATABASE_PASSWORD"]),
        }
        for consumer, url in urls.items():
            assert url == postgres_app.url(current), f"{consumer} {step} does not give the current password"
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                assert conn.execute(VERIFY).fetchone()[0] == 2, f"{consumer} {step}"
        seen.append(current)
    assert seen[0] == first_password and len(set(seen)) == 3
    assert not _logs_in(postgres_app, first_password)
