#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_move
author: Vibebox maintainers (@vibebox)
short_description: Move secrets from one provider to another, with backup, validation and rollback
version_added: 0.1.0
description:
  - One step of a provider-to-provider move per call, chosen with O(action); the C(vibebox.secrets.migrate) role
    (C(playbooks/migrate.yml) with C(-e migrate_from=local)) calls them in order and rolls back when a step fails.
  - The target is addressed by the provider options, as with every module of the collection; the source by
    O(source) and O(source_options). Every readable provider can be a source (C(env) too, with O(include));
    every provider that stores secrets can be a target.
  - V(plan) lists the source (under its prefix), maps each name through both prefixes and O(name_map), reads
    both sides in one batch each and returns, per secret, C(create), C(update), C(unchanged), C(skip) (scheduled for
    deletion in the source, or changed in the target since the last move of this source, see O(overwrite)) or
    C(refused) (a name the target's name rule refuses, with a O(name_map) suggestion in C(rename_map); two names
    mapped to one; a value too large; a target secret scheduled for deletion; a write the credentials may not make;
    a value the strength policy refuses; within one store, a target that is itself a secret of the source, as with
    the prefixes C(app/) and C(app/v2/), until O(exclude) leaves the target's names out of the source).
  - With a strength policy (O(policy), or the collection-wide C(vibebox_secrets_policy)), the current value of each
    secret the move would write (C(create), C(update)) must pass it. With O(policy_mode=enforce) a weak one is
    C(refused) in the plan, naming the rules it breaks, never the value, so the move stops before its first write;
    with O(policy_mode=warn) the plan warns and the value is moved. Older versions (O(versions=all)) are not judged.
  - V(backup) writes the target's previous state of every secret that will change to one encrypted file, in the
    format of M(vibebox.secrets.secret_migrate), so its V(rollback) step (and C(migrate_action=rollback)) undoes a
    move. Beside it go the journal and the undo file. Nothing is written when nothing will change.
  - V(apply) writes what the plan says, batch by batch with O(keys) - the current value, description, tags and expiry
    (into the target's own expiry field where it has one), and
    with O(versions=all) every older readable version first, oldest first, so C(previous) still answers. The
    rotation tags keep their meaning (the grace tag names the target's version id).
  - V(validate) reads both sides again and compares every moved secret by SHA-256 (never shown).
  - V(delete_source), only after a validation where every moved secret matched, backs the source up (encrypted,
    same format) and deletes the moved secrets from it (soft delete where the provider has one).
  - V(finish) records that the move completed and gives the target's lock back.
  - The source is never written, except by V(delete_source). Values never appear in results or messages.
options:
  action:
    description: The step to run.
    type: str
    required: true
    choices: [plan, backup, apply, validate, delete_source, finish]
  source:
    description: The provider the secrets come from.
    type: str
    required: true
    choices: [aws, gcp, azure, vault, kubernetes, env, local, hashicorp, openbao, k8s, environment]
  source_options:
    description:
      - The source's provider options (C(prefix), C(local_path), C(local_key_file), C(vault_addr), C(vault_token),
        C(aws_region), ...), with the names and meanings of the provider options of this module; credentials among
        them are no_log. Options not given are read from the environment, as for the target.
      - When source and target are the same kind of provider, give the source's address here so the two differ.
    type: dict
    default: {}
    suboptions:
      prefix:
        description: The provider option C(prefix) of the source.
        type: str
      cache_ttl:
        description: The provider option C(cache_ttl) of the source.
        type: float
      audit_log:
        description: The provider option C(audit_log) of the source.
        type: str
      fallback:
        description: The provider option C(fallback) of the source.
        type: list
        elements: str
      aws_region:
        description: The provider option C(aws_region) of the source.
        type: str
      aws_profile:
        description: The provider option C(aws_profile) of the source.
        type: str
      aws_endpoint_url:
        description: The provider option C(aws_endpoint_url) of the source.
        type: str
      aws_access_key_id:
        description: The provider option C(aws_access_key_id) of the source.
        type: str
      aws_secret_access_key:
        description: The provider option C(aws_secret_access_key) of the source.
        type: str
      aws_session_token:
        description: The provider option C(aws_session_token) of the source.
        type: str
      aws_replica_regions:
        description: The provider option C(aws_replica_regions) of the source.
        type: list
        elements: str
      aws_replica_purge:
        description: The provider option C(aws_replica_purge) of the source.
        type: bool
      aws_rotation_lambda_arn:
        description: The provider option C(aws_rotation_lambda_arn) of the source.
        type: str
      aws_rotation_days:
        description: The provider option C(aws_rotation_days) of the source.
        type: int
      aws_rotation_enabled:
        description: The provider option C(aws_rotation_enabled) of the source.
        type: bool
      gcp_project:
        description: The provider option C(gcp_project) of the source.
        type: str
      gcp_credentials:
        description: The provider option C(gcp_credentials) of the source.
        type: path
      gcp_access_token:
        description: The provider option C(gcp_access_token) of the source.
        type: str
      gcp_endpoint:
        description: The provider option C(gcp_endpoint) of the source.
        type: str
      gcp_ca_cert:
        description: The provider option C(gcp_ca_cert) of the source.
        type: path
      gcp_replication:
        description: The provider option C(gcp_replication) of the source.
        type: list
        elements: str
      azure_vault_url:
        description: The provider option C(azure_vault_url) of the source.
        type: str
      azure_tenant_id:
        description: The provider option C(azure_tenant_id) of the source.
        type: str
      azure_client_id:
        description: The provider option C(azure_client_id) of the source.
        type: str
      azure_client_secret:
        description: The provider option C(azure_client_secret) of the source.
        type: str
      azure_auth:
        description: The provider option C(azure_auth) of the source.
        type: str
        choices: [auto, service_principal, managed_identity, default]
      azure_authority_host:
        description: The provider option C(azure_authority_host) of the source.
        type: str
      azure_ca_cert:
        description: The provider option C(azure_ca_cert) of the source.
        type: path
      azure_verify_challenge_resource:
        description: The provider option C(azure_verify_challenge_resource) of the source.
        type: bool
      vault_addr:
        description: The provider option C(vault_addr) of the source.
        type: str
      vault_token:
        description: The provider option C(vault_token) of the source.
        type: str
      vault_role_id:
        description: The provider option C(vault_role_id) of the source.
        type: str
      vault_secret_id:
        description: The provider option C(vault_secret_id) of the source.
        type: str
      vault_namespace:
        description: The provider option C(vault_namespace) of the source.
        type: str
      vault_mount:
        description: The provider option C(vault_mount) of the source.
        type: str
      vault_kv_version:
        description: The provider option C(vault_kv_version) of the source.
        type: int
        choices: [1, 2]
      vault_ca_cert:
        description: The provider option C(vault_ca_cert) of the source.
        type: path
      vault_timeout:
        description: The provider option C(vault_timeout) of the source.
        type: float
      vault_auth_method:
        description: The provider option C(vault_auth_method) of the source.
        type: str
      vault_auth_mount:
        description: The provider option C(vault_auth_mount) of the source.
        type: str
      vault_username:
        description: The provider option C(vault_username) of the source.
        type: str
      vault_password:
        description: The provider option C(vault_password) of the source.
        type: str
      vault_role:
        description: The provider option C(vault_role) of the source.
        type: str
      vault_jwt:
        description: The provider option C(vault_jwt) of the source.
        type: str
      vault_jwt_file:
        description: The provider option C(vault_jwt_file) of the source.
        type: path
      vault_kubernetes_token_file:
        description: The provider option C(vault_kubernetes_token_file) of the source.
        type: path
      vault_client_cert:
        description: The provider option C(vault_client_cert) of the source.
        type: path
      vault_client_key:
        description: The provider option C(vault_client_key) of the source.
        type: path
      vault_transit_mount:
        description: The provider option C(vault_transit_mount) of the source.
        type: str
      vault_transit_key:
        description: The provider option C(vault_transit_key) of the source.
        type: str
      engine:
        description: The provider option C(engine) of the source.
        type: str
        choices: [kv, dynamic]
      vault_dynamic_mount:
        description: The provider option C(vault_dynamic_mount) of the source.
        type: str
      vault_revoke_leases_at_end:
        description: The provider option C(vault_revoke_leases_at_end) of the source.
        type: bool
      vault_delete_version_after:
        description: The provider option C(vault_delete_version_after) of the source.
        type: bool
      k8s_namespace:
        description: The provider option C(k8s_namespace) of the source.
        type: str
      k8s_secret_name:
        description: The provider option C(k8s_secret_name) of the source.
        type: str
      kubeconfig:
        description: The provider option C(kubeconfig) of the source.
        type: path
      k8s_context:
        description: The provider option C(k8s_context) of the source.
        type: str
      local_path:
        description: The provider option C(local_path) of the source.
        type: path
      local_key_file:
        description: The provider option C(local_key_file) of the source.
        type: path
  include:
    description: Glob patterns of the source's names (without its prefix) to move. Required in effect with the
      C(env) source, which lists every environment variable.
    type: list
    elements: str
    default: ['*']
  exclude:
    description: Glob patterns of names never to move; wins over O(include).
    type: list
    elements: str
    default: []
  name_map:
    description: Target name per source name, for names the target's rule refuses (the plan suggests them).
    type: dict
    default: {}
  tags:
    description: Tags added to every secret the move writes; the source's own tags win over them.
    type: dict
  versions:
    description:
      - V(current) moves the current value; V(all) moves every readable version, oldest first, into secrets the
        move creates (a secret that exists in the target keeps its own history and gets the current value).
    type: str
    default: current
    choices: [current, all]
  overwrite:
    description:
      - A target secret that exists with another value. V(unless-changed) updates it unless it changed since the
        last move of this source into this target, or, with no move of this source into this target on record, has
        more than one version (then the plan says C(skip) and why); V(always) overwrites; V(never) only creates
        missing secrets.
    type: str
    default: unless-changed
    choices: [unless-changed, always, never]
  keys:
    description: With V(apply) and V(validate), only these source names (the role applies in batches).
    type: list
    elements: str
  backup:
    description:
      - With V(backup), the file to write (it must not exist); by default a new file in O(backup_dir).
      - With V(apply), V(validate), V(delete_source) and V(finish), the backup of this run.
    type: path
  source_backup:
    description: With V(delete_source), the file of the source's backup (it must not exist); by default a new file
      in O(backup_dir).
    type: path
  backup_dir:
    description: Folder of the backups (created 0700); defaults to C($XDG_STATE_HOME/vibebox/migrate-backups).
    type: path
  backup_key:
    description: The backup key, 32 bytes in base64 or hex; when not set, C(VIBEBOX_BACKUP_KEY), then O(backup_key_file).
    type: str
  backup_key_file:
    description: File with the backup key, created 0600 by the first backup; defaults to C($XDG_DATA_HOME/vibebox/backup.key).
    type: path
  controller:
    description: The C(ansible-playbook) process of the run, set by the action plugin. Leave it unset.
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
    description: In check mode nothing is written to either side, nor the backup; the result says what would change.
    support: full
  diff_mode:
    description: Not supported; the plan is the diff.
    support: none
notes:
  - Undo a move with M(vibebox.secrets.secret_migrate) C(action=rollback) and the target's options (or the printed
    C(ansible-playbook vibebox.secrets.migrate -e migrate_action=rollback -e @BACKUP.undo.yml)); undo a source
    deletion the same way with the source's options and the source's backup (C(force=true) restores secrets that
    are soft-deleted).
  - Each write is in the audit log as operation C(migrate), each source deletion too (outcome C(source-deleted)).
seealso:
  - module: vibebox.secrets.secret_migrate
"""

EXAMPLES = r"""
- name: Plan a move from the local store into Vault
  vibebox.secrets.secret_move:
    action: plan
    source: local
    source_options:
      local_path: /srv/vibebox/secrets.db
    provider: vault
    vault_addr: https://vault.example.com:8200
  register: move_plan

- name: Back up the target, then move
  vibebox.secrets.secret_move:
    action: backup
    source: local
    provider: vault
  register: move_backup
"""

RETURN = r"""
action:
  description: The step that ran.
  type: str
  returned: always
provider:
  description: The target provider.
  type: str
  returned: always
prefix:
  description: The target's prefix.
  type: str
  returned: always
source:
  description: The source provider.
  type: str
  returned: always
source_prefix:
  description: The source's prefix.
  type: str
  returned: always
plan:
  description: One row per source secret (C(key) the source name, C(name) the target name, C(provider_name),
    C(source_name), C(action), C(reason), C(versions), C(suggestion)); never a value.
  type: list
  elements: dict
  returned: with plan, backup, apply and validate
counts:
  description: Number of secrets per action.
  type: dict
  returned: with plan, backup, apply and validate
  sample: {create: 3, update: 0, unchanged: 0, skip: 0, refused: 0}
rename_map:
  description: A O(name_map) that makes every refused name acceptable to the target, when one can be made.
  type: dict
  returned: with plan
backup_stem:
  description: With plan, how the backups of moves from this source begin (C(migrate-<source>-<hash>-)); a backup
    named so is found by later moves and rollbacks. The role adds the time and C(.backup).
  type: str
  returned: with plan
target:
  description: With plan, the identity of the target (provider and what addresses its store; never a credential).
  type: dict
  returned: with plan
backup:
  description: The backup of the target written (backup) or used; none in check mode or when nothing changes.
  type: str
  returned: always
undo_file:
  description: With backup, the extra vars file that undoes the run.
  type: str
  returned: when a backup was written
written:
  description: With apply, the secrets written (or that would be), with their new version and the number of versions.
  type: list
  elements: dict
  returned: with apply
validation:
  description: With validate, one row per moved secret with C(status) ok, mismatch, missing or error.
  type: list
  elements: dict
  returned: with validate
deleted:
  description: With delete_source, the source secrets deleted (or that would be).
  type: list
  elements: dict
  returned: with delete_source
source_backup:
  description: With delete_source, the backup of the source written before deleting.
  type: str
  returned: with delete_source
summary:
  description:
    - One line saying what the step did, made of names, counts, versions and paths only (never a value); what the
      C(vibebox.secrets.migrate) role prints.
    - With plan, the count per action (and, when names are refused, each with its reason and the O(name_map) that
      fixes them); with backup, where the target's previous values went; with apply, the secrets written with their
      new version; with validate, how many secrets match the source (also when the validation fails); with
      delete_source, how many source secrets were deleted and the source's backup; with finish, the backup to keep.
  type: str
  returned: success, and with a validation that found a difference
  sample: "Plan for local -> vault (prefix vibebox/): 3 secrets; create: 2, update: 1, unchanged: 0, skip: 0, refused: 0"
elapsed:
  description: Seconds the step took.
  type: float
  returned: always
"""

import os
import time

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory as _factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core import migration as _migration
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core import provider_move as _move
from ansible_collections.vibebox.secrets.plugins.module_utils.core import step_summaries as _lines
from ansible_collections.vibebox.secrets.plugins.module_utils import target_steps as _steps
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.module_utils.module import (
    POLICY_ARGUMENTS, build_module, enforcer_for, fail, manager_for)
from ansible_collections.vibebox.secrets.plugins.module_utils.target_steps import backup_dir as _backup_dir
from ansible_collections.vibebox.secrets.plugins.module_utils.target_steps import backup_key as _key

WRITING = ("backup", "apply", "delete_source", "finish")
SOURCES = list(_options.PROVIDERS) + list(_options.PROVIDER_ALIASES)


def _source_spec():
    """The provider options as sub-options: each credential stays no_log inside the dict."""
    spec = _options.provider_argument_spec()
    spec.pop("provider", None)
    return spec


def _settings(params):
    return _move.MoveSettings(
        include=params["include"] or ["*"],
        exclude=params["exclude"] or [],
        name_map={str(k): str(v) for k, v in (params["name_map"] or {}).items()},
        versions=params["versions"],
        overwrite=params["overwrite"],
        tags={str(k): str(v) for k, v in params["tags"].items()} if params["tags"] else None,
        strength=_strength.Enforcer.from_options(params["policy"], params["policy_mode"]),
    )


def source_manager(params):
    given = {name: value for name, value in (params["source_options"] or {}).items() if value is not None}
    manager = _factory.build_manager(given, provider=params["source"])
    exists = getattr(manager.backend, "exists", None)
    if callable(exists) and not exists():
        manager.close()
        raise _move.MoveError(
            f"the source store {_migration.describe_identity(manager.backend.identity())} does not exist",
            hint="Nothing was read or written. Point migrate_from_options at the store to move (local_path, local_key_file)")
    return manager


class Move(_steps.TargetSteps):
    """One step of a move: both managers and identities, the source label, and the target's lock."""

    writing = WRITING
    # the run keeps the lock between its steps; finish ends it, and delete_source comes after finish
    last = ("finish", "delete_source")

    def __init__(self, module, target, source):
        super().__init__(module, target)
        self.source = source
        self.settings = _settings(module.params)
        self.source_identity = _migration.target_identity(source)
        self.shared = _move.check_pair(source, target, self.settings, self.source_identity, self.identity)
        self.label = _move.source_label(source, self.source_identity)

    def history(self, own_backup=None):
        found = _migration.History.load(_backup_dir(self.params), self.label, self.identity, self.prefix,
                                        self.existing_key())
        return found.leave_out(own_backup)

    def plan(self, keys=None, own_backup=None):
        plan = _move.make_plan(self.source, self.target, self.settings, label=self.label,
                               history=self.history(own_backup), keys=keys, shared=self.shared)
        for warning in plan.warnings:
            self.module.warn(warning.replace("this file", "this source"))
        return plan

    def guarded_managers(self):
        return [self.target, self.source]


def _plan_result(plan, result):
    result.update(plan=[row.to_dict() for row in plan.rows], counts=plan.counts(), source_prefix=plan.source_prefix)


def _source(result):
    return _lines.place(result["source"], result.get("source_prefix"))


def _target(result):
    return _lines.place(result["provider"], result["prefix"])


def _plan_summary(plan, result):
    """The plan's line, and when names are refused, why the move stops before any write and the name map that
    fixes them."""
    line = _lines.plan_line(_source(result), _target(result), len(plan.rows), "secrets", plan.counts(), _move.ACTIONS)
    if plan.refused:
        rows = [row.to_dict() for row in plan.refused]
        line += ". " + _lines.stop_line(rows, "secrets", "moved", _lines.rename_hint(plan.rename_map()))
    return line


def run_plan(step, result):
    step.peek_lock()
    plan = step.plan()
    _plan_result(plan, result)
    result.update(rename_map=plan.rename_map(), target=dict(step.identity),
                  backup_stem=_backup.stem(step.label))
    counts = plan.counts()
    result["msg"] = ", ".join(f"{counts[action]} {action}" for action in _move.ACTIONS)
    result["summary"] = _plan_summary(plan, result)


def run_backup(step, result):
    plan = step.plan()
    _plan_result(plan, result)
    if plan.refused:
        raise _move.MoveError("refused secrets: " + ", ".join(row.key for row in plan.refused),
                              hint="Each row's reason says why: rename them (migrate_name_map), leave them out"
                                   " (migrate_exclude), or for a weak value rotate it in the source first")
    result["summary"] = _lines.backup_line(None, len(plan.changes), check_mode=step.module.check_mode)
    if not plan.changed:
        result["msg"] = "nothing will change: no backup needed"
        return
    result["changed"] = True
    if step.module.check_mode:
        result["msg"] = "check mode: the backup was not written"
        return
    key = _key(step.params, create=True)
    warning = _backup.new_key_warning(_backup_dir(step.params), key)
    if warning:
        step.module.warn(warning)
    path = _move.write_backup(plan, _backup_dir(step.params), key, path=step.params["backup"], identity=step.identity,
                              source_identity=step.source_identity)
    _backup.record_event(path, "started", durable=True, owner=step.lock.owner.to_dict() if step.lock else None)
    _backup.write_undo(path, step.undo_variables(path, key))
    result.update(backup=path, undo_file=_backup.undo_path(path))
    result["msg"] = f"backup written to {path}"
    result["summary"] = _lines.backup_line(path, len(plan.changes), check_mode=False)


def run_apply(step, result):
    module, params = step.module, step.params
    plan = step.plan(keys=params["keys"], own_backup=params["backup"])
    _plan_result(plan, result)
    saved = None
    if params["backup"]:
        saved = _backup.read(params["backup"], _key(params, create=False))
        result["backup"] = saved.path
    elif plan.changes and not module.check_mode:
        raise _move.MoveError("apply needs the run's backup", hint="Run action=backup first and give backup=PATH")
    if step.settings.versions == "all" and not module.check_mode:
        _move.read_history(step.source, plan.changes)
    try:
        result["written"] = _move.apply(step.source, step.target, plan, step.settings, saved,
                                        check_mode=module.check_mode)
    except _migration.MigrationError as exc:
        result["written"] = exc.done
        raise
    result["changed"] = bool(plan.changes)
    count = len(plan.changes)
    result["msg"] = f"{count} written" if not module.check_mode else f"{count} would be written"
    result["summary"] = _lines.written_line(result["written"], _target(result), check_mode=module.check_mode)


def run_validate(step, result):
    plan = step.plan(keys=step.params["keys"], own_backup=step.params["backup"])
    _plan_result(plan, result)
    checks = _move.validate(step.source, step.target, plan)
    result["validation"] = checks
    bad = [item for item in checks if item["status"] != "ok"]
    result["summary"] = _lines.validation_line(_source(result), _target(result), checks, "the source")
    if bad:
        details = "; ".join(f"{item['key']} -> {item['name']}: {item['status']}" for item in bad)
        step.module.fail_json(msg=f"validation failed for {len(bad)} of {len(checks)} secrets: {details}",
                              error_kind="validation", **result)
    result["msg"] = f"{len(checks)} of {len(checks)} secrets match the source"


def run_delete_source(step, result):
    params = step.params
    plan = step.plan(own_backup=params["backup"])
    _plan_result(plan, result)
    checks = _move.validate(step.source, step.target, plan)
    key = _key(params, create=not step.module.check_mode)
    done, saved = _move.delete_source(step.source, plan, checks, _backup_dir(params), key, step.source_identity,
                                      check_mode=step.module.check_mode, path=params["source_backup"])
    result.update(deleted=done, source_backup=saved, changed=bool(done))
    result["msg"] = f"{len(done)} deleted from the source" + (f"; its backup is {saved}" if saved else "")
    result["summary"] = _lines.deleted_line(_source(result), done, saved, check_mode=step.module.check_mode)


def run_finish(step, result):
    path = step.params["backup"]
    if path and not step.module.check_mode:
        path = os.path.abspath(path)
        _backup.record_event(path, "complete", durable=True)
        result["backup"] = path
    result["msg"] = "move complete" + (f"; backup {path}" if path else "")
    result["summary"] = _lines.finish_line("move", path if not step.module.check_mode else None)


STEPS = {"plan": run_plan, "backup": run_backup, "apply": run_apply, "validate": run_validate,
         "delete_source": run_delete_source, "finish": run_finish}


def main():
    module = build_module(
        dict(
            action=dict(type="str", required=True, choices=list(STEPS)),
            source=dict(type="str", required=True, choices=SOURCES),
            source_options=dict(type="dict", default={}, options=_source_spec()),
            include=dict(type="list", elements="str", default=["*"]),
            exclude=dict(type="list", elements="str", default=[]),
            name_map=dict(type="dict", default={}),
            tags=dict(type="dict"),
            versions=dict(type="str", default="current", choices=list(_move.VERSIONS)),
            overwrite=dict(type="str", default="unless-changed", choices=list(_migration.OVERWRITE)),
            keys=dict(type="list", elements="str", no_log=False),
            backup=dict(type="path"),
            source_backup=dict(type="path"),
            backup_dir=dict(type="path"),
            backup_key=dict(type="str", no_log=True),
            backup_key_file=dict(type="path", no_log=False),
            controller=dict(type="dict"),
            **POLICY_ARGUMENTS,
        ),
    )
    started = time.monotonic()
    enforcer_for(module)  # a bad policy fails here, before the lock and any request
    target = manager_for(module)
    action = module.params["action"]
    result = dict(changed=False, action=action, provider=target.provider, prefix=target.prefix or "",
                  source=_options.normalise_provider(module.params["source"]), backup=None)
    step = None
    source = None
    failure = None
    failed = True
    try:
        source = source_manager(module.params)
        step = Move(module, target, source)
        step.guard(action)
        STEPS[action](step, result)  # may end the module itself with fail_json (validation)
        failed = False
    except errors.SecretError as exc:
        failure = exc
    finally:
        if step is not None:
            try:
                step.release(action, failed)
            except (OSError, errors.SecretError) as exc:
                module.warn(f"could not give back the lock of the target: {exc}")
        target.close()
        if source is not None:
            source.close()
    result["elapsed"] = round(time.monotonic() - started, 3)
    if failure is not None:
        result.pop("msg", None)
        fail(module, failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
