#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret
author: Vibebox maintainers (@vibebox)
short_description: Create, update or delete a secret in any supported secret manager
version_added: 0.1.0
description:
  - Makes one secret present with the given value, description and tags, or absent.
  - Idempotent; compares the value, the description and the tags with what the provider holds, and writes only
    what differs. A second run reports no change.
  - In check mode nothing is written. With C(--diff) the fields that change are listed and the value shows only as
    C((changed)) or C((hidden)); a value is never displayed.
  - Settings that provider options manage (such as replica regions or the provider's own rotation schedule) are
    kept in step on existing secrets too, after the value, with the same check mode and diff.
  - A change can take several requests (value, then description and tags, for most providers). When one fails, the
    task reads the secret back and fails saying exactly what was written and what was not (RV(changes),
    RV(not_written)); C(changed) is false when nothing was written.
options:
  name:
    description:
      - Logical name of the secret, for example C(jwt-secret). The provider prefix is added.
      - Required unless O(secrets) is given; the two are mutually exclusive.
    type: str
  value:
    description:
      - The secret value, a string. Required to create a secret; when omitted for an existing secret only
        O(description) and O(tags) are managed.
      - Structured data is refused rather than stored as Python text; convert it with C(| to_json).
    type: raw
  state:
    description: Whether the secret should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Human-readable description stored with the secret. Left as it is when not given.
    type: str
  tags:
    description:
      - Tags (labels) of the secret. When given they replace the existing tags; left as they are when not given.
      - The tags a rotation records (C(vibebox-rotated-at), C(vibebox-grace-until), C(vibebox-grace-version),
        C(vibebox-failed-versions)) are neither compared nor replaced unless named here, so a re-run after a
        rotation keeps the previous version's grace period and reports no change.
    type: dict
  overwrite:
    description:
      - When V(false), an existing secret keeps its value (only description and tags are managed). Use this with
        generated values so a second run does not change the secret.
    type: bool
    default: true
  expires_at:
    description:
      - When the secret expires, as an ISO 8601 time (V(2027-01-31T12:00:00Z), V(2027-01-31T13:00:00+01:00), V(2027-01-31));
        a time without a time zone is UTC. It must be in the future. Kept in step on every run (a second run with the
        same time reports no change).
      - Stored where the provider has an expiry of its own (Azure Key Vault C(exp), GCP Secret Manager C(expire_time),
        which deletes the secret at that time), else as the tag C(vibebox-expires-at) (AWS tag, Vault KV
        custom_metadata, Kubernetes and local metadata). C(expires_at) in RV(metadata), M(vibebox.secrets.secret_info) and
        the compliance report show it; the lookups follow their C(on_expired) option for an expired secret.
      - V(never) removes the expiry the secret has (the provider's own, or the tag); a secret without one reports no
        change. Azure Key Vault cannot remove one, so there the task fails before any write (give a later time instead).
      - Mutually exclusive with O(expires_in). Not removed when the option is left out.
    type: str
  expires_in:
    description:
      - When the secret expires, as a duration from now (V(90d), V(12h), V(4w) or seconds); more than zero.
      - Applied only when the task writes a new value (creation, a changed value, a restore) or when the secret has
        no expiry yet; an unchanged value keeps its expiry, so a re-run reports no change instead of moving the date
        forward on every run. Stored like O(expires_at); mutually exclusive with it.
    type: str
  recovery_days:
    description:
      - With O(state=absent), how many days the deleted secret stays recoverable where the provider supports it
        (AWS 7-30). C(0) deletes it for good.
    type: int
  force:
    description:
      - With O(state=absent), delete for good with no recovery window; a secret that is already soft-deleted is purged.
    type: bool
    default: false
  secrets:
    description:
      - Many secrets in one task, each with the options of a single secret. The provider options of the task apply
        to every item.
      - One module run instead of one per item (a C(loop) starts Python and the provider's SDK again for every
        item); every item is checked before any request, each secret is read once (concurrently), then only the
        ones that differ are written. Same idempotence, check mode and diff as a single secret; values are never
        shown.
      - A failed item does not stop the others; the task then fails naming every failed item, and RV(results)
        says for each what was written.
    type: list
    elements: dict
    suboptions:
      name:
        description: Logical name of the secret.
        type: str
        required: true
      value:
        description: The secret value (see O(value)).
        type: raw
      state:
        description: Whether the secret should exist.
        type: str
        choices: [present, absent]
        default: present
      description:
        description: Description stored with the secret (see O(description)).
        type: str
      tags:
        description: Tags of the secret (see O(tags)).
        type: dict
      overwrite:
        description: When V(false), an existing secret keeps its value (see O(overwrite)).
        type: bool
        default: true
      expires_at:
        description: When the secret expires, an ISO 8601 time (see O(expires_at)).
        type: str
      expires_in:
        description: When the secret expires, a duration from now (see O(expires_in)).
        type: str
      recovery_days:
        description: With O(secrets[].state=absent), days the deleted secret stays recoverable (see O(recovery_days)).
        type: int
      force:
        description: With O(secrets[].state=absent), delete for good (see O(force)).
        type: bool
        default: false
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
    description: Can run in check mode and return changed status prediction without modifying the secret.
    support: full
  diff_mode:
    description: Returns which fields would change; values are shown only as C((changed)) or C((hidden)).
    support: full
notes:
  - A secret that is deleted but still recoverable is restored when O(state=present).
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
  - In a C(loop), Ansible itself prints each item in the task's output (and keeps it in a registered result), so a
    value taken from the item is shown there although the module never returns it. Give the list to O(secrets)
    instead, or set C(loop_control.label) to the name (C("{{ item.name }}")), or C(no_log) on the task.
  - Requests per secret, on Vault/OpenBao KV and AWS Secrets Manager; one read, then the write alone. An unchanged
    secret costs one request, a new or changed value two. Vault keeps description and tags apart from the value,
    so changing them there adds one metadata write; on AWS, with O(description) or O(tags) given, the read is
    C(DescribeSecret), which tells an unchanged value by the id of the version this module wrote, and a value that
    another writer set is read once more to compare. Other providers read the metadata, then the value.
seealso:
  - module: vibebox.secrets.secret_info
  - plugin: vibebox.secrets.get
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Store the database password in Vault
  vibebox.secrets.secret:
    name: database-password
    value: "{{ vault_db_password }}"
    description: Primary PostgreSQL password
    tags:
      team: platform
    provider: vault

- name: Create a random JWT key once; later runs keep it
  vibebox.secrets.secret:
    name: jwt-secret
    value: "{{ lookup('ansible.builtin.password', '/dev/null', length=64, chars=['hexdigits']) }}"
    overwrite: false

- name: Store many secrets in one task (one module run, one read per secret)
  vibebox.secrets.secret:
    secrets:
      - name: database-password
        value: "{{ vault_db_password }}"
      - name: api-key
        value: "{{ vault_api_key }}"
        tags:
          team: platform
    provider: vault

- name: An API key that expires in 90 days (the date moves only when the value changes)
  vibebox.secrets.secret:
    name: partner-api-key
    value: "{{ partner_api_key }}"
    expires_in: 90d

- name: Take back an expiry set by mistake (GCP would delete the secret at that time)
  vibebox.secrets.secret:
    name: partner-api-key
    expires_at: never

- name: Remove an old key, recoverable for 7 days
  vibebox.secrets.secret:
    name: old-api-key
    state: absent
    recovery_days: 7
"""

RETURN = r"""
name:
  description: Logical name of the secret.
  type: str
  returned: when O(name) is given (else in RV(results))
provider:
  description: Provider that holds the secret.
  type: str
  returned: always
provider_name:
  description: Name of the secret inside the provider (prefix applied).
  type: str
  returned: when O(name) is given (else in RV(results))
version:
  description: Current version after the task (none when absent).
  type: str
  returned: when O(name) is given (else in RV(results))
changes:
  description:
    - Fields that changed (or would change in check mode); never values.
    - Settings of the secret that provider options manage (replica regions, the provider's own rotation) appear
      under their own names; the provider's options say which.
    - When the task fails after part of the change was written, the fields that were written (read back from the
      provider); RV(not_written) lists the others.
  type: list
  elements: str
  returned: when O(name) is given (else in RV(results))
  sample: [value, tags]
not_written:
  description:
    - When a write failed, the fields of the change the provider does not hold (read back after the failure).
      Empty when everything was written.
  type: list
  elements: str
  returned: when a write failed
  sample: [tags]
unverified:
  description:
    - When a write failed and the secret could not be read back either, the fields that may or may not have been
      written. C(changed) is then true, since a write may have happened.
  type: list
  elements: str
  returned: when a write failed and the read-back failed too
  sample: [value, tags]
metadata:
  description: Metadata of the secret after the task; never the value.
  type: dict
  returned: when the secret exists
outcome:
  description:
    - What the task did to the secret, in one word - C(created), C(restored) (it was deleted and still
      recoverable), C(changed), C(unchanged), C(deleted) or C(absent) (it was already gone). In check mode, what it
      would do.
  type: str
  returned: success, when O(name) is given (else in RV(results))
  sample: changed
summary:
  description:
    - One line saying what the task did, made of the name, the fields changed and the version (never a value).
    - With O(secrets), how many secrets, and how many of each RV(outcome); each entry of RV(results) has its own
      line.
  type: str
  returned: success
  sample: "database-password: changed value, tags (version 4)"
results:
  description:
    - With O(secrets), one entry per item in the given order, each with what a task of its own returns
      (C(name), C(changed), C(changes), C(version), C(provider_name), C(metadata), C(outcome), C(summary), and for a
      failed item C(failed), C(msg), C(not_written)).
  type: list
  elements: dict
  returned: when O(secrets) is given
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, expiry, rotation_tags, strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core import step_summaries as _lines
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import fan_out
from ansible_collections.vibebox.secrets.plugins.module_utils.module import (
    POLICY_ARGUMENTS, build_module, enforcer_for, fail, manager_for)

# A change can take several requests (restore, value, description and tags are separate calls for most
# providers), so a failure can come after part of it was written. Then the task reads the secret back
# and reports, field by field, what the provider now holds: ``changed`` is true only when something was
# written, and the message says what was and what was not.
#
# Requests: one read before the write (manager.observe: value, version and metadata in one answer where
# the provider has one), then the write alone, with the version that read saw for check-and-set. So an
# unchanged secret costs one request and a changed value two, which is what a provider that bills and
# throttles per request feels.

#: the options of one secret, at the top of the task or in each item of ``secrets``
ITEM_SPEC = dict(
    name=dict(type="str"),
    # raw, not str: AnsibleModule would turn a dict into its Python repr and store that
    value=dict(type="raw", no_log=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    description=dict(type="str"),
    tags=dict(type="dict"),
    overwrite=dict(type="bool", default=True),
    recovery_days=dict(type="int"),
    force=dict(type="bool", default=False),
    expires_at=dict(type="str"),
    expires_in=dict(type="str"),
)


def own_tags(tags, given=None):
    """The stored tags a task's ``tags`` are compared with: without the expiry tag (it shows as expires_at) and
    without the rotation's bookkeeping the task does not name, which a write of the task's tags keeps."""
    kept = rotation_tags.bookkeeping(tags, given)
    return {key: value for key, value in expiry.without_tag(tags).items() if key not in kept}


def _view(meta, value_marker):
    if meta is None:
        return {}
    return {"description": meta.description, "tags": own_tags(meta.tags), "value": value_marker}


def main():
    item_spec = {key: dict(spec) for key, spec in ITEM_SPEC.items()}
    item_spec["name"]["required"] = True
    own = dict(ITEM_SPEC)
    # no_log False: the list holds names too; each item's value is no_log (a suboption), and Ansible masks it
    own["secrets"] = dict(type="list", elements="dict", options=item_spec, no_log=False)
    own.update(POLICY_ARGUMENTS)
    module = build_module(own, mutually_exclusive=[("name", "secrets"), ("expires_at", "expires_in")],
                          required_one_of=[("name", "secrets")])
    params = module.params
    enforcer = enforcer_for(module)
    manager = manager_for(module)
    if params["secrets"] is not None:
        module.exit_json(**bulk(module, manager, params["secrets"], enforcer))
    item = {key: params[key] for key in ITEM_SPEC}
    result = dict(changed=False, name=item["name"], provider=manager.provider, version=None, changes=[])
    try:
        prepare(manager, item, result)
        police(module, manager, enforcer, [item], result)
        apply(module, manager, item, result)
    except WriteFailed as failed:
        fail(module, failed.error, msg=failed.msg, **result)
    except errors.SecretError as exc:
        fail(module, exc, **result)
    module.exit_json(**result)


class WriteFailed(Exception):
    """A write failed after the read-back said what was written; ``msg`` says it (never a value)."""

    def __init__(self, error, msg):
        super().__init__(msg)
        self.error, self.msg = error, msg


def police(module, manager, enforcer, items, result):
    """The strength policy, for every item that gives a value, before any request: in enforce mode a weak
    value fails the task naming each weak secret and its rules (never a value); in warn mode each is said
    in a warning and written."""
    weak = []
    for item in items:
        if item["state"] == "present" and item["value"] is not None:
            found = enforcer.breaks(item["name"], item["value"])
            if found:
                weak.append((item["name"], found))
    for warning in enforcer.warnings:
        module.warn(warning)
    del enforcer.warnings[:]
    if not weak or enforcer.mode != "enforce":
        return
    if len(weak) == 1:
        raise strength.weak_error(weak[0][0], weak[0][1], provider=manager.provider)
    listed = " | ".join(f"{name}: {'; '.join(found)}" for name, found in weak)
    error = strength.weak_error(weak[0][0], weak[0][1], provider=manager.provider)
    fail(module, error, msg=f"{len(weak)} secrets break the strength policy, nothing was written: {listed}",
         **result)


def bulk(module, manager, items, enforcer):
    """Every item of ``secrets`` in one module run: all checks first (bad input fails before any request),
    one read per secret (in one batch request where the provider has one), then the writes, concurrently.
    Each item gets the result a task of its own would return; a failed item does not stop the others,
    and the task fails afterwards naming every failed item."""
    prepared, names = [], set()
    for given in items:
        item = {key: given.get(key) for key in ITEM_SPEC}
        entry = dict(changed=False, name=item["name"], provider=manager.provider, version=None, changes=[])
        try:
            prepare(manager, item, entry)
            if item["name"] in names:
                raise errors.InvalidOption("the name is given twice in secrets", provider=manager.provider,
                                           name=item["name"], hint="Give each secret once")
        except errors.SecretError as exc:
            fail(module, exc, changed=False, results=[])
        names.add(item["name"])
        prepared.append((item, entry))
    try:
        police(module, manager, enforcer, [item for item, _entry in prepared], dict(changed=False, results=[]))
    except errors.SecretError as exc:
        fail(module, exc, changed=False, results=[])
    wanted = [(item["name"], compared_value(item), needs_metadata(item, manager)) for item, _entry in prepared
              if item["state"] == "present"]
    seen = manager.observe_many(wanted) if wanted else {}

    def one(index):
        item, entry = prepared[index]
        try:
            outcome = seen.get(item["name"], False)
            if isinstance(outcome, errors.SecretError):
                raise outcome
            apply(module, manager, item, entry, observed=outcome)
        except WriteFailed as failed:
            return failed.error, failed.msg
        except errors.SecretError as exc:
            return exc, str(exc)
        return None
    problems = fan_out(one, list(range(len(prepared))))
    results = [entry for _item, entry in prepared]
    outcome = dict(changed=any(entry["changed"] for entry in results), provider=manager.provider, results=results)
    outcome["summary"] = _lines.secrets_line([entry["outcome"] for entry in results if "outcome" in entry],
                                             failed=sum(1 for problem in problems.values() if problem),
                                             check_mode=module.check_mode)
    if module._diff:
        outcome["diff"] = dict(before={e["name"]: e["diff"]["before"] for e in results if "diff" in e},
                               after={e["name"]: e["diff"]["after"] for e in results if "diff" in e})
    failed = [(prepared[index][0]["name"], problem) for index, problem in sorted(problems.items()) if problem]
    if failed:
        for index, problem in problems.items():
            if problem:
                prepared[index][1].update(failed=True, msg=problem[1], error_kind=getattr(problem[0], "kind", "error"))
        message = "; ".join(f"{name}: {problem[1]}" for name, problem in failed)
        fail(module, failed[0][1][0], msg=f"{len(failed)} of {len(results)} secrets failed. {message}", **outcome)
    return outcome


def prepare(manager, item, result):
    """Checks that need no request (name, value, tags), so bad input fails before anything is sent."""
    result["provider_name"] = manager.provider_name(item["name"])
    if item["tags"] is not None:
        item["tags"] = {str(k): str(v) for k, v in item["tags"].items()}
    if item["state"] == "present" and item["value"] is not None:
        manager.check_value(item["name"], item["value"])
    if item["state"] == "absent" and item["recovery_days"] is not None and item["recovery_days"] < 0:
        raise errors.InvalidOption("recovery_days must be 0 or more", provider=manager.provider, name=item["name"])
    try:
        item["_expiry"] = expiry.wanted(item["expires_at"], item["expires_in"], allow_never=True)
    except errors.SecretError as exc:
        raise exc.with_context(provider=manager.provider, name=item["name"])
    if item["_expiry"] is not None and item["_expiry"].clears and not manager.clears_expiry:
        raise errors.UnsupportedOperation(f"provider '{manager.provider}' cannot remove an expiry (expires_at: never)",
                                          provider=manager.provider, name=item["name"],
                                          hint="Give a later expires_at instead; nothing was written")


def compared_value(item):
    """The value the task compares with the provider's, or None when it does not manage the value."""
    return item["value"] if item["value"] is not None and item["overwrite"] else None


def needs_metadata(item, manager=None):
    """Whether the read before the write must carry the metadata: description or tags to compare, or
    provider-side settings (replicas, the provider's own rotation) that the provider options manage."""
    managed = manager is not None and manager.manages_settings
    asks_expiry = item.get("_expiry") is not None
    return item["description"] is not None or item["tags"] is not None or asks_expiry or managed


def apply(module, manager, item, result, observed=False):
    """Read once (unless ``observed`` is given: a bulk task's read), decide, write what differs."""
    if item["state"] == "absent":
        try:
            current = manager.describe(item["name"])
        except errors.SecretNotFound:
            current = None
        absent(module, manager, item, current, result)
        return
    if observed is False:
        observed = manager.observe(item["name"], compared_value(item), needs_metadata(item, manager))
    present(module, manager, item, observed, result)


def tell(module, item, result, restored=False):
    """What the task did to the secret, in one word (``outcome``, counted by a task of many) and one line."""
    result["outcome"] = _lines.secret_outcome(item["state"], result["changes"], restored)
    result["summary"] = _lines.secret_line(item["name"], result["outcome"], changes=result["changes"],
                                           version=result.get("version"), check_mode=module.check_mode,
                                           recovery_days=item["recovery_days"], force=item["force"])


def absent(module, manager, item, current, result):
    if current is None or (current.deleted_at is not None and not item["force"]):
        tell(module, item, result)
        return  # already gone (a soft-deleted secret is purged only when force is asked)
    result.update(changed=True, changes=["state"])
    if module._diff:
        result["diff"] = dict(before=dict(state="present", **_view(current, "(hidden)")), after=dict(state="absent"))
    if not module.check_mode:
        try:
            manager.delete(item["name"], recovery_days=item["recovery_days"], force=item["force"])
        except errors.SecretError as exc:
            report_failed_write(module, manager, exc, result, ["state"], item)
    tell(module, item, result)


def plan(manager, item, observed):
    """(changes, restoring, current metadata, settings): what differs between the task and what ``observed``
    saw; ``settings`` are the provider-side settings to change (their fields are in ``changes`` too)."""
    name, value = item["name"], item["value"]
    if observed is None and value is None:
        raise errors.InvalidOption(
            "value is required to create the secret", provider=manager.provider, name=name,
            hint="Give value, or use vibebox.secrets.secret_rotate to generate one",
        )
    if observed is None:
        settings = manager.settings_changes(name, None, creating=True)
        fields = ["state", "value"] + [f for f in ("description", "tags") if item[f] is not None]
        item["_expiry_write"] = expiry.to_write(item.get("_expiry"), None, new_value=True)
        fields += ["expires_at"] if item["_expiry_write"] is not None else []
        return fields + [change.field for change in settings], False, None, settings
    if needs_metadata(item) and not observed.metadata_known:
        observed.metadata = manager.describe(name)  # the provider's read did not carry them
        observed.metadata_known = True
    current = observed.metadata
    restoring = observed.deleted
    changes = ["state"] if restoring else []
    if compared_value(item) is not None:
        if restoring:
            changes.append("value")
        elif observed.same_value is not True:
            if observed.value is None:
                observed.value = manager.get(name, bypass_cache=True).value
            if observed.value != value:
                changes.append("value")
    if item["description"] is not None and item["description"] != (current.description or None):
        changes.append("description")
    if item["tags"] is not None and item["tags"] != own_tags(current.tags, item["tags"]):
        changes.append("tags")
    item["_expiry_write"] = expiry.to_write(item.get("_expiry"), current.expires_at,
                                            new_value=restoring or "value" in changes)
    if item["_expiry_write"] is not None:
        changes.append("expires_at")
    settings = manager.settings_changes(name, observed)
    return changes + [change.field for change in settings], restoring, current, settings


def present(module, manager, item, observed, result):
    changes, restoring, current, settings = plan(manager, item, observed)
    result["changes"] = changes
    result["changed"] = bool(changes)
    if module._diff and changes:
        before = dict(state="present" if current is not None and not restoring else "absent", **_view(current, "(hidden)"))
        after = dict(before)
        after.update(state="present", value="(changed)" if "value" in changes else "(hidden)")
        if "description" in changes:
            after["description"] = item["description"]
        if "tags" in changes:
            after["tags"] = item["tags"]
        if "expires_at" in changes:  # a date, never a value
            before["expires_at"] = expiry.show(current.expires_at) if current is not None else None
            after["expires_at"] = expiry.show(item["_expiry_write"])
        for change in settings:  # provider-side settings: region lists, rotation schedules, never a value
            before[change.field], after[change.field] = change.before, change.after
        result["diff"] = dict(before=before, after=after)
    if module.check_mode or not changes:
        if current is not None:
            result.update(version=current.version, metadata=current.to_dict())
        tell(module, item, result, restoring)
        return
    try:
        meta = write(manager, item, changes, restoring, observed) if set(changes) - settings_fields(settings) else None
        manager.apply_settings(item["name"], settings, creating=current is None)
        if meta is None or settings:
            meta = manager.describe(item["name"])  # what the settings changed (rotation) shows in the metadata
    except errors.SecretError as exc:
        report_failed_write(module, manager, exc, result, changes, item)
    result.update(version=meta.version, metadata=meta.to_dict())
    tell(module, item, result, restoring)


def settings_fields(settings):
    return {change.field for change in settings}


def written_tags(manager, item, observed):
    """The tags the write sends. Where the expiry is a tag (the provider has no expiry field), it rides along
    with them: the new date, or the stored one kept when the task's ``tags`` replace the others."""
    target = item.get("_expiry_write")
    current = observed.metadata if observed is not None else None
    given = item["tags"]
    if given is not None and current is not None:  # the rotation's own tags stay as they are
        given = {**rotation_tags.bookkeeping(current.tags, given), **given}
    if manager.native_expiry or (given is None and (target is None or target is expiry.CLEAR)):
        return given  # an expiry taken back is removed by set_expiry (write), not with the tags
    base = given if given is not None else expiry.without_tag(current.tags if current else None)
    kept = current.expires_at if current is not None else None
    return expiry.with_tag(base, kept if target is expiry.CLEAR else (target or kept))


def write(manager, item, changes, restoring, observed):
    """The requests of the change, in order; returns the metadata after it."""
    meta = write_fields(manager, item, changes, restoring, observed)
    target = item.get("_expiry_write")
    clearing = target is expiry.CLEAR
    if target is not None and (manager.native_expiry or clearing):
        # the provider's own expiry field, or an expiry taken back (never carried by a tags write): one more request
        known = meta or (observed.metadata if observed is not None else None)
        tags = None if manager.native_expiry or known is None else known.tags
        stored = manager.set_expiry(item["name"], None if clearing else target, tags)
        if clearing and not manager.native_expiry:
            return stored  # the tags without the expiry tag
        meta = known or stored
        meta.expires_at = stored.expires_at if clearing else (stored.expires_at or target)
    return meta


def write_fields(manager, item, changes, restoring, observed):
    """Value, description and tags (with the expiry tag where the provider has no expiry field)."""
    name = item["name"]
    tags = written_tags(manager, item, observed)
    if restoring:  # rare: the restore changes the version, so the write reads again
        manager.restore(name)
        if "value" in changes:
            return manager.set(name, item["value"], item["description"], tags)
        return manager.update_metadata(name, item["description"], tags)
    if "value" in changes:
        return manager.write_observed(name, item["value"], item["description"], tags, observed)
    if not ({"description", "tags"} & set(changes)) and (tags is None or manager.native_expiry):
        return None  # only the expiry changes, and the provider keeps it in a field of its own
    try:
        return manager.write_observed(name, None, item["description"], tags, observed)
    except errors.UnsupportedOperation:
        value = observed.value if observed is not None and observed.value is not None else (
            manager.get(name, bypass_cache=True).value)
        return manager.set(name, value, item["description"], tags)


def observe(manager, name, planned, params):
    """(written, not_written, unverified, metadata): which ``planned`` fields the provider now holds as
    the task wanted them, read back after a failed write; unverified when the read-back fails too."""
    try:
        try:
            meta = manager.describe(name)
        except errors.SecretNotFound:
            meta = None
        exists = meta is not None and meta.deleted_at is None
        done = {}
        for field in planned:
            if field == "state" and params["state"] == "absent":
                done[field] = meta is None or (meta.deleted_at is not None and not params["force"])
            elif field == "state":
                done[field] = exists
            elif field == "value":
                done[field] = exists and manager.get(name, bypass_cache=True).value == params["value"]
            elif field == "description":
                done[field] = exists and (meta.description or None) == params["description"]
            elif field == "tags":
                done[field] = exists and own_tags(meta.tags, params["tags"]) == params["tags"]
            elif field == "expires_at":
                target = params.get("_expiry_write")
                done[field] = exists and meta.expires_at == (None if target is expiry.CLEAR else target)
        if exists and set(planned) - set(done):  # provider-side settings: still differing means not written
            differing = {change.field for change in manager.settings_changes(name)}
            done.update({field: field not in differing for field in planned if field not in done})
        else:
            done.update({field: False for field in planned if field not in done})
    except errors.SecretError as exc:
        return [], [], list(planned), exc
    return [f for f in planned if done[f]], [f for f in planned if not done[f]], [], meta


def report_failed_write(module, manager, exc, result, planned, item):
    """Fail the task saying exactly what was written: ``changed`` only when the provider holds a change."""
    written, not_written, unverified, seen = observe(manager, item["name"], planned, item)
    result.update(changed=bool(written or unverified), changes=written, not_written=not_written)
    if unverified:
        result["unverified"] = unverified
    if isinstance(seen, errors.SecretError) or seen is None:
        result.update(version=None)
        result.pop("metadata", None)
    else:
        result.update(version=seen.version, metadata=seen.to_dict())
    words = ", ".join
    if unverified:
        summary = (f"The secret could not be read back to see what was written ({seen.kind}: {seen.reason}), so"
                   f" {words(unverified)} may or may not have been written; check it with vibebox.secrets.secret_info"
                   " before running the task again")
    elif not written:
        summary = "Nothing was written: the secret is as it was before this task"
    elif not not_written:
        summary = f"Yet reading it back shows every change was written ({words(written)})"
    else:
        version = f" (now version {seen.version})" if "value" in written and seen is not None and seen.version else ""
        summary = (f"Written: {words(written)}{version}. Not written: {words(not_written)}. Fix the cause and run"
                   " the task again to finish the change")
    raise WriteFailed(exc, f"{str(exc).rstrip('.')}. {summary}.")


if __name__ == "__main__":
    main()
