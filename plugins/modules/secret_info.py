#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_info
author: Vibebox maintainers (@vibebox)
short_description: Describe secrets, their versions and the audit log, never their values
version_added: 0.1.0
description:
  - Returns the metadata of one secret, or of every secret under the prefix, and optionally its versions and the
    last entries of the audit log. Values are never returned.
options:
  name:
    description: Logical name of one secret. When omitted, every secret under the prefix is described.
    type: str
  versions:
    description: Include the list of versions of each secret.
    type: bool
    default: true
  audit_entries:
    description: Also return the last N entries of the audit log (of O(name) when given). C(0) returns none.
    type: int
    default: 0
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
    description: Can run in check mode; it only reads.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
seealso:
  - module: vibebox.secrets.secret
"""

EXAMPLES = r"""
- name: Describe the JWT key and its versions
  vibebox.secrets.secret_info:
    name: jwt-secret
  register: jwt_info

- name: Every secret under the prefix, with the last 20 audit entries
  vibebox.secrets.secret_info:
    audit_entries: 20
  register: all_secrets
"""

RETURN = r"""
exists:
  description: Whether O(name) exists (soft-deleted secrets exist, with RV(secrets[].deleted_at) set).
  type: bool
  returned: when O(name) is given
secrets:
  description: Metadata of each secret.
  type: list
  elements: dict
  returned: always
  contains:
    name:
      description: Logical name.
      type: str
    provider_name:
      description: Name inside the provider.
      type: str
    version:
      description: Current version id.
      type: str
    created_at:
      description: Creation time (ISO 8601, UTC) where the provider records it.
      type: str
    updated_at:
      description: Time of the current version.
      type: str
    deleted_at:
      description: When the secret was soft-deleted, if it was.
      type: str
    tags:
      description: Tags or labels.
      type: dict
    description:
      description: Description.
      type: str
    versions:
      description: Versions, newest first, with their stages (C(current), C(previous)).
      type: list
      elements: dict
audit:
  description: The last O(audit_entries) audit entries, oldest first (time, operation, provider, name, version, outcome, actor).
  type: list
  elements: dict
  returned: when O(audit_entries) > 0
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import read_tail
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for


def describe(manager, name, with_versions):
    meta = manager.describe(name)
    data = meta.to_dict()
    if with_versions:
        try:
            data["versions"] = [item.to_dict() for item in manager.versions(name)]
        except errors.UnsupportedOperation:
            data["versions"] = []
    return data


def main():
    module = build_module(
        dict(
            name=dict(type="str"),
            versions=dict(type="bool", default=True),
            audit_entries=dict(type="int", default=0),
        ),
    )
    params = module.params
    manager = manager_for(module)
    result = dict(changed=False, provider=manager.provider, secrets=[])
    try:
        if params["name"]:
            try:
                result["secrets"] = [describe(manager, params["name"], params["versions"])]
                result["exists"] = True
            except errors.SecretNotFound:
                result["exists"] = False
        else:
            result["secrets"] = [describe(manager, name, params["versions"]) for name in manager.list()]
        if params["audit_entries"] and params["audit_entries"] > 0:
            result["audit"] = read_tail(manager.audit.path, params["audit_entries"], params["name"])
    except errors.SecretError as exc:
        fail(module, exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
