#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_cleanup
author: Vibebox maintainers (@vibebox)
short_description: Destroy old versions of secrets once their grace period has passed
version_added: 0.1.0
description:
  - For each secret, keeps the current version and the newest O(keep) versions in all, keeps the previous version
    while the grace period recorded by M(vibebox.secrets.secret_rotate) runs, and destroys the other versions.
  - With no O(names), every secret under the prefix is cleaned.
  - Secrets held by a provider that keeps no old versions are reported as skipped.
options:
  names:
    description: Logical names of the secrets to clean. When empty, every secret under the prefix.
    type: list
    elements: str
    default: []
  keep:
    description:
      - How many versions to keep in all, the current one included. C(1) keeps only the current version (and the
        previous one until its grace ends).
    type: int
    default: 1
  keep_for:
    description:
      - "Per-secret values of O(keep), for example C({encryption-key: 2}) to keep the previous key for decryption."
      - Each value is a number of versions from 1 to 1000; anything else (negative, zero, not a whole number) is
        refused, naming the secret, before anything is destroyed.
    type: dict
    default: {}
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
    description: Can run in check mode and report what would change without changing anything.
    support: full
    details: Lists the versions that would be destroyed and destroys none.
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - Destroying a version cannot be undone. A version in grace is never destroyed.
  - A second run right after the first changes nothing (C(changed=false)), on every provider; versions that a provider
    can only disable (Azure Key Vault) count as destroyed once disabled.
  - A rotation tag that cannot be read (edited by hand) is reported as a warning and treated as absent.
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
seealso:
  - module: vibebox.secrets.secret_rotate
"""

EXAMPLES = r"""
- name: Clean every secret under the prefix, keeping only current versions (and those in grace)
  vibebox.secrets.secret_cleanup:

- name: Clean the JWT keys, and keep one previous encryption key for decryption
  vibebox.secrets.secret_cleanup:
    names: [jwt-secret, jwt-refresh-secret, encryption-key]
    keep_for:
      encryption-key: 2
"""

RETURN = r"""
destroyed_count:
  description: Number of versions destroyed (or that would be, in check mode).
  type: int
  returned: always
secrets:
  description: One entry per secret.
  type: list
  elements: dict
  returned: always
  contains:
    name:
      description: Logical name.
      type: str
    destroyed:
      description: Versions destroyed (or that would be).
      type: list
      elements: str
    kept:
      description: Versions kept, each with the reason (C(current), newest N, in grace until ...).
      type: list
      elements: dict
    warnings:
      description: Rotation tags of the secret that could not be read and were treated as absent.
      type: list
      elements: str
    grace_until:
      description: End of the grace recorded on the secret (ISO 8601), if any.
      type: str
    skipped:
      description: Why the secret was not cleaned, if it was not.
      type: str
    summary:
      description: One line for this secret (versions destroyed and kept, the grace end), what the rotate role prints.
      type: str
      sample: "jwt-secret: destroyed 1; kept 3, 2; grace until 2026-12-03T12:00:00Z"
summary:
  description: One line for the whole cleanup (how many versions were, or in check mode would be, destroyed).
  type: str
  returned: success
  sample: destroyed 2 old version(s)
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, rotation_kinds
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import Rotator
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for

#: more versions than any provider keeps
MAX_KEEP = 1000


def main():
    module = build_module(
        dict(
            names=dict(type="list", elements="str", default=[]),
            keep=dict(type="int", default=1),
            keep_for=dict(type="dict", default={}),
        ),
    )
    params = module.params
    manager = manager_for(module)
    result = dict(changed=False, provider=manager.provider, secrets=[], destroyed_count=0)
    try:
        keep = version_count(params["keep"], "keep")
        keep_for = {str(key): version_count(value, f"keep_for.{key}") for key, value in (params["keep_for"] or {}).items()}
        names = params["names"] or manager.list()
        rotator = Rotator(manager)
        for name in names:
            report = rotator.cleanup(name, keep_for.get(name, keep), check_mode=module.check_mode)
            report["summary"] = rotation_kinds.cleanup_line(report)
            result["secrets"].append(report)
            result["destroyed_count"] += len(report["destroyed"])
            for warning in report.get("warnings") or []:
                module.warn(f"{name}: {warning}")
    except errors.SecretError as exc:
        fail(module, exc, **result)
    result["changed"] = result["destroyed_count"] > 0
    result["summary"] = rotation_kinds.cleanup_summary(result["destroyed_count"], module.check_mode)
    module.exit_json(**result)


def version_count(value, option):
    """A number of versions to keep, 1 to MAX_KEEP, checked before anything is destroyed."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_KEEP:
        raise errors.InvalidOption(
            f"option '{option}' must be a whole number of versions from 1 to {MAX_KEEP} (got '{value}')",
            hint="It counts versions kept, the current one included; 1 keeps only the current version",
        )
    return int(text)


if __name__ == "__main__":
    main()
