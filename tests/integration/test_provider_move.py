"""Moving secrets between providers, every pair both ways, through core/provider_move.py.

Real servers and the project's wire fakes (OpenBao, moto, the local store; the GCP, Azure and
Kubernetes fakes), each side a manager of the fixtures with a prefix (or Secret) of this test's own.
For each ordered pair: the dry run (check mode) writes nothing to either side, the move creates,
updates and keeps older versions so ``previous`` still answers, a second run changes nothing, and
a run interrupted at its second write is rolled back exactly from its backup by the .env
migration's rollback. Values are canaries, compared by the test only. An expiry travels with the secret,
from wherever the source keeps it (its own field or the expiry tag) to wherever the target does.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid
from typing import Dict, Tuple

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core import migration as _migration
from ansible_collections.vibebox.secrets.plugins.module_utils.core import provider_move as _move
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.providers.env import EnvBackend

WRITABLE = ["local", "vault", "aws", "gcp", "azure", "kubernetes"]
PAIRS = list(itertools.permutations(WRITABLE, 2))
CANARY = "CANARY-" + uuid.uuid4().hex
#: the api-key's expiry in every source
EXPIRES = _expiry.whole_seconds(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30))


def _make(request, provider: str):
    return request.getfixturevalue(f"{provider}_manager")()


def _state(manager: SecretManager) -> Dict[str, Tuple[str, str]]:
    """name -> (digest of the current value, version): what must be the same after a dry run or a rollback."""
    found = {}
    for name in manager.list():
        secret = manager.get(name, bypass_cache=True)
        found[name] = (_move.digest(secret.value), str(secret.metadata.version))
    return found


def _values(manager: SecretManager) -> Dict[str, str]:
    return {name: manager.get(name, bypass_cache=True).value for name in manager.list()}


def _seed(source: SecretManager) -> None:
    source.set("database-password", f"{CANARY}-db-old", "the database", {"team": "payments"})
    source.set("database-password", f"{CANARY}-db")
    source.set("jwt-secret", f"{CANARY}-jwt", None, {"team": "auth"})
    source.set("api-key", f"{CANARY}-api")
    source.set_expiry("api-key", EXPIRES)


def _run(source, target, settings, tmp_path, fault_at=None):
    """plan -> backup -> apply, as the module's steps do; returns (plan, backup path, written or error)."""
    source_id, target_id = _migration.target_identity(source), _migration.target_identity(target)
    shared = _move.check_pair(source, target, settings, source_id, target_id)
    label = _move.source_label(source, source_id)
    key = _backup.BackupKey.load(key_file=str(tmp_path / "backup.key"), create=True)
    history = _migration.History.load(str(tmp_path / "backups"), label, target_id, target.prefix or "", key)
    plan = _move.make_plan(source, target, settings, label=label, history=history, shared=shared)
    if not plan.changes:
        return plan, None, []
    path = _move.write_backup(plan, str(tmp_path / "backups"), key, identity=target_id, source_identity=source_id)
    _backup.record_event(path, "started", durable=True)
    saved = _backup.read(path, key)
    if settings.versions == "all":
        _move.read_history(source, plan.changes)
    if fault_at is not None:
        original, count = target.set, itertools.count(1)

        def failing(name, *args, **kwargs):
            if next(count) == fault_at:
                raise errors.ProviderUnavailable("injected fault", retryable=False, provider=target.provider, name=name)
            return original(name, *args, **kwargs)

        target.set = failing
    try:
        written = _move.apply(source, target, plan, settings, saved)
    except _move.MoveError as exc:
        return plan, path, exc
    finally:
        if fault_at is not None:
            del target.set
    _backup.record_event(path, "complete", durable=True)
    return plan, path, written


