# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Moving a .env file into a secret manager: plan, backup, apply, validate, rewrite, rollback.

The seed's migrate-secrets.sh as plain Python over a SecretManager, so every step is testable with
pytest against every provider, and the role only orders the steps (logic lives in modules, not in YAML).

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
- A backup records the target's identity (provider.identity(): account, server, mount, store
  file ...); a rollback into another target, or into a store that does not exist or holds none of
  the backup's secrets, is refused before any write.
- A re-run never reverts a secret that changed since this file's last migration (a rotation, or any
  other write): the journal beside each backup says what the run wrote (names, versions), its
  sealed part the digest of each value written, and the rotation tags when the secret was rotated.
- The .env file must be unambiguous: a malformed ``${...}`` or a key defined twice with different
  values stops the plan with file, line and column, as the dotenv lookup would fail on it later.
"""
from __future__ import annotations

import base64
import datetime as _dt
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
from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core import names as _names
from ansible_collections.vibebox.secrets.plugins.module_utils.core import references as _references
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    ReadOnlyProvider,
    SecretDeleted,
    SecretDenied,
    SecretError,
    SecretNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Observed, Secret
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import TAG_ROTATED_AT

ACTIONS = ("create", "update", "unchanged", "skip", "blocked")
WRITES = ("create", "update")
MIGRATED = ("create", "update", "unchanged")
DEFAULT_DESCRIPTION = "Migrated from {file} ({key})"
#: migrate_overwrite: what to do with a secret that exists with another value than the .env file's
OVERWRITE = ("unless-changed", "always", "never")
#: migrate_rollback_to: which runs a rollback without an explicit backup undoes
ROLLBACK_TO = ("latest", "before-first-unfinished")
#: audit log operations of their own, beside the set/delete entries of each write
AUDIT_MIGRATE, AUDIT_ROLLBACK = "migrate", "migrate_rollback"
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
    """``DATABASE_PASSWORD`` -> ``database-password`` (the documented naming rule), unless the map names it."""
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
    overwrite: str = "unless-changed"
    #: the strength policy of the values the migration writes (None: not checked)
    strength: Optional[_strength.Enforcer] = None
    #: when the values the migration writes expire (None: no expiry is written; unchanged secrets keep theirs)
    expires_at: Optional[_dt.datetime] = None

    def included(self, key: str) -> bool:
        include = list(self.include or ["*"])
        return (any(fnmatch.fnmatchcase(key, pattern) for pattern in include)
                and not any(fnmatch.fnmatchcase(key, pattern) for pattern in self.exclude or ()))

    def describe(self, key: str) -> Optional[str]:
        if not self.description:
            return None
        return self.description.replace("{file}", os.path.basename(self.env_file)).replace("{key}", key)

    def expiry_request(self, action: str, native_expiry: bool) -> bool:
        """Whether a write of ``action`` needs a request of its own for the expiry: a created secret takes it as
        a tag in its write, except where the provider keeps expiry natively."""
        return self.expires_at is not None and (action != "create" or native_expiry)


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
    #: what the plan's read saw, for a write that needs no read of its own (None: absent or not read)
    observed: Optional[Observed] = field(default=None, repr=False)
    #: the version this run's apply wrote the row's value as (run_writes), so its validation needs no read
    proven: Optional[str] = None

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
    warnings: List[str] = field(default_factory=list)

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


def _template(entry: _dotenv.DotenvEntry, source: str) -> Optional[_references.Template]:
    """The value parsed as the dotenv lookup parses it; None when it is literal (single quotes, no ``${``).

    A ``${...}`` that is not a valid reference raises ReferenceSyntaxError with file, line and
    column: the lookup would fail on it, so migrating it as text would store a typo as a secret.
    """
    if entry.quote == "'" or not _references.has_references(entry.value):
        return None
    return _references.parse(entry.value, source=source, line=entry.line,
                             column=entry.column + (1 if entry.quote else 0))


def _effective_value(entry: _dotenv.DotenvEntry, source: str) -> Tuple[Optional[str], bool]:
    """(value an application gets, whether it holds references), as the dotenv lookup reads it.

    Single quotes are literal; otherwise ``$${`` is an escaped ``${``.
    """
    template = _template(entry, source)
    if template is None:
        return entry.value, False
    if template.references:
        return None, True
    return template.render(lambda _reference: ""), False


def check_env(env: EnvFile, entries: Sequence[_dotenv.DotenvEntry]) -> None:
    """Refuse a file the application would read differently than we do: bad references, ambiguous keys.

    Every problem is listed at once (file, line, column; never a value), so one edit fixes them all.
    """
    problems: List[str] = []
    by_key: Dict[str, List[_dotenv.DotenvEntry]] = {}
    for entry in entries:
        by_key.setdefault(entry.key, []).append(entry)
        try:
            template = _template(entry, env.path)
        except _references.ReferenceSyntaxError as exc:
            # masked: the text between ${ and } is most likely part of the value this run would migrate
            problems.append(f"{env.path}, line {exc.line}, column {exc.column}: {exc.masked} (key {entry.key})")
            continue
        for ref in template.references if template is not None else ():
            if ref.kind != "secret":
                continue
            try:
                _names.check_segments("reference", ref.name, ref.name)
            except SecretError as exc:
                problems.append(f"{env.path}, line {ref.line}, column {ref.column}: {ref.text} names no secret the"
                                f" collection can read: {exc.reason} (key {entry.key})")
    for key, defined in by_key.items():
        meanings = {(entry.value, entry.quote == "'") for entry in defined}
        if len(defined) > 1 and len(meanings) > 1:
            lines = " and ".join(f"line {entry.key_line}" for entry in defined)
            problems.append(f"{env.path}: {key} is defined on {lines} with different values (loaders keep the last one)")
    if problems:
        raise MigrationError(
            f"the .env file cannot be migrated as it is ({len(problems)} problem{'s' if len(problems) > 1 else ''}): "
            + "; ".join(problems),
            hint="Nothing was written. References are ${secret:NAME} or ${env:VAR} (write $${ or single quotes for a"
            " literal ${); keep one definition of each key",
        )


def entries_by_key(env: EnvFile) -> Dict[str, _dotenv.DotenvEntry]:
    """Last assignment of each key (what loaders use), in the order keys first appear."""
    found: Dict[str, _dotenv.DotenvEntry] = {}
    for entry in _dotenv.parse(env.text, source=env.path):
        found[entry.key] = entry
    return found


# plan --------------------------------------------------------------------------------------------

def make_plan(manager: SecretManager, settings: Settings, keys: Optional[Sequence[str]] = None,
              history: Optional["History"] = None, written: Optional[Mapping[str, "RunWrite"]] = None) -> Plan:
    """Every key with its target name and action, from one batch read of the provider.

    ``history`` (earlier runs of this file into this target) lets the plan skip secrets that
    changed since they were migrated; the capability check of the provider (Vault) turns a write
    the credentials may not make into a blocked key, so the run stops before its first write.
    ``written`` (run_writes: what this run's apply wrote) makes a row whose .env value is the one
    written ``unchanged`` without reading it; only a step of the same run after its apply gives it.
    """
    if manager.backend.read_only:
        raise ReadOnlyProvider("this provider is read-only, so nothing can be migrated into it",
                               provider=manager.provider,
                               hint="Choose a provider that stores secrets (local, vault, aws, gcp, azure, kubernetes)")
    if settings.overwrite not in OVERWRITE:
        raise MigrationError(f"overwrite must be one of {', '.join(OVERWRITE)} (got '{settings.overwrite}')")
    env = read_env(settings.env_file)
    check_env(env, _dotenv.parse(env.text, source=env.path))
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
    _take_proven(rows, written)
    _compare(manager, [row for row in rows if row.action == "pending"])
    plan = Plan(env, manager.provider, manager.prefix or "", rows, rewrite_env=settings.rewrite_env)
    _keep_changed(manager, settings, rows, history)
    _police(settings, rows, plan)
    _check_access(manager, settings, plan)
    if history is not None:
        plan.warnings.extend(history.warnings())
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


def _take_proven(rows: List[Row], written: Optional[Mapping[str, "RunWrite"]]) -> None:
    """Rows this run wrote with the value the .env file holds now: unchanged, and not read again."""
    for row in rows:
        record = written.get(row.name or "") if written else None
        if row.action == "pending" and record is not None and same(row.value, record.sha256):
            row.action, row.proven = "unchanged", record.version


def _police(settings: Settings, rows: List[Row], plan: "Plan") -> None:
    police(settings.strength, rows, plan.warnings, refuse_as="blocked")


def police(enforcer: Optional[_strength.Enforcer], rows: Sequence[Any], warnings: List[str], refuse_as: str) -> None:
    """The strength policy on every value a run would write (rows to create or update; a move's older versions
    are not rows): in enforce mode such a row becomes ``refuse_as``, so the run stops before its first write,
    naming the rules and never the value; in warn mode ``warnings`` says so and the value is written. A value
    already in the provider is left alone. Shared by the .env migration and the move between providers."""
    if enforcer is None or not enforcer.active:
        return
    for row in rows:
        if row.action not in ("create", "update") or row.value is None:
            continue
        found = enforcer.breaks(row.name or row.key, row.value)
        if found and enforcer.mode == "enforce":
            row.action = refuse_as
            row.reason = f"refused by the strength policy: {'; '.join(found)}"
    warnings.extend(enforcer.warnings)
    del enforcer.warnings[:]


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
    """Read what the target holds for every row: the names its listings show (one LIST per folder on
    Vault; None where a provider cannot list cheaper than reading), then one read per listed name, or
    one batch read per page of names (AWS). A name the listing does not show is created with no read."""
    if not rows:
        return
    listed = manager.existing([row.name for row in rows])
    absent = {id(row) for row in rows if listed is not None and row.name not in listed}
    for row in rows:
        if id(row) in absent:
            row.action = "create"
    wanted = [(row.name, row.value, False) for row in rows if listed is None or row.name in listed]
    outcomes = manager.observe_many(wanted) if wanted else {}
    for row in rows:
        if id(row) in absent:
            continue
        outcome = outcomes.get(row.name)
        if isinstance(outcome, Observed) and outcome.deleted:
            outcome = SecretDeleted("scheduled for deletion", name=row.name)
        elif isinstance(outcome, Observed):
            row.observed = outcome
            if outcome.value is None:  # the read did not carry the value: read it
                outcome.value = manager.get(row.name, bypass_cache=True).value
            outcome = Secret(outcome.value, outcome.metadata)
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


# secrets that changed since this file's last migration ---------------------------------------------

def same_target(saved: _backup.Backup, identity: Mapping[str, str], prefix: str) -> bool:
    """Whether a backup was taken from this target (a backup without identity: same provider)."""
    if (saved.header.get("prefix") or "") != (prefix or ""):
        return False
    recorded = recorded_target(saved)
    if recorded:
        return identity_matches(recorded, identity)
    return saved.header.get("provider") == identity.get("provider")


def target_identity(manager: SecretManager) -> Dict[str, str]:
    """The backend's identity, asked once per manager (AWS asks STS), under the manager's retry policy.

    Like the requests before the writes (the capability check), it is in the audit log when it was
    retried or failed, so every retry of a run is accounted for there.
    """
    cached = getattr(manager, "_target_identity", None)
    if cached is None:
        cached = dict(_preflight(manager, "identity", manager.backend.identity))
        manager._target_identity = cached
    return dict(cached)


def _preflight(manager: SecretManager, op: str, call: Any) -> Any:
    try:
        found = call()  # its requests are retried one by one by the backend, counted under no name
    except SecretError as exc:
        manager.audit.record(op, "*", ok=False, error=exc, retries=manager.backend.take_retries(None))
        raise
    retries = manager.backend.take_retries(None)
    if retries:
        manager.audit.record(op, "*", ok=True, retries=retries)
    return found


def identity_matches(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Every fact the backup knew about its target is true of this one (an empty fact was unknown).

    A fact the provider no longer reports is left out: the local store's identity was its key id
    before it had a store id, and a re-key changes the key but not the store.
    """
    return all(current.get(key) == value for key, value in recorded.items()
               if value not in (None, "") and key in current)


def recorded_target(saved: _backup.Backup) -> Dict[str, Any]:
    """The target a backup was taken from: its header, completed by the journal.

    A migration that creates its target (the first secret of a new local store) cannot know the
    store's id when it writes the backup; it records it in the journal after its first write, so a
    rollback still refuses another store put at the same path.
    """
    recorded = saved.header.get("target")
    target = dict(recorded) if isinstance(recorded, dict) else {}
    for entry in _backup.events(saved.path) or []:
        if entry.get("event") == "target" and isinstance(entry.get("target"), dict):
            target.update({key: value for key, value in entry["target"].items() if value not in (None, "")})
    return target


def describe_identity(identity: Mapping[str, Any]) -> str:
    facts = ", ".join(f"{key}={value}" for key, value in sorted(identity.items()) if value not in (None, ""))
    return "{" + facts + "}"


@dataclass
class Written:
    """One secret an earlier run of this file wrote: which run, when, which version."""

    backup: str
    at: float
    version: Optional[str]


class History:
    """What the earlier migrations of one .env file wrote into one target, from their backups' journals.

    Backups rolled back are left out (their writes were undone). A backup written before journals
    existed counts as complete, with every secret it planned. The digest of each value written is
    in a backup's sealed part: it is read only for a secret whose value differs, and only when the
    backup key is at hand (never created for this).
    """

    def __init__(self, records: Dict[str, Written], unfinished: List[str], key: Optional[_backup.BackupKey],
                 runs: Optional[List[str]] = None) -> None:
        self.records = records
        self.unfinished = unfinished
        self.key = key
        #: every backup of this file into this target, rolled back ones too (the modules leave out the run's own)
        self.runs = list(runs or [])
        self._digests: Dict[str, Dict[str, str]] = {}

    @classmethod
    def load(cls, backup_dir: str, env_path: str, identity: Mapping[str, str], prefix: str,
             key: Optional[_backup.BackupKey]) -> "History":
        records: Dict[str, Written] = {}
        unfinished: List[str] = []
        runs: List[str] = []
        for saved in _backup.backups(backup_dir, env_path):
            if not same_target(saved, identity, prefix):
                continue
            runs.append(saved.path)
            state = _backup.run_state(saved.path)
            if state == _backup.ROLLED_BACK:
                continue
            if state == _backup.UNFINISHED:
                unfinished.append(saved.path)
            journal = _backup.events(saved.path)
            if journal is None:
                at = _stamp_epoch(saved.header.get("created_at"))
                for entry in saved.header.get("entries") or []:
                    if entry.get("name"):
                        records[str(entry["name"])] = Written(saved.path, at, None)
                continue
            for event in journal:
                if event.get("event") == "written" and event.get("name"):
                    version = event.get("version")
                    records[str(event["name"])] = Written(saved.path, float(event.get("ts") or 0),
                                                          None if version in (None, "") else str(version))
        return cls(records, unfinished, key, runs)

    def leave_out(self, own_backup: Optional[str]) -> "History":
        """Without the run's own backup: what the earlier runs did, as the plan of the run's first step saw it."""
        if own_backup:
            own = os.path.abspath(own_backup)
            self.unfinished = [path for path in self.unfinished if os.path.abspath(path) != own]
            self.runs = [path for path in self.runs if os.path.abspath(path) != own]
        return self

    def last(self, name: str) -> Optional[Written]:
        return self.records.get(name)

    def written_digest(self, record: Written, name: str) -> Optional[str]:
        if self.key is None:
            return None
        if record.backup not in self._digests:
            try:
                saved = _backup.read(record.backup, self.key)
                self._digests[record.backup] = {str(entry.get("name")): str(entry.get("new_sha256") or "")
                                                for entry in saved.entries}
            except _backup.BackupError:
                self._digests[record.backup] = {}
        return self._digests[record.backup].get(name) or None

    def warnings(self) -> List[str]:
        return [f"an earlier migration of this file never completed (killed or failed, not rolled back): {path};"
                " what it wrote is in the provider. To undo it: migrate_action=rollback with"
                " migrate_rollback_to=before-first-unfinished" for path in self.unfinished]


def _stamp_epoch(stamp: Optional[str]) -> float:
    try:
        moment = _dt.datetime.strptime(str(stamp), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return 0.0
    return moment.timestamp()


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rotated_at(manager: SecretManager, row: Row) -> Optional[float]:
    """The rotation tag of the secret; read with describe() when the value's read did not carry tags."""
    tags = dict(row.current.metadata.tags or {}) if row.current is not None else {}
    if TAG_ROTATED_AT not in tags:
        try:
            tags = dict(manager.describe(row.name).tags or {})
        except SecretError:
            return None
    try:
        return float(tags[TAG_ROTATED_AT]) if tags.get(TAG_ROTATED_AT) not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _versions_count(manager: SecretManager, row: Row) -> Optional[int]:
    """How many versions the target secret has (None: the provider does not say); read with describe() when the
    value's read did not carry it. Asked only for a secret with another value and no migration on record."""
    count = row.current.metadata.versions_count if row.current is not None else None
    if count is None:
        try:
            count = manager.describe(row.name).versions_count
        except SecretError:
            return None
    return count


def _changed_since(manager: SecretManager, row: Row, history: Optional[History]) -> Optional[str]:
    """Why the secret must not be overwritten by the .env value, or None when it may be."""
    record = history.last(row.name) if history is not None else None
    written = None
    moved = None
    current = row.current
    if record is not None:
        written = history.written_digest(record, row.name)
        if written is not None:
            if same(current.value, written):
                return None  # the secret still holds what the migration wrote: the .env file changed
            moved = "it holds another value than the migration wrote"
        elif record.version and current.metadata.version:
            if str(current.metadata.version) == record.version:
                return None
            moved = f"it is at version {current.metadata.version}, the migration wrote version {record.version}"
    rotated = _rotated_at(manager, row)
    overwrite = " (migrate_overwrite=always overwrites it)"
    if record is None:
        if rotated is not None:
            return f"rotated at {_iso(rotated)}, after no migration of this file: a migration does not revert a rotation{overwrite}"
        versions = _versions_count(manager, row) if history is not None and not history.runs else None
        if versions is not None and versions > 1:
            return (f"it has {versions} versions, so it was changed after it was created, and no migration of this file"
                    " is on record here (another backup folder, another path of the file, another machine): that change"
                    f" may be newer than the file's value{overwrite}")
        return None
    if rotated is not None and rotated >= int(record.at):
        why = f"rotated at {_iso(rotated)}"
    elif moved:
        why = f"written since by something else: {moved}"
    else:
        return None
    also = "; the .env value changed too" if written is not None and not same(row.value, written) else ""
    return f"changed since the last migration: {why} (migrated {_iso(record.at)}){also}{overwrite}"


def _keep_changed(manager: SecretManager, settings: Settings, rows: List[Row], history: Optional[History]) -> None:
    if settings.overwrite == "always":
        return
    for row in rows:
        if row.action != "update":
            continue
        if settings.overwrite == "never":
            row.action, row.reason = "skip", "exists with another value (migrate_overwrite=never)"
            continue
        reason = _changed_since(manager, row, history)
        if reason:
            row.action, row.reason = "skip", reason


def _check_access(manager: SecretManager, settings: Settings, plan: Plan) -> None:
    """Ask the provider (Vault: sys/capabilities-self) whether every write of the plan is allowed."""
    checker = getattr(manager.backend, "missing_capabilities", None)
    changes = plan.changes
    if checker is None or not changes:
        return
    operations: Dict[str, List[str]] = {}
    for row in changes:
        wanted = ["create", "delete"] if row.action == "create" else ["update"]
        if row.action == "create" and (settings.describe(row.key) or settings.tags):
            wanted.append("metadata")
        operations[row.provider_name or ""] = wanted
    try:
        missing = _preflight(manager, "check_access", lambda: checker(operations))
    except SecretDenied as exc:
        plan.warnings.append(f"the credentials' capabilities could not be checked before writing ({exc});"
                             " a write the provider refuses is rolled back")
        return
    lacking: Dict[str, List[str]] = {}
    for name, path, capability in missing:
        why = " (to roll back the secret it creates)" if capability == "delete" else ""
        lacking.setdefault(name, []).append(f"'{capability}' on {path}{why}")
    for row in changes:
        if row.provider_name in lacking:
            row.action = "blocked"
            row.reason = (f"the {plan.provider} credentials lack " + ", ".join(lacking[row.provider_name])
                          + "; grant it in the policy or exclude the key")


def rewritten(plan: Plan) -> bytes:
    """The .env file with every migrated key replaced by its reference (layout kept)."""
    replacements = {row.key: reference(row.name) for row in plan.migrated}
    return _dotenv.rewrite(plan.env.text, replacements, source=plan.env.path).encode("utf-8")


# backup ------------------------------------------------------------------------------------------

def write_backup(plan: Plan, backup_dir: str, key: _backup.BackupKey, path: Optional[str] = None,
                 identity: Optional[Mapping[str, str]] = None) -> str:
    """The previous value and metadata of every secret the plan changes, and the .env file.

    The clear header records the target's ``identity`` (no credential, no value), so a rollback
    can tell that it points at the store the migration changed.
    """
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
        # apply journals a "writing" event before each write: a rollback knows which secrets the run never
        # tried to write (see RunRecord)
        "write_intents": True,
    }
    if identity:
        header["target"] = dict(identity)
    payload = {
        "entries": entries,
        "env": {"path": plan.env.path, "mode": plan.env.mode,
                "content_b64": base64.b64encode(plan.env.data).decode("ascii")},
    }
    return _backup.write(backup_dir, plan.env.path, header, payload, key, path=path)


def _check_target(manager: SecretManager, saved: _backup.Backup, force: bool = False) -> Optional[str]:
    """Refuse to act on another target than the backup's; returns a warning when ``force`` overrode it.

    Provider and prefix must match (another prefix maps the names to other secrets, which no force
    makes right). The identity (account, server, mount, store file, ...) must match unless forced,
    for a store that moved (a restored server at a new address).
    """
    provider, prefix = saved.header.get("provider"), saved.header.get("prefix") or ""
    if provider != manager.provider or prefix != (manager.prefix or ""):
        raise MigrationError(
            f"the backup {saved.path} is of provider '{provider}' with prefix '{prefix}', but this run uses"
            f" provider '{manager.provider}' with prefix '{manager.prefix or ''}'",
            hint="Nothing was written. Give the provider options of the migration (the backup's .undo.yml file holds"
            " them: ansible-playbook vibebox.secrets.migrate -e @BACKUP.undo.yml)",
        )
    recorded = recorded_target(saved)
    if not recorded:
        return None
    current = target_identity(manager)
    if identity_matches(recorded, current):
        return None
    text = (f"the backup {saved.path} was taken from {describe_identity(recorded)}, but this run points at"
            f" {describe_identity(current)}")
    if force:
        return text + "; going on because force is set"
    raise MigrationError(
        text, hint="Nothing was written. Give the provider options of the migration (the backup's .undo.yml file holds"
        " them), or force=true (migrate_rollback_force) if this really is the same store at a new address",
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
        if saved is not None:  # before the request: a run killed after it may have written without "written"
            _backup.record_event(saved.path, "writing", name=row.name, action=row.action)
        try:
            # the write alone, conditional on what the plan read (KV v2: check-and-set on its version)
            if row.action == "create":
                tags = dict(settings.tags) if settings.tags else None
                if settings.expires_at is not None and not manager.native_expiry:
                    tags = _expiry.with_tag(tags, settings.expires_at)  # the tag rides along: no extra request
                meta = manager.write_observed(row.name, row.value, settings.describe(row.key), tags, None)
            else:
                meta = manager.write_observed(row.name, row.value, None, None, row.observed)
        except SecretError as exc:
            manager.audit.operation(AUDIT_MIGRATE, [row.name], ok=False, error=exc,
                                    versions={row.name: {"before": _version_of(row.current)}})
            raise MigrationError(
                f"writing '{row.name}' ({row.key}) failed after {len(done)} of {len(plan.changes)} writes: {exc}",
                done=done,
            )
        done.append({"key": row.key, "name": row.name, "action": row.action, "version": meta.version})
        manager.audit.operation(AUDIT_MIGRATE, [row.name], ok=True, outcome=row.action,
                                versions={row.name: {"before": _version_of(row.current), "after": meta.version}})
        if saved is not None:
            # versions: how many versions this write made, so that a rollback knows a created secret holds
            # nothing but what the run wrote (see _created_since)
            _backup.record_event(saved.path, "written", name=row.name, version=meta.version, action=row.action,
                                 versions=1)
            if len(done) == 1:
                _record_created_target(manager, saved)
        if settings.expiry_request(row.action, manager.native_expiry):
            _set_expiry(manager, row, settings, done, len(plan.changes))
    return done


def _set_expiry(manager: SecretManager, row: Row, settings: Settings, done: List[Dict[str, Any]], total: int) -> None:
    """The expiry of a value written just before, in a request of its own. Its failure is told apart from a
    failed write: the value is in the target (and journaled as written, so a rollback undoes it), only its
    expiry is missing; a message saying the write failed sent the operator after the wrong problem."""
    seen = row.observed.metadata if row.observed is not None and row.observed.metadata_known else None
    known_tags = dict(seen.tags or {}) if seen is not None and row.action != "create" else None
    try:
        manager.set_expiry(row.name, settings.expires_at, known_tags)
    except SecretError as exc:
        raise MigrationError(
            f"'{row.name}' ({row.key}) was written (version {done[-1]['version']}, {len(done)} of {total} writes"
            f" done), but setting its expiry failed: {exc}",
            hint="The value is in the target without its expiry: give it one with vibebox.secrets.secret (name and"
                 " expires_at), or roll the run back",
            done=done,
        )


def _record_created_target(manager: SecretManager, saved: _backup.Backup) -> None:
    """After the first write, the facts the backup could not know (the id of a store this run created)."""
    known = recorded_target(saved)
    if known and all(value not in (None, "") for value in known.values()):
        return
    fresh = dict(_preflight(manager, "identity", manager.backend.identity))
    manager._target_identity = fresh
    learned = {key: value for key, value in fresh.items() if value not in (None, "") and not known.get(key)}
    if learned:
        _backup.record_event(saved.path, "target", durable=True, target=learned)


def _version_of(secret: Optional[Secret]) -> Optional[str]:
    """The version a secret had before this run wrote it (None: the run created it)."""
    return None if secret is None else secret.metadata.version


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
        planned = entry.get("new_sha256")
        if planned and row.value is not None and not same(row.value, planned):
            # the file was edited between the backup and this write: the run's journal and backup would describe
            # values it never wrote, and its own rollback would take every such secret for somebody else's change
            problems.append(f"{row.key} has another value in {plan.env.path} than when the backup was taken")
        elif previous is None and row.current is not None:
            problems.append(f"'{row.name}' was created by somebody else since the backup")
        elif previous is not None and (row.current is None or not same(row.current.value, digest(previous["value"]))):
            problems.append(f"'{row.name}' was changed or removed by somebody else since the backup")
    if problems:
        raise MigrationError("the backup no longer matches the provider: " + "; ".join(problems),
                             hint="Nothing was written; run the migration again for a fresh plan and backup")


# what this run wrote ------------------------------------------------------------------------------

@dataclass
class RunWrite:
    """One secret the apply of a run wrote: the version the provider answered, the digest of the value sent."""

    version: str
    sha256: str = field(repr=False)


#: journal events after which the run's writes may have been undone
_UNDOING = ("rolled-back", "rollback-incomplete")


def run_writes(manager: SecretManager, saved: _backup.Backup, env_path: str) -> Dict[str, RunWrite]:
    """name -> what the apply of the run of ``saved`` wrote, for the steps of that run after it.

    Each write of ``apply`` is conditional on what the plan read (KV v2 check-and-set on its
    version, create only when absent) and the provider answers it with the version it stored; the
    journal records that version, the backup's sealed part the digest of the value sent. So the
    validation of the same run knows what the provider holds without reading it back. A write
    answered without a version (KV v1) proves nothing and is read back, and nothing is taken from
    a run that was rolled back, whole or in part. Refused for another target or another .env file.
    """
    _check_target(manager, saved)
    if saved.header.get("env_file") != env_path:
        raise MigrationError(f"the backup {saved.path} is of {saved.header.get('env_file')}, not of {env_path}")
    journal = _backup.events(saved.path) or []
    if any(event.get("event") in _UNDOING for event in journal):
        return {}
    sealed = {str(entry.get("name")): str(entry.get("new_sha256") or "") for entry in saved.entries}
    found: Dict[str, RunWrite] = {}
    for event in journal:  # the last write of a name is what the provider holds
        name, version = str(event.get("name") or ""), event.get("version")
        if event.get("event") != "written":
            continue
        if sealed.get(name) and version not in (None, ""):
            found[name] = RunWrite(str(version), sealed[name])
        else:
            found.pop(name, None)
    return found


# validate ----------------------------------------------------------------------------------------

def validate(manager: SecretManager, plan: Plan, references: bool = False) -> List[Dict[str, Any]]:
    """Read each migrated secret back and compare it with the .env value (by hash).

    With ``references``, a ``${secret:NAME}`` already in the file is checked too (it must be
    readable), so a validation after ``migrate_rewrite_env`` still means something.

    A row of a plan made with ``written`` (``proven``: this run wrote that value, and the provider
    answered with the version it stored) is not read back; every other row is.
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
    # the plan of this same run has just read every migrated secret: its reads are reused (a value
    # cannot have changed between two lines of this function). Only references to other secrets, and
    # rows the plan could not read, are read here.
    outcomes: Dict[str, object] = {}
    for row in plan.rows:
        if row.name and row.proven is not None:
            outcomes[row.name] = row
        elif row.name and row.current is not None:
            outcomes[row.name] = row.current
        elif row.name and row.action == "create":
            outcomes[row.name] = SecretNotFound("the plan found no secret", name=row.name)
    names = [name for name in dict.fromkeys(name for _row, name in checks) if name not in outcomes]
    if names:
        outcomes.update(manager.get_many(names, bypass_cache=True))
    results = []
    for row, name in checks:
        outcome = outcomes.get(name)
        result = {"key": row.key, "name": name, "status": "ok", "reason": ""}
        if isinstance(outcome, Row):  # this run wrote the value the .env file holds: see run_writes()
            pass
        elif isinstance(outcome, Secret):
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

#: write_file's ``expected`` when the file may hold anything (or be absent)
ANY = object()


def write_file(path: str, data: bytes, mode: int, expected: Any = ANY) -> None:
    """Replace ``path`` atomically with ``data``, keeping ``mode`` (and the owner when we may).

    ``expected`` is what the step decided on (None: the file was absent): the file is read again just
    before the replace, and an edit made since (while the step read the provider) is refused, not
    replaced. Editors take no lock, so this narrows the window to the replace itself.
    """
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
        if expected is not ANY and _read_or_none(path) != expected:
            os.unlink(temporary)
            raise MigrationError(f"not writing {path}: it changed while this step ran (edited by somebody else);"
                                 " it was left as it is",
                                 hint="Run the step again: it reads the file as it is now")
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise MigrationError(f"cannot write {path}: {exc.strerror}")


def _read_or_none(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def check_env_covered(plan: Plan, saved: Optional[_backup.Backup]) -> None:
    """Refuse to rewrite the .env file unless a backup of this run holds it byte for byte as it is now.

    The rewrite replaces values by references; its rollback puts the backup's copy back. Without a
    backup of the file as it is (a run that had no secret to write took none), the rollback of the
    newest backup restored an older copy, losing every edit made since (and undid an older run).
    """
    path = plan.env.path
    if saved is None:
        raise MigrationError(
            f"not rewriting the .env file {path}: no backup of this run holds it as it is now",
            hint="Nothing was written. Give the run's backup (backup=PATH, written by action=backup with rewrite_env"
                 " true); the migrate role writes one whenever the file will be rewritten",
        )
    recorded = saved.env.get("path") or saved.header.get("env_file")
    if saved.env_bytes() is None or os.path.realpath(str(recorded)) != os.path.realpath(path):
        raise MigrationError(f"not rewriting the .env file {path}: the backup {saved.path} holds no copy of it",
                             hint="Nothing was written. Give the backup this run wrote for this file")
    if saved.env_bytes() != plan.env.data:
        raise MigrationError(
            f"not rewriting the .env file {path}: it changed since the backup {saved.path} copied it, so a rollback"
            " would put back the older copy",
            hint="Nothing was written. Run the migration again: its new backup copies the file as it is",
        )


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
        write_file(plan.env.path, new, plan.env.mode, expected=plan.env.data)
    return True


# rollback ----------------------------------------------------------------------------------------

def rollback(manager: SecretManager, saved: _backup.Backup, check_mode: bool = False, force: bool = False,
             env_file: Optional[str] = None, rewritten: Optional[Dict[str, str]] = None,
             report: Optional[Dict[str, Any]] = None) -> Tuple[List[Dict[str, Any]], str, List[str]]:
    """Undo what the backup's migration did; returns (per-secret results, what happened to the .env, warnings).

    Results: ``deleted`` (the run created it), ``restored`` (previous value written back),
    ``unchanged`` (already as before), ``absent`` (the run never created it), ``conflict`` (somebody
    changed it since: left alone unless ``force``), ``not-written`` (the run never wrote it, see
    RunRecord, and it changed since the backup: never touched, even with ``force``, and no conflict,
    so the run counts as rolled back when everything it wrote is undone).

    A secret the run created is deleted for good, with every version it has, so it must hold nothing
    but what the run wrote: the value, the version the journal recorded, and no version added since
    (see _created_since). ``rewritten`` (name -> version) carries the versions the rollbacks of the
    newer runs of the same chain wrote back (they restored this run's value): those are ours too. It
    is updated with the versions this rollback writes.

    The .env copy is restored, except the line of a secret left as it is (a conflict, or changed since
    the migration and not in the backup) that the current file holds as its ``${secret:...}``
    reference: that line keeps the reference, so the application does not go back to a stale value
    (see _references_to_keep). ``report``, when given, gets ``env_references_kept`` (keys and names).

    Before any write: the target must be the backup's (identity), the store must exist, and at
    least one of the backup's secrets must be found when some are to be restored: restoring old
    values into an empty store "succeeds" while the real store keeps the migration's values.
    """
    warnings: List[str] = []
    check_env_file(saved, env_file)
    check_store_exists(manager)
    forced = _check_target(manager, saved, force=force)
    if forced:
        warnings.append(forced)
    check_not_superseded(manager, saved)
    entries = saved.entries
    outcomes = manager.get_many([entry["name"] for entry in entries], bypass_cache=True) if entries else {}
    to_restore = [entry for entry in entries if entry.get("previous") is not None]
    found = [entry for entry in entries if isinstance(outcomes.get(entry["name"]), (Secret, SecretDeleted))]
    if to_restore and not found and not force:
        raise MigrationError(
            f"none of the {len(entries)} secrets of the backup {saved.path} exist in"
            f" {describe_identity(target_identity(manager))} (prefix '{manager.prefix or ''}'): this is an empty store"
            " or another one than the migration changed",
            hint="Nothing was written. Check the provider options (the backup's .undo.yml file holds the migration's);"
            " force=true (migrate_rollback_force) restores into it anyway",
        )
    record = RunRecord.load(saved)
    ours = [entry for entry in entries if record.wrote(entry, outcomes.get(entry["name"]))]
    _check_rollback_access(manager, ours, outcomes)
    rewritten = {} if rewritten is None else rewritten
    results: List[Dict[str, Any]] = []
    try:
        for entry in entries:
            outcome = outcomes.get(entry["name"])
            if not any(entry is mine for mine in ours):
                results.append(_not_written(entry, outcome))
                continue
            results.append(_rollback_one(manager, entry, outcome, check_mode, force, results,
                                         record=record, rewritten=rewritten))
        try:
            env_state, kept = _restore_env(manager, saved, check_mode, env_file, results, force=force,
                                           warnings=warnings)
        except MigrationError as exc:
            # the secrets were rolled back already: the task's result and the run cache must still name them
            exc.done = list(results) + exc.done
            raise
    except MigrationError:
        if not check_mode:
            _backup.record_event(saved.path, "rollback-incomplete", durable=True)
        raise
    for key, name, path in kept:
        for row in results:
            if row["key"] == key:
                row["reason"] += f" (its .env line keeps {reference(name)})"
        warnings.append(f"the .env file {path} was restored except {key}, which keeps {reference(name)}: the secret"
                        " was left as it is (it changed since the migration), so the application keeps reading its"
                        " current value instead of the value the file held before; edit that line by hand to change it")
    if report is not None:
        report.setdefault("env_references_kept", []).extend({"key": key, "name": name} for key, name, _path in kept)
    if not check_mode:
        complete = not any(row["action"] == "conflict" for row in results)
        _backup.record_event(saved.path, "rolled-back" if complete else "rollback-incomplete", durable=True)
    return results, env_state, warnings


def _check_rollback_access(manager: SecretManager, entries: Sequence[Mapping[str, Any]],
                           outcomes: Mapping[str, object]) -> None:
    """Ask the provider (Vault) whether every write the rollback may make is allowed, before the first one.

    A policy that lets a token migrate but not delete would otherwise stop a rollback half-way, with some
    secrets back and others not; refused here, the backend is as it was and the message names the paths.
    """
    checker = getattr(manager.backend, "missing_capabilities", None)
    if checker is None:
        return
    operations: Dict[str, List[str]] = {}
    for entry in entries:
        outcome, previous = outcomes.get(entry["name"]), entry.get("previous")
        exists = isinstance(outcome, Secret)
        if previous is None:
            wanted = ["delete"] if exists else []
        elif exists:
            wanted = [] if same(outcome.value, digest(previous["value"])) else ["update"]
        else:
            wanted = ["create"] + (["metadata"] if previous.get("description") or previous.get("tags") else [])
        if wanted:
            operations[manager.provider_name(entry["name"])] = wanted
    if not operations:
        return
    try:
        missing = _preflight(manager, "check_access", lambda: checker(operations))
    except SecretDenied:
        return  # the token may not ask: the rollback goes on, and a refused write stops it and says where it is
    if missing:
        lacking = sorted({f"'{capability}' on {path}" for _name, path, capability in missing})
        raise MigrationError(
            f"the {manager.provider} credentials lack what the rollback needs: " + ", ".join(lacking),
            hint="Nothing was written. Grant them in the policy (or roll back with a token that has them), then run"
                 " the rollback again",
        )


def check_not_superseded(manager: SecretManager, saved: _backup.Backup) -> None:
    """Refuse, before any write, to roll back again a run that was rolled back already once a newer run of its
    file into this target (in the same folder) is on record and not rolled back.

    The rollback tells its run's writes by value and version; a newer run that wrote the same values (the
    migration done again after the rollback) looks like it, so rolling the old run back again undid the newer
    run (its secrets deleted or put back, its .env rewrite undone) while its journal still said complete.
    """
    if _backup.run_state(saved.path) != _backup.ROLLED_BACK or not saved.header.get("env_file"):
        return
    own = os.path.abspath(saved.path)
    runs = [os.path.abspath(run.path) for run in _backup.backups(os.path.dirname(own), saved.header["env_file"])
            if same_target(run, target_identity(manager), manager.prefix or "")]
    newer = [path for path in runs[runs.index(own) + 1:] if _backup.run_state(path) != _backup.ROLLED_BACK] \
        if own in runs else []
    if newer:
        raise MigrationError(
            f"the run of the backup {saved.path} was rolled back already, and a newer run of"
            f" {saved.header['env_file']} into this target is on record: {newer[-1]}; rolling the older run back"
            " again would undo what the newer run wrote",
            hint=f"Nothing was written. To undo the newer run give -e backup={newer[-1]} (or leave backup out: the"
                 " newest run is chosen)",
        )


def check_store_exists(manager: SecretManager) -> None:
    """A store that does not exist (the local store's file) is never created by a rollback."""
    exists = getattr(manager.backend, "exists", None)
    if callable(exists) and not exists():
        raise MigrationError(
            f"the store {describe_identity(target_identity(manager))} does not exist: a rollback restores into the"
            " store the migration changed, it never creates one",
            hint="Nothing was written. Point the provider options at the store of the migration (local_path and"
            " local_key_file; the backup's .undo.yml file holds them)",
        )


@dataclass
class RunRecord:
    """What the journal of a run says it wrote: name -> the version the provider answered, and how many
    versions each write made (names and numbers only).

    A rollback touches only what the run wrote. ``written`` is journaled after each write; a run killed
    between the provider's answer and that line wrote a secret it did not journal. Backups with
    ``write_intents`` journal ``writing`` before each request too: a name with neither was never tried
    (the run stopped before it, or its batch was refused), so it is not the run's, whatever it holds; a
    name tried but not journaled as written, and every name of an older backup's journal that lacks
    both, is the run's when the secret is as the write would have left it (see wrote()). A backup
    without a journal (written before journals existed) counts every entry as written.
    """

    versions: Dict[str, Optional[str]] = field(default_factory=dict)
    counts: Dict[str, int] = field(default_factory=dict)
    attempted: set = field(default_factory=set)
    journal: bool = True
    intents: bool = False

    @classmethod
    def load(cls, saved: _backup.Backup) -> "RunRecord":
        events = _backup.events(saved.path)
        record = cls(journal=events is not None, intents=bool(saved.header.get("write_intents")))
        for event in events or []:
            name = str(event.get("name") or "")
            if event.get("event") == "writing" and name:
                record.attempted.add(name)
            if event.get("event") != "written" or not name:
                continue
            version = event.get("version")
            record.versions[name] = None if version in (None, "") else str(version)
            try:
                record.counts[name] = int(event["versions"])
            except (KeyError, TypeError, ValueError):
                record.counts.pop(name, None)
        return record

    def wrote(self, entry: Mapping[str, Any], outcome: object) -> bool:
        """Whether the run wrote the entry's secret (journaled, or possibly written by a run killed mid-write)."""
        name = str(entry.get("name"))
        if name in self.versions or (not self.journal and not self.intents):
            return True
        if self.intents and name not in self.attempted:
            return False
        new = entry.get("new_sha256")
        if new:  # a create or an update: the secret holds the value the run sent
            return isinstance(outcome, Secret) and same(outcome.value, new)
        return not isinstance(outcome, Secret)  # a deletion (a move's source): the secret is gone


def _not_written(entry: Mapping[str, Any], outcome: object) -> Dict[str, Any]:
    """The result for a secret of the backup that the run never wrote: no write, no conflict, not even forced."""
    result = {"key": entry["key"], "name": entry["name"], "action": "unchanged", "reason": ""}
    previous = entry.get("previous")
    if previous is None and not isinstance(outcome, Secret):
        result["action"] = "absent"
    elif previous is not None and isinstance(outcome, Secret) and same(outcome.value, digest(previous["value"])):
        pass
    else:
        result.update(action="not-written", reason="this run never wrote it (it changed since the backup, by"
                                                   " something else); left as it is")
    return result


def _created_since(name: str, outcome: Secret, record: "RunRecord", rewritten: Mapping[str, str]) -> Optional[str]:
    """Why a secret the run created must not be deleted (None: it holds only what the run wrote).

    Deleting it destroys every version it has: an equal value is not enough (a rotation and a
    rotation rollback put the migration's value back as a newer version, after a rotated key that
    data may be encrypted with). So the current version must be the one the journal recorded for
    the write (or one the rollback of a newer run of the chain wrote back), and the secret must have
    no more versions than the write made (a version added beside the current one, AWS's pending
    stage). What the provider does not report (no version, no count) is not held against it.
    """
    current = outcome.metadata.version
    current = None if current in (None, "") else str(current)
    if current is not None and rewritten.get(name) == current:
        return None
    written = record.versions.get(name)
    if current is not None and written is not None and current != written:
        return f"changed since the migration: it is at version {current}, the migration wrote version {written}"
    count, made = outcome.metadata.versions_count, record.counts.get(name)
    if written is not None and count is not None and made is not None and count > made:
        return (f"changed since the migration: it has {count} versions, the migration wrote "
                f"{made} (version {written})")
    return None


def _rollback_one(manager: SecretManager, entry: Mapping[str, Any], outcome: object, check_mode: bool,
                  force: bool, done: List[Dict[str, Any]], record: Optional[RunRecord] = None,
                  rewritten: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    name, previous = entry["name"], entry.get("previous")
    record = RunRecord() if record is None else record
    rewritten = {} if rewritten is None else rewritten
    result = {"key": entry["key"], "name": name, "action": "unchanged", "reason": ""}
    exists = isinstance(outcome, Secret)
    if not exists and not isinstance(outcome, (SecretNotFound, SecretDeleted)) and outcome is not None:
        raise MigrationError(f"cannot read '{name}' to roll it back: {outcome}", done=list(done))
    ours = exists and same(outcome.value, entry.get("new_sha256"))
    version = None
    try:
        if previous is None:
            since = _created_since(name, outcome, record, rewritten) if ours else None
            if not exists:
                result["action"] = "absent"
            elif (ours and since is None) or force:
                result["action"] = "deleted"
                if not check_mode:
                    manager.delete(name, force=True)
            elif since is not None:
                result.update(action="conflict", reason=f"{since}; left as it is (deleting it would destroy them)")
            else:
                result.update(action="conflict", reason="changed since the migration; left as it is")
        else:
            if exists and same(outcome.value, digest(previous["value"])):
                return result
            if isinstance(outcome, SecretDeleted) and not force:
                result.update(action="conflict", reason="deleted since the migration; left as it is")
            elif ours or not exists or force:
                result["action"] = "restored"
                if not check_mode:
                    if isinstance(outcome, SecretDeleted):
                        manager.restore(name)
                    if exists:
                        version = manager.set(name, previous["value"]).version
                    else:
                        version = manager.set(name, previous["value"], previous.get("description"),
                                              previous.get("tags") or None).version
                    if version not in (None, ""):
                        rewritten[name] = str(version)
            else:
                result.update(action="conflict", reason="changed since the migration; left as it is")
    except SecretError as exc:
        manager.audit.operation(AUDIT_ROLLBACK, [name], ok=False, error=exc)
        raise MigrationError(f"rolling back '{name}' failed: {exc}", done=list(done))
    if result["action"] in ("deleted", "restored") and not check_mode:
        manager.audit.operation(AUDIT_ROLLBACK, [name], ok=True, outcome=result["action"],
                                versions={name: {"after": version}})
    return result


def check_env_file(saved: _backup.Backup, env_file: Optional[str]) -> None:
    """Refuse, before any write, a rollback told to restore the backup's .env copy over another file.

    The copy is the file the backup was taken from (its header records the real path): written over
    another .env file it would destroy that file's content and put another application's plaintext
    values in its place. Real paths are compared, so a symlink or a relative path to the same file
    is the same file. There is no option to restore elsewhere: a file that moved is moved back first.
    """
    recorded = saved.env.get("path") or saved.header.get("env_file")
    if not env_file or not recorded or saved.env_bytes() is None:
        return  # no copy of a .env file (a move's backup): nothing is written over any file
    given = os.path.realpath(os.path.expanduser(env_file))
    if given == os.path.realpath(str(recorded)):
        return
    raise MigrationError(
        f"the backup {saved.path} was taken from the .env file {recorded}, not from {given}: its rollback"
        f" restores the copy of {recorded} and would replace {given} with it",
        hint=f"Nothing was written. Give -e env_file={recorded} (or leave env_file out: the rollback restores the"
             f" file the backup was taken from), or the backup of {given} (-e backup=PATH, or no backup: the newest"
             f" backup of env_file is chosen). If the file moved, move it back to {recorded} for the rollback",
    )


_SOLE_REFERENCE = re.compile(r"\$\{secret:([A-Za-z0-9_.+=/-]+)\}")


def _sole_reference(entry: _dotenv.DotenvEntry) -> Optional[str]:
    """The secret name when the value is one ``${secret:NAME}`` and nothing else (what the rewrite writes)."""
    if entry.quote == "'":
        return None
    match = _SOLE_REFERENCE.fullmatch(entry.value)
    return match.group(1) if match else None


def _undo_rewrite_only(path: str, current: bytes, copy: bytes, edited: Sequence[str], kept: Sequence[Tuple[str, str]],
                       mode: int, check_mode: bool, warnings: Optional[List[str]]) -> Tuple[str, List[Tuple[str, str, str]]]:
    """A file edited since the backup: its edits stay, and only the lines the rewrite made (one ``${secret:name}``
    where the copy has a value) get the copy's values back, except those of secrets left as they are (kept).
    Putting the whole copy back would throw the edits away; leaving the references would point the application
    at secrets this rollback just deleted or put back to their old values."""
    try:
        now = entries_by_key(EnvFile(path, current))
        before = entries_by_key(EnvFile(path, copy))
    except (SecretError, UnicodeDecodeError, ValueError):
        now, before = {}, {}
    keeping = {key for key, _name in kept}
    undo = [key for key, entry in now.items()
            if key in before and key not in keeping and _sole_reference(entry) is not None
            and _sole_reference(before[key]) is None and entry.value != before[key].value]
    if undo:
        merged = _dotenv.restore_values(current.decode("utf-8"), copy.decode("utf-8"), undo, source=path).encode("utf-8")
        if not check_mode:
            write_file(path, merged, mode, expected=current)
    if warnings is not None:
        undone = f"; the lines of {', '.join(undo)} got their values back from the copy" if undo else ""
        warnings.append(f"the .env file {path} changed since the backup ({', '.join(edited)}): those edits stay{undone}."
                        " Roll back with force to put the whole copy back")
    kept_lines = [(key, name, path) for key, name in kept]
    return ("restored except the lines edited since the backup" if undo else "left as it is (edited since the backup)"), kept_lines


def _edited_since(path: str, current: bytes, copy: bytes) -> List[str]:
    """The keys of the .env file that changed since the backup copied it, other than by the rewrite to
    references (a line that holds one ``${secret:name}`` where the copy had a value): a value edited, a key
    added or removed. Never a value, only key names. A file that cannot be parsed counts as not edited (the
    copy is restored, as before)."""
    try:
        now = entries_by_key(EnvFile(path, current))
        before = entries_by_key(EnvFile(path, copy))
    except (SecretError, UnicodeDecodeError, ValueError):
        return []
    edited = [key for key in now if key not in before]
    edited += [key for key in before if key not in now]
    edited += [key for key, entry in now.items()
               if key in before and entry.value != before[key].value and _sole_reference(entry) is None]
    return sorted(set(edited))


def _references_to_keep(manager: SecretManager, path: str, current: bytes, copy: bytes,
                        results: Sequence[Mapping[str, Any]]) -> List[Tuple[str, str]]:
    """(key, name) of the lines of the current .env file to keep as references when the copy is restored.

    After ``migrate_rewrite_env`` a line is ``KEY=${secret:name}``; the copy holds the value the key
    had before the migration. Putting it back is right when the secret is back to that value or gone
    (restored, deleted, absent, unchanged), and wrong when the secret was left as it is because it
    changed since (a rotation): the application would read a stale value again. So the reference stays
    for a ``conflict`` or ``not-written`` secret of the backup, and for a secret the backup does not
    hold (the plan found it unchanged) that no longer holds the copy's value (read here, never shown).
    A file that cannot be parsed keeps nothing: the copy is restored whole, as before.
    """
    try:
        now = entries_by_key(EnvFile(path, current))
        before = entries_by_key(EnvFile(path, copy))
    except (SecretError, UnicodeDecodeError, ValueError):
        return []
    rows = {str(row["key"]): row for row in results}
    keep: List[Tuple[str, str]] = []
    unknown: List[Tuple[str, str, str]] = []
    for key, entry in now.items():
        name = _sole_reference(entry)
        if name is None or key not in before:
            continue
        try:
            value, is_reference = _effective_value(before[key], path)
        except SecretError:
            continue
        if is_reference or value is None:
            continue  # the copy's line is a reference too: nothing stale to put back
        row = rows.get(key)
        if row is None:
            unknown.append((key, name, value))
        elif row.get("name") == name and row.get("action") in ("conflict", "not-written"):
            keep.append((key, name))
    if unknown:
        found = manager.get_many([name for _key, name, _value in unknown], bypass_cache=True)
        for key, name, value in unknown:
            outcome = found.get(name)
            if isinstance(outcome, Secret) and not same(outcome.value, digest(value)):
                keep.append((key, name))
    return keep


def _restore_env(manager: SecretManager, saved: _backup.Backup, check_mode: bool, env_file: Optional[str],
                 results: Sequence[Mapping[str, Any]], force: bool = False,
                 warnings: Optional[List[str]] = None) -> Tuple[str, List[Tuple[str, str, str]]]:
    """Put the backup's .env copy back (keeping the references of the secrets left as they are).

    Returns (restored, unchanged, absent or left as it is; the (key, name, path) of each line that kept its
    reference). A file edited since the backup (a key with a value that neither the copy nor the rewrite
    gave it, a key added or removed) is left as it is unless ``force``: putting the copy back would throw the
    edit away, and the migration never wrote those lines.
    """
    data = saved.env_bytes()
    if data is None:
        return "absent", []
    check_env_file(saved, env_file)
    path = saved.env.get("path") or saved.header.get("env_file")
    mode = int(saved.env.get("mode") or 0o600)
    current = None
    try:
        with open(path, "rb") as handle:
            current = handle.read()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise MigrationError(f"cannot read {path}: {exc.strerror}")
    edited = _edited_since(path, current, data) if current is not None and not force else []
    kept = _references_to_keep(manager, path, current, data, results) if current is not None else []
    if edited:
        return _undo_rewrite_only(path, current, data, edited, kept, mode, check_mode, warnings)
    if kept:
        replacements = {key: reference(name) for key, name in kept}
        data = _dotenv.rewrite(data.decode("utf-8"), replacements, source=path).encode("utf-8")
    if current == data:
        return "unchanged", [(key, name, path) for key, name in kept]
    if not check_mode:
        write_file(path, data, mode, expected=current)
    return "restored", [(key, name, path) for key, name in kept]


def choose_backups(backup_dir: str, env_file: Optional[str], rollback_to: str, identity: Mapping[str, str],
                   prefix: str) -> List[str]:
    """The backups a rollback without ``backup=PATH`` undoes, newest first.

    ``latest``: the newest backup (of ``env_file`` when given), but never silently past an older
    run of the same file into the same target that did not complete: rolling back only the newest
    would leave that run's writes in the provider, so the rollback stops and names it.
    ``before-first-unfinished``: every run from the first unfinished one on (those not rolled back
    already), newest first, so the target ends as it was before that run.
    """
    if rollback_to not in ROLLBACK_TO:
        raise MigrationError(f"rollback_to must be one of {', '.join(ROLLBACK_TO)} (got '{rollback_to}')")
    newest = _backup.latest(backup_dir, env_file)
    if env_file:
        env_path = os.path.realpath(os.path.expanduser(env_file))
    else:
        env_path = _newest_here(backup_dir, newest, identity, prefix)
    if not env_path:
        return [newest]
    runs = [saved for saved in _backup.backups(backup_dir, env_path) if same_target(saved, identity, prefix)]
    states = {saved.path: _backup.run_state(saved.path) for saved in runs}
    if runs and rollback_to == "latest":
        newest = runs[-1].path  # the newest run into this target (another target's backup would be refused)
    if rollback_to == "latest":
        older = [saved.path for saved in runs if saved.path != newest and states[saved.path] == _backup.UNFINISHED]
        if older:
            raise MigrationError(
                f"an older migration of {env_path} into this target never completed: {older[0]} (killed or failed, not"
                f" rolled back); undoing only the newest run ({newest}) would leave its writes behind",
                hint="Nothing was written. Undo every run from that one on with -e migrate_rollback_to=before-first-unfinished,"
                f" or only the newest with -e backup={newest}",
            )
        return [newest]
    unfinished = [index for index, saved in enumerate(runs) if states[saved.path] == _backup.UNFINISHED]
    if not unfinished:
        raise MigrationError(
            f"no unfinished migration of {env_path} into this target in {backup_dir}: every run completed or was rolled back",
            hint="Nothing was written. Without migrate_rollback_to the rollback undoes the newest run",
        )
    chain = [saved.path for saved in runs[unfinished[0]:] if states[saved.path] != _backup.ROLLED_BACK]
    return list(reversed(chain))


def _newest_here(backup_dir: str, newest: str, identity: Mapping[str, str], prefix: str) -> Optional[str]:
    """The file of the newest backup of the folder (a rollback given no env_file), refused when that backup is
    another target's while runs into this target are on record: its file's older runs into this target would be
    undone in place of the newest run here, and choosing the newest run here instead could pass by a newer step
    of the same operation elsewhere (the source deletion after a move). The operator names the run."""
    head = _backup.read_header(newest)
    if not head.header or same_target(head, identity, prefix):
        return head.header.get("env_file")
    here = [saved for saved in _backup.backups(backup_dir)
            if saved.header.get("env_file") and same_target(saved, identity, prefix)]
    if not here:
        return head.header.get("env_file")  # the rollback refuses it, naming the target it was taken from
    raise MigrationError(
        f"the newest backup in {os.path.abspath(os.path.expanduser(backup_dir))} ({newest}) is of another target than"
        f" this run's; the newest run into this target is {here[-1].path} (of {here[-1].header['env_file']})",
        hint=f"Nothing was written. Name the run to undo: -e backup={here[-1].path}, or -e env_file=FILE for the"
             " newest run of that file into this target",
    )
