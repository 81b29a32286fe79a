#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_info
author: Vibebox maintainers (@vibebox)
short_description: Describe secrets, their versions, compliance and the audit log, never their values
version_added: 0.1.0
description:
  - Returns the metadata of one secret, or of every secret under the prefix, and optionally its versions and the
    last entries of the audit log. Values are never returned.
  - Also reports per secret its age, last rotation and expiry, checks them against an optional O(policy), and returns
    the result both as a structured list (for AWX and other tools) and as a table (RV(report)) for people.
  - With O(check_values=true) the module reads each value only to measure its length and which character classes it
    contains; the value itself is never returned, logged or stored.
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
  policy:
    description:
      - The rules a compliant secret follows. Every rule is optional; without a policy only expired secrets are
        reported as violations.
      - The age is counted from the last rotation (the C(vibebox-rotated-at) tag that rotations write, else the time
        of the current version).
    type: dict
    suboptions:
      max_age:
        description: Longest time since the last rotation, as C(30s), C(15m), C(2h), C(30d) or seconds.
        type: str
      min_length:
        description: Fewest characters a value may have. Checked only with O(check_values=true).
        type: int
      classes:
        description:
          - Character classes every value must contain. Checked only with O(check_values=true).
          - C(symbols) is any character that is not an ASCII letter or digit.
        type: list
        elements: str
        choices: [lower, upper, digits, symbols]
      min_entropy_bits:
        description:
          - Fewest estimated bits of entropy a value may have. Checked only with O(check_values=true).
          - The same estimate and rules as the strength policy of M(vibebox.secrets.secret) (see its O(vibebox.secrets.secret#module:policy)),
            so a value a write accepted is never reported as too weak; here only the rules given are checked.
        type: float
      forbidden:
        description:
          - Values no secret may hold (compared without case, and without leading and trailing digits and
            symbols), and placeholders such as C(<secret-key>). Checked only with O(check_values=true).
          - The report names the rule, never the value.
        type: list
        elements: str
  check_values:
    description:
      - Read each value to measure its strength (length and character classes) against O(policy).
      - The value is never returned; only RV(secrets[].strength) is. Needs read access to the values, not only to the
        metadata.
    type: bool
    default: false
  fail_on_violation:
    description: Fail when a secret violates O(policy) (or is expired), after computing the whole report.
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

- name: Compliance report of every secret, failing the play on a violation
  vibebox.secrets.secret_info:
    versions: false
    check_values: true
    fail_on_violation: true
    policy:
      max_age: 90d
      min_length: 32
      classes: [lower, upper, digits]
  register: compliance

- name: Show the report table
  ansible.builtin.debug:
    msg: "{{ compliance.report }}"
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
    age_days:
      description: Days since the last rotation (RV(secrets[].last_rotation)), or null when the provider gives no time.
      type: float
    last_rotation:
      description: The C(vibebox-rotated-at) tag written by rotations when present, else the time of the current version.
      type: str
    expires_at:
      description: When the secret expires, where the provider records it.
      type: str
    strength:
      description:
        - Length, character classes (C(lower), C(upper), C(digits), C(symbols)) and estimated entropy in bits
          (C(entropy_bits)) of the value. Never the value.
      type: dict
      returned: when O(check_values=true) and the value could be read
    violations:
      description: Why the secret does not comply with O(policy) (empty when it does).
      type: list
      elements: str
    grace:
      description:
        - The grace period of the previous version recorded by the last rotation. C(state) is C(none) (no grace
          recorded, C(previous) stays readable until a cleanup), C(until) (C(previous) is readable until the time in C(until))
          or C(ended) (C(previous) answers as missing unless the reader passes C(ignore_grace=true)).
        - C(version) is the version the grace covers.
      type: dict
      sample: {"state": "until", "until": "2025-03-01T05:00:00Z", "version": "3"}
    rotated_by:
      description:
        - Who rotates the secret - C(aws-lambda) (the provider rotates it itself, see RV(secrets[].rotation)),
          C(vibebox.secrets) (rotated by this collection) or C(none) (never rotated by either).
      type: str
    rotation:
      description: The provider's own rotation (for AWS the Lambda, its schedule, last and next rotation), or null.
      type: dict
compliant:
  description: Whether no secret has a violation.
  type: bool
  returned: always
violations:
  description: Number of secrets with at least one violation.
  type: int
  returned: always
report:
  description: The compliance report as table lines (a header, one line per secret, a summary), for people.
  type: list
  elements: str
  returned: always
retries:
  description: Requests this module had to repeat because the provider throttled or failed temporarily.
  type: int
  returned: always
audit:
  description: The last O(audit_entries) audit entries, oldest first (time, operation, provider, name, version, outcome, actor).
  type: list
  elements: dict
  returned: when O(audit_entries) > 0
"""

import datetime

from ansible_collections.vibebox.secrets.plugins.module_utils.core import compliance, errors, strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import read_tail
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import grace_state
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for

POLICY_SPEC = dict(
    max_age=dict(type="str"),
    min_length=dict(type="int"),
    classes=dict(type="list", elements="str", choices=list(compliance.CLASS_NAMES)),
    min_entropy_bits=dict(type="float"),
    forbidden=dict(type="list", elements="str", no_log=False),
)


def describe(manager, name, with_versions):
    meta = manager.describe(name)
    data = meta.to_dict()
    if with_versions:
        try:
            data["versions"] = [item.to_dict() for item in manager.versions(name)]
        except errors.UnsupportedOperation:
            data["versions"] = []
    return data, meta


def measure(manager, name, forbidden):
    """(strength, None) or (None, why): the value is read, measured and dropped right here."""
    try:
        secret = manager.get(name, bypass_cache=True)
    except errors.SecretError as exc:
        return None, f"the value could not be read ({exc.kind})"
    measured = strength.measure(secret.value, forbidden)
    del secret
    return measured, None


def check(manager, described, policy, check_values, now):
    """Add the compliance fields to each described secret (a soft-deleted one is only described)."""
    for data, meta in described:
        why = None
        if check_values and meta.deleted_at is None:
            measured, why = measure(manager, data["name"], policy.strength.forbidden)
        else:
            measured = None
        data.update(compliance.assess(meta.tags, meta.updated_at, meta.expires_at, policy, now, measured, why,
                                      rotation=getattr(meta, "rotation", None)))
        data["grace"] = grace_state(meta.tags, now.timestamp())


def main():
    module = build_module(
        dict(
            name=dict(type="str"),
            versions=dict(type="bool", default=True),
            audit_entries=dict(type="int", default=0),
            policy=dict(type="dict", options=POLICY_SPEC),
            check_values=dict(type="bool", default=False),
            fail_on_violation=dict(type="bool", default=False),
        ),
    )
    params = module.params
    manager = manager_for(module)
    result = dict(changed=False, provider=manager.provider, secrets=[])
    try:
        policy = compliance.Policy.from_options({k: v for k, v in (params["policy"] or {}).items() if v is not None})
        if policy.needs_values and not params["check_values"]:
            module.warn("policy.min_length, policy.classes, policy.min_entropy_bits and policy.forbidden are checked"
                        " only with check_values: true")
        if params["name"]:
            try:
                described = [describe(manager, params["name"], params["versions"])]
                result["exists"] = True
            except errors.SecretNotFound:
                described = []
                result["exists"] = False
        else:
            described = [describe(manager, name, params["versions"]) for name in manager.list()]
        check(manager, described, policy, params["check_values"], datetime.datetime.now(datetime.timezone.utc))
        result["secrets"] = [data for data, _meta in described]
        if params["audit_entries"] and params["audit_entries"] > 0:
            result["audit"] = read_tail(manager.audit.path, params["audit_entries"], params["name"])
    except errors.SecretError as exc:
        fail(module, exc, retries=manager.retry.retries, **result)
    failing = [data for data in result["secrets"] if data["violations"]]
    result.update(compliant=not failing, violations=len(failing), retries=manager.retry.retries,
                  report=compliance.report_lines(result["secrets"], policy))
    if failing and params["fail_on_violation"]:
        module.fail_json(msg=compliance.violation_summary(result["secrets"]), error_kind="violation", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
