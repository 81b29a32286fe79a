"""Migration logic over a real local store in a temporary folder: plan, backup, apply, validate,
rewrite, rollback, and the safety rules (no write without a backup, no overwrite of other people's
changes, no value in any result or message)."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
import time

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as backup_mod
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core import migration as mig
from ansible_collections.vibebox.secrets.plugins.module_utils.core import step_summaries
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderUnavailable
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ReadOnlyProvider, SecretNotFound
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import TAG_ROTATED_AT

CANARY = "CANARY-m1gr4te"
ENV = (
    "# settings\n"
    "APP_NAME=demo\n"
    f"export DATABASE_PASSWORD='{CANARY}-db'\n"
    f'JWT_SECRET="{CANARY}-jwt"  # signing key\n'
    f"API_KEY={CANARY}-api\n"
    "EMPTY=\n"
    "SENTRY_DSN=${env:SENTRY_DSN:-}\n"
    "DB_URL=postgres://app:${secret:database-password}@db/app\n"
    "ESCAPED=$${not-a-reference}\n"
)


@pytest.fixture
def world(tmp_path):
    """A .env file, a local store manager, a backup folder and key."""
    env_file = tmp_path / "app.env"
    env_file.write_text(ENV)
    os.chmod(env_file, 0o640)
    options = {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
               "local_key_file": str(tmp_path / "store" / "secrets.key"), "audit_log": "false"}

    class World:
        path = str(env_file)
        folder = str(tmp_path / "backups")
        key = backup_mod.BackupKey.load(key_file=str(tmp_path / "backup.key"), create=True, env={})

        @staticmethod
        def manager():
            return factory.build_manager(options, env={})

        @staticmethod
        def settings(**extra):
            return mig.Settings(env_file=str(env_file), exclude=["APP_NAME"], **extra)

    return World()


def actions(plan):
    return {row.key: row.action for row in plan.rows}


def migrate(world, **settings):
    """The role's migrate action in Python: plan, backup, apply; returns (plan, backup path)."""
    manager = world.manager()
    plan = mig.make_plan(manager, world.settings(**settings))
    path = mig.write_backup(plan, world.folder, world.key, identity=manager.backend.identity()) if plan.changed else None
    saved = backup_mod.read(path, world.key) if path else None
    mig.apply(manager, plan, world.settings(**settings), saved)
    return plan, path


def no_canary(obj):
    assert CANARY not in json.dumps(obj, default=str)


# plan ----------------------------------------------------------------------------------------

def test_plan_actions_names_and_skips(world):
    manager = world.manager()
    manager.set("jwt-secret", "old")
    manager.set("api-key", f"{CANARY}-api")
    plan = mig.make_plan(manager, world.settings())
    assert actions(plan) == {
        "APP_NAME": "skip", "DATABASE_PASSWORD": "create", "JWT_SECRET": "update", "API_KEY": "unchanged",
        "EMPTY": "skip", "SENTRY_DSN": "skip", "DB_URL": "skip", "ESCAPED": "create",
    }
    rows = {row.key: row for row in plan.rows}
    assert rows["DATABASE_PASSWORD"].name == "database-password" and rows["DATABASE_PASSWORD"].line == 3
    assert rows["APP_NAME"].reason.startswith("excluded")
    assert rows["EMPTY"].reason == "empty value"
    assert rows["DB_URL"].reason == rows["SENTRY_DSN"].reason == "already a reference"
    assert plan.counts() == {"create": 2, "update": 1, "unchanged": 1, "skip": 4, "blocked": 0}
    no_canary(plan.to_dict())
    assert CANARY not in repr(plan)


def test_escaped_dollar_is_migrated_as_the_lookup_reads_it(world):
    migrate(world)
    assert world.manager().get("escaped").value == "${not-a-reference}"
    assert world.manager().get("database-password").value == f"{CANARY}-db"
    assert world.manager().get("jwt-secret").value == f"{CANARY}-jwt"


def test_include_exclude_and_name_map(world):
    plan = mig.make_plan(world.manager(), mig.Settings(
        env_file=world.path, include=["*_PASSWORD", "API_*"], exclude=["API_*"],
        name_map={"DATABASE_PASSWORD": "db/primary"}))
    migrated = [(row.key, row.name) for row in plan.rows if row.action != "skip"]
    assert migrated == [("DATABASE_PASSWORD", "db/primary")]


def test_shared_names_invalid_names_and_deleted_secrets_are_blocked(world):
    manager = world.manager()
    manager.set("jwt-secret", "old")
    manager.delete("jwt-secret")  # soft delete: scheduled for deletion
    plan = mig.make_plan(manager, world.settings(name_map={"API_KEY": "database-password", "ESCAPED": "bad name"}))
    rows = {row.key: row for row in plan.rows}
    assert rows["API_KEY"].action == rows["DATABASE_PASSWORD"].action == "blocked"
    assert "map to the same secret" in rows["API_KEY"].reason
    assert rows["ESCAPED"].action == "blocked" and "may contain only" in rows["ESCAPED"].reason
    assert rows["JWT_SECRET"].action == "blocked" and "scheduled for deletion" in rows["JWT_SECRET"].reason
    with pytest.raises(mig.MigrationError, match="blocked keys"):
        mig.apply(manager, plan, world.settings(), None)


def test_read_only_provider_and_missing_file(world, tmp_path):
    env_manager = factory.build_manager({"provider": "env", "audit_log": "false"}, env={})
    with pytest.raises(ReadOnlyProvider):
        mig.make_plan(env_manager, world.settings())
    with pytest.raises(mig.MigrationError, match="does not exist"):
        mig.make_plan(world.manager(), mig.Settings(env_file=str(tmp_path / "nope.env")))


def test_plan_with_keys_and_unknown_keys(world):
    plan = mig.make_plan(world.manager(), world.settings(), keys=["API_KEY"])
    assert [row.key for row in plan.rows] == ["API_KEY"]
    with pytest.raises(mig.MigrationError, match="not in"):
        mig.make_plan(world.manager(), world.settings(), keys=["NOPE"])


# backup --------------------------------------------------------------------------------------

def test_backup_file_mode_header_and_content(world):
    manager = world.manager()
    manager.set("jwt-secret", "old-jwt", description="kept", tags={"team": "a"})
    plan = mig.make_plan(manager, world.settings())
    path = mig.write_backup(plan, world.folder, world.key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(world.folder).st_mode) == 0o700
    assert os.path.basename(path).startswith("migrate-app.env-") and path.endswith(".backup")
    raw = open(path, "rb").read()
    assert CANARY.encode() not in raw and b"old-jwt" not in raw
    header = backup_mod.read_header(path).header
    assert header["provider"] == "local" and header["env_file"] == world.path
    assert {entry["key"]: entry["action"] for entry in header["entries"]} == {
        "DATABASE_PASSWORD": "create", "JWT_SECRET": "update", "API_KEY": "create", "ESCAPED": "create"}
    saved = backup_mod.read(path, world.key)
    entries = {entry["key"]: entry for entry in saved.entries}
    assert entries["JWT_SECRET"]["previous"] == {"value": "old-jwt", "version": "1", "description": "kept",
                                                 "tags": {"team": "a"}}
    assert entries["API_KEY"]["previous"] is None
    assert saved.env_bytes() == ENV.encode() and saved.env["mode"] == 0o640
    assert CANARY not in repr(saved)


