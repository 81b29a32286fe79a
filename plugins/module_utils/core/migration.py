# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Moving a .env file into a secret manager: plan, backup, apply, validate, rewrite, rollback.

The seed's migrate-secrets.sh as plain Python over a SecretManager, so every step is testable with
pytest against every provider, and the role only orders the steps (DESIGN.md 8: logic in modules).

Safety rules, each enforced here and not left to the caller:

- The plan compares each key with what the provider holds by SHA-256 of the value, in one batch
  read; plans, results and messages carry names and actions, never a value or a hash of one (an
  unsalted hash of a short password is a password).
- Nothing is written before a backup exists that covers every write, can be decrypted with the key
  at hand, and still describes the provider's state (``apply`` re-checks each secret against it).
- Rollback is driven by the backup alone and compares before it acts: a secret is deleted only if
  it still holds the value the migration wrote, and restored only if it holds that value or is
  gone; anything else is somebody else's change and is reported, not overwritten (unless forced).
  So a rollback can be repeated, and works after a crash half-way through ``apply``.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import dotenv as _dotenv
from ansible_collections.vibebox.secrets.plugins.module_utils.core import references as _references
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    ReadOnlyProvider,
    SecretDeleted,
    SecretError,
    SecretNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret

ACTIONS = ("create", "update", "unchanged", "skip", "blocked")
WRITES = ("create", "update")
MIGRATED = ("create", "update", "unchanged")
DEFAULT_DESCRIPTION = "Migrated from {file} ({key})"
# what a ${secret:NAME} reference accepts as NAME (references.py), to refuse names the rewrite cannot express
_REFERENCE_NAME = re.compile(r"[A-Za-z0-9_.+=/-]+")


class MigrationError(SecretError):
    """A step that cannot go on; ``done`` lists what it had already changed (names, never values)."""

    kind = "migration"

    def __init__(self, reason: str, *, hint: Optional[str] = None, done: Optional[List[Dict[str, Any]]] = None,
                 **context: Optional[str]) -> None:
        super().__init__(reason, hint=hint, **context)
        self.done = list(done or [])


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def same(value: str, sha256_hex: Optional[str]) -> bool:
    return sha256_hex is not None and hmac.compare_digest(digest(value), sha256_hex)


def secret_name(key: str, name_map: Optional[Mapping[str, str]] = None) -> str:
    """``DATABASE_PASSWORD`` -> ``database-password`` (DESIGN.md 5), unless the map names it."""
    if name_map and key in name_map and name_map[key]:
        return str(name_map[key])
    return key.lower().replace("_", "-")


def reference(name: str) -> str:
    return "${secret:%s}" % name


@dataclass
class Settings:
    """What the user chose; the same for every step of one run."""

    env_file: str
    include: Sequence[str] = ("*",)
    exclude: Sequence[str] = ()
    name_map: Mapping[str, str] = field(default_factory=dict)
    description: Optional[str] = DEFAULT_DESCRIPTION
    tags: Optional[Mapping[str, str]] = None
    rewrite_env: bool = False

    def included(self, key: str) -> bool:
        include = list(self.include or ["*"])
        return (any(fnmatch.fnmatchcase(key, pattern) for pattern in include)
                and not any(fnmatch.fnmatchcase(key, pattern) for pattern in self.exclude or ()))

    def describe(self, key: str) -> Optional[str]:
        if not self.description:
            return None
        return self.description.replace("{file}", os.path.basename(self.env_file)).replace("{key}", key)


@dataclass
class Row:
    """One key of the .env file and what the migration does with it."""

    key: str
    name: Optional[str]
    action: str
    reason: str = ""
    line: int = 0
    provider_name: Optional[str] = None
    value: Optional[str] = field(default=None, repr=False)
    current: Optional[Secret] = field(default=None, repr=False)

    def to_dict(self) -> Dict[str, Any]:
        return {"key": self.key, "name": self.name, "provider_name": self.provider_name,
                "action": self.action, "reason": self.reason, "line": self.line}


