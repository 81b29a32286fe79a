# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Moving secrets from one provider to another: plan, backup, apply, validate, delete the source.

The .env migration (migration.py) moves a file into a provider; a team that starts on the local
store, or leaves Vault for AWS, moves a whole provider. Both share the same guarantees, and this
module reuses the .env migration's pieces instead of writing them again:

- the backup file, its journal and undo file (backup.py), written in the .env migration's format
  with the target's previous state, so ``secret_migrate action=rollback`` (and the migrate role's
  rollback) undoes a move exactly as it undoes a .env migration;
- the target's identity check, the "changed in the target since the last migration" rule and the
  Vault capability check (migration.py), keyed by a *source label* instead of a .env path;
- the target's lock and the guard between requests (lock.py), taken by the module.

The source is only read (a SecretManager of its own), never written, except by ``delete_source``
after a successful validation, with a backup of its own. Values are compared by SHA-256 inside the
process and never leave it: rows, results, messages and audit entries carry names and actions only.
"""
from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import migration as _migration
from ansible_collections.vibebox.secrets.plugins.module_utils.core import names as _names
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    ReadOnlyProvider,
    SecretDeleted,
    SecretError,
    SecretNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, VersionInfo
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import (
    TAG_GRACE_UNTIL,
    TAG_GRACE_VERSION,
)

ACTIONS = ("create", "update", "unchanged", "skip", "refused")
WRITES = ("create", "update")
MIGRATED = ("create", "update", "unchanged")
#: migrate_versions: the current value only, or every readable version oldest first
VERSIONS = ("current", "all")
#: where the source label of a move lives in a backup's ``env_file`` field: an absolute path that is
#: no file, so the .env migration's history, rollback choice and backup names work unchanged
SOURCE_ROOT = "/vibebox-source"
AUDIT_MOVE = "migrate"
#: a source deletion is a migrate operation whose outcome says so (the audit log has no operation of its own for it)
AUDIT_DELETE_SOURCE = "migrate"


class MoveError(_migration.MigrationError):
    """A move that cannot go on; ``done`` lists what it had already written (names, never values)."""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _same(left: str, right: str) -> bool:
    return hmac.compare_digest(digest(left), digest(right))


def source_label(source: SecretManager, identity: Mapping[str, Any]) -> str:
    """``/vibebox-source/<provider>-<hash of identity and prefix>``: one label per source store.

    It stands where the .env migration keeps the .env file's path, so the earlier moves of the same
    source into the same target are found the way earlier migrations of one file are.
    """
    facts = json.dumps({"identity": dict(identity), "prefix": source.prefix or ""}, sort_keys=True)
    return f"{SOURCE_ROOT}/{source.provider}-{hashlib.sha256(facts.encode('utf-8')).hexdigest()[:12]}"


@dataclass
class MoveSettings:
    """What the user chose for one move; the same for every step of the run."""

    include: Sequence[str] = ("*",)
    exclude: Sequence[str] = ()
    #: source logical name -> target logical name
    name_map: Mapping[str, str] = field(default_factory=dict)
    versions: str = "current"
    overwrite: str = "unless-changed"
    #: tags added to every secret the move writes (the source's own tags win over them)
    tags: Optional[Mapping[str, str]] = None
    #: the strength policy of the current values the move writes (None: not checked)
    strength: Optional[_strength.Enforcer] = None

    def included(self, name: str) -> bool:
        include = list(self.include or ["*"])
        return (any(fnmatch.fnmatchcase(name, pattern) for pattern in include)
                and not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude or ()))

    def target_name(self, name: str) -> str:
        mapped = self.name_map.get(name) if self.name_map else None
        return str(mapped) if mapped else name

    def describe(self, _key: str) -> Optional[str]:
        """The capability check asks whether a create also writes metadata: a move always may."""
        return "moved"


@dataclass
class MoveRow:
    """One secret of the source and what the move does with it.

    ``key`` is the source's logical name and ``name`` the target's, the two fields a backup entry
    and a rollback row carry, so the .env migration's rollback reads a move's backup as its own.
    """

    key: str
    name: str
    action: str = "pending"
    reason: str = ""
    provider_name: Optional[str] = None
    source_name: Optional[str] = None
    suggestion: Optional[str] = None
    value: Optional[str] = field(default=None, repr=False)
    #: older versions to write before the current one (create with versions=all), oldest first
    history: List[Tuple[str, str]] = field(default_factory=list, repr=False)
    source_version: Optional[str] = None
    description: Optional[str] = None
    tags: Dict[str, str] = field(default_factory=dict)
    #: when the source secret expires (its provider's own field or the expiry tag), carried to the target
    expires_at: Optional[_dt.datetime] = None
    current: Optional[Secret] = field(default=None, repr=False)

    @property
    def version_count(self) -> int:
        return len(self.history) + (1 if self.value is not None else 0)

    def to_dict(self) -> Dict[str, Any]:
        data = {"key": self.key, "name": self.name, "provider_name": self.provider_name,
                "source_name": self.source_name, "action": self.action, "reason": self.reason,
                "versions": self.version_count if self.action in WRITES else 0}
        if self.suggestion:
            data["suggestion"] = self.suggestion
        return data


@dataclass
class MovePlan:
    source: str
    source_prefix: str
    label: str
    provider: str
    prefix: str
    rows: List[MoveRow]
    versions: str = "current"
    warnings: List[str] = field(default_factory=list)

    @property
    def changes(self) -> List[MoveRow]:
        return [row for row in self.rows if row.action in WRITES]

    @property
    def refused(self) -> List[MoveRow]:
        return [row for row in self.rows if row.action == "refused"]

    @property
    def migrated(self) -> List[MoveRow]:
        return [row for row in self.rows if row.action in MIGRATED]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def counts(self) -> Dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def rename_map(self) -> Dict[str, str]:
        """migrate_name_map entries that would make every refused name acceptable to the target."""
        return {row.key: row.suggestion for row in self.rows if row.action == "refused" and row.suggestion}

    def to_dict(self) -> Dict[str, Any]:
        return {"source": self.source, "source_prefix": self.source_prefix, "provider": self.provider,
                "prefix": self.prefix, "versions": self.versions, "rows": [row.to_dict() for row in self.rows],
                "counts": self.counts(), "rename_map": self.rename_map()}


# plan --------------------------------------------------------------------------------------------

def check_pair(source: SecretManager, target: SecretManager, settings: MoveSettings,
               source_identity: Mapping[str, Any], target_identity: Mapping[str, Any]) -> bool:
    """Refuse, before any read of a value, a move that cannot be right whatever the secrets are.

    Returns whether both sides are one store under prefixes that contain one another (``app/`` and
    ``app/v2/``): then one secret can be a source and a target at once, and make_plan must be told
    (``shared``) so that it refuses those secrets one by one.
    """
    if target.backend.read_only:
        raise ReadOnlyProvider("this provider is read-only, so nothing can be moved into it", provider=target.provider,
                               hint="Choose a target that stores secrets (local, vault, aws, gcp, azure, kubernetes)")
    if settings.versions not in VERSIONS:
        raise InvalidOption(f"migrate_versions must be one of {', '.join(VERSIONS)} (got '{settings.versions}')")
    if settings.overwrite not in _migration.OVERWRITE:
        raise InvalidOption(f"migrate_overwrite must be one of {', '.join(_migration.OVERWRITE)}"
                            f" (got '{settings.overwrite}')")

    def instance_ids() -> Tuple[Optional[str], Optional[str]]:
        return source.backend.instance_id(), target.backend.instance_id()

    source_prefix, target_prefix = source.prefix or "", target.prefix or ""
    nested = source_prefix.startswith(target_prefix) or target_prefix.startswith(source_prefix)
    shared = (source.provider == target.provider and nested
              and same_store(source_identity, target_identity, instance_ids))
    if shared and source_prefix == target_prefix:
        raise MoveError(
            f"the source and the target are the same store ({_migration.describe_identity(target_identity)},"
            f" prefix '{target.prefix or ''}')",
            hint="Nothing was written. Give the source's options in migrate_from_options and the target's as provider"
            " options; a different prefix on either side moves secrets within one store")
    if source.provider == "env" and list(settings.include or ["*"]) == ["*"]:
        raise InvalidOption(
            "the env provider lists every environment variable of the process; say which ones to move",
            hint="Give migrate_include (for example ['database-password', 'jwt-*']): names are the variables in lower"
            " case with '-' for '_'")
    return shared


def same_store(one: Mapping[str, Any], other: Mapping[str, Any],
               instance_ids: Optional[Callable[[], Tuple[Optional[str], Optional[str]]]] = None) -> bool:
    """Whether two identities name one store (a move from a store into itself would validate and then, with
    delete_source, delete every secret it just 'moved'). A file path is compared as the file it names, so a
    symlink, a hard link or a path spelled another way is the same store; a server reached at two addresses is
    the same when ``instance_ids`` (asked only then) gives one id for both (Vault's cluster id)."""
    one, other = dict(one), dict(other)
    if one.get("path") and other.get("path") and _same_file(str(one["path"]), str(other["path"])):
        other["path"] = one["path"]
    if one.get("address") and other.get("address") and one["address"] != other["address"] and instance_ids:
        first, second = instance_ids()
        if first and first == second:
            other["address"] = one["address"]
    return _migration.identity_matches(one, other) and _migration.identity_matches(other, one)


def _same_file(one: str, other: str) -> bool:
    try:
        first, second = os.stat(one), os.stat(other)
    except OSError:
        return os.path.realpath(one) == os.path.realpath(other)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


#: the characters each provider's name rule accepts (names.py), for the rename suggestion of a refused name
_ALLOWED = {
    "aws": "A-Za-z0-9/_+=.@-",
    "gcp": "A-Za-z0-9_-",
    "azure": "A-Za-z0-9-",
    "vault": "A-Za-z0-9_.@+=/-",
    "kubernetes": "A-Za-z0-9._-",
    "local": "A-Za-z0-9_.@+=/-",
}


def suggest_name(provider: str, name: str, prefix: Optional[str]) -> Optional[str]:
    """A name the target accepts, made from ``name`` by turning what its rule forbids into '-'."""
    allowed = _ALLOWED.get(provider)
    if allowed is None:
        return None
    candidate = re.sub(f"[^{allowed}]", "-", name)
    candidate = re.sub(r"-{2,}", "-", re.sub(r"/{2,}", "/", candidate)).strip("-/")
    if not candidate or candidate == name:
        return None
    try:
        _names.to_provider_name(provider, candidate, prefix)
    except SecretError:
        return None
    return candidate


def make_plan(source: SecretManager, target: SecretManager, settings: MoveSettings, *,
              label: str, history: Optional[_migration.History] = None,
              keys: Optional[Sequence[str]] = None, shared: bool = False) -> MovePlan:
    """Every source secret with its target name and action, before any write.

    Reads: one listing of the source, one batch read of each side and one describe per secret
    (description and tags). Older versions are read by read_history(), only by the step that writes
    them. ``keys`` limits the plan to those source names (the role applies in batches). ``shared``:
    what check_pair returned (one store, nested prefixes).
    """
    listed = source.list()
    if keys is not None:
        missing = [key for key in keys if key not in listed]
        if missing:
            raise MoveError(f"no longer in the source: {', '.join(missing)}",
                            hint="The source changed since the plan; run the move again for a fresh plan")
        listed = [name for name in listed if name in set(keys)]
    rows = [_row(source, target, settings, name) for name in listed if settings.included(name)]
    if shared:
        _refuse_targets_in_source(source, settings, rows)
    _refuse_shared_names(rows)
    _read_source(source, target, [row for row in rows if row.action == "pending"])
    _compare(target, [row for row in rows if row.action == "pending"])
    plan = MovePlan(source.provider, source.prefix or "", label, target.provider, target.prefix or "", rows,
                    versions=settings.versions)
    _migration._keep_changed(target, settings, rows, history)  # same rule as the .env migration
    _migration.police(settings.strength, plan.rows, plan.warnings, refuse_as="refused")  # as the .env migration
    _check_access(target, settings, plan)
    if history is not None:
        plan.warnings.extend(history.warnings())
    return plan


def _row(source: SecretManager, target: SecretManager, settings: MoveSettings, name: str) -> MoveRow:
    row = MoveRow(key=name, name=settings.target_name(name))
    try:
        row.source_name = source.provider_name(name)
    except SecretError as exc:  # pragma: no cover - listed names come from the source itself
        row.action, row.reason = "refused", str(exc.reason)
        return row
    try:
        row.provider_name = target.provider_name(row.name)
    except SecretError as exc:
        row.action = "refused"
        row.suggestion = suggest_name(target.provider, row.name, target.prefix)
        fix = (f"; rename it with migrate_name_map: {{'{row.key}': '{row.suggestion}'}}" if row.suggestion
               else "; rename it with migrate_name_map")
        row.reason = f"the {target.provider} name rule refuses it: {exc.reason}{fix}"
    return row


def _refuse_targets_in_source(source: SecretManager, settings: MoveSettings, rows: List[MoveRow]) -> None:
    """Within one store, refuse a secret whose target is itself a secret of the source (under its prefix and
    included): the move would overwrite a secret it moves, a later run would move its own copies again, and
    delete_source, finding the target equal to itself, would delete what was moved."""
    for row in rows:
        if row.action != "pending" or not row.provider_name:
            continue
        inside = _names.to_logical_name(source.provider, row.provider_name, source.prefix)
        if inside is None or not settings.included(inside):
            continue
        row.action = "refused"
        row.reason = (f"its target {row.provider_name} is the source's secret '{inside}' (one store, prefix"
                      f" '{source.prefix or ''}' contains it): leave '{inside}' out with migrate_exclude, or"
                      " choose prefixes that do not contain one another")


def _refuse_shared_names(rows: List[MoveRow]) -> None:
    by_name: Dict[str, List[MoveRow]] = {}
    for row in rows:
        if row.action == "pending":
            by_name.setdefault(row.provider_name or "", []).append(row)
    for sharing in by_name.values():
        if len(sharing) > 1:
            keys = ", ".join(row.key for row in sharing)
            for row in sharing:
                row.action = "refused"
                row.reason = f"{keys} map to the same target secret '{row.name}'; tell them apart with migrate_name_map"


def _read_source(source: SecretManager, target: SecretManager, rows: List[MoveRow]) -> None:
    """Current value, description and tags of each source secret."""
    if not rows:
        return
    outcomes = source.get_many([row.key for row in rows], bypass_cache=True)
    for row in rows:
        outcome = outcomes.get(row.key)
        if isinstance(outcome, SecretDeleted) or isinstance(outcome, SecretNotFound) or outcome is None:
            row.action, row.reason = "skip", "scheduled for deletion in the source" if isinstance(
                outcome, SecretDeleted) else "gone from the source since it was listed"
            continue
        if isinstance(outcome, SecretError):
            raise outcome
        row.value = outcome.value
        row.source_version = outcome.metadata.version
        meta = outcome.metadata
        if not source.backend.version_reads_carry_tags or meta.description is None:
            try:
                meta = source.describe(row.key)
            except SecretError:
                meta = outcome.metadata
        row.description = meta.description
        row.tags = {str(k): str(v) for k, v in (meta.tags or {}).items()}
        row.expires_at = meta.expires_at
        try:
            target.check_value(row.name, row.value)
        except SecretError as exc:
            row.action, row.reason = "refused", str(exc.reason)


def _compare(target: SecretManager, rows: List[MoveRow]) -> None:
    if not rows:
        return
    outcomes = target.get_many([row.name for row in rows], bypass_cache=True)
    for row in rows:
        outcome = outcomes.get(row.name)
        if isinstance(outcome, Secret):
            row.current = outcome
            row.action = "unchanged" if _same(outcome.value, row.value or "") else "update"
        elif isinstance(outcome, SecretDeleted):
            row.action = "refused"
            row.reason = ("the target secret is scheduled for deletion; restore it or delete it for good,"
                          " or leave it out with migrate_exclude")
        elif isinstance(outcome, SecretNotFound) or outcome is None:
            row.action = "create"
        elif isinstance(outcome, SecretError):
            raise outcome


def _check_access(target: SecretManager, settings: MoveSettings, plan: MovePlan) -> None:
    """The .env migration's capability check (Vault: sys/capabilities-self), with 'refused' for 'blocked'."""
    _migration._check_access(target, settings, plan)  # type: ignore[arg-type]
    for row in plan.rows:
        if row.action == "blocked":
            row.action = "refused"


def _version_order(info: VersionInfo) -> Tuple[float, int, str]:
    moment = info.created_at.timestamp() if isinstance(info.created_at, _dt.datetime) else 0.0
    number = int(info.version) if str(info.version).isdigit() else 0
    return (moment, number, str(info.version))


def read_history(source: SecretManager, rows: List[MoveRow]) -> None:
    """With versions=all: every older readable version of each secret the move creates, oldest first.

    A secret that exists in the target keeps its own history; only its current value moves.
    """
    for row in rows:
        if row.action != "create":
            continue
        try:
            infos = source.versions(row.key)
        except SecretError:
            continue
        older = [info for info in sorted(infos, key=_version_order)
                 if info.enabled and not info.destroyed and str(info.version) != str(row.source_version)
                 and "current" not in [str(stage).lower() for stage in info.stages]]
        for info in older:
            try:
                secret = source.get(row.key, version=source.any_version(str(info.version)), bypass_cache=True)
            except SecretError:
                continue  # disabled, destroyed or expired since the listing: not readable, not moved
            row.history.append((str(info.version), secret.value))


# backup ------------------------------------------------------------------------------------------

def write_backup(plan: MovePlan, backup_dir: str, key: _backup.BackupKey, path: Optional[str] = None,
                 identity: Optional[Mapping[str, Any]] = None,
                 source_identity: Optional[Mapping[str, Any]] = None) -> str:
    """The target's previous value and metadata of every secret the move changes, in the migration's format."""
    entries = []
    for row in plan.changes:
        previous = None
        if row.current is not None:
            meta = row.current.metadata
            previous = {"value": row.current.value, "version": meta.version, "description": meta.description,
                        "tags": dict(meta.tags or {})}
        entries.append({"key": row.key, "name": row.name, "provider_name": row.provider_name, "action": row.action,
                        "previous": previous, "new_sha256": digest(row.value or "")})
    header = {
        "env_file": plan.label,
        "kind": "provider-move",
        "source": {"provider": plan.source, "prefix": plan.source_prefix, "identity": dict(source_identity or {})},
        "provider": plan.provider,
        "prefix": plan.prefix,
        "env_rewrite": False,
        "entries": [{"key": row.key, "name": row.name, "action": row.action} for row in plan.changes],
    }
    if identity:
        header["target"] = dict(identity)
    return _backup.write(backup_dir, plan.label, header, {"entries": entries}, key, path=path)


def _check_covered(plan: MovePlan, saved: _backup.Backup) -> None:
    """Each write is in the backup, and the target secret is still as the backup saw it."""
    if saved.header.get("env_file") != plan.label:
        raise MoveError(f"the backup {saved.path} is of another source ({saved.header.get('env_file')}),"
                        f" not of {plan.label}")
    index = {entry["key"]: entry for entry in saved.entries}
    problems = []
    for row in plan.changes:
        entry = index.get(row.key)
        if entry is None or entry.get("name") != row.name:
            problems.append(f"'{row.key}' is not in the backup")
            continue
        previous = entry.get("previous")
        if previous is None and row.current is not None:
            problems.append(f"'{row.name}' was created in the target by somebody else since the backup")
        elif previous is not None and (row.current is None or not _same(row.current.value, previous["value"])):
            problems.append(f"'{row.name}' was changed or removed in the target by somebody else since the backup")
    if problems:
        raise MoveError("the backup no longer matches the target: " + "; ".join(problems),
                        hint="Nothing was written; run the move again for a fresh plan and backup")


# apply -------------------------------------------------------------------------------------------

def _final_tags(row: MoveRow, settings: MoveSettings, mapped: Mapping[str, str]) -> Dict[str, str]:
    """The source's tags (over the move's own), with the rotation's grace pointing at the target's version.

    The grace tags name a version id of the source; in the target that version has another id, or
    is not there at all (versions=current), where the grace has nothing left to protect.
    """
    tags = dict(settings.tags or {})
    tags.update(row.tags)
    protected = tags.get(TAG_GRACE_VERSION)
    if protected:
        if protected in mapped:
            tags[TAG_GRACE_VERSION] = mapped[protected]
        else:
            tags.pop(TAG_GRACE_VERSION, None)
            tags.pop(TAG_GRACE_UNTIL, None)
    return tags


def _expiry_for(target: SecretManager, row: MoveRow, tags: Dict[str, str]) -> Optional[_dt.datetime]:
    """Carry the source's expiry over: the date to write into the target's own expiry field (None: nothing to do).

    A provider without an expiry field keeps the date as the expiry tag (put into ``tags`` here, whatever
    the source kept it in). A provider with an expiry of its own (``native_expiry``: Azure, GCP, and Vault
    when asked to delete versions at the expiry) gets it there, by set_expiry after the write, without the tag. A date already past stays a tag there:
    GCP would delete the secret at once and Key Vault would refuse to return it, so the move would destroy
    what it copies.
    """
    if row.expires_at is None:
        return None
    if not target.native_expiry:
        tags[_expiry.EXPIRY_TAG] = _expiry.show(row.expires_at) or ""
        return None
    if row.expires_at <= _expiry.utcnow():
        tags[_expiry.EXPIRY_TAG] = _expiry.show(row.expires_at) or ""
        return None
    tags.pop(_expiry.EXPIRY_TAG, None)
    return _expiry.whole_seconds(row.expires_at)


def apply(source: SecretManager, target: SecretManager, plan: MovePlan, settings: MoveSettings,
          saved: Optional[_backup.Backup], check_mode: bool = False,
          progress: Optional[Callable[[int, int, str], None]] = None) -> List[Dict[str, Any]]:
    """Write every create/update of ``plan`` into the target (older versions first), after the backup checks."""
    if plan.refused:
        raise MoveError("refused secrets: " + ", ".join(row.key for row in plan.refused),
                        hint="Rename them (migrate_name_map) or leave them out (migrate_exclude); the plan says why")
    if saved is not None:
        _migration._check_target(target, saved)
        _check_covered(plan, saved)
    elif plan.changes and not check_mode:
        raise MoveError("refusing to write without a backup", hint="Give backup=PATH or backup_dir")
    done: List[Dict[str, Any]] = []
    total = len(plan.changes)
    for row in plan.changes:
        if check_mode:
            done.append({"key": row.key, "name": row.name, "action": row.action, "version": None,
                         "versions": row.version_count})
            continue
        mapped: Dict[str, str] = {}
        try:
            for source_version, value in row.history:
                meta = target.set(row.name, value, row.description, dict(settings.tags or {}) or None)
                if meta.version is not None:
                    mapped[source_version] = str(meta.version)
            tags = _final_tags(row, settings, mapped)
            native_expiry = _expiry_for(target, row, tags)
            meta = target.set(row.name, row.value or "", row.description, tags or None)
            if native_expiry is not None:
                meta = target.set_expiry(row.name, native_expiry, tags)
        except SecretError as exc:
            target.audit.operation(AUDIT_MOVE, [row.name], ok=False, error=exc,
                                   versions={row.name: {"before": _migration._version_of(row.current)}})
            raise MoveError(f"writing '{row.name}' (from '{row.key}') failed after {len(done)} of {total} writes: {exc}",
                            done=done)
        done.append({"key": row.key, "name": row.name, "action": row.action, "version": meta.version,
                     "versions": row.version_count})
        target.audit.operation(AUDIT_MOVE, [row.name], ok=True, outcome=row.action,
                               versions={row.name: {"before": _migration._version_of(row.current),
                                                    "after": meta.version}})
        if saved is not None:
            _backup.record_event(saved.path, "written", name=row.name, version=meta.version, action=row.action,
                                 versions=row.version_count)
            if len(done) == 1:
                _migration._record_created_target(target, saved)
        if progress is not None:
            progress(len(done), total, row.name)
    return done


# validate ----------------------------------------------------------------------------------------

def validate(source: SecretManager, target: SecretManager, plan: MovePlan) -> List[Dict[str, Any]]:
    """Read both sides again and compare each moved secret by digest (never shown)."""
    rows = plan.migrated
    if not rows:
        return []
    sources = source.get_many([row.key for row in rows], bypass_cache=True)
    targets = target.get_many([row.name for row in rows], bypass_cache=True)
    results = []
    for row in rows:
        mine, theirs = sources.get(row.key), targets.get(row.name)
        result = {"key": row.key, "name": row.name, "status": "ok", "reason": ""}
        if not isinstance(mine, Secret):
            result.update(status="error", reason=f"cannot read the source: {mine}")
        elif isinstance(theirs, Secret):
            if not _same(mine.value, theirs.value):
                result.update(status="mismatch", reason="the target holds another value than the source")
        elif isinstance(theirs, SecretDeleted):
            result.update(status="missing", reason="scheduled for deletion in the target")
        elif isinstance(theirs, SecretNotFound) or theirs is None:
            result.update(status="missing")
        else:
            result.update(status="error", reason=str(theirs))
        results.append(result)
    return results


# deleting the source -----------------------------------------------------------------------------

def delete_source(source: SecretManager, plan: MovePlan, checks: List[Dict[str, Any]], backup_dir: str,
                  key: _backup.BackupKey, identity: Mapping[str, Any], check_mode: bool = False,
                  path: Optional[str] = None) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """After a validation where every moved secret matched: back the source up, then delete each one.

    The backup is of the source, in the migration's format (previous = the source's value, written
    by nobody), so ``secret_migrate action=rollback`` with the source's options puts them back.
    Returns (rows, backup path).
    """
    if source.backend.read_only:
        raise ReadOnlyProvider("the source is read-only: migrate_delete_source cannot delete from it",
                               provider=source.provider, hint="Leave migrate_delete_source false for this source")
    ok = {item["key"] for item in checks if item["status"] == "ok"}
    bad = [row.key for row in plan.migrated if row.key not in ok]
    if bad or not checks:
        why = ", ".join(bad) + " did not validate" if bad else "nothing was validated"
        raise MoveError("not deleting the source: " + why,
                        hint="The source is deleted only after a validation where every moved secret matched")
    rows = plan.migrated
    current = source.get_many([row.key for row in rows], bypass_cache=True)
    entries = []
    for row in rows:
        secret = current.get(row.key)
        if not isinstance(secret, Secret) or not _same(secret.value, row.value or ""):
            raise MoveError(f"not deleting the source: '{row.key}' changed in the source since the plan",
                            hint="Nothing was deleted; run the move again")
        meta = secret.metadata
        entries.append({"key": row.key, "name": row.key, "provider_name": row.source_name, "action": "delete",
                        "previous": {"value": secret.value, "version": meta.version, "description": row.description,
                                     "tags": dict(row.tags)}, "new_sha256": None})
    if check_mode:
        return [{"key": row.key, "name": row.key, "action": "deleted", "version": None} for row in rows], None
    header = {"env_file": plan.label + "-deleted", "kind": "provider-move-source", "provider": source.provider,
              "prefix": source.prefix or "", "target": dict(identity), "env_rewrite": False,
              "entries": [{"key": row.key, "name": row.key, "action": "delete"} for row in rows]}
    saved = _backup.write(backup_dir, plan.label + "-deleted", header, {"entries": entries}, key, path=path)
    _backup.record_event(saved, "started", durable=True)
    done: List[Dict[str, Any]] = []
    for row in rows:
        try:
            source.delete(row.key)
        except SecretError as exc:
            source.audit.operation(AUDIT_DELETE_SOURCE, [row.key], ok=False, error=exc)
            raise MoveError(f"deleting '{row.key}' from the source failed after {len(done)} of {len(rows)}: {exc};"
                            f" the source's backup is {saved}", done=done)
        source.audit.operation(AUDIT_DELETE_SOURCE, [row.key], ok=True, outcome="source-deleted")
        _backup.record_event(saved, "written", name=row.key, version=None, action="delete")
        done.append({"key": row.key, "name": row.key, "action": "deleted", "version": None})
    _backup.record_event(saved, "complete", durable=True)
    return done, saved
