#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_lease
author: Vibebox maintainers (@vibebox)
short_description: Renew or revoke Vault and OpenBao leases, such as those of dynamic database credentials
version_added: 0.3.0
description:
  - Renews or revokes one lease (O(lease_id)) or every lease under a path (O(lease_prefix)) of HashiCorp Vault or
    OpenBao. A lease is what a dynamic secret (database credentials read with the get lookup, see the Vault provider
    page) is given with; revoking it makes Vault drop what it created, such as the database user.
  - Idempotent. Revoking a lease that Vault no longer knows (revoked already, or expired) changes nothing and reports
    C(changed=false). Renewing one named lease that is gone fails, because there is nothing left to extend; under a
    prefix only the leases that exist are renewed.
  - In check mode the leases are looked up and nothing else is sent; RV(leases) lists what would be renewed or revoked.
  - Always talks to provider C(vault), whatever O(provider) says; it takes the same connection options as the other
    modules (address, token or AppRole, namespace, CA).
options:
  lease_id:
    description:
      - The lease to renew or revoke, as the get lookup returns it (C(lease_id)), for example
        C(database/creds/app/AbC123).
      - Exactly one of O(lease_id) and O(lease_prefix) is required.
    type: str
  lease_prefix:
    description:
      - Renew or revoke every lease under this path, for example C(database/creds/app) for every lease of the role
        C(app). Listing leases needs the C(sudo) capability on C(sys/leases/lookup/<lease_prefix>).
      - This reaches leases made by other runs and other users of the role too.
    type: str
  state:
    description:
      - C(revoked) revokes the leases; C(renewed) extends them by O(increment).
    type: str
    choices: [renewed, revoked]
    default: revoked
  increment:
    description:
      - With O(state=renewed), the extension asked for, as C(30s), C(15m), C(2h), C(30d) or seconds. Vault may grant
        less (never beyond the role's C(max_ttl)); RV(leases[].ttl) is what it granted. Unset, the role's default TTL.
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
    description: Looks the leases up and reports what would change; renews and revokes nothing.
    support: full
  diff_mode:
    description: A lease has no content to compare.
    support: none
notes:
  - The credentials of a lease are never returned or logged; only lease ids and times are.
  - The token needs C(update) on C(sys/leases/lookup), C(sys/leases/renew) and C(sys/leases/revoke) (see the Vault
    provider page for the whole policy).
  - After a revoke, later lookups of the same run read a new lease instead of the revoked one.
seealso:
  - plugin: vibebox.secrets.get
    plugin_type: lookup
"""

EXAMPLES = r"""
# db holds what the get lookup returned for the dynamic secret database/creds/app (see the Vault provider page)
- name: Keep the credentials valid for a long migration
  vibebox.secrets.vault_lease:
    lease_id: "{{ db.lease_id }}"
    state: renewed
    increment: 2h
  run_once: true

- name: Drop the database user when the play is done
  vibebox.secrets.vault_lease:
    lease_id: "{{ db.lease_id }}"
    state: revoked
  run_once: true

- name: Revoke every lease of the role app (all runs, all users of the role)
  vibebox.secrets.vault_lease:
    lease_prefix: database/creds/app
"""

RETURN = r"""
leases:
  description: The leases renewed or revoked (in check mode, those that would be). Leases that were already gone are
    not listed.
  type: list
  elements: dict
  returned: always
  contains:
    lease_id:
      description: The lease's id.
      type: str
    ttl:
      description: Seconds the lease has left (0 once revoked).
      type: int
    renewable:
      description: Whether the lease can be renewed.
      type: bool
    issue_time:
      description: When the lease was made (RFC 3339).
      type: str
    expire_time:
      description: When the lease ends (RFC 3339), after a renewal the new end.
      type: str
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault


def main():
    module = build_module(
        dict(
            lease_id=dict(type="str"),
            lease_prefix=dict(type="str"),
            state=dict(type="str", choices=["renewed", "revoked"], default="revoked"),
            increment=dict(type="str"),
        ),
        required_one_of=[("lease_id", "lease_prefix")],
        mutually_exclusive=[("lease_id", "lease_prefix")],
    )
    params = module.params
    result = dict(changed=False, leases=[])
    try:
        increment = parse_duration(params["increment"], "increment")
        if params["lease_id"]:
            vault.check_lease_id(params["lease_id"])  # bad input fails before the connection is made
    except errors.SecretError as exc:
        fail(module, exc, **result)
    manager = manager_for(module, provider="vault")
    try:
        result.update(vault.manage_leases(manager.backend, params["state"], params["lease_id"], params["lease_prefix"],
                                          increment, module.check_mode))
    except errors.SecretError as exc:
        fail(module, exc, **result)
    finally:
        manager.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
