#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: transit_rewrap
author: Vibebox maintainers (@vibebox)
short_description: Re-wrap Vault or OpenBao transit ciphertexts to the newest version of their key
version_added: 0.2.0
description:
  - After a transit key was rotated (M(vibebox.secrets.secret_rotate) with O(vibebox.secrets.secret_rotate#module:kind=encryption-key)),
    data encrypted with an older key version still decrypts until its C(min_decryption_version) is raised. This
    module re-wraps ciphertexts to the newest key version, so the old versions can then be retired. Vault re-wraps
    inside the server; the plaintext never leaves it and never reaches Ansible.
  - Give the ciphertexts as a list (O(ciphertexts); the re-wrapped list is returned in the same order as
    RV(ciphertexts)) or name secrets of the collection whose values are ciphertexts (O(names); each changed one is
    written back as a new version).
  - Idempotent. A ciphertext already made with the newest key version (C(vault:vN:...) where N is the newest) is
    left as it is and not sent to Vault, so a second run reports C(changed=false). Check mode counts what would
    change and sends nothing but the key's read.
  - The ciphertexts are re-wrapped O(batch_size) per request (the transit engine's C(batch_input)).
  - Every item is checked before the first request; a malformed item, or one whose key version no longer
    decrypts, fails the task before anything is re-wrapped, naming the item by position or secret, never its
    content.
  - With O(retire=true), once the newest key version is older than O(grace_period), the key's
    C(min_decryption_version) is raised to it, so ciphertexts of older versions stop decrypting. The cleanup of
    the C(vibebox.secrets.rotate) role does this for each C(encryption_key) item with a C(vault_transit_key).
  - The transit key is named by the vault provider options O(vault_transit_key) and O(vault_transit_mount); the
    connection and login are the vault provider's (O(vault_addr), O(vault_token), ...).
options:
  ciphertexts:
    description:
      - Transit ciphertexts (C(vault:v1:...)) to re-wrap.
    type: list
    elements: str
    default: []
  names:
    description:
      - Logical names of secrets whose values are transit ciphertexts. They are read and written with the task's
        provider options (O(provider), O(prefix), ...); a changed one gets a new version.
    type: list
    elements: str
    default: []
  batch_size:
    description: Ciphertexts per request, 1 to 10000.
    type: int
    default: 250
  retire:
    description:
      - After re-wrapping, raise the key's C(min_decryption_version) to its newest version once O(grace_period) has
        passed since that version was made. Ciphertexts of older versions then no longer decrypt.
    type: bool
    default: false
  grace_period:
    description:
      - With O(retire), how long after a rotation the older key versions must still decrypt, for example C(7d).
        Counted from the creation of the newest key version. Empty retires at once.
    type: str
  label:
    description:
      - What RV(summary) calls the key, before the key's own name (for example C(encryption-key), the rotate role's name
        for it). Only the summary uses it.
    type: str
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
    details: Counts the ciphertexts that would be re-wrapped and the versions that would be retired; writes nothing.
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - The task's token needs C(update) on C(<mount>/rewrap/<key>), C(read) on C(<mount>/keys/<key>) and, with
    O(retire), C(update) on C(<mount>/keys/<key>/config).
  - RV(ciphertexts) is shown like any result (a ciphertext reveals nothing without the key); put C(no_log) on
    the task to keep it out of the output anyway.
  - The module belongs to the action group C(vibebox.secrets.secrets) for C(module_defaults).
seealso:
  - module: vibebox.secrets.secret_rotate
  - module: vibebox.secrets.secret_cleanup
"""

EXAMPLES = r"""
- name: Re-wrap the ciphertexts read from the database
  vibebox.secrets.transit_rewrap:
    ciphertexts: "{{ rows | map(attribute='token') | list }}"
    provider: vault
    vault_transit_key: app
  register: rewrapped

- name: Re-wrap secrets that hold ciphertexts, then retire the old key versions after a week
  vibebox.secrets.transit_rewrap:
    names: [customer-iban, customer-ssn]
    retire: true
    grace_period: 7d
    provider: vault
    vault_transit_key: app

- name: How many ciphertexts are still on an old key version? (writes nothing)
  vibebox.secrets.transit_rewrap:
    ciphertexts: "{{ tokens }}"
    provider: vault
    vault_transit_key: app
  check_mode: true
  register: pending
"""

RETURN = r"""
ciphertexts:
  description:
    - O(ciphertexts) re-wrapped, in the same order and length (unchanged ones as given). Empty with O(names).
  type: list
  elements: str
  returned: always
changed_items:
  description: Positions (from 0) in O(ciphertexts) of the items that changed (or would change in check mode).
  type: list
  elements: int
  returned: always
rewrapped_items:
  description: The new ciphertext of each changed item, with its position (what RV(ciphertexts) is built from).
  type: list
  elements: dict
  returned: always
total:
  description: Number of ciphertexts looked at (O(ciphertexts) plus O(names)).
  type: int
  returned: always
rewrapped:
  description: Number of ciphertexts that were (or in check mode would be) re-wrapped.
  type: int
  returned: always
already_current:
  description: Number of ciphertexts already made with the newest key version.
  type: int
  returned: always
requests:
  description: Number of rewrap requests sent.
  type: int
  returned: always
key:
  description: The transit key after the task (C(name), C(latest_version), C(min_decryption_version), C(min_encryption_version)).
  type: dict
  returned: always
secrets:
  description: For each of O(names), whether its value was re-wrapped and its version after the task.
  type: list
  elements: dict
  returned: always
retired:
  description: With O(retire), the cleanup report (C(destroyed) lists the versions that no longer decrypt, C(kept) the others and why).
  type: dict
  returned: when O(retire=true)
summary:
  description:
    - One line saying what was re-wrapped (or, with O(retire), which key versions no longer decrypt), by key name, count
      and version; what the rotate role prints.
  type: str
  returned: success
  sample: "transit key app: versions 1 no longer decrypt; version 2 is current"
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory, options, transit_rotation
from ansible_collections.vibebox.secrets.plugins.module_utils.core.transit import TransitKey
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for


def main():
    module = build_module(
        dict(
            ciphertexts=dict(type="list", elements="str", default=[], no_log=True),
            names=dict(type="list", elements="str", default=[]),
            batch_size=dict(type="int", default=250),
            retire=dict(type="bool", default=False),
            grace_period=dict(type="str"),
            label=dict(type="str"),
        ),
    )
    params = module.params
    result = dict(changed=False, ciphertexts=[], changed_items=[], rewrapped_items=[], total=0, rewrapped=0,
                  already_current=0, requests=0, key={}, secrets=[])
    key = None
    try:
        if params["retire"]:
            # a bad grace_period fails here, before anything is re-wrapped
            transit_rotation.RotationPolicy.from_options(grace_period=params["grace_period"])
        key = TransitKey.from_options(factory.resolve(options.from_module(params), forced="vault").provider_options())
        manager = manager_for(module) if params["names"] else None
        state = key.state()
        given = list(params["ciphertexts"])
        read = [manager.get(name, bypass_cache=True) for name in params["names"]] if manager else []
        texts = given + [secret.value for secret in read]
        labels = [f"ciphertext {index + 1}" for index in range(len(given))] + [f"secret '{name}'" for name in params["names"]]
        outcome = key.rewrap(texts, batch_size=params["batch_size"], check_mode=module.check_mode, labels=labels,
                             state=state)
        changed = set(outcome.changed_items)
        result.update(total=outcome.total, rewrapped=outcome.rewrapped, already_current=outcome.already_current,
                      requests=outcome.requests)
        result["changed_items"] = [index for index in outcome.changed_items if index < len(given)]
        if not module.check_mode:
            result["rewrapped_items"] = [dict(index=index, ciphertext=outcome.ciphertexts[index])
                                         for index in result["changed_items"]]
        for offset, (name, secret) in enumerate(zip(params["names"], read)):
            index = len(given) + offset
            entry = dict(name=name, rewrapped=index in changed, version=secret.metadata.version)
            if index in changed and not module.check_mode:
                entry["version"] = manager.set(name, outcome.ciphertexts[index]).version
            result["secrets"].append(entry)
        if params["retire"]:
            result["retired"] = transit_rotation.retire(key, key.key, params["grace_period"],
                                                        check_mode=module.check_mode)
            state = key.state()
        result["key"] = state.to_dict()
    except errors.SecretError as exc:
        fail(module, exc, **result)
    finally:
        if key is not None:
            key.close()
    result["changed"] = result["rewrapped"] > 0 or bool((result.get("retired") or {}).get("destroyed"))
    result["summary"] = transit_rotation.summary(result, params["label"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