@pytest.mark.parametrize("source_provider,target_provider", PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_move_pair(request, tmp_path, source_provider, target_provider):
    source, target = _make(request, source_provider), _make(request, target_provider)
    _seed(source)
    target.set("jwt-secret", f"{CANARY}-target-jwt")  # exists in the target: updated, and restored by a rollback
    settings = _move.MoveSettings(versions="all", tags={"moved-by": "test"})
    source_before, target_before = _state(source), _state(target)

    # dry run: the plan and a check-mode apply write nothing, to either side
    plan = _move.make_plan(source, target, settings,
                           label=_move.source_label(source, _migration.target_identity(source)))
    assert {row.key: row.action for row in plan.rows} == {
        "database-password": "create", "jwt-secret": "update", "api-key": "create"}
    assert CANARY not in repr(plan.to_dict())
    dry = _move.apply(source, target, plan, settings, None, check_mode=True)
    assert [row["version"] for row in dry] == [None, None, None]
    assert _state(source) == source_before and _state(target) == target_before

    # interrupted at the second write: the rollback puts the target back exactly
    _plan, path, failed = _run(source, target, settings, tmp_path, fault_at=2)
    assert isinstance(failed, _move.MoveError) and "injected fault" in str(failed)
    assert CANARY not in str(failed)
    key = _backup.BackupKey.load(key_file=str(tmp_path / "backup.key"))
    rows, _env, _warnings = _migration.rollback(target, _backup.read(path, key))
    assert {row["action"] for row in rows} <= {"deleted", "restored", "absent", "unchanged"}
    assert _values(target) == {"jwt-secret": f"{CANARY}-target-jwt"}
    assert _state(source) == source_before

    # the move
    plan, path, written = _run(source, target, settings, tmp_path)
    assert sorted(row["name"] for row in written) == ["api-key", "database-password", "jwt-secret"]
    assert _values(target) == {"database-password": f"{CANARY}-db", "jwt-secret": f"{CANARY}-jwt",
                               "api-key": f"{CANARY}-api"}
    assert all(row["status"] == "ok" for row in _move.validate(source, target, plan))
    assert _state(source) == source_before, "the source was written"
    if source.backend.supports_versions and target.backend.supports_versions:
        assert target.get("database-password", version="previous", bypass_cache=True).value == f"{CANARY}-db-old"
    tags = target.describe("database-password").tags
    assert tags.get("team") == "payments" and tags.get("moved-by") == "test"
    moved = target.describe("api-key")
    assert moved.expires_at is not None and _expiry.whole_seconds(moved.expires_at) == EXPIRES
    assert (_expiry.EXPIRY_TAG in moved.tags) is not target.native_expiry  # the target's own field, or the tag
    assert target.describe("database-password").expires_at is None

    # a second run: nothing to write, no backup
    again, path, written = _run(source, target, settings, tmp_path)
    assert again.counts()["unchanged"] == 3 and not again.changes and path is None
    assert _values(target)["jwt-secret"] == f"{CANARY}-jwt"


@pytest.mark.parametrize("target_provider", WRITABLE)
def test_env_is_a_source(request, tmp_path, target_provider):
    target = _make(request, target_provider)
    environ = {"DATABASE_PASSWORD": f"{CANARY}-env-db", "JWT_SECRET": f"{CANARY}-env-jwt", "HOME": "/root"}
    source = SecretManager(EnvBackend(environ), prefix="")
    with pytest.raises(errors.InvalidOption, match="migrate_include"):
        _move.check_pair(source, target, _move.MoveSettings(), {"provider": "env"}, _migration.target_identity(target))
    settings = _move.MoveSettings(include=["database-password", "jwt-secret"])
    plan, _path, written = _run(source, target, settings, tmp_path)
    assert [row["name"] for row in written] == ["database-password", "jwt-secret"]
    assert _values(target) == {"database-password": f"{CANARY}-env-db", "jwt-secret": f"{CANARY}-env-jwt"}
    again, path, _written = _run(source, target, settings, tmp_path)
    assert not again.changes and path is None


@pytest.mark.parametrize("target_provider", ["gcp", "azure", "kubernetes"])
def test_names_the_target_refuses_are_refused_at_plan_time_with_a_rename(request, target_provider, local_manager):
    source, target = local_manager(), _make(request, target_provider)
    source.set("team/db+password", f"{CANARY}-a")
    source.set("ok-name", f"{CANARY}-b")
    settings = _move.MoveSettings()
    plan = _move.make_plan(source, target, settings, label="/vibebox-source/test")
    rows = {row.key: row for row in plan.rows}
    assert rows["team/db+password"].action == "refused" and rows["ok-name"].action == "create"
    assert "migrate_name_map" in rows["team/db+password"].reason
    assert plan.rename_map() == {"team/db+password": "team-db-password"}
    with pytest.raises(_move.MoveError, match="refused"):
        _move.apply(source, target, plan, settings, None)
    assert _values(target) == {}
    renamed = _move.MoveSettings(name_map=plan.rename_map())
    assert not _move.make_plan(source, target, renamed, label="/vibebox-source/test").refused


def test_skip_a_secret_changed_in_the_target_since_the_last_move(tmp_path, local_manager, vault_manager):
    source, target = local_manager(), vault_manager()
    source.set("jwt-secret", f"{CANARY}-1")
    settings = _move.MoveSettings()
    _run(source, target, settings, tmp_path)
    target.set("jwt-secret", f"{CANARY}-rotated-in-target")
    source.set("jwt-secret", f"{CANARY}-2")
    plan, path, _written = _run(source, target, settings, tmp_path)
    assert [(row.action, "changed since the last migration" in row.reason) for row in plan.rows] == [("skip", True)]
    assert path is None and target.get("jwt-secret", bypass_cache=True).value == f"{CANARY}-rotated-in-target"


def test_same_store_is_refused(local_manager):
    one, two = local_manager(), local_manager()
    identity = _migration.target_identity(one)
    with pytest.raises(_move.MoveError, match="same store"):
        _move.check_pair(one, two, _move.MoveSettings(), identity, _migration.target_identity(two))


def test_the_same_store_through_a_link_is_refused_and_a_copy_is_not(tmp_path):
    """A symlinked folder or a hard link names the same file: a move into it would validate, then delete_source
    would delete every secret. A copy of the file is another store (it shares the store id, not the file)."""
    import shutil

    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

    def local(folder, name="secrets.db"):
        return factory.build_manager({"provider": "local", "local_path": str(folder / name), "audit_log": "false",
                                      "local_key_file": str(tmp_path / "real" / "secrets.key"), "cache_ttl": 0}, env={})

    (tmp_path / "real").mkdir()
    original = local(tmp_path / "real")
    original.set("one", "x" * 20)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.link(tmp_path / "real" / "secrets.db", tmp_path / "real" / "hard.db")
    shutil.copy(tmp_path / "real" / "secrets.db", tmp_path / "real" / "copy.db")
    identity = _migration.target_identity(original)
    for other in (local(tmp_path / "link"), local(tmp_path / "real", "hard.db")):
        with pytest.raises(_move.MoveError, match="same store"):
            _move.check_pair(original, other, _move.MoveSettings(), identity, _migration.target_identity(other))
    copy = local(tmp_path / "real", "copy.db")
    _move.check_pair(original, copy, _move.MoveSettings(), identity, _migration.target_identity(copy))


def test_one_vault_at_two_addresses_is_the_same_store(vault_manager, vault_options):
    """localhost and 127.0.0.1 (or a node and its load balancer) reach one cluster: its cluster id says so."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(vault_options["vault_addr"])
    other_host = "localhost" if parts.hostname != "localhost" else "127.0.0.1"
    other_addr = urlunsplit(parts._replace(netloc=f"{other_host}:{parts.port}")) if parts.port else None
    if other_addr is None or parts.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("needs a server on this machine, reachable as localhost and 127.0.0.1")
    one, two = vault_manager(), vault_manager(vault_addr=other_addr)
    assert one.backend.instance_id() and one.backend.instance_id() == two.backend.instance_id()
    with pytest.raises(_move.MoveError, match="same store"):
        _move.check_pair(one, two, _move.MoveSettings(), _migration.target_identity(one), _migration.target_identity(two))
    _move.check_pair(one, vault_manager(prefix="elsewhere/"), _move.MoveSettings(), _migration.target_identity(one),
                     _migration.target_identity(two))  # another prefix of the same store: a move within it


def _delete_source(source, target, settings, tmp_path):
    """validate then delete_source on a fresh plan, as the module's delete_source step does."""
    source_id, target_id = _migration.target_identity(source), _migration.target_identity(target)
    shared = _move.check_pair(source, target, settings, source_id, target_id)
    plan = _move.make_plan(source, target, settings, label=_move.source_label(source, source_id), shared=shared)
    key = _backup.BackupKey.load(key_file=str(tmp_path / "backup.key"))
    return _move.delete_source(source, plan, _move.validate(source, target, plan), str(tmp_path / "backups"), key,
                               source_id)


def test_within_one_store_a_target_inside_the_source_is_refused(tmp_path, local_manager):
    """app/ -> app/v2/ of one store: each target is also a secret of the source, so a second run would move the
    copies again and delete_source would delete what the first run moved. Such a secret is refused until the
    source leaves the target's names out; then the move and delete_source leave the target whole."""
    source, inner = local_manager(prefix="app/"), local_manager(prefix="app/v2/")
    source.set("jwt-secret", f"{CANARY}-jwt")
    plan, path, written = _run(source, inner, _move.MoveSettings(), tmp_path)
    assert [(row.key, row.action) for row in plan.rows] == [("jwt-secret", "refused")] and path is None
    assert "leave 'v2/jwt-secret' out with migrate_exclude" in plan.rows[0].reason and CANARY not in plan.rows[0].reason
    assert inner.list() == []
    settings = _move.MoveSettings(exclude=["v2/*"])
    plan, _path, written = _run(source, inner, settings, tmp_path)
    assert [row["name"] for row in written] == ["jwt-secret"]
    done, _saved = _delete_source(source, inner, settings, tmp_path)
    assert [row["key"] for row in done] == ["jwt-secret"]
    assert _values(inner) == {"jwt-secret": f"{CANARY}-jwt"}
    assert _run(source, inner, settings, tmp_path)[0].rows == []  # a second run finds nothing to move


def test_within_one_store_a_name_map_onto_the_source_secret_itself_is_refused(tmp_path, local_manager):
    """app/v2/ -> app/ with jwt-secret renamed v2/jwt-secret: the target is the source secret itself. It looks
    unchanged and validates, so delete_source would delete the only copy; the plan refuses it instead."""
    source, outer = local_manager(prefix="app/v2/"), local_manager(prefix="app/")
    source.set("jwt-secret", f"{CANARY}-jwt")
    settings = _move.MoveSettings(name_map={"jwt-secret": "v2/jwt-secret"})
    plan, path, _written = _run(source, outer, settings, tmp_path)
    assert [(row.key, row.action) for row in plan.rows] == [("jwt-secret", "refused")] and path is None
    with pytest.raises(_move.MoveError, match="nothing was validated"):
        _delete_source(source, outer, settings, tmp_path)
    assert _values(source) == {"jwt-secret": f"{CANARY}-jwt"}


def test_delete_source_after_validation_with_its_own_backup(tmp_path, local_manager, vault_manager):
    source, target = local_manager(), vault_manager()
    source.set("api-key", f"{CANARY}-api", "partner", {"team": "x"})
    settings = _move.MoveSettings()
    plan, _path, _written = _run(source, target, settings, tmp_path)
    key = _backup.BackupKey.load(key_file=str(tmp_path / "backup.key"))
    identity = _migration.target_identity(source)
    with pytest.raises(_move.MoveError, match="not deleting"):
        _move.delete_source(source, plan, [], str(tmp_path / "backups"), key, identity)
    checks = _move.validate(source, target, plan)
    done, saved = _move.delete_source(source, plan, checks, str(tmp_path / "backups"), key, identity)
    assert [row["name"] for row in done] == ["api-key"] and source.list() == []
    with open(saved, "rb") as handle:
        assert CANARY.encode() not in handle.read()
    rows, _env, _warnings = _migration.rollback(source, _backup.read(saved, key), force=True)
    assert [row["action"] for row in rows] == ["restored"]
    assert source.get("api-key", bypass_cache=True).value == f"{CANARY}-api"