def test_backup_refuses_wrong_key_and_tampering(world, tmp_path):
    plan = mig.make_plan(world.manager(), world.settings())
    path = mig.write_backup(plan, world.folder, world.key)
    other = backup_mod.BackupKey(os.urandom(32), "test")
    with pytest.raises(backup_mod.BackupError, match="another key"):
        backup_mod.read(path, other)
    lines = open(path, "rb").read().split(b"\n")
    lines[1] = lines[1].replace(b'"provider":"local"', b'"provider":"aws"')  # the clear header is authenticated too
    open(path, "wb").write(b"\n".join(lines))
    with pytest.raises(backup_mod.BackupError, match="changed or damaged"):
        backup_mod.read(path, world.key)


def test_backup_key_sources(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    assert backup_mod.BackupKey.load(key=key).source == "the backup_key option"
    assert backup_mod.BackupKey.load(env={"VIBEBOX_BACKUP_KEY": key}).key == base64.b64decode(key)
    with pytest.raises(backup_mod.BackupError, match="no backup key"):
        backup_mod.BackupKey.load(key_file=str(tmp_path / "absent.key"), env={})
    made = backup_mod.BackupKey.load(key_file=str(tmp_path / "k" / "backup.key"), create=True, env={})
    assert stat.S_IMODE(os.stat(tmp_path / "k" / "backup.key").st_mode) == 0o600
    assert backup_mod.BackupKey.load(key_file=str(tmp_path / "k" / "backup.key"), env={}).key == made.key
    with pytest.raises(Exception, match="not 32 bytes"):
        backup_mod.BackupKey.load(key="c2hvcnQ=")


def test_latest_backup_per_env_file(world, tmp_path):
    plan = mig.make_plan(world.manager(), world.settings())
    first = mig.write_backup(plan, world.folder, world.key)
    second = mig.write_backup(plan, world.folder, world.key)
    assert backup_mod.latest(world.folder) == second != first
    assert backup_mod.latest(world.folder, world.path) == second
    with pytest.raises(backup_mod.BackupError, match="no migration backup"):
        backup_mod.latest(world.folder, str(tmp_path / "other.env"))
    with pytest.raises(backup_mod.BackupError, match="no migration backup"):
        backup_mod.latest(str(tmp_path / "empty"))


# apply / validate ----------------------------------------------------------------------------

def test_apply_needs_a_backup_and_a_second_run_changes_nothing(world):
    manager = world.manager()
    plan = mig.make_plan(manager, world.settings())
    with pytest.raises(mig.MigrationError, match="without a backup"):
        mig.apply(manager, plan, world.settings(), None)
    assert mig.apply(manager, plan, world.settings(), None, check_mode=True)
    with pytest.raises(SecretNotFound):
        manager.get("api-key")
    plan, path = migrate(world, tags={"managed-by": "test"})
    assert path
    meta = world.manager().describe("api-key")
    assert meta.description == "Migrated from app.env (API_KEY)" and meta.tags == {"managed-by": "test"}
    again = mig.make_plan(world.manager(), world.settings())
    assert not again.changed and again.counts()["unchanged"] == 4
    assert all(item["status"] == "ok" for item in mig.validate(world.manager(), again))


def test_apply_refuses_a_backup_that_no_longer_matches(world):
    manager = world.manager()
    manager.set("jwt-secret", "old")
    plan = mig.make_plan(manager, world.settings())
    saved = backup_mod.read(mig.write_backup(plan, world.folder, world.key), world.key)
    manager.set("jwt-secret", "changed meanwhile")
    fresh = mig.make_plan(manager, world.settings())
    with pytest.raises(mig.MigrationError, match="changed or removed by somebody else"):
        mig.apply(manager, fresh, world.settings(), saved)
    assert manager.get("jwt-secret", bypass_cache=True).value == "changed meanwhile"
    with pytest.raises(SecretNotFound):
        manager.get("api-key")


def test_apply_refuses_a_file_edited_after_the_backup(world):
    """The backup holds the values planned when it was taken: a write of another value would leave a run whose
    own rollback takes every such secret for somebody else's change."""
    manager = world.manager()
    plan = mig.make_plan(manager, world.settings())
    saved = backup_mod.read(mig.write_backup(plan, world.folder, world.key), world.key)
    with open(world.path, "w") as handle:
        handle.write(ENV.replace(f"API_KEY={CANARY}-api", f"API_KEY={CANARY}-edited"))
    fresh = mig.make_plan(manager, world.settings())
    with pytest.raises(mig.MigrationError, match="API_KEY has another value in .* than when the backup was taken") as caught:
        mig.apply(manager, fresh, world.settings(), saved)
    assert CANARY not in str(caught.value)
    assert manager.list() == []


def test_validate_reports_mismatch_and_missing_without_values(world):
    migrate(world)
    manager = world.manager()
    manager.set("api-key", "tampered")
    manager.delete("jwt-secret", force=True)
    plan = mig.make_plan(manager, world.settings())
    results = {item["key"]: item["status"] for item in mig.validate(manager, plan, references=True)}
    assert results["API_KEY"] == "mismatch" and results["JWT_SECRET"] == "missing"
    assert results["DATABASE_PASSWORD"] == "ok" and results["DB_URL"] == "ok"  # the reference resolves
    no_canary(mig.validate(manager, plan, references=True))


def _counting(manager, reads):
    """The manager, recording each name it is asked to read (the plan's reads and the validation's)."""
    observe_many, get_many = manager.observe_many, manager.get_many
    manager.observe_many = lambda wanted: reads.extend(item[0] for item in wanted) or observe_many(wanted)
    manager.get_many = lambda names, **kw: reads.extend(names) or get_many(names, **kw)
    return manager


def test_the_validation_of_the_same_run_reads_back_only_what_its_apply_did_not_write(world):
    world.manager().set("api-key", f"{CANARY}-api")  # unchanged: this run does not write it
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    written = mig.run_writes(world.manager(), saved, world.path)
    assert set(written) == {"database-password", "jwt-secret", "escaped"}
    assert all(item.version for item in written.values())
    assert CANARY not in repr(written)
    reads = []
    manager = _counting(world.manager(), reads)
    plan = mig.make_plan(manager, world.settings(), written=written)
    assert plan.counts()["unchanged"] == 4 and not plan.changed
    assert [item["status"] for item in mig.validate(manager, plan)] == ["ok"] * 4
    assert reads == ["api-key"]
    # without what the run wrote (the standalone validation) every secret is read back
    del reads[:]
    mig.validate(manager, mig.make_plan(manager, world.settings()))
    assert sorted(reads) == ["api-key", "database-password", "escaped", "jwt-secret"]
    # a value of the .env file that is no longer the one written is read, and its mismatch reported
    with open(world.path, "r+", encoding="utf-8") as handle:
        text = handle.read().replace(f"{CANARY}-jwt", "edited-after-the-apply")
        handle.seek(0)
        handle.truncate()
        handle.write(text)
    del reads[:]
    plan = mig.make_plan(manager, world.settings(), written=written)
    assert sorted(reads) == ["api-key", "jwt-secret"]
    assert {item["key"]: item["status"] for item in mig.validate(manager, plan)}["JWT_SECRET"] == "mismatch"


def test_no_write_is_reused_without_a_version_after_a_rollback_or_from_another_file(world, tmp_path):
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    backup_mod.record_event(path, "written", name="escaped", version=None)  # answered without a version
    assert "escaped" not in mig.run_writes(world.manager(), saved, world.path)
    with pytest.raises(mig.MigrationError, match="not of"):
        mig.run_writes(world.manager(), saved, str(tmp_path / "other.env"))
    backup_mod.record_event(path, "rollback-incomplete")
    assert mig.run_writes(world.manager(), saved, world.path) == {}


# rewrite -------------------------------------------------------------------------------------

def test_rewrite_only_after_the_secrets_hold_the_values(world):
    manager = world.manager()
    plan = mig.make_plan(manager, world.settings(rewrite_env=True))
    assert plan.env_changes
    with pytest.raises(mig.MigrationError, match="not rewriting"):
        mig.rewrite_env(manager, plan)
    assert open(world.path).read() == ENV
    migrate(world, rewrite_env=True)
    plan = mig.make_plan(world.manager(), world.settings(rewrite_env=True))
    assert mig.rewrite_env(world.manager(), plan) is True
    text = open(world.path).read()
    assert CANARY not in text
    assert "export DATABASE_PASSWORD=${secret:database-password}\n" in text
    assert 'JWT_SECRET=${secret:jwt-secret}  # signing key\n' in text
    assert "APP_NAME=demo\n" in text and text.startswith("# settings\n")
    assert stat.S_IMODE(os.stat(world.path).st_mode) == 0o640
    again = mig.make_plan(world.manager(), world.settings(rewrite_env=True))
    assert not again.changed and set(actions(again).values()) == {"skip"}


def test_the_rewrite_needs_a_backup_of_the_file_as_it_is(world):
    """A rewrite with nothing else to change is covered by a backup too: the rollback must put back this file."""
    _plan, first = migrate(world)
    finished(first)
    with open(world.path, "a") as handle:
        handle.write("# edited after the first run\n")
    settings = world.settings(rewrite_env=True)
    plan = mig.make_plan(world.manager(), settings)
    assert not plan.changes and plan.env_changes and plan.changed  # nothing to write, but the file changes
    for saved, why in ((None, "no backup of this run holds it"),
                       (backup_mod.read(first, world.key), "it changed since the backup")):
        with pytest.raises(mig.MigrationError, match=why) as caught:
            mig.check_env_covered(plan, saved)
        assert "Nothing was written" in str(caught.value) and CANARY not in str(caught.value)
    path = mig.write_backup(plan, world.folder, world.key, identity=world.manager().backend.identity())
    saved = backup_mod.read(path, world.key)
    assert saved.entries == [] and saved.header["env_rewrite"] is True
    mig.check_env_covered(plan, saved)
    assert mig.rewrite_env(world.manager(), plan) is True
    rows, env_state, _warnings = mig.rollback(world.manager(), saved)
    assert rows == [] and env_state == "restored" and open(world.path).read() == ENV + "# edited after the first run\n"
    assert sorted(world.manager().list()) == ["api-key", "database-password", "escaped", "jwt-secret"]


# rollback ------------------------------------------------------------------------------------

def test_rollback_restores_everything_and_can_be_repeated(world):
    manager = world.manager()
    manager.set("jwt-secret", "old-jwt", description="kept")
    _plan, path = migrate(world, rewrite_env=True)
    mig.rewrite_env(world.manager(), mig.make_plan(world.manager(), world.settings(rewrite_env=True)))
    saved = backup_mod.read(path, world.key)
    preview, env_state, _warnings = mig.rollback(world.manager(), saved, check_mode=True)
    assert env_state == "restored" and world.manager().get("api-key").value == f"{CANARY}-api"
    rows, env_state, _warnings = mig.rollback(world.manager(), saved)
    assert rows == preview
    assert {row["name"]: row["action"] for row in rows} == {
        "database-password": "deleted", "jwt-secret": "restored", "api-key": "deleted", "escaped": "deleted"}
    assert env_state == "restored" and open(world.path).read() == ENV
    after = world.manager()
    assert after.get("jwt-secret").value == "old-jwt" and after.describe("jwt-secret").description == "kept"
    assert after.list() == ["jwt-secret"]
    rows, env_state, _warnings = mig.rollback(world.manager(), saved)
    assert {row["action"] for row in rows} == {"absent", "unchanged"} and env_state == "unchanged"
    no_canary(rows)


def test_a_rolled_back_run_is_not_rolled_back_again_over_a_newer_run(world):
    """Migrated, rolled back, migrated again with the same values: the old backup's rollback, run again (its undo
    command pasted twice), must not take the newer run's writes and rewrite for its own and undo them."""
    world.manager().set("jwt-secret", "old-jwt")
    settings = world.settings(rewrite_env=True)
    _plan, first = migrate(world, rewrite_env=True)
    mig.rewrite_env(world.manager(), mig.make_plan(world.manager(), settings))
    finished(first)
    mig.rollback(world.manager(), backup_mod.read(first, world.key))
    assert backup_mod.run_state(first) == backup_mod.ROLLED_BACK and open(world.path).read() == ENV
    _plan, second = migrate(world, rewrite_env=True)
    mig.rewrite_env(world.manager(), mig.make_plan(world.manager(), settings))
    finished(second)
    rewritten_text = open(world.path).read()
    for check_mode in (True, False):
        with pytest.raises(mig.MigrationError, match="rolled back already") as caught:
            mig.rollback(world.manager(), backup_mod.read(first, world.key), check_mode=check_mode)
        assert f"-e backup={second}" in str(caught.value) and CANARY not in str(caught.value)
    assert sorted(world.manager().list()) == ["api-key", "database-password", "escaped", "jwt-secret"]
    assert world.manager().get("jwt-secret").value == f"{CANARY}-jwt" and open(world.path).read() == rewritten_text
    assert backup_mod.run_state(second) == backup_mod.COMPLETE
    # once the newer run is undone too, the older one's rollback may be repeated (it finds nothing to do)
    mig.rollback(world.manager(), backup_mod.read(second, world.key))
    rows, env_state, _warnings = mig.rollback(world.manager(), backup_mod.read(first, world.key))
    assert {row["action"] for row in rows} == {"absent", "unchanged"} and env_state == "unchanged"
    assert world.manager().list() == ["jwt-secret"] and world.manager().get("jwt-secret").value == "old-jwt"


def test_rollback_leaves_changes_of_others_alone_unless_forced(world):
    _plan, path = migrate(world)
    world.manager().set("api-key", "somebody else's")
    saved = backup_mod.read(path, world.key)
    rows, _env, _warnings = mig.rollback(world.manager(), saved)
    by_name = {row["name"]: row for row in rows}
    assert by_name["api-key"]["action"] == "conflict"
    assert world.manager().get("api-key").value == "somebody else's"
    rows, _env, _warnings = mig.rollback(world.manager(), saved, force=True)
    assert {row["name"]: row["action"] for row in rows}["api-key"] == "deleted"


def test_rollback_refuses_to_restore_the_copy_over_another_env_file(world, tmp_path):
    """The backup's .env copy is only ever restored over the file it was taken from (by real path)."""
    world.manager().set("jwt-secret", "old-jwt")
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    other = tmp_path / "other-app" / ".env"
    other.parent.mkdir()
    other.write_text("OTHER_APP_TOKEN=keep-me\n")
    for check_mode in (True, False):
        with pytest.raises(mig.MigrationError) as caught:
            mig.rollback(world.manager(), saved, check_mode=check_mode, env_file=str(other))
        message = str(caught.value)
        assert world.path in message and str(other) in message and "Nothing was written" in message
        assert f"env_file={world.path}" in message and CANARY not in message and "keep-me" not in message
    assert other.read_text() == "OTHER_APP_TOKEN=keep-me\n"
    assert world.manager().get("jwt-secret").value == f"{CANARY}-jwt"  # no secret was rolled back either
    # the same file through a symlink is the same file
    link = tmp_path / "link.env"
    link.symlink_to(world.path)
    rows, env_state, _warnings = mig.rollback(world.manager(), saved, env_file=str(link))
    assert {row["name"]: row["action"] for row in rows}["jwt-secret"] == "restored" and env_state == "unchanged"


def test_rollback_keeps_a_created_secret_rotated_and_rolled_back_to_the_migrations_value(world):
    """Created v1, rotated (v2), rotation rolled back (v3 = v1's value): deleting it would destroy v2."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationPolicy, Rotator
    _plan, path = migrate(world)
    rotator = Rotator(world.manager())
    rotator.rotate("jwt-secret", RotationPolicy(), value=f"{CANARY}-rotated")
    rotator.rollback("jwt-secret", "previous")
    manager = world.manager()
    assert manager.get("jwt-secret").value == f"{CANARY}-jwt" and manager.get("jwt-secret").metadata.version == "3"
    saved = backup_mod.read(path, world.key)
    for check_mode in (True, False):
        rows, _env, _warnings = mig.rollback(world.manager(), saved, check_mode=check_mode)
        row = {row["name"]: row for row in rows}["jwt-secret"]
        assert row["action"] == "conflict"
        assert "it is at version 3, the migration wrote version 1" in row["reason"]
    assert [info.version for info in world.manager().versions("jwt-secret")] == ["3", "2", "1"]
    assert world.manager().get("jwt-secret", version="2").value == f"{CANARY}-rotated"
    assert backup_mod.run_state(path) == backup_mod.UNFINISHED  # a conflict: not rolled back
    no_canary(rows)
    # the other created secrets, untouched since, are deleted; force deletes the rotated one too
    assert world.manager().list() == ["jwt-secret"]
    rows, _env, _warnings = mig.rollback(world.manager(), saved, force=True)
    assert {row["name"]: row["action"] for row in rows}["jwt-secret"] == "deleted"


def test_rollback_keeps_a_created_secret_with_a_version_added_beside_the_current_one(world, monkeypatch):
    """A version the migration did not write, even one that is not current (AWS's pending stage), is kept."""
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    manager = world.manager()
    real = manager.get_many

    def with_a_pending_version(names, bypass_cache=False):
        found = real(names, bypass_cache=bypass_cache)
        found["api-key"].metadata.versions_count = 2
        return found

    monkeypatch.setattr(manager, "get_many", with_a_pending_version)
    rows, _env, _warnings = mig.rollback(manager, saved)
    row = {row["name"]: row for row in rows}["api-key"]
    assert row["action"] == "conflict" and "it has 2 versions, the migration wrote 1" in row["reason"]
    assert world.manager().get("api-key").value == f"{CANARY}-api"


def test_a_chain_rollback_deletes_a_secret_an_older_run_created_and_a_newer_one_updated(world):
    """Run A creates api-key (v1), run B updates it (v2); undoing B writes A's value back (v3), which is ours."""
    _plan, first = migrate(world)
    finished(first)
    with open(world.path, "w") as handle:
        handle.write(ENV.replace(f"API_KEY={CANARY}-api", f"API_KEY={CANARY}-api2"))
    _plan, second = migrate(world)
    rewritten = {}
    rows, _env, _warnings = mig.rollback(world.manager(), backup_mod.read(second, world.key), rewritten=rewritten)
    assert {row["name"]: row["action"] for row in rows} == {"api-key": "restored"} and rewritten == {"api-key": "3"}
    rows, _env, _warnings = mig.rollback(world.manager(), backup_mod.read(first, world.key), rewritten=rewritten)
    assert {row["name"]: row["action"] for row in rows}["api-key"] == "deleted"
    assert world.manager().list() == []


def test_rollback_touches_only_what_the_run_wrote(world):
    """A secret rotated after the backup makes its batch refuse to write: the rollback neither counts it as a
    conflict nor restores it, even forced, and the run is rolled back once what it wrote is undone."""
    manager = world.manager()
    manager.set("api-key", "before-api")
    manager.set("jwt-secret", "before-jwt")
    settings = world.settings(overwrite="always")
    plan = mig.make_plan(manager, settings)
    path = mig.write_backup(plan, world.folder, world.key, identity=manager.backend.identity())
    saved = backup_mod.read(path, world.key)
    backup_mod.record_event(path, "started")
    first = mig.make_plan(world.manager(), settings, keys=["DATABASE_PASSWORD", "JWT_SECRET"])
    mig.apply(world.manager(), first, settings, saved)
    rotate(world.manager(), "api-key", f"{CANARY}-rotated")  # another process, after the backup
    second = mig.make_plan(world.manager(), settings, keys=["API_KEY", "ESCAPED"])
    with pytest.raises(mig.MigrationError, match="'api-key' was changed or removed by somebody else"):
        mig.apply(world.manager(), second, settings, saved)
    for force in (False, False, True):  # repeated, then forced
        rows, _env, _warnings = mig.rollback(world.manager(), saved, force=force)
        by_name = {row["name"]: row for row in rows}
        assert by_name["api-key"]["action"] == "not-written" and "never wrote it" in by_name["api-key"]["reason"]
        assert by_name["escaped"]["action"] == "absent"
        assert backup_mod.run_state(path) == backup_mod.ROLLED_BACK
        assert world.manager().get("api-key").value == f"{CANARY}-rotated"
        no_canary(rows)
    assert world.manager().get("jwt-secret").value == "before-jwt"
    assert sorted(world.manager().list()) == ["api-key", "jwt-secret"]
    assert "1 secret the run never wrote left as it is" in step_summaries.rollback_line(path, rows, "unchanged")


def test_a_write_of_a_killed_run_that_was_not_journaled_is_still_rolled_back(world):
    """Killed between the provider's answer and the journal's "written": tried, and holding the run's value."""
    manager = world.manager()
    plan = mig.make_plan(manager, world.settings())
    path = mig.write_backup(plan, world.folder, world.key, identity=manager.backend.identity())
    backup_mod.record_event(path, "writing", name="api-key", action="create")
    manager.set("api-key", f"{CANARY}-api")  # the write landed, its "written" line never did
    manager.set("escaped", "${not-a-reference}")  # never tried by the run: somebody else's, whatever it holds
    rows, _env, _warnings = mig.rollback(world.manager(), backup_mod.read(path, world.key))
    assert {row["name"]: row["action"] for row in rows} == {
        "database-password": "absent", "jwt-secret": "absent", "api-key": "deleted", "escaped": "not-written"}
    assert world.manager().list() == ["escaped"]


def test_a_restored_env_file_keeps_the_reference_of_a_secret_left_as_it_is(world):
    """After the rewrite, a rotated secret is left alone by the rollback: its .env line must not go back to the
    stale value. Also for a secret the plan found unchanged (not in the backup) and rotated since."""
    world.manager().set("api-key", f"{CANARY}-api")  # unchanged in the plan: not in the backup
    _plan, path = migrate(world, rewrite_env=True)
    mig.rewrite_env(world.manager(), mig.make_plan(world.manager(), world.settings(rewrite_env=True)))
    rotate(world.manager(), "jwt-secret", f"{CANARY}-rotated-jwt")
    rotate(world.manager(), "api-key", f"{CANARY}-rotated-api")
    saved = backup_mod.read(path, world.key)
    rewritten_text = open(world.path).read()
    for check_mode in (True, False):
        report = {}
        rows, env_state, warnings = mig.rollback(world.manager(), saved, check_mode=check_mode, report=report)
        assert env_state == "restored"
        row = {row["name"]: row for row in rows}["jwt-secret"]
        assert row["action"] == "conflict" and "its .env line keeps ${secret:jwt-secret}" in row["reason"]
        assert report["env_references_kept"] == [{"key": "JWT_SECRET", "name": "jwt-secret"},
                                                 {"key": "API_KEY", "name": "api-key"}]
        assert any("restored except JWT_SECRET" in warning for warning in warnings)
        no_canary([rows, warnings, report])
        if check_mode:
            assert open(world.path).read() == rewritten_text
    text = open(world.path).read()
    assert 'JWT_SECRET=${secret:jwt-secret}  # signing key\n' in text and "API_KEY=${secret:api-key}\n" in text
    assert f"export DATABASE_PASSWORD='{CANARY}-db'\n" in text and text.startswith("# settings\n")  # the rest is back
    assert CANARY + "-jwt" not in text and CANARY + "-api" not in text
    rows, env_state, _warnings = mig.rollback(world.manager(), saved, force=True)
    assert env_state == "restored" and open(world.path).read().replace(
        "API_KEY=${secret:api-key}", f"API_KEY={CANARY}-api") == ENV  # api-key is not the backup's to restore


def test_rollback_refuses_another_target(world):
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    other = factory.build_manager({"provider": "local", "prefix": "other/", "audit_log": "false",
                                   "local_path": world.manager().backend.path}, env={})
    with pytest.raises(mig.MigrationError, match="prefix"):
        mig.rollback(other, saved)


def test_partial_apply_is_rolled_back(world):
    """A failure after k writes: the rollback removes exactly what was written."""
    manager = world.manager()
    manager.set("jwt-secret", "old-jwt")
    plan = mig.make_plan(manager, world.settings())
    path = mig.write_backup(plan, world.folder, world.key)
    saved = backup_mod.read(path, world.key)
    first_two = mig.make_plan(manager, world.settings(), keys=["DATABASE_PASSWORD", "JWT_SECRET"])
    mig.apply(manager, first_two, world.settings(), saved)
    rows, _env, _warnings = mig.rollback(world.manager(), saved)
    assert {row["name"]: row["action"] for row in rows} == {
        "database-password": "deleted", "jwt-secret": "restored", "api-key": "absent", "escaped": "absent"}
    assert world.manager().list() == ["jwt-secret"]
    assert world.manager().get("jwt-secret").value == "old-jwt"


# the .env file must be unambiguous -----------------------------------------------------------

@pytest.mark.parametrize("line, column, reason", [
    ("DB=${secrte:db}", 4, "unknown reference kind: only secret: and env:"),
    ("DB=${secret:db", 4, "not closed"),
    ('DB="x ${bogus:x}"', 7, "unknown reference kind: only secret: and env:"),
    ("DB=${secret:a/../b}", 4, "a '..' path segment"),
    ('DB="u:${secret:a/./b}"', 7, "a '.' path segment"),
    ("DB=${secret:a//b@previous}", 4, "an empty path segment"),
])
def test_plan_refuses_a_malformed_reference_with_file_line_and_column(world, line, column, reason):
    with open(world.path, "a") as handle:
        handle.write(line + "\n")
    lines = ENV.count("\n") + 1
    with pytest.raises(mig.MigrationError) as caught:
        mig.make_plan(world.manager(), world.settings())
    message = str(caught.value)
    assert f"{world.path}, line {lines}, column {column}: " in message and reason in message and "(key DB)" in message
    assert "Nothing was written" in message
    assert not os.path.exists(world.manager().backend.path)


@pytest.mark.parametrize("value", [f"Xk9${{{CANARY.replace('-', '_')}}}zz", f"a${{{CANARY.replace('-', '_')}:x}}b"],
                         ids=["name-alone", "unknown-kind"])
def test_a_malformed_reference_in_a_value_is_refused_without_showing_any_of_it(world, value):
    """The text between ${ and } of a value being migrated is most likely part of the secret (a password with
    '${' in it): the refusal names file, line, column and key, never that text."""
    with open(world.path, "a") as handle:
        handle.write(f"DB_PASSWORD={value}\n")
    with pytest.raises(mig.MigrationError) as caught:
        mig.make_plan(world.manager(), world.settings())
    message = str(caught.value)
    assert f"line {ENV.count(chr(10)) + 1}, column " in message and "(key DB_PASSWORD)" in message
    assert CANARY.replace("-", "_") not in message and "Nothing was written" in message


def test_a_single_quoted_reference_is_literal_and_every_problem_is_listed(world):
    with open(world.path, "a") as handle:
        handle.write("LITERAL='${bogus:x}'\nA=${bogus:a}\nB=${nope}\n")
    with pytest.raises(mig.MigrationError) as caught:
        mig.make_plan(world.manager(), world.settings())
    message = str(caught.value)
    assert "2 problems" in message and "(key A)" in message and "(key B)" in message and "LITERAL" not in message


def test_plan_refuses_a_key_defined_twice_with_different_values(world):
    with open(world.path, "a") as handle:
        handle.write(f"API_KEY={CANARY}-other\nAPP_NAME=demo\n")  # APP_NAME twice with the same value is fine
    with pytest.raises(mig.MigrationError) as caught:
        mig.make_plan(world.manager(), world.settings())
    message = str(caught.value)
    assert "API_KEY is defined on line 5 and line 10 with different values" in message
    assert "APP_NAME" not in message and CANARY not in message


# re-runs never revert a secret changed since ---------------------------------------------------

def history(world):
    manager = world.manager()
    return mig.History.load(world.folder, world.path, manager.backend.identity(), manager.prefix or "", world.key)


def finished(path):
    backup_mod.record_event(path, "complete")
    return path


def rotate(manager, name, value):
    """What the rotation module leaves: a new version with its rotation tag."""
    manager.set(name, value, tags={TAG_ROTATED_AT: str(int(time.time()))})


def test_a_rerun_skips_a_rotated_secret_and_overwrite_always_writes_it(world):
    _plan, path = migrate(world)
    finished(path)
    rotate(world.manager(), "jwt-secret", "rotated")
    plan = mig.make_plan(world.manager(), world.settings(), history=history(world))
    row = {row.key: row for row in plan.rows}["JWT_SECRET"]
    assert row.action == "skip" and row.reason.startswith("changed since the last migration: rotated at 20")
    assert not plan.changed
    forced = mig.make_plan(world.manager(), world.settings(overwrite="always"), history=history(world))
    assert {row.key: row.action for row in forced.rows}["JWT_SECRET"] == "update"


def test_a_rerun_skips_a_secret_written_since_by_something_else(world):
    _plan, path = migrate(world)
    finished(path)
    world.manager().set("api-key", "set by hand")
    plan = mig.make_plan(world.manager(), world.settings(), history=history(world))
    row = {row.key: row for row in plan.rows}["API_KEY"]
    assert row.action == "skip" and "written since by something else: it holds another value" in row.reason
    # without the backup key the version tells it: the migration wrote version 1, the secret is at 2
    blind = mig.History.load(world.folder, world.path, world.manager().backend.identity(), "", None)
    plan = mig.make_plan(world.manager(), world.settings(), history=blind)
    row = {row.key: row for row in plan.rows}["API_KEY"]
    assert row.action == "skip" and "version 2, the migration wrote version 1" in row.reason
    no_canary(plan.to_dict())


def test_a_changed_env_value_still_updates_a_secret_nobody_touched(world):
    _plan, path = migrate(world)
    finished(path)
    with open(world.path, "w") as handle:
        handle.write(ENV.replace(f"API_KEY={CANARY}-api", f"API_KEY={CANARY}-api2"))
    plan = mig.make_plan(world.manager(), world.settings(), history=history(world))
    assert actions(plan)["API_KEY"] == "update"


def test_a_rotated_secret_never_migrated_from_this_file_is_skipped_and_never_is_honoured(world):
    rotate(world.manager(), "jwt-secret", "rotated")
    world.manager().set("api-key", "other")
    plan = mig.make_plan(world.manager(), world.settings(), history=history(world))
    rows = {row.key: row for row in plan.rows}
    assert rows["JWT_SECRET"].action == "skip" and "a migration does not revert a rotation" in rows["JWT_SECRET"].reason
    assert rows["API_KEY"].action == "update"
    never = mig.make_plan(world.manager(), world.settings(overwrite="never"), history=history(world))
    assert actions(never)["API_KEY"] == "skip" and actions(never)["DATABASE_PASSWORD"] == "create"


def test_a_rolled_back_run_does_not_count_as_the_last_migration(world):
    world.manager().set("api-key", "before")
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    mig.rollback(world.manager(), saved)
    assert backup_mod.run_state(path) == backup_mod.ROLLED_BACK
    assert history(world).last("api-key") is None
    assert actions(mig.make_plan(world.manager(), world.settings(), history=history(world)))["API_KEY"] == "update"


def test_without_any_run_on_record_a_secret_changed_since_its_creation_is_not_overwritten(world, tmp_path):
    """The history is in another backup folder (a new CI workspace, another XDG_STATE_HOME): a value changed by
    hand after the migration must not be put back to the file's stale value; one never changed may be."""
    _plan, first = migrate(world)
    finished(first)
    world.manager().set("database-password", "changed-by-hand-1234")  # a second version, no rotation tag
    manager = world.manager()
    elsewhere = mig.History.load(str(tmp_path / "another-folder"), world.path, manager.backend.identity(),
                                 manager.prefix or "", world.key)
    assert elsewhere.runs == []
    plan = mig.make_plan(manager, world.settings(), history=elsewhere)
    row = next(row for row in plan.rows if row.key == "DATABASE_PASSWORD")
    assert row.action == "skip" and "no migration of this file is on record here" in row.reason
    assert "migrate_overwrite=always" in row.reason and CANARY not in row.reason
    assert actions(mig.make_plan(manager, world.settings(overwrite="always"), history=elsewhere))["DATABASE_PASSWORD"] == "update"
    assert actions(mig.make_plan(manager, world.settings(), history=history(world)))["DATABASE_PASSWORD"] == "skip"
    with open(world.path, "w") as handle:  # the file changes a secret that has one version only
        handle.write(ENV.replace(f"API_KEY={CANARY}-api", f"API_KEY={CANARY}-api-2"))
    world.manager().delete("api-key", force=True)
    world.manager().set("api-key", "one-version-only")
    assert actions(mig.make_plan(world.manager(), world.settings(), history=elsewhere))["API_KEY"] == "update"


def test_a_rollback_leaves_an_env_file_edited_since_the_backup_unless_forced(world):
    """The run never rewrote the file; the operator edited it since. Putting the copy back would throw the edit
    away (and the migration never wrote those lines)."""
    _plan, path = migrate(world)
    edited = ENV.replace("APP_NAME=demo", "APP_NAME=renamed") + "NEW_SETTING=x\n"
    with open(world.path, "w") as handle:
        handle.write(edited)
    saved = backup_mod.read(path, world.key)
    rows, env_state, warnings = mig.rollback(world.manager(), saved)
    assert env_state.startswith("left as it is") and open(world.path).read() == edited
    assert any("changed since the backup (APP_NAME, NEW_SETTING): those edits stay" in warning for warning in warnings)
    assert not any(CANARY in warning for warning in warnings)
    assert {row["action"] for row in rows} == {"deleted"}  # the secrets are rolled back all the same
    _rows, env_state, _warnings = mig.rollback(world.manager(), saved, force=True)
    assert env_state == "restored" and open(world.path).read() == ENV


def test_a_rollback_of_a_rewritten_and_then_edited_env_file_undoes_only_the_rewrite(world):
    """The rewrite made references, then the operator added a line: the rollback deletes the secrets, so the
    references must get their values back (or the application reads nothing), and the added line stays."""
    plan, path = migrate(world)
    finished(path)
    rewrite_plan = mig.make_plan(world.manager(), world.settings(rewrite_env=True), history=history(world))
    assert mig.rewrite_env(world.manager(), rewrite_plan) is True
    with open(world.path, "a") as handle:
        handle.write("EXTRA=1\n")
    saved = backup_mod.read(path, world.key)
    _rows, env_state, warnings = mig.rollback(world.manager(), saved)
    text = open(world.path).read()
    assert env_state == "restored except the lines edited since the backup"
    assert text == ENV + "EXTRA=1\n", "the values are back, the added line stays"
    assert any("EXTRA" in warning for warning in warnings) and not any(CANARY in warning for warning in warnings)


def leftovers(world):
    return [name for name in os.listdir(os.path.dirname(world.path)) if name.startswith(".vibebox-")]


def test_the_rewrite_never_replaces_an_edit_made_after_the_step_read_the_file(world):
    """The step reads the file, then the provider (seconds on a remote one), then writes: an edit made in between
    is refused, not replaced by the rewrite of the older text (and the backup, holding the older copy, could not
    bring it back)."""
    migrate(world, rewrite_env=True)
    plan = mig.make_plan(world.manager(), world.settings(rewrite_env=True))
    with open(world.path, "a") as handle:
        handle.write("# a note added meanwhile\n")
    with pytest.raises(mig.MigrationError, match="changed while this step ran") as caught:
        mig.rewrite_env(world.manager(), plan)
    assert CANARY not in str(caught.value)
    assert open(world.path).read() == ENV + "# a note added meanwhile\n" and not leftovers(world)
    again = mig.make_plan(world.manager(), world.settings(rewrite_env=True))
    assert mig.rewrite_env(world.manager(), again) is True
    assert "# a note added meanwhile\n" in open(world.path).read() and CANARY not in open(world.path).read()


def test_a_rollback_never_replaces_an_edit_made_while_it_read_the_provider(world, monkeypatch):
    """The restore reads the file, then the secrets its references name, then writes the copy: an edit made in
    between stays, the rollback stops unfinished, and its next run keeps the edit. The .env file is restored
    last, so the refusal carries the secrets already deleted or restored (for the task's result and the run
    cache: without them the run went on serving deleted values)."""
    world.manager().set("api-key", f"{CANARY}-api")  # unchanged: the restore reads it to choose its line
    _plan, path = migrate(world, rewrite_env=True)
    mig.rewrite_env(world.manager(), mig.make_plan(world.manager(), world.settings(rewrite_env=True)))
    rewritten_text = open(world.path).read()
    manager = world.manager()
    real = manager.get_many

    def edited_meanwhile(names, bypass_cache=False):
        if names == ["api-key"]:
            with open(world.path, "a") as handle:
                handle.write("ADDED_MEANWHILE=1\n")
        return real(names, bypass_cache=bypass_cache)

    monkeypatch.setattr(manager, "get_many", edited_meanwhile)
    saved = backup_mod.read(path, world.key)
    with pytest.raises(mig.MigrationError, match="changed while this step ran") as caught:
        mig.rollback(manager, saved)
    done = {row["name"]: row["action"] for row in caught.value.done}
    assert done == {"database-password": "deleted", "jwt-secret": "deleted", "escaped": "deleted"}
    for name in done:
        with pytest.raises(SecretNotFound):
            world.manager().get(name, bypass_cache=True)
    no_canary(caught.value.done)
    assert open(world.path).read() == rewritten_text + "ADDED_MEANWHILE=1\n" and not leftovers(world)
    assert backup_mod.run_state(path) == backup_mod.UNFINISHED
    _rows, env_state, _warnings = mig.rollback(world.manager(), saved)
    assert env_state == "restored except the lines edited since the backup"
    assert open(world.path).read() == ENV + "ADDED_MEANWHILE=1\n"
    assert backup_mod.run_state(path) == backup_mod.ROLLED_BACK


# rollback: the right target, and never into an empty or missing store ----------------------------

def other_store(tmp_path, name="other"):
    return factory.build_manager({"provider": "local", "audit_log": "false",
                                  "local_path": str(tmp_path / name / "secrets.db")}, env={})


def test_rollback_into_another_store_refuses_showing_both_and_force_overrides(world, tmp_path):
    world.manager().set("jwt-secret", "old-jwt")
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    other = other_store(tmp_path)
    other.set("jwt-secret", f"{CANARY}-jwt")
    before = open(other.backend.path, "rb").read()
    with pytest.raises(mig.MigrationError) as caught:
        mig.rollback(other, saved)
    message = str(caught.value)
    assert world.manager().backend.path in message and other.backend.path in message and "Nothing was written" in message
    assert CANARY not in message and open(other.backend.path, "rb").read() == before
    rows, _env, warnings = mig.rollback(other_store(tmp_path), saved, force=True)
    assert warnings and "going on because force is set" in warnings[0]
    assert {row["name"]: row["action"] for row in rows}["jwt-secret"] == "restored"


def test_rollback_never_creates_a_store(world, tmp_path):
    world.manager().set("jwt-secret", "old-jwt")
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    for force in (False, True):
        with pytest.raises(mig.MigrationError, match="does not exist: a rollback .* never creates one"):
            mig.rollback(other_store(tmp_path, "never"), saved, force=force)
    assert not (tmp_path / "never").exists()


def test_rollback_refuses_a_store_holding_none_of_the_backup_unless_forced(world, tmp_path):
    world.manager().set("jwt-secret", "old-jwt")
    _plan, path = migrate(world)
    saved = backup_mod.read(path, world.key)
    manager = world.manager()
    for name in manager.list():
        manager.delete(name, force=True)
    with pytest.raises(mig.MigrationError, match="none of the 4 secrets of the backup .* exist"):
        mig.rollback(world.manager(), saved)
    assert world.manager().list() == []
    rows, _env, _warnings = mig.rollback(world.manager(), saved, force=True)
    assert world.manager().get("jwt-secret").value == "old-jwt"


# the journal: unfinished runs are never passed by ----------------------------------------------

def test_default_rollback_names_an_older_unfinished_run_and_before_first_unfinished_undoes_from_it(world):
    manager = world.manager()
    manager.set("jwt-secret", "old-jwt")
    identity, prefix = manager.backend.identity(), manager.prefix or ""
    # run A: backup, two of four writes, then killed (no complete)
    plan = mig.make_plan(manager, world.settings())
    first = mig.write_backup(plan, world.folder, world.key, identity=identity)
    backup_mod.record_event(first, "started")
    mig.apply(manager, mig.make_plan(manager, world.settings(), keys=["DATABASE_PASSWORD", "JWT_SECRET"]),
              world.settings(), backup_mod.read(first, world.key))
    assert backup_mod.run_state(first) == backup_mod.UNFINISHED
    # run B completes what A left
    _plan, second = migrate(world)
    finished(second)
    assert history(world).warnings() and first in history(world).warnings()[0]
    with pytest.raises(mig.MigrationError) as caught:
        mig.choose_backups(world.folder, world.path, "latest", identity, prefix)
    assert first in str(caught.value) and "before-first-unfinished" in str(caught.value) and second in str(caught.value)
    chain = mig.choose_backups(world.folder, world.path, "before-first-unfinished", identity, prefix)
    assert chain == [second, first]
    for path in chain:
        mig.rollback(world.manager(), backup_mod.read(path, world.key))
    assert world.manager().list() == ["jwt-secret"] and world.manager().get("jwt-secret").value == "old-jwt"
    assert mig.choose_backups(world.folder, world.path, "latest", identity, prefix) == [second]
    with pytest.raises(mig.MigrationError, match="no unfinished migration"):
        mig.choose_backups(world.folder, world.path, "before-first-unfinished", identity, prefix)


# audit log -----------------------------------------------------------------------------------

def test_migrate_and_rollback_are_audited_as_their_own_operations(world, tmp_path, monkeypatch):
    monkeypatch.setenv("VIBEBOX_AUDIT_ACTOR", "operator-7")
    log = tmp_path / "audit.log"
    world.manager().set("jwt-secret", "old-jwt")
    audited = factory.build_manager({"provider": "local", "audit_log": str(log),
                                     "local_path": world.manager().backend.path}, env={})
    plan = mig.make_plan(audited, world.settings())
    path = mig.write_backup(plan, world.folder, world.key, identity=audited.backend.identity())
    mig.apply(audited, plan, world.settings(), backup_mod.read(path, world.key))
    mig.rollback(audited, backup_mod.read(path, world.key))
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    migrated = {entry["name"]: entry for entry in entries if entry["op"] == "migrate"}
    undone = {entry["name"]: entry for entry in entries if entry["op"] == "migrate_rollback"}
    assert set(migrated) == set(undone) == {"database-password", "jwt-secret", "api-key", "escaped"}
    assert migrated["jwt-secret"]["version"] == "2" and undone["jwt-secret"]["version"] == "3"
    assert undone["api-key"]["version"] is None  # deleted for good
    # one operation entry per secret, so the audit page's per-secret and per-operation queries both find them
    assert migrated["jwt-secret"]["names"] == ["jwt-secret"]
    assert migrated["jwt-secret"]["versions"]["jwt-secret"] == {"before": "1", "after": "2"}
    assert migrated["api-key"]["outcome"] == "create" and undone["api-key"]["outcome"] == "deleted"
    assert all(entry["actor"] == "operator-7" and entry["ok"] for entry in entries if entry["op"].startswith("migrate"))
    assert CANARY not in log.read_text()


# Vault-style capability check ------------------------------------------------------------------

def test_a_missing_capability_blocks_the_key_before_any_write(world):
    manager = world.manager()
    asked = {}

    def missing_capabilities(operations):
        asked.update(operations)
        return [("api-key", "secret/data/api-key", "create"), ("api-key", "secret/metadata/api-key", "delete")]

    manager.backend.missing_capabilities = missing_capabilities
    plan = mig.make_plan(manager, world.settings())
    row = {row.key: row for row in plan.rows}["API_KEY"]
    assert row.action == "blocked"
    assert "'create' on secret/data/api-key" in row.reason and "'delete' on secret/metadata/api-key (to roll back" in row.reason
    assert asked["api-key"] == ["create", "delete", "metadata"]
    assert actions(plan)["DATABASE_PASSWORD"] == "create"


def test_the_default_rollback_picks_the_newest_run_into_this_target(world, tmp_path):
    _plan, mine = migrate(world)
    other = other_store(tmp_path)
    plan = mig.make_plan(other, world.settings())
    theirs = mig.write_backup(plan, world.folder, world.key, identity=other.backend.identity())
    assert backup_mod.latest(world.folder, world.path) == theirs
    manager = world.manager()
    assert mig.choose_backups(world.folder, world.path, "latest", manager.backend.identity(), "") == [mine]
    assert mig.choose_backups(world.folder, None, "latest", other.backend.identity(), "") == [theirs]


def test_a_rollback_without_env_file_never_undoes_an_older_run_for_another_targets_newer_backup(world, tmp_path):
    """Without env_file, a newest backup of the folder that is another target's is no reason to undo an older run
    of its file into this target (superseded by another file's run): refused before any write, naming the newest
    run here."""
    _plan, older = migrate(world)  # app.env into this store: superseded by the run below
    finished(older)
    second = tmp_path / "second.env"
    second.write_text(f"SECOND_TOKEN={CANARY}-second\n")
    manager = world.manager()
    plan = mig.make_plan(manager, mig.Settings(env_file=str(second)))
    newest_here = mig.write_backup(plan, world.folder, world.key, identity=manager.backend.identity())
    other = other_store(tmp_path)
    plan = mig.make_plan(other, world.settings())
    elsewhere = mig.write_backup(plan, world.folder, world.key, identity=other.backend.identity())
    assert backup_mod.latest(world.folder) == elsewhere
    for rollback_to in mig.ROLLBACK_TO:
        with pytest.raises(mig.MigrationError, match="is of another target") as caught:
            mig.choose_backups(world.folder, None, rollback_to, manager.backend.identity(), "")
        assert f"-e backup={newest_here}" in str(caught.value) and CANARY not in str(caught.value)
    assert mig.choose_backups(world.folder, None, "latest", other.backend.identity(), "") == [elsewhere]
    assert mig.choose_backups(world.folder, world.path, "latest", manager.backend.identity(), "") == [older]


# the target's identity over a re-key and a store the migration created ------------------------------

def test_a_rekeyed_store_is_still_the_target_of_its_earlier_backups(world):
    world.manager().set("jwt-secret", "old-jwt")
    _plan, path = migrate(world)
    world.manager().backend.rekey(new_key=os.urandom(32), check=False)
    saved = backup_mod.read(path, world.key)
    rows, _env, warnings = mig.rollback(world.manager(), saved)
    assert not warnings
    assert {row["name"]: row["action"] for row in rows}["jwt-secret"] == "restored"
    assert world.manager().get("jwt-secret").value == "old-jwt"


def test_a_store_the_migration_created_is_known_to_its_backup_after_the_first_write(world):
    _plan, path = migrate(world)  # the store did not exist: the backup's header cannot know its id
    saved = backup_mod.read(path, world.key)
    assert saved.header["target"]["store_id"] == ""
    live = world.manager().backend.identity()["store_id"]
    assert live and mig.recorded_target(saved)["store_id"] == live
    store = world.manager().backend
    for leftover in (store.path, store.key_file):
        os.unlink(leftover)
    replacement = world.manager()
    replacement.set("api-key", "another team's value")  # another store at the same path
    before = open(store.path, "rb").read()
    with pytest.raises(mig.MigrationError, match="was taken from .*store_id=" + live):
        mig.rollback(world.manager(), saved)
    assert open(store.path, "rb").read() == before
    assert world.manager().get("api-key").value == "another team's value"


def test_a_backup_that_recorded_the_key_id_of_an_older_store_format_still_matches_by_path(world):
    """Backups written when the local store's identity was its key id: the key id is no longer an identity
    fact (a re-key changes it), so the path decides, as for any fact the provider stopped reporting."""
    assert mig.identity_matches({"provider": "local", "path": "/s.db", "key_id": "0123"},
                                {"provider": "local", "path": "/s.db", "store_id": "ab"})
    assert not mig.identity_matches({"provider": "local", "path": "/s.db", "key_id": "0123"},
                                    {"provider": "local", "path": "/t.db", "store_id": "ab"})


def test_plan_blocks_weak_values_it_would_write_and_warns_in_warn_mode(world):
    """Strength policy: in enforce mode every create/update row that breaks it is blocked (so the run stops
    before its first write), naming the rule; an unchanged weak secret is left alone; warn mode plans the
    write and warns. No reason or warning holds a value."""
    manager = world.manager()
    manager.set("api-key", f"{CANARY}-api")  # unchanged: already in the provider, never refused
    enforce = mig.Settings(env_file=world.path, exclude=["APP_NAME"],
                           strength=strength.Enforcer.from_options({"min_length": 20}, "enforce"))
    plan = mig.make_plan(manager, enforce)
    rows = {row.key: row for row in plan.rows}
    assert actions(plan)["API_KEY"] == "unchanged"
    for key in ("DATABASE_PASSWORD", "JWT_SECRET", "ESCAPED"):
        assert rows[key].action == "blocked", key
        assert rows[key].reason.startswith("refused by the strength policy: too short")
    with pytest.raises(mig.MigrationError, match="blocked keys"):
        mig.apply(manager, plan, enforce, None)
    assert list(manager.list()) == ["api-key"]
    warn = mig.Settings(env_file=world.path, exclude=["APP_NAME"],
                        strength=strength.Enforcer.from_options({"min_length": 20}, "warn"))
    planned = mig.make_plan(manager, warn)
    assert actions(planned)["DATABASE_PASSWORD"] == "create"
    assert any("secret 'database-password' breaks the strength policy" in text for text in planned.warnings)
    no_canary([row.to_dict() for row in plan.rows] + planned.warnings)


def test_a_failed_expiry_after_a_landed_write_says_the_value_was_written_and_journals_it(world, monkeypatch):
    """The value is in the target when only its expiry request fails: the error and the journal must say so."""
    finished(migrate(world)[1])
    manager = world.manager()
    manager.set("api-key", "changed elsewhere")
    settings = world.settings(expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc), overwrite="always")
    plan = mig.make_plan(manager, settings)
    path = mig.write_backup(plan, world.folder, world.key, identity=manager.backend.identity())

    def no_answer(*_args, **_kwargs):
        raise ProviderUnavailable("the service did not answer", provider="local")

    monkeypatch.setattr(manager, "set_expiry", no_answer)
    with pytest.raises(mig.MigrationError) as caught:
        mig.apply(manager, plan, settings, backup_mod.read(path, world.key))
    version = world.manager().describe("api-key").version
    assert "'api-key' (API_KEY) was written (version " in str(caught.value)
    assert "setting its expiry failed" in str(caught.value) and "writing 'api-key'" not in str(caught.value)
    assert caught.value.done == [{"key": "API_KEY", "name": "api-key", "action": "update", "version": version}]
    assert {"event": "written", "name": "api-key"}.items() <= backup_mod.events(path)[-1].items()
    assert world.manager().get("api-key").value == f"{CANARY}-api"
    no_canary([str(caught.value), caught.value.done])


def test_the_expiry_goes_on_every_secret_written_and_unchanged_ones_keep_theirs(world):
    first = dt.datetime(2098, 1, 1, tzinfo=dt.timezone.utc)
    plan, path = migrate(world, expires_at=first)
    finished(path)
    manager = world.manager()
    created = [row.name for row in plan.changes]
    assert created and all(manager.describe(name).expires_at == first for name in created)
    manager.set("api-key", "changed elsewhere")  # the next run updates it (overwrite: always)
    later = dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)
    again, _path = migrate(world, expires_at=later, overwrite="always")
    updated = {row.name for row in again.changes}
    assert updated == {"api-key"}
    assert manager.describe("api-key").expires_at == later
    assert manager.describe("api-key").tags.get("vibebox-expires-at") == "2099-01-01T00:00:00Z"
    assert all(manager.describe(name).expires_at == first for name in created if name not in updated)
