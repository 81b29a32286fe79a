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
    (excluded by O(include)/O(exclude), empty, or already a C(${secret:...}) reference) or C(blocked) (a name or
    value the provider refuses, two keys mapped to one secret, or a secret scheduled for deletion).
  - V(backup) writes one encrypted file with the previous value and metadata of every secret that will change and a
    byte-exact copy of the .env file (see O(backup_key)). Nothing is written when nothing will change.
  - V(apply) writes the secrets to create or update, after checking that the backup covers each of them and that
    the provider still holds what the backup saved. Without O(backup) it writes a backup first.
  - V(validate) reads every migrated secret back and compares it with the .env file.
  - V(rewrite) replaces each migrated value in the .env file by its C(${secret:name}) reference, keeping comments,
    order and layout, only when each secret holds that value.
  - V(rollback) undoes a migration from its backup (O(backup), else the newest in O(backup_dir)) - previous values
    written back, secrets the migration created deleted for good, the .env file restored - comparing first, so a
    secret somebody changed since is reported and left alone (unless O(force)). It can be repeated.
  - Values never appear in results or messages, nor does a hash of one.
options:
  action:
    description: The step to run.
    type: str
    required: true
    choices: [plan, backup, apply, validate, rewrite, rollback]
  env_file:
    description:
      - The .env file, on the host the module runs on (the controller, with the role's playbook). Required except
        for V(rollback), which takes the path from the backup.
      - With V(rollback), restore the .env copy to this path instead of the one recorded in the backup.
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
  rewrite_env:
    description:
      - With V(plan) and V(backup), whether the run will rewrite the .env file to references, so that the plan
        counts it as a change and the backup is written even when every secret is unchanged.
    type: bool
    default: false
  keys:
    description: With V(apply) and V(validate), only these keys of the .env file (the role applies in batches).
    type: list
    elements: str
  references:
    description: With V(validate), also check that every C(${secret:...}) reference already in the file can be read.
    type: bool
    default: false
  backup:
    description:
      - With V(backup), the file to write (it must not exist); by default a new file in O(backup_dir).
      - With V(apply), the backup written by V(backup) for this run.
      - With V(rollback), the backup to restore; the newest in O(backup_dir) (of O(env_file) when given) by default.
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
      - With V(rollback), also restore or delete secrets that were changed since the migration.
    type: bool
    default: false
extends_documentation_fragment:
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
  description: Path of the backup written (backup, apply) or restored (rollback); none in check mode or when nothing changes.
  type: str
  returned: always
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
rollback:
  description:
    - With rollback, one row per secret of the backup with C(action) deleted, restored, unchanged, absent or conflict.
  type: list
  elements: dict
  returned: with rollback
env_restored:
  description: With rollback, what happened to the .env file (restored, unchanged).
  type: str
  returned: with rollback
elapsed:
  description: Seconds the step took.
  type: float
  returned: always
"""

import os
import time

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import migration as _migration
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for


def _settings(params):
    return _migration.Settings(
        env_file=params["env_file"],
        include=params["include"] or ["*"],
        exclude=params["exclude"] or [],
        name_map={str(k): str(v) for k, v in (params["name_map"] or {}).items()},
        description=params["description"] or None,
        tags={str(k): str(v) for k, v in params["tags"].items()} if params["tags"] else None,
        rewrite_env=params["rewrite_env"],
    )


def _key(params, create):
    return _backup.BackupKey.load(params["backup_key"], params["backup_key_file"], create=create)


def _backup_dir(params):
    return params["backup_dir"] or _backup.default_backup_dir()


def _plan_result(plan, result):
    result.update(env_file=plan.env.path, plan=[row.to_dict() for row in plan.rows], counts=plan.counts(),
                  env_rewrite=plan.env_changes)


def run_plan(module, manager, result):
    plan = _migration.make_plan(manager, _settings(module.params))
    _plan_result(plan, result)
    counts = plan.counts()
    result["msg"] = ", ".join(f"{counts[action]} {action}" for action in _migration.ACTIONS)


def run_backup(module, manager, result):
    plan = _migration.make_plan(manager, _settings(module.params))
    _plan_result(plan, result)
    if plan.blocked:
        raise _migration.MigrationError("blocked keys: " + ", ".join(row.key for row in plan.blocked),
                                        hint="Fix or exclude them (migrate_exclude); the plan says why for each")
    if not plan.changed:
        result["msg"] = "nothing will change: no backup needed"
        return
    result["changed"] = True
    if module.check_mode:
        result["msg"] = "check mode: the backup was not written"
        return
    result["backup"] = _migration.write_backup(plan, _backup_dir(module.params), _key(module.params, create=True),
                                               path=module.params["backup"])
    result["msg"] = f"backup written to {result['backup']}"


def run_apply(module, manager, result):
    params = module.params
    settings = _settings(params)
    plan = _migration.make_plan(manager, settings, keys=params["keys"])
    _plan_result(plan, result)
    saved = None
    if params["backup"]:
        saved = _backup.read(params["backup"], _key(params, create=False))
        result["backup"] = saved.path
    elif plan.changes and not module.check_mode:
        if params["keys"] is not None:
            raise _migration.MigrationError("apply with keys needs the run's backup", hint="Give backup=PATH")
        full = _migration.make_plan(manager, settings)
        result["backup"] = _migration.write_backup(full, _backup_dir(params), _key(params, create=True))
        saved = _backup.read(result["backup"], _key(params, create=False))
    started = len(plan.changes)
    try:
        result["written"] = _migration.apply(manager, plan, settings, saved, check_mode=module.check_mode)
    except _migration.MigrationError as exc:
        result["written"] = exc.done
        raise
    result["changed"] = started > 0
    result["msg"] = f"{started} written" if not module.check_mode else f"{started} would be written"


def run_validate(module, manager, result):
    params = module.params
    plan = _migration.make_plan(manager, _settings(params), keys=params["keys"])
    _plan_result(plan, result)
    checks = _migration.validate(manager, plan, references=params["references"])
    result["validation"] = checks
    bad = [item for item in checks if item["status"] != "ok"]
    result["msg"] = f"{len(checks) - len(bad)} of {len(checks)} secrets match the .env file"
    if bad:
        result.pop("msg")
        details = "; ".join(f"{item['key']} ({item['name']}): {item['status']}" for item in bad)
        module.fail_json(msg=f"validation failed for {len(bad)} of {len(checks)} secrets: {details}",
                         error_kind="validation", **result)


def run_rewrite(module, manager, result):
    settings = _settings(module.params)
    settings.rewrite_env = True
    plan = _migration.make_plan(manager, settings)
    _plan_result(plan, result)
    result["changed"] = _migration.rewrite_env(manager, plan, check_mode=module.check_mode)
    result["msg"] = "the .env file now holds references" if result["changed"] else "the .env file already holds the references"


def run_rollback(module, manager, result):
    params = module.params
    path = params["backup"] or _backup.latest(_backup_dir(params), params["env_file"])
    result["backup"] = path
    saved = _backup.read(path, _key(params, create=False))
    result["env_file"] = os.path.realpath(params["env_file"]) if params["env_file"] else saved.env.get("path")
    try:
        rows, env_state = _migration.rollback(manager, saved, check_mode=module.check_mode, force=params["force"],
                                              env_file=params["env_file"])
    except _migration.MigrationError as exc:
        result["rollback"] = exc.done
        raise
    result.update(rollback=rows, env_restored=env_state)
    acted = [row for row in rows if row["action"] in ("deleted", "restored")]
    result["changed"] = bool(acted) or env_state == "restored"
    conflicts = [row for row in rows if row["action"] == "conflict"]
    result["msg"] = (f"{len(acted)} secret{'' if len(acted) == 1 else 's'} rolled back, .env file {env_state}"
                     + (f", {len(conflicts)} left alone" if conflicts else ""))
    if conflicts:
        result.pop("msg")
        names = ", ".join(f"{row['name']} ({row['reason']})" for row in conflicts)
        module.fail_json(msg=f"rollback left {len(conflicts)} secrets alone: {names}", error_kind="conflict",
                         hint="Check them, then run the rollback again with force=true to overwrite them", **result)


STEPS = {"plan": run_plan, "backup": run_backup, "apply": run_apply, "validate": run_validate,
         "rewrite": run_rewrite, "rollback": run_rollback}


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
            rewrite_env=dict(type="bool", default=False),
            keys=dict(type="list", elements="str", no_log=False),
            references=dict(type="bool", default=False),
            backup=dict(type="path"),
            backup_dir=dict(type="path"),
            backup_key=dict(type="str", no_log=True),
            backup_key_file=dict(type="path", no_log=False),
            force=dict(type="bool", default=False),
        ),
        required_if=[("action", action, ["env_file"]) for action in ("plan", "backup", "apply", "validate", "rewrite")],
    )
    started = time.monotonic()
    manager = manager_for(module)
    action = module.params["action"]
    result = dict(changed=False, action=action, provider=manager.provider, prefix=manager.prefix or "", backup=None)
    try:
        STEPS[action](module, manager, result)
    except errors.SecretError as exc:
        result["elapsed"] = round(time.monotonic() - started, 3)
        result.pop("msg", None)
        fail(module, exc, **result)
    finally:
        manager.close()
    result["elapsed"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
