#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_migrate
author: Vibebox maintainers (@vibebox)
short_description: Move the secrets of a .env file into a secret manager, with backup, validation and rollback
version_added: 0.1.0
description:
  - One step of a migration per call, chosen with O(action); the C(vibebox.secrets.migrate) role (and
    C(playbooks/migrate.yml)) calls them in order and rolls back when a step fails.
  - V(plan) compares every key of the .env file with what the provider holds (by SHA-256 of the value, in one batch
    read) and returns, per key, the target secret name and the action C(create), C(update), C(unchanged), C(skip)
    (excluded by O(include)/O(exclude), empty, already a C(${secret:...}) reference, or changed in the provider since
    this file's last migration, see O(overwrite)) or C(blocked) (a name or value the provider refuses, two keys
    mapped to one secret, a secret scheduled for deletion, or a write the credentials may not make; with Vault the
    token's capabilities on every target path are checked with C(sys/capabilities-self)).
  - With a strength policy (O(policy), or the collection-wide C(vibebox_secrets_policy)), a key whose value the run
    would write (C(create), C(update)) and that breaks it is C(blocked) with the rules it breaks (never the value) when
    O(policy_mode=enforce), so nothing is written; with O(policy_mode=warn) the plan warns and the value is written.
  - The plan refuses a .env file with a malformed reference (C(${secrte:db}), C(${secret:db), C(${bogus:x})) or
    a key defined twice with different values, naming file, line and column, before anything is written.
  - V(backup) writes one encrypted file with the previous value and metadata of every secret that will change and a
    byte-exact copy of the .env file (see O(backup_key)), and records the target's identity (account, server, mount,
    store file... never a credential) in its clear header. Beside it go C(<backup>.journal), what became of the run,
    and C(<backup>.undo.yml), the extra vars of its rollback. Nothing is written when nothing will change.
  - Every writing step holds the target's lock (beside the local store; in O(backup_dir)/locks for the other
    providers), so a second migration or a rollback of the same target is refused while a live run holds it; a
    lock whose run is gone, or whose lease ended, is taken over with a warning.
  - Between requests every step checks that the C(ansible-playbook) process of the run is still there
    (O(controller)) and that the lock is still its own, and stops writing otherwise.
  - V(apply) writes the secrets to create or update, after checking that the backup covers each of them and that
    the provider still holds what the backup saved. Without O(backup) it writes a backup first.
  - V(validate) reads every migrated secret back and compares it with the .env file (with O(reuse_writes), all but
    those the run's own V(apply) wrote).
  - V(finish) records in the run's journal that the migration completed and gives the lock back.
  - V(rewrite) replaces each migrated value in the .env file by its C(${secret:name}) reference, keeping comments,
    order and layout, only when each secret holds that value, and only with the run's O(backup) holding the file as
    it is (so that the rollback puts back this file, not an older copy).
  - V(rollback) undoes a migration from its backup (O(backup), else the newest in O(backup_dir), see O(rollback_to)) -
    previous values written back, secrets the migration created deleted for good, the .env file restored - comparing
    first, so a secret somebody changed since is reported and left alone (unless O(force)). A secret the migration
    created is deleted only at the version the migration wrote (the run's journal records it) with no version added
    since; one rotated since, even back to the migration's value, keeps all its versions and is reported. Only the
    secrets the run wrote (its journal says which) are touched; one it never wrote is C(not-written), left as it is
    even with O(force), and is no conflict. It can be repeated, except that a run rolled back already is not rolled
    back again once a newer run of the same .env file into the same target is on record and not rolled back (it
    would undo that run's writes of the same values). It
    refuses before any write when the target is not the backup's (another identity), does not exist, or holds none of
    the backup's secrets.
  - Values never appear in results or messages, nor does a hash of one.
options:
  action:
    description: The step to run.
    type: str
    required: true
    choices: [plan, backup, apply, validate, rewrite, finish, rollback]
  env_file:
    description:
      - The .env file, on the host the module runs on (the controller, with the role's playbook). Required except
        for V(rollback), which takes the path from the backup.
      - With V(rollback), the newest backup of this file is chosen (when O(backup) is not given), and the rollback
        refuses before any write when this is not the file the backup was taken from (compared by real path); the
        backup's copy is only ever restored over the file it is a copy of.
    type: path
  include:
    description: Glob patterns of the keys to migrate (case-sensitive), for example C(*_PASSWORD).
    type: list
    elements: str
    default: ['*']
  exclude:
    description: Glob patterns of keys never to migrate; wins over O(include).
    type: list
    elements: str
    default: []
  name_map:
    description:
      - Secret name for a key, instead of the rule C(DATABASE_PASSWORD) -> C(database-password) (lower case,
        C(_) -> C(-)). The provider prefix is added to either.
    type: dict
    default: {}
  description:
    description:
      - Description of the secrets the migration creates; C({file}) and C({key}) are replaced by the .env file's
        name and the key. Existing secrets keep theirs. An empty string sets none.
    type: str
    default: Migrated from {file} ({key})
  tags:
    description: Tags of the secrets the migration creates. Existing secrets keep theirs.
    type: dict
  expires_at:
    description:
      - When the secrets the migration writes (creates or updates) expire, an ISO 8601 time in the future
        (V(2027-01-31T12:00:00Z)); without a time zone it is UTC. Stored like the M(vibebox.secrets.secret) option of
        the same name. Secrets the plan leaves unchanged keep their expiry. Mutually exclusive with O(expires_in).
    type: str
  expires_in:
    description:
      - When the secrets the migration writes expire, as a duration from the write (V(90d)); more than zero.
    type: str
  rewrite_env:
    description:
      - With V(plan) and V(backup), whether the run will rewrite the .env file to references, so that the plan
        counts it as a change and the backup is written even when every secret is unchanged.
    type: bool
    default: false
  overwrite:
    description:
      - What to do with a secret that exists with another value than the .env file's.
      - V(unless-changed) updates it, unless it changed since this file's last migration into this target (a
        rotation, told by the C(vibebox-rotated-at) tag, or any other write, told by its version or by the digest of
        the value the migration wrote, kept in the encrypted backup); then the plan says C(skip) and why. A secret with
        a rotation tag and no earlier migration of this file is skipped too. A re-run never reverts a rotated secret.
      - With no run of this file into this target on record (backups in another folder, the file at another path,
        another machine), a secret with another value and more than one version is skipped too, because a change
        made by hand since an earlier migration cannot be told from the migration's value.
      - V(always) writes the .env value in every case; V(never) only creates secrets that do not exist.
    type: str
    default: unless-changed
    choices: [unless-changed, always, never]
  keys:
    description:
      - With V(backup), V(apply) and V(validate), only these keys of the .env file (the role applies in batches).
      - With V(backup), the backup covers only these keys (the role gives the keys its plan will write, so that the
        secrets the plan found unchanged are not read again); V(apply) refuses to write a key the backup does not
        cover.
    type: list
    elements: str
  references:
    description: With V(validate), also check that every C(${secret:...}) reference already in the file can be read.
    type: bool
    default: false
  reuse_writes:
    description:
      - With V(validate) and V(rewrite) and the run's O(backup), do not read back the secrets the V(apply) of that run
        wrote with the value the .env file holds now; the C(vibebox.secrets.migrate) role sets it for the steps after
        its V(apply).
      - Each such write was conditional on what the plan read (check-and-set on the version, or create only when
        absent) and the provider answered it with the version it stored, which the run's journal records beside the
        digest of the value sent, in the backup; so one request per written secret is saved. A write answered without
        a version (Vault KV version 1) is read back, as is everything else, and nothing is reused from a run that was
        rolled back. A backup of another target or another .env file is refused.
      - A secret changed by somebody else after the write is not seen by this validation; the next plan sees it (by
        its version) and leaves it alone. Without this option every secret is read back.
    type: bool
    default: false
  backup:
    description:
      - With V(backup), the file to write (it must not exist); by default a new file in O(backup_dir).
      - With V(apply), V(validate), V(rewrite) and V(finish), the backup written by V(backup) for this run.
      - With V(rollback), the backup to restore; the newest in O(backup_dir) (of O(env_file) when given) by default.
        Without O(env_file), when that newest backup is of another target and runs into this target are on record,
        the rollback is refused before any write, naming the newest of them to give here.
    type: path
  backup_dir:
    description:
      - Folder of the backups (created 0700). Each backup is C(migrate-<env file>-<UTC timestamp>.backup), 0600.
      - Defaults to C($XDG_STATE_HOME/vibebox/migrate-backups) (C(~/.local/state/vibebox/migrate-backups)).
    type: path
  backup_key:
    description:
      - The 256-bit key of the backups (AES-256-GCM), 32 bytes in base64 or hex.
      - When not set, C(VIBEBOX_BACKUP_KEY) is read, then O(backup_key_file). Without the key a backup cannot be
        restored; keep it away from the backups.
    type: str
  backup_key_file:
    description:
      - File holding the backup key, used when neither O(backup_key) nor C(VIBEBOX_BACKUP_KEY) is set. Created
        0600 with a random key by the first backup.
      - Defaults to C($XDG_DATA_HOME/vibebox/backup.key) (C(~/.local/share/vibebox/backup.key)).
    type: path
  force:
    description:
      - With V(rollback), also restore or delete secrets that were changed since the migration, restore into a target
        whose identity differs from the backup's (a store that moved), and into a target that holds none of the
        backup's secrets. A store that does not exist is never created.
    type: bool
    default: false
  rollback_to:
    description:
      - With V(rollback) and no O(backup), which runs to undo.
      - V(latest) undoes the newest backup (of O(env_file) when given); it refuses, naming it, when an older run of the
        same file into the same target never completed (killed, or failed without a complete rollback).
      - V(before-first-unfinished) undoes every run from the first unfinished one on, newest first, so the target
        ends as it was before that run.
    type: str
    default: latest
    choices: [latest, before-first-unfinished]
  controller:
    description:
      - The C(ansible-playbook) process of the run (C(pid), C(start), C(boot_id), C(host), C(user)), set by the
        action plugin. The module stops writing when that process is gone, and the target's lock names it as owner.
        Leave it unset.
    type: dict
extends_documentation_fragment:
  - vibebox.secrets.policy
  - vibebox.secrets.provider
  - vibebox.secrets.local
  - vibebox.secrets.aws
  - vibebox.secrets.gcp
  - vibebox.secrets.azure
  - vibebox.secrets.vault
  - vibebox.secrets.kubernetes
attributes:
  check_mode:
    description: In check mode nothing is written, neither secrets nor the backup nor the .env file; the result
      says what would change.
    support: full
  diff_mode:
    description: Not supported; the plan is the diff.
    support: none
notes:
  - The backup is AES-256-GCM (the module cannot use ansible-vault, whose code and passwords stay on the controller).
    The first two lines of a backup are readable without the key and hold no value.
  - A secret that is restored gets a new version holding its previous value; version numbers do not go back.
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
  - Each migration and rollback is recorded in the audit log as operations C(migrate) and C(migrate_rollback), one
    entry per secret with its name, version and actor, beside the C(set) and C(delete) entries of the writes.
seealso:
  - module: vibebox.secrets.secret
  - plugin: vibebox.secrets.dotenv
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Plan the migration of app.env into Vault
  vibebox.secrets.secret_migrate:
    action: plan
    env_file: /srv/app/.env
    exclude: [APP_NAME, LOG_LEVEL]
    provider: vault
  register: plan

- name: Back up what will change
  vibebox.secrets.secret_migrate:
    action: backup
    env_file: /srv/app/.env
    exclude: [APP_NAME, LOG_LEVEL]
    provider: vault
  register: saved

- name: Apply
  vibebox.secrets.secret_migrate:
    action: apply
    env_file: /srv/app/.env
    exclude: [APP_NAME, LOG_LEVEL]
    backup: "{{ saved.backup }}"
    provider: vault
  when: saved.backup

- name: Undo the latest migration of this file
  vibebox.secrets.secret_migrate:
    action: rollback
    env_file: /srv/app/.env
    provider: vault
"""

RETURN = r"""
action:
  description: The step that ran.
  type: str
  returned: always
provider:
  description: Provider of the secrets.
  type: str
  returned: always
prefix:
  description: Prefix of the provider-side names.
  type: str
  returned: always
env_file:
  description: Absolute path of the .env file.
  type: str
  returned: when known
plan:
  description: One row per key of the .env file, in file order; never a value.
  type: list
  elements: dict
  returned: with plan, backup, apply, validate and rewrite
  contains:
    key:
      description: Key in the .env file.
      type: str
    name:
      description: Logical secret name (none for skipped keys).
      type: str
    provider_name:
      description: Name inside the provider.
      type: str
    action:
      description: create, update, unchanged, skip or blocked.
      type: str
    reason:
      description: Why a key is skipped or blocked.
      type: str
    line:
      description: Line of the key in the .env file.
      type: int
counts:
  description: Number of keys per action.
  type: dict
  returned: with plan, backup, apply, validate and rewrite
  sample: {create: 3, update: 0, unchanged: 0, skip: 3, blocked: 0}
env_rewrite:
  description: Whether the .env file is (or would be) rewritten to references.
  type: bool
  returned: with plan, backup and rewrite
backup:
  description: Path of the backup written (backup, apply) or restored (rollback, the newest); none in check mode or when nothing changes.
  type: str
  returned: always
backups:
  description: With rollback, every backup undone, newest first.
  type: list
  elements: str
  returned: with rollback
undo_file:
  description: With backup, the extra vars file that undoes the run (C(ansible-playbook vibebox.secrets.migrate -e @FILE)).
  type: str
  returned: when a backup was written
backup_key_from:
  description: With backup, where the backup key came from (C(file), C(VIBEBOX_BACKUP_KEY) or the option); the undo file names a key file only.
  type: str
  returned: when a backup was written
target:
  description: With plan, the identity of the target (provider and what addresses its store; never a credential).
  type: dict
  returned: with plan
written:
  description: With apply, the secrets written (or that would be in check mode), with their new version.
  type: list
  elements: dict
  returned: with apply
validation:
  description: With validate, one row per checked secret with C(status) ok, mismatch, missing or error.
  type: list
  elements: dict
  returned: with validate
reused:
  description: With O(reuse_writes), how many secrets the run's V(apply) wrote and so were not read back.
  type: int
  returned: with validate and rewrite, when O(reuse_writes) and O(backup) are set
rollback:
  description:
    - With rollback, one row per secret of the backup with C(action) deleted, restored, unchanged, absent, conflict
      or not-written (the run never wrote it and it changed since the backup, so it is left as it is), and the C(backup) it
      comes from.
  type: list
  elements: dict
  returned: with rollback
env_restored:
  description: With rollback, what happened to the .env file (restored, unchanged, absent; edited since the backup,
    its edits stay and only the lines the rewrite made get their values back).
  type: str
  returned: with rollback
env_references_kept:
  description:
    - With rollback, the keys (C(key), C(name)) whose line of the restored .env file keeps its C(${secret:name})
      reference instead of the value the copy held, because the secret was left as it is (changed since the
      migration), so the application keeps reading its current value, not a stale one.
  type: list
  elements: dict
  returned: with rollback
summary:
  description:
    - One line saying what the step did, made of names, counts, versions and paths only (never a value); what the
      C(vibebox.secrets.migrate) role prints.
    - With plan, the count per action (and, when keys are blocked, each with its reason and that nothing was written);
      with backup, where the previous values went; with apply, the secrets written with their new version; with
      validate, how many secrets match the .env file (also when the validation fails); with rewrite, what became of
      the .env file; with finish, the backup to keep; with rollback, how many secrets were rolled back, left alone, and
      what became of the .env file.
  type: str
  returned: success, and with a validation that found a difference or a rollback that left secrets alone
  sample: "Plan for /srv/app/.env -> vault (prefix vibebox/): 6 keys; create: 3, update: 1, unchanged: 1, skip: 1, blocked: 0"
elapsed:
  description: Seconds the step took.
  type: float
  returned: always
"""

import os
import time

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core import migration as _migration
from ansible_collections.vibebox.secrets.plugins.module_utils.core import step_summaries as _lines
from ansible_collections.vibebox.secrets.plugins.module_utils import target_steps as _steps
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.module_utils.module import (
    POLICY_ARGUMENTS, build_module, enforcer_for, fail, manager_for)
from ansible_collections.vibebox.secrets.plugins.module_utils.target_steps import backup_dir as _backup_dir
from ansible_collections.vibebox.secrets.plugins.module_utils.target_steps import backup_key as _key

#: steps that write (secrets, the backup, the .env file or the journal) and so hold the target's lock
WRITING = ("backup", "apply", "rewrite", "finish", "rollback")


def _settings(params):
    return _migration.Settings(
        env_file=params["env_file"],
        include=params["include"] or ["*"],
        exclude=params["exclude"] or [],
        name_map={str(k): str(v) for k, v in (params["name_map"] or {}).items()},
        description=params["description"] or None,
        tags={str(k): str(v) for k, v in params["tags"].items()} if params["tags"] else None,
        rewrite_env=params["rewrite_env"],
        overwrite=params["overwrite"],
        strength=_strength.Enforcer.from_options(params["policy"], params["policy_mode"]),
        expires_at=_expiry_moment(params),
    )


def _expiry_moment(params):
    """When the values this step writes expire (None: no expiry asked); expires_in counts from this step."""
    asked = _expiry.wanted(params["expires_at"], params["expires_in"])
    return asked.moment if asked is not None else None


class Step(_steps.TargetSteps):
    """One step of a .env migration: the target's identity, the run's lock and the guard between requests."""

    writing = WRITING
    # the run holds the lock until finish or rollback
    last = ("finish", "rollback")

    def __init__(self, module, manager):
        super().__init__(module, manager)
        self.manager = manager

    def history(self, own_backup=None):
        """Earlier migrations of the file into this target; the key only if it exists already."""
        env_path = os.path.realpath(self.params["env_file"])
        found = _migration.History.load(_backup_dir(self.params), env_path, self.identity, self.prefix,
                                        self.existing_key())
        return found.leave_out(own_backup)

    def plan(self, keys=None, own_backup=None, settings=None, written=None):
        plan = _migration.make_plan(self.manager, settings or _settings(self.params), keys=keys,
                                    history=self.history(own_backup), written=written)
        for warning in plan.warnings:
            self.module.warn(warning)
        return plan

    def lock_purpose(self, action):
        return "rollback" if action == "rollback" else "migration"


def _plan_result(plan, result):
    result.update(env_file=plan.env.path, plan=[row.to_dict() for row in plan.rows], counts=plan.counts(),
                  env_rewrite=plan.env_changes)


def _target(result):
    return _lines.place(result["provider"], result["prefix"])


def _plan_summary(plan, result):
    """The plan's line, and when keys are blocked, why the run stops before any write."""
    line = _lines.plan_line(plan.env.path, _target(result), len(plan.rows), "keys", plan.counts(), _migration.ACTIONS,
                            env_rewrite=plan.env_changes)
    if plan.blocked:
        rows = [row.to_dict() for row in plan.blocked]
        line += ". " + _lines.stop_line(rows, "keys", "migrated", "Fix them or leave them out with migrate_exclude.")
    return line


def run_plan(step, result):
    step.peek_lock()
    plan = step.plan()
    _plan_result(plan, result)
    result["target"] = dict(step.identity)
    counts = plan.counts()
    result["msg"] = ", ".join(f"{counts[action]} {action}" for action in _migration.ACTIONS)
    result["summary"] = _plan_summary(plan, result)


def run_backup(step, result):
    module, params = step.module, step.params
    plan = step.plan(keys=params["keys"])
    _plan_result(plan, result)
    if plan.blocked:
        raise _migration.MigrationError("blocked keys: " + ", ".join(row.key for row in plan.blocked),
                                        hint="Fix or exclude them (migrate_exclude); the plan says why for each")
    result["summary"] = _lines.backup_line(None, len(plan.changes), check_mode=module.check_mode,
                                           env_file=plan.changed)
    if not plan.changed:
        result["msg"] = "nothing will change: no backup needed"
        return
    result["changed"] = True
    if module.check_mode:
        result["msg"] = "check mode: the backup was not written"
        return
    key = _key(params, create=True)
    warning = _backup.new_key_warning(_backup_dir(params), key)
    if warning:
        module.warn(warning)
    path = _migration.write_backup(plan, _backup_dir(params), key, path=params["backup"], identity=step.identity)
    _backup.record_event(path, "started", durable=True, owner=step.lock.owner.to_dict() if step.lock else None)
    _backup.write_undo(path, step.undo_variables(path, key))
    result.update(backup=path, undo_file=_backup.undo_path(path),
                  backup_key_from="file" if os.path.isabs(key.source) else key.source)
    result["msg"] = f"backup written to {path}"
    result["summary"] = _lines.backup_line(path, len(plan.changes), check_mode=False, env_file=True)


def run_apply(step, result):
    module, manager, params = step.module, step.manager, step.params
    settings = _settings(params)
    plan = step.plan(keys=params["keys"], own_backup=params["backup"], settings=settings)
    _plan_result(plan, result)
    saved = None
    if params["backup"]:
        saved = _backup.read(params["backup"], _key(params, create=False))
        result["backup"] = saved.path
    elif plan.changes and not module.check_mode:
        if params["keys"] is not None:
            raise _migration.MigrationError("apply with keys needs the run's backup", hint="Give backup=PATH")
        full = _migration.make_plan(manager, settings, history=step.history())
        key = _key(params, create=True)
        warning = _backup.new_key_warning(_backup_dir(params), key)
        if warning:
            module.warn(warning)
        result["backup"] = _migration.write_backup(full, _backup_dir(params), key, identity=step.identity)
        _backup.record_event(result["backup"], "started", durable=True)
        _backup.write_undo(result["backup"], step.undo_variables(result["backup"], key))
        saved = _backup.read(result["backup"], _key(params, create=False))
    started = len(plan.changes)
    try:
        result["written"] = _migration.apply(manager, plan, settings, saved, check_mode=module.check_mode)
    except _migration.MigrationError as exc:
        result["written"] = exc.done
        raise
    result["changed"] = started > 0
    result["msg"] = f"{started} written" if not module.check_mode else f"{started} would be written"
    result["summary"] = _lines.written_line(result["written"], _target(result), check_mode=module.check_mode)


def _run_writes(step, result):
    """With reuse_writes, what the apply of this run (its backup) wrote, so that it is not read back."""
    params = step.params
    if not (params["reuse_writes"] and params["backup"]):
        return None
    saved = _backup.read(params["backup"], _key(params, create=False))
    written = _migration.run_writes(step.manager, saved, os.path.realpath(params["env_file"]))
    result["reused"] = len(written)
    return written


def run_validate(step, result):
    module, params = step.module, step.params
    plan = step.plan(keys=params["keys"], own_backup=params["backup"], written=_run_writes(step, result))
    _plan_result(plan, result)
    checks = _migration.validate(step.manager, plan, references=params["references"])
    result["validation"] = checks
    bad = [item for item in checks if item["status"] != "ok"]
    result["msg"] = f"{len(checks) - len(bad)} of {len(checks)} secrets match the .env file"
    result["summary"] = _lines.validation_line(plan.env.path, _target(result), checks, "the .env file")
    if bad:
        result.pop("msg")
        details = "; ".join(f"{item['key']} ({item['name']}): {item['status']}" for item in bad)
        module.fail_json(msg=f"validation failed for {len(bad)} of {len(checks)} secrets: {details}",
                         error_kind="validation", **result)


def run_rewrite(step, result):
    settings = _settings(step.params)
    settings.rewrite_env = True
    plan = step.plan(own_backup=step.params["backup"], settings=settings, written=_run_writes(step, result))
    _plan_result(plan, result)
    if plan.env_changes and not step.module.check_mode:  # the rollback must find the file as it is now
        saved = _backup.read(step.params["backup"], _key(step.params, create=False)) if step.params["backup"] else None
        _migration.check_env_covered(plan, saved)
    result["changed"] = _migration.rewrite_env(step.manager, plan, check_mode=step.module.check_mode)
    result["msg"] = "the .env file now holds references" if result["changed"] else "the .env file already holds the references"
    result["summary"] = _lines.rewrite_line(plan.env.path, result["changed"], check_mode=step.module.check_mode)


def run_finish(step, result):
    """The run completed (validated): its journal says so, and the lock is given back."""
    path = step.params["backup"]
    if path and not step.module.check_mode:
        path = os.path.abspath(path)
        _backup.record_event(path, "complete", durable=True)
        result["backup"] = path
    result["msg"] = "migration complete" + (f"; backup {path}" if path else "")
    result["summary"] = _lines.finish_line("migration", path if not step.module.check_mode else None)


def run_rollback(step, result):
    module, manager, params = step.module, step.manager, step.params
    if params["backup"] and params["rollback_to"] != "latest":
        raise errors.InvalidOption("give either backup or rollback_to=before-first-unfinished, not both",
                                   hint="backup=PATH undoes one run; rollback_to chooses runs among the backups")
    if params["backup"]:
        paths = [os.path.abspath(params["backup"])]
    else:
        paths = _migration.choose_backups(_backup_dir(params), params["env_file"], params["rollback_to"],
                                          step.identity, step.prefix)
    result.update(backup=paths[0], backups=paths)
    key = _key(params, create=False)
    chain = [_backup.read(path, key) for path in paths]
    for saved in chain:  # every run of the chain, before the first write of any of them
        _migration.check_env_file(saved, params["env_file"])
    result["env_file"] = os.path.realpath(params["env_file"]) if params["env_file"] else chain[0].env.get("path")
    rows, env_state = [], "unchanged"
    rewritten = {}  # versions the rollbacks of the newer runs wrote back: the older runs' values, ours too
    report = {}
    for saved in chain:
        report["env_references_kept"] = []  # the last run restored (the oldest) wrote the file that stays
        try:
            done, env_state, warnings = _migration.rollback(manager, saved, check_mode=module.check_mode,
                                                            force=params["force"], env_file=params["env_file"],
                                                            rewritten=rewritten, report=report)
        except _migration.MigrationError as exc:
            result["rollback"] = rows + [dict(row, backup=saved.path) for row in exc.done]
            raise
        for warning in warnings:
            module.warn(warning)
        rows.extend(dict(row, backup=saved.path) for row in done)
    kept = report.get("env_references_kept") or []
    result.update(rollback=rows, env_restored=env_state, env_references_kept=kept)
    acted = [row for row in rows if row["action"] in ("deleted", "restored")]
    result["changed"] = bool(acted) or env_state == "restored"
    conflicts = [row for row in rows if row["action"] == "conflict"]
    runs = f" ({len(chain)} runs)" if len(chain) > 1 else ""
    result["summary"] = _lines.rollback_line(paths[0], rows, env_state, runs=len(chain), check_mode=module.check_mode,
                                             kept=[item["key"] for item in kept])
    result["msg"] = (f"{len(acted)} secret{'' if len(acted) == 1 else 's'} rolled back{runs}, .env file {env_state}"
                     + (f", {len(conflicts)} left alone" if conflicts else ""))
    if conflicts:
        result.pop("msg")
        names = ", ".join(f"{row['name']} ({row['reason']})" for row in conflicts)
        module.fail_json(msg=f"rollback left {len(conflicts)} secrets alone: {names}", error_kind="conflict",
                         hint="Check them, then run the rollback again with force=true to overwrite them", **result)


STEPS = {"plan": run_plan, "backup": run_backup, "apply": run_apply, "validate": run_validate,
         "rewrite": run_rewrite, "finish": run_finish, "rollback": run_rollback}


def main():
    module = build_module(
        dict(
            action=dict(type="str", required=True, choices=list(STEPS)),
            env_file=dict(type="path"),
            include=dict(type="list", elements="str", default=["*"]),
            exclude=dict(type="list", elements="str", default=[]),
            name_map=dict(type="dict", default={}),
            description=dict(type="str", default=_migration.DEFAULT_DESCRIPTION),
            tags=dict(type="dict"),
            expires_at=dict(type="str"),
            expires_in=dict(type="str"),
            rewrite_env=dict(type="bool", default=False),
            overwrite=dict(type="str", default="unless-changed", choices=list(_migration.OVERWRITE)),
            keys=dict(type="list", elements="str", no_log=False),
            references=dict(type="bool", default=False),
            reuse_writes=dict(type="bool", default=False),
            backup=dict(type="path"),
            backup_dir=dict(type="path"),
            backup_key=dict(type="str", no_log=True),
            backup_key_file=dict(type="path", no_log=False),
            force=dict(type="bool", default=False),
            rollback_to=dict(type="str", default="latest", choices=list(_migration.ROLLBACK_TO)),
            controller=dict(type="dict"),
            **POLICY_ARGUMENTS,
        ),
        required_if=[("action", action, ["env_file"]) for action in ("plan", "backup", "apply", "validate", "rewrite")],
        mutually_exclusive=[("expires_at", "expires_in")],
    )
    started = time.monotonic()
    enforcer_for(module)  # a bad policy fails here, before the lock and any request
    try:  # a past expires_at or a bad expires_in too
        _expiry.wanted(module.params["expires_at"], module.params["expires_in"])
    except errors.SecretError as exc:
        fail(module, exc, changed=False, action=module.params["action"])
    manager = manager_for(module)
    action = module.params["action"]
    result = dict(changed=False, action=action, provider=manager.provider, prefix=manager.prefix or "", backup=None)
    step = Step(module, manager)
    failure = None
    failed = True
    try:
        if action == "rollback":
            _migration.check_store_exists(manager)  # before the lock: a rollback creates nothing, not even a lock
        step.guard(action)
        STEPS[action](step, result)  # may end the module itself with fail_json (validation, conflicts)
        failed = False
    except errors.SecretError as exc:
        failure = exc
    finally:
        _release_quietly(step, action, failed)
        manager.close()
    result["elapsed"] = round(time.monotonic() - started, 3)
    if failure is not None:
        result.pop("msg", None)
        fail(module, failure, **result)
    module.exit_json(**result)


def _release_quietly(step, action, failed):
    try:
        step.release(action, failed)
    except (OSError, errors.SecretError) as exc:  # the step's own outcome is what the user must see
        step.module.warn(f"could not give back the lock of the target: {exc}")


if __name__ == "__main__":
    main()
