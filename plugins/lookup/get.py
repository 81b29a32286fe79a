# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: get
author: Vibebox maintainers (@vibebox)
short_description: Read secrets from any supported secret manager
version_added: 0.1.0
description:
  - Returns the value of each named secret from AWS Secrets Manager, GCP Secret Manager, Azure Key Vault,
    HashiCorp Vault or OpenBao, Kubernetes Secrets, environment variables or the embedded encrypted C(local) store.
  - Names are logical (C(jwt-secret)); the provider prefix is added for you (C(vibebox/jwt-secret) on AWS).
  - Several names in one call are fetched together (one batch call where the service has one), and a value read
    once is reused for O(cache_ttl) seconds.
  - When C(ENABLE_SECRET_MANAGER=false) and no provider is given, values come from environment variables
    (C(jwt-secret) reads C(JWT_SECRET)), as in development.
  - Values are never logged by the collection; mark tasks that use them with C(no_log) where Ansible would print them.
options:
  _terms:
    description: Logical names of the secrets to read.
    required: true
    type: list
    elements: str
  version:
    description:
      - C(current) (default), C(previous) (the version before the current one, readable until the end of the grace
        period of the rotation that replaced it, see O(ignore_grace)), or a provider version id (a number for local
        and Vault, a VersionId for AWS, and so on).
    type: str
    default: current
  ignore_grace:
    description:
      - With O(version=previous), read the previous version even after the grace period its rotation recorded has
        ended (for example to decrypt data written with an old key).
      - Without it, once the grace has ended the previous version answers as a missing secret, so O(default) and
        O(on_missing) apply and an old signing key stops verifying tokens.
    type: bool
    default: false
  json_key:
    description:
      - Parse the value as JSON and return this key, for secrets that hold several fields.
    type: str
  default:
    description:
      - Returned for a secret that does not exist, instead of applying O(on_missing).
    type: raw
  on_missing:
    description:
      - What to do when a secret does not exist. C(warn) and C(skip) leave it out of the result.
      - With C(lookup()) of one name, a name left out gives an empty list, which a template writes as C([]) in
        ansible-core 2.19 and later (an empty string before). Where a string is expected (a password in a
        template), give O(default) instead (C(default='')), or test the result (C(| length > 0)).
    type: str
    default: error
    choices: [error, warn, skip]
  on_denied:
    description: What to do when the provider denies access to a secret.
    type: str
    default: error
    choices: [error, warn, skip]
  on_deleted:
    description: What to do when a secret is deleted but still recoverable.
    type: str
    default: error
    choices: [error, warn, skip]
  bypass_cache:
    description: Read from the provider even when a cached value is fresh.
    type: bool
    default: false
  on_expired:
    # the rest of this option comes from the vibebox.secrets.expiry fragment, written once for the lookups and
    # the resolve filter
    env:
      - name: VIBEBOX_ON_EXPIRED
extends_documentation_fragment:
  - vibebox.secrets.provider.lookup
  - vibebox.secrets.expiry.lookup
  - vibebox.secrets.local.lookup
  - vibebox.secrets.aws.lookup
  - vibebox.secrets.gcp.lookup
  - vibebox.secrets.azure.lookup
  - vibebox.secrets.vault.lookup
  - vibebox.secrets.kubernetes.lookup
notes:
  - Lookups run on the controller, so the provider's SDK must be installed there.
seealso:
  - module: vibebox.secrets.secret
  - module: vibebox.secrets.secret_info
"""

EXAMPLES = r"""
- name: Read one secret from whatever provider the environment selects
  ansible.builtin.set_fact:
    jwt_secret: "{{ lookup('vibebox.secrets.get', 'jwt-secret') }}"
  no_log: true

- name: Read several secrets from Vault at once
  ansible.builtin.set_fact:
    app_secrets: "{{ query('vibebox.secrets.get', 'jwt-secret', 'api-key', provider='vault') }}"
  no_log: true

- name: The password field of a JSON secret, with a default when it is missing
  ansible.builtin.debug:
    msg: "{{ lookup('vibebox.secrets.get', 'database', json_key='password', default='') | length > 0 }}"

- name: The previous JWT key during a rotation's grace period (empty once the grace has ended)
  ansible.builtin.set_fact:
    jwt_previous: "{{ lookup('vibebox.secrets.get', 'jwt-secret', version='previous', default='') }}"
  no_log: true

- name: The previous encryption key, whatever its grace, to decrypt old data
  ansible.builtin.set_fact:
    old_key: "{{ lookup('vibebox.secrets.get', 'encryption-key', version='previous', ignore_grace=true) }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description:
    - One value per name, in order (names skipped by O(on_missing), O(on_denied) or O(on_deleted) are left out).
    - A value is a string, except for a dynamic secret of provider C(vault) (see its options), which is a dict
      of its fields (for database credentials C(username) and C(password)) with C(lease_id), C(lease_duration)
      (seconds) and C(renewable); O(json_key) picks one of them.
  type: list
  elements: raw
"""

import json

from ansible.errors import AnsibleLookupError

from ansible_collections.vibebox.secrets.plugins.plugin_utils import bytecode

bytecode.install()  # before the collection's other imports: worker forks load them from __pycache__

from ansible_collections.vibebox.secrets.plugins.plugin_utils import reading
from ansible_collections.vibebox.secrets.plugins.plugin_utils.lookup import SecretLookupBase

#: the version ``ignore_grace=true`` reads for ``previous``: core.rotation_tags.PREVIOUS_IGNORING_GRACE,
#: written out because a fork the run cache serves must not import the core (a unit test keeps them equal)
PREVIOUS_IGNORING_GRACE = "previous-ignoring-grace"


class LookupModule(SecretLookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        version = self.get_option("version")
        if self.get_option("ignore_grace") and str(version).strip().lower() == "previous":
            version = PREVIOUS_IGNORING_GRACE
        items = [(str(term), reading.version_key(version)) for term in terms]
        json_key = self.get_option("json_key")
        with self.reporting():
            outcomes = reading.read(self._options, items, self.get_option("bypass_cache"), variables=self._variables)
            return reading.apply_policies(
                outcomes, self.get_option("default"), self.get_option("on_missing"), self.get_option("on_denied"),
                self.get_option("on_deleted"), items=items, select=lambda name, value: self._select(name, value, json_key),
            )

    @staticmethod
    def _select(name: str, value: str, json_key):
        if not json_key:
            return value
        if isinstance(value, dict):  # a dynamic secret: its fields and its lease, already a dict
            data = value
        else:
            try:
                data = json.loads(value)
            except ValueError:
                raise AnsibleLookupError(f"vibebox.secrets.get: secret '{name}' is not JSON, so json_key='{json_key}' cannot be read") from None
        if not isinstance(data, dict) or json_key not in data:
            raise AnsibleLookupError(f"vibebox.secrets.get: secret '{name}' has no key '{json_key}'")
        return data[json_key]
