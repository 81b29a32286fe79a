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
  - A change can take several requests (value, then description and tags, for most providers). When one fails, the
    task reads the secret back and fails saying exactly what was written and what was not (RV(changes),
    RV(not_written)); C(changed) is false when nothing was written.
options:
  name:
    description: Logical name of the secret, for example C(jwt-secret). The provider prefix is added.
    type: str
    required: true
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
    description: Tags (labels) of the secret. When given they replace the existing tags; left as they are when not given.
    type: dict
  overwrite:
    description:
      - When V(false), an existing secret keeps its value (only description and tags are managed). Use this with
        generated values so a second run does not change the secret.
    type: bool
    default: true
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
    description: Can run in check mode and return changed status prediction without modifying the secret.
    support: full
  diff_mode:
    description: Returns which fields would change; values are shown only as C((changed)) or C((hidden)).
    support: full
notes:
  - A secret that is deleted but still recoverable is restored when O(state=present).
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
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
  returned: always
provider:
  description: Provider that holds the secret.
  type: str
  returned: always
provider_name:
  description: Name of the secret inside the provider (prefix applied).
  type: str
  returned: always
version:
  description: Current version after the task (none when absent).
  type: str
  returned: always
changes:
  description:
    - Fields that changed (or would change in check mode); never values.
    - When the task fails after part of the change was written, the fields that were written (read back from the
      provider); RV(not_written) lists the others.
  type: list
  elements: str
  returned: always
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
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for

# A change can take several requests (restore, value, description and tags are separate calls for most
# providers), so a failure can come after part of it was written. Then the task reads the secret back
# and reports, field by field, what the provider now holds: ``changed`` is true only when something was
# written, and the message says what was and what was not.


def _view(meta, value_marker):
    if meta is None:
        return {}
    return {"description": meta.description, "tags": dict(meta.tags or {}), "value": value_marker}


def main():
    module = build_module(
        dict(
            name=dict(type="str", required=True),
            # raw, not str: AnsibleModule would turn a dict into its Python repr and store that
            value=dict(type="raw", no_log=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            description=dict(type="str"),
            tags=dict(type="dict"),
            overwrite=dict(type="bool", default=True),
            recovery_days=dict(type="int"),
            force=dict(type="bool", default=False),
        ),
    )
    params = module.params
    name = params["name"]
    manager = manager_for(module)
    result = dict(changed=False, name=name, provider=manager.provider, version=None, changes=[])
    try:
        result["provider_name"] = manager.provider_name(name)
        if params["tags"] is not None:
            params["tags"] = {str(k): str(v) for k, v in params["tags"].items()}
        if params["state"] == "present" and params["value"] is not None:
            manager.check_value(name, params["value"])
        try:
            current = manager.describe(name)
        except errors.SecretNotFound:
            current = None
        if params["state"] == "absent":
            absent(module, manager, current, result)
        else:
            present(module, manager, current, result)
    except errors.SecretError as exc:
        fail(module, exc, **result)
    module.exit_json(**result)


def absent(module, manager, current, result):
    params = module.params
    if params["recovery_days"] is not None and params["recovery_days"] < 0:
        raise errors.InvalidOption("recovery_days must be 0 or more", provider=manager.provider, name=params["name"])
    if current is None or (current.deleted_at is not None and not params["force"]):
        return  # already gone (a soft-deleted secret is purged only when force is asked)
    result.update(changed=True, changes=["state"])
    if module._diff:
        result["diff"] = dict(before=dict(state="present", **_view(current, "(hidden)")), after=dict(state="absent"))
    if not module.check_mode:
        try:
            manager.delete(params["name"], recovery_days=params["recovery_days"], force=params["force"])
        except errors.SecretError as exc:
            report_failed_write(module, manager, exc, result, ["state"])


def present(module, manager, current, result):
    params = module.params
    name, value = params["name"], params["value"]
    changes = []
    if current is None and value is None:
        raise errors.InvalidOption(
            "value is required to create the secret", provider=manager.provider, name=name,
            hint="Give value, or use vibebox.secrets.secret_rotate to generate one",
        )
    restoring = current is not None and current.deleted_at is not None
    if current is None:
        changes = ["state", "value"] + [f for f in ("description", "tags") if params[f] is not None]
    else:
        if restoring:
            changes.append("state")
        if value is not None and params["overwrite"]:
            if restoring or manager.get(name, bypass_cache=True).value != value:
                changes.append("value")
        if params["description"] is not None and params["description"] != (current.description or None):
            changes.append("description")
        if params["tags"] is not None and params["tags"] != dict(current.tags or {}):
            changes.append("tags")
    result["changes"] = changes
    result["changed"] = bool(changes)
    if module._diff and changes:
        before = dict(state="present" if current is not None and not restoring else "absent", **_view(current, "(hidden)"))
        after = dict(before)
        after.update(state="present", value="(changed)" if "value" in changes else "(hidden)")
        if "description" in changes:
            after["description"] = params["description"]
        if "tags" in changes:
            after["tags"] = params["tags"]
        result["diff"] = dict(before=before, after=after)
    if module.check_mode or not changes:
        if current is not None:
            result.update(version=current.version, metadata=current.to_dict())
        return
    try:
        meta = write(manager, name, params, changes, restoring)
    except errors.SecretError as exc:
        report_failed_write(module, manager, exc, result, changes)
    result.update(version=meta.version, metadata=meta.to_dict())


def write(manager, name, params, changes, restoring):
    """The requests of the change, in order; returns the metadata after it."""
    meta = None
    if restoring:
        meta = manager.restore(name)
    if "value" in changes:
        meta = manager.set(name, params["value"], params["description"], params["tags"])
    elif "description" in changes or "tags" in changes:
        try:
            meta = manager.update_metadata(name, params["description"], params["tags"])
        except errors.UnsupportedOperation:
            meta = manager.set(name, manager.get(name, bypass_cache=True).value, params["description"], params["tags"])
    return meta


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
                done[field] = exists and dict(meta.tags or {}) == params["tags"]
    except errors.SecretError as exc:
        return [], [], list(planned), exc
    return [f for f in planned if done[f]], [f for f in planned if not done[f]], [], meta


def report_failed_write(module, manager, exc, result, planned):
    """Fail the task saying exactly what was written: ``changed`` only when the provider holds a change."""
    params = module.params
    written, not_written, unverified, seen = observe(manager, params["name"], planned, params)
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
    fail(module, exc, msg=f"{str(exc).rstrip('.')}. {summary}.", **result)


if __name__ == "__main__":
    main()