@dataclass
class EnvFile:
    path: str
    data: bytes = field(repr=False)
    mode: int = 0o600

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass
class Plan:
    env: EnvFile
    provider: str
    prefix: str
    rows: List[Row]
    rewrite_env: bool = False
    new_env: Optional[bytes] = field(default=None, repr=False)

    @property
    def changes(self) -> List[Row]:
        return [row for row in self.rows if row.action in WRITES]

    @property
    def blocked(self) -> List[Row]:
        return [row for row in self.rows if row.action == "blocked"]

    @property
    def migrated(self) -> List[Row]:
        return [row for row in self.rows if row.action in MIGRATED]

    @property
    def env_changes(self) -> bool:
        return self.new_env is not None and self.new_env != self.env.data

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.env_changes

    def counts(self) -> Dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def to_dict(self) -> Dict[str, Any]:
        return {"env_file": self.env.path, "provider": self.provider, "prefix": self.prefix,
                "rows": [row.to_dict() for row in self.rows], "counts": self.counts(),
                "env_rewrite": self.env_changes}


# reading the .env file ---------------------------------------------------------------------------

def read_env(path: str) -> EnvFile:
    # the real path: a rewrite or restore must replace the file a symlink points to, not the link
    full = os.path.realpath(os.path.expanduser(path))
    try:
        with open(full, "rb") as handle:
            data = handle.read()
        mode = stat.S_IMODE(os.stat(full).st_mode)
    except FileNotFoundError:
        raise MigrationError(f"the .env file {full} does not exist",
                             hint="Give its path with -e env_file=PATH (relative paths start at the current folder)")
    except OSError as exc:
        raise MigrationError(f"cannot read the .env file {full}: {exc.strerror}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise MigrationError(f"the .env file {full} is not UTF-8 text")
    return EnvFile(full, data, mode)


def _effective_value(entry: _dotenv.DotenvEntry, source: str) -> Tuple[Optional[str], bool]:
    """(value an application gets, whether it holds references), as the dotenv lookup reads it.

    Single quotes are literal. Otherwise ``$${`` is an escaped ``${``; text that is not a valid
    reference is kept as written (plain dotenv loaders do that, and it may well be a password).
    """
    if entry.quote == "'" or not _references.has_references(entry.value):
        return entry.value, False
    try:
        template = _references.parse(entry.value, source=source, line=entry.line,
                                     column=entry.column + (1 if entry.quote else 0))
    except SecretError:
        return entry.value, False
    if template.references:
        return None, True
    return template.render(lambda _reference: ""), False


def entries_by_key(env: EnvFile) -> Dict[str, _dotenv.DotenvEntry]:
    """Last assignment of each key (what loaders use), in the order keys first appear."""
    found: Dict[str, _dotenv.DotenvEntry] = {}
    for entry in _dotenv.parse(env.text, source=env.path):
        found[entry.key] = entry
    return found


# plan --------------------------------------------------------------------------------------------

def make_plan(manager: SecretManager, settings: Settings, keys: Optional[Sequence[str]] = None) -> Plan:
    """Every key with its target name and action, from one batch read of the provider."""
    if manager.backend.read_only:
        raise ReadOnlyProvider("this provider is read-only, so nothing can be migrated into it",
                               provider=manager.provider,
                               hint="Choose a provider that stores secrets (local, vault, aws, gcp, azure, kubernetes)")
    env = read_env(settings.env_file)
    entries = entries_by_key(env)
    if keys is not None:
        unknown = [key for key in keys if key not in entries]
        if unknown:
            raise MigrationError(f"not in {env.path}: {', '.join(unknown)}",
                                 hint="The .env file changed since the plan; run the migration again")
        entries = {key: entries[key] for key in keys}
    rows: List[Row] = []
    for key, entry in entries.items():
        rows.append(_row(manager, settings, env, key, entry))
    _block_shared_names(rows)
    _compare(manager, [row for row in rows if row.action == "pending"])
    plan = Plan(env, manager.provider, manager.prefix or "", rows, rewrite_env=settings.rewrite_env)
    if settings.rewrite_env and keys is None:
        plan.new_env = rewritten(plan)
    return plan


def _row(manager: SecretManager, settings: Settings, env: EnvFile, key: str, entry: _dotenv.DotenvEntry) -> Row:
    row = Row(key, None, "skip", line=entry.key_line)
    if not settings.included(key):
        row.reason = "excluded by migrate_include/migrate_exclude"
        return row
    value, is_reference = _effective_value(entry, env.path)
    if is_reference:
        row.reason = "already a reference"
        return row
    if value == "":
        row.reason = "empty value"
        return row
    row.name = secret_name(key, settings.name_map)
    row.value = value
    try:
        row.provider_name = manager.provider_name(row.name)
        manager.check_value(row.name, value)
    except SecretError as exc:
        row.action, row.reason = "blocked", str(exc)
        return row
    if settings.rewrite_env and not _REFERENCE_NAME.fullmatch(row.name):
        row.action = "blocked"
        row.reason = f"'{row.name}' cannot be written as a ${{secret:...}} reference; rename it with migrate_name_map"
        return row
    row.action = "pending"
    return row


def _block_shared_names(rows: List[Row]) -> None:
    by_name: Dict[str, List[Row]] = {}
    for row in rows:
        if row.action == "pending":
            by_name.setdefault(row.provider_name or "", []).append(row)
    for sharing in by_name.values():
        if len(sharing) > 1:
            keys = ", ".join(row.key for row in sharing)
            for row in sharing:
                row.action = "blocked"
                row.reason = f"{keys} map to the same secret '{row.name}'; tell them apart with migrate_name_map"


def _compare(manager: SecretManager, rows: List[Row]) -> None:
    if not rows:
        return
    outcomes = manager.get_many([row.name for row in rows], bypass_cache=True)
    for row in rows:
        outcome = outcomes.get(row.name)
        if isinstance(outcome, Secret):
            row.current = outcome
            row.action = "unchanged" if hmac.compare_digest(digest(outcome.value), digest(row.value)) else "update"
        elif isinstance(outcome, SecretDeleted):
            row.action = "blocked"
            row.reason = ("the secret is scheduled for deletion; restore it (vibebox.secrets.secret state=present)"
                          " or delete it for good, or exclude the key")
        elif isinstance(outcome, SecretNotFound) or outcome is None:
            row.action = "create"
        elif isinstance(outcome, SecretError):
            raise outcome
        else:  # pragma: no cover - get_many returns Secret or SecretError
            raise MigrationError(f"unexpected answer for '{row.name}'")


def rewritten(plan: Plan) -> bytes:
    """The .env file with every migrated key replaced by its reference (layout kept)."""
    replacements = {row.key: reference(row.name) for row in plan.migrated}
    return _dotenv.rewrite(plan.env.text, replacements, source=plan.env.path).encode("utf-8")


# backup ------------------------------------------------------------------------------------------

def write_backup(plan: Plan, backup_dir: str, key: _backup.BackupKey, path: Optional[str] = None) -> str:
    """The previous value and metadata of every secret the plan changes, and the .env file."""
    entries = []
    for row in plan.changes:
        previous = None
        if row.current is not None:
            meta = row.current.metadata
            previous = {"value": row.current.value, "version": meta.version, "description": meta.description,
                        "tags": dict(meta.tags or {})}
        entries.append({"key": row.key, "name": row.name, "provider_name": row.provider_name,
                        "action": row.action, "previous": previous, "new_sha256": digest(row.value)})
    header = {
        "env_file": plan.env.path,
        "provider": plan.provider,
        "prefix": plan.prefix,
        "env_rewrite": plan.env_changes,
        "entries": [{"key": row.key, "name": row.name, "action": row.action} for row in plan.changes],
    }
    payload = {
        "entries": entries,
        "env": {"path": plan.env.path, "mode": plan.env.mode,
                "content_b64": base64.b64encode(plan.env.data).decode("ascii")},
    }
    return _backup.write(backup_dir, plan.env.path, header, payload, key, path=path)


def _check_target(manager: SecretManager, saved: _backup.Backup) -> None:
    provider, prefix = saved.header.get("provider"), saved.header.get("prefix") or ""
    if provider != manager.provider or prefix != (manager.prefix or ""):
        raise MigrationError(
            f"the backup {saved.path} is of provider '{provider}' with prefix '{prefix}', but this run uses"
            f" provider '{manager.provider}' with prefix '{manager.prefix or ''}'",
            hint="Give the same provider options as the migration (provider=..., prefix=... and the provider's address)",
        )


# apply -------------------------------------------------------------------------------------------

def apply(manager: SecretManager, plan: Plan, settings: Settings, saved: Optional[_backup.Backup],
          check_mode: bool = False) -> List[Dict[str, Any]]:
    """Write every create/update of ``plan``, after checking each one against the backup."""
    if plan.blocked:
        raise MigrationError("blocked keys: " + ", ".join(row.key for row in plan.blocked),
                             hint="Fix or exclude them (migrate_exclude); the plan says why for each")
    if saved is not None:
        _check_target(manager, saved)
        _check_covered(plan, saved)
    elif plan.changes and not check_mode:
        raise MigrationError("refusing to write without a backup", hint="Give backup=PATH or backup_dir")
    done: List[Dict[str, Any]] = []
    for row in plan.changes:
        if check_mode:
            done.append({"key": row.key, "name": row.name, "action": row.action, "version": None})
            continue
        try:
            if row.action == "create":
                meta = manager.set(row.name, row.value, settings.describe(row.key), dict(settings.tags) if settings.tags else None)
            else:
                meta = manager.set(row.name, row.value)
        except SecretError as exc:
            raise MigrationError(
                f"writing '{row.name}' ({row.key}) failed after {len(done)} of {len(plan.changes)} writes: {exc}",
                done=done,
            )
        done.append({"key": row.key, "name": row.name, "action": row.action, "version": meta.version})
    return done


def _check_covered(plan: Plan, saved: _backup.Backup) -> None:
    """Each write is in the backup, and the secret is still as the backup saw it."""
    if saved.header.get("env_file") != plan.env.path:
        raise MigrationError(f"the backup {saved.path} is of {saved.header.get('env_file')}, not of {plan.env.path}")
    index = {entry["key"]: entry for entry in saved.entries}
    problems = []
    for row in plan.changes:
        entry = index.get(row.key)
        if entry is None or entry.get("name") != row.name:
            problems.append(f"{row.key} is not in the backup")
            continue
        previous = entry.get("previous")
        if previous is None and row.current is not None:
            problems.append(f"'{row.name}' was created by somebody else since the backup")
        elif previous is not None and (row.current is None or not same(row.current.value, digest(previous["value"]))):
            problems.append(f"'{row.name}' was changed or removed by somebody else since the backup")
    if problems:
        raise MigrationError("the backup no longer matches the provider: " + "; ".join(problems),
                             hint="Nothing was written; run the migration again for a fresh plan and backup")


# validate ----------------------------------------------------------------------------------------

def validate(manager: SecretManager, plan: Plan, references: bool = False) -> List[Dict[str, Any]]:
    """Read each migrated secret back and compare it with the .env value (by hash).

    With ``references``, a ``${secret:NAME}`` already in the file is checked too (it must be
    readable), so a validation after ``migrate_rewrite_env`` still means something.
    """
    checks: List[Tuple[Row, Optional[str]]] = [(row, row.name) for row in plan.migrated]
    if references:
        entries = entries_by_key(plan.env)
        for row in plan.rows:
            if row.reason == "already a reference":
                entry = entries[row.key]
                template = _references.parse(entry.value, source=plan.env.path, line=entry.line,
                                             column=entry.column + (1 if entry.quote else 0))
                for ref in template.references:
                    if ref.kind == "secret":
                        checks.append((row, ref.name))
    names = list(dict.fromkeys(name for _row, name in checks))
    outcomes = manager.get_many(names, bypass_cache=True) if names else {}
    results = []
    for row, name in checks:
        outcome = outcomes.get(name)
        result = {"key": row.key, "name": name, "status": "ok", "reason": ""}
        if isinstance(outcome, Secret):
            if row.action in MIGRATED and not hmac.compare_digest(digest(outcome.value), digest(row.value)):
                result.update(status="mismatch", reason="the provider holds another value than the .env file")
        elif isinstance(outcome, SecretDeleted):
            result.update(status="missing", reason="scheduled for deletion")
        elif isinstance(outcome, SecretNotFound) or outcome is None:
            result.update(status="missing")
        else:
            result.update(status="error", reason=str(outcome))
        results.append(result)
    return results


# rewrite -----------------------------------------------------------------------------------------

def write_file(path: str, data: bytes, mode: int) -> None:
    """Replace ``path`` atomically with ``data``, keeping ``mode`` (and the owner when we may)."""
    folder = os.path.dirname(path) or "."
    try:
        owner = os.stat(path)
    except OSError:
        owner = None
    fd, temporary = tempfile.mkstemp(prefix=".vibebox-", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if owner is not None:
            try:
                os.chown(temporary, owner.st_uid, owner.st_gid)
            except OSError:
                pass
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise MigrationError(f"cannot write {path}: {exc.strerror}")


def rewrite_env(manager: SecretManager, plan: Plan, check_mode: bool = False) -> bool:
    """Put ``${secret:name}`` in place of every migrated value, only if each secret holds that value."""
    failed = [result for result in validate(manager, plan) if result["status"] != "ok"]
    if failed and not check_mode:
        raise MigrationError("not rewriting the .env file: "
                             + "; ".join(f"{item['key']} ({item['name']}): {item['status']}" for item in failed),
                             hint="Migrate first; the .env file is rewritten only after a validated migration")
    new = plan.new_env if plan.new_env is not None else rewritten(plan)
    if new == plan.env.data:
        return False
    check = _dotenv.values(_dotenv.parse(new.decode("utf-8"), source=plan.env.path))
    for row in plan.migrated:  # the new file must say exactly what we meant before it replaces the old one
        if check.get(row.key) != reference(row.name):
            raise MigrationError(f"the rewritten .env file would not hold the reference for {row.key}; nothing was written")
    if not check_mode:
        write_file(plan.env.path, new, plan.env.mode)
    return True


# rollback ----------------------------------------------------------------------------------------

def rollback(manager: SecretManager, saved: _backup.Backup, check_mode: bool = False, force: bool = False,
             env_file: Optional[str] = None) -> Tuple[List[Dict[str, Any]], str]:
    """Undo what the backup's migration did; returns (per-secret results, what happened to the .env).

    Results: ``deleted`` (the run created it), ``restored`` (previous value written back),
    ``unchanged`` (already as before), ``absent`` (the run never created it), ``conflict`` (somebody
    changed it since: left alone unless ``force``).
    """
    _check_target(manager, saved)
    entries = saved.entries
    outcomes = manager.get_many([entry["name"] for entry in entries], bypass_cache=True) if entries else {}
    results: List[Dict[str, Any]] = []
    for entry in entries:
        name, previous = entry["name"], entry.get("previous")
        outcome = outcomes.get(name)
        result = {"key": entry["key"], "name": name, "action": "unchanged", "reason": ""}
        results.append(result)
        exists = isinstance(outcome, Secret)
        if not exists and not isinstance(outcome, (SecretNotFound, SecretDeleted)) and outcome is not None:
            raise MigrationError(f"cannot read '{name}' to roll it back: {outcome}", done=results[:-1])
        ours = exists and same(outcome.value, entry.get("new_sha256"))
        try:
            if previous is None:
                if not exists:
                    result["action"] = "absent"
                elif ours or force:
                    result["action"] = "deleted"
                    if not check_mode:
                        manager.delete(name, force=True)
                else:
                    result.update(action="conflict", reason="changed since the migration; left as it is")
            else:
                if exists and same(outcome.value, digest(previous["value"])):
                    continue
                if isinstance(outcome, SecretDeleted) and not force:
                    result.update(action="conflict", reason="deleted since the migration; left as it is")
                elif ours or not exists or force:
                    result["action"] = "restored"
                    if not check_mode:
                        if isinstance(outcome, SecretDeleted):
                            manager.restore(name)
                        if exists:
                            manager.set(name, previous["value"])
                        else:
                            manager.set(name, previous["value"], previous.get("description"), previous.get("tags") or None)
                else:
                    result.update(action="conflict", reason="changed since the migration; left as it is")
        except SecretError as exc:
            raise MigrationError(f"rolling back '{name}' failed: {exc}", done=results[:-1])
    return results, _restore_env(saved, check_mode, env_file)


def _restore_env(saved: _backup.Backup, check_mode: bool, env_file: Optional[str]) -> str:
    data = saved.env_bytes()
    if data is None:
        return "absent"
    path = os.path.realpath(os.path.expanduser(env_file)) if env_file else saved.env.get("path")
    mode = int(saved.env.get("mode") or 0o600)
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return "unchanged"
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise MigrationError(f"cannot read {path}: {exc.strerror}")
    if not check_mode:
        write_file(path, data, mode)
    return "restored"
