#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: local_rekey
author: Vibebox maintainers (@vibebox)
short_description: Move the embedded local store to a new key
version_added: 0.1.0
description:
  - Re-encrypts every value of the embedded store (provider C(local)) under a new key, in one transaction. Every
    version is re-encrypted, previous and soft-deleted ones included, and read back with the new key before the
    transaction commits; the old ciphertexts are erased from the store's files.
  - The new key is O(new_key), else the key in O(new_key_file), else a random key written 0600 to
    C(<local_key_file>.new) before anything is encrypted with it.
  - When the store's key comes from O(local_key_file), that file then holds the new key, and the old key is kept as
    C(<local_key_file>.old-<key id>), so file backups of the store taken before stay readable. Remove it once they
    are not needed, or at once if the key leaked.
  - When it comes from C(VIBEBOX_LOCAL_KEY), no key file changes; the module warns that C(VIBEBOX_LOCAL_KEY) must be
    set to the new key (from O(new_key), or the file it names) before the next run. Once it is, that file is only a
    copy of the key in use, so the next re-key keeps it as C(<local_key_file>.old-<key id>) and makes a new key.
  - A run that stopped half-way (after the values were re-encrypted, before the key file was replaced) is finished by
    the next run; until then the store names the file that holds its new key.
  - Writers that still hold the old key are refused, never allowed to write under it.
  - The migration backups have their own key; M(vibebox.secrets.backup_rekey) moves them.
options:
  new_key:
    description:
      - The key to move to, 32 bytes in base64 or hex. When it is the store's key already, nothing changes.
      - With a key file, it is also written to C(<local_key_file>.new) before the values are re-encrypted, so a run
        killed after the commit leaves it on disk.
    type: str
  new_key_file:
    description:
      - A file holding the key to move to; when it does not exist, it is created 0600 with a random key. Its key is
        copied into O(local_key_file) at the end, and the file is left where it is.
      - Without O(new_key) and O(new_key_file), a random key is written to C(<local_key_file>.new) and moved into
        O(local_key_file) at the end.
    type: path
  min_interval:
    description:
      - Without O(new_key) and O(new_key_file), leave alone a store re-keyed less than this long ago (C(30s), C(15m),
        C(2h), C(30d) or seconds), so that a second run changes nothing. A store never re-keyed is always re-keyed.
        C(0) re-keys again now.
    type: str
    default: 1d
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
    details: Counts what would be re-encrypted; writes nothing, not even the new key file.
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - Only the provider C(local) can be re-keyed; the other provider options are accepted so that C(module_defaults) of
    the action group C(vibebox.secrets.secrets) apply, and O(provider) must be C(local) or unset.
  - Back up the new key at once, separately from the store. The old key stops opening the store.
seealso:
  - module: vibebox.secrets.backup_rekey
"""

EXAMPLES = r"""
- name: Move the store to a new random key (the old one is kept as secrets.key.old-<id>)
  vibebox.secrets.local_rekey:

- name: Move the store at a given path to a key prepared beforehand
  vibebox.secrets.local_rekey:
    local_path: /srv/app/secrets.db
    new_key_file: /root/new-store.key

- name: Move a store whose key comes from VIBEBOX_LOCAL_KEY (then update the credential)
  vibebox.secrets.local_rekey:
    new_key: "{{ new_store_key }}"
  no_log: true
"""

RETURN = r"""
msg:
  description: What was done, or would be.
  type: str
  returned: always
path:
  description: The store.
  type: str
  returned: always
key_file:
  description: The key file that holds the store's key, or null when the key comes from C(VIBEBOX_LOCAL_KEY).
  type: str
  returned: always
old_key_id:
  description: Id of the key the store was under (a hash, never the key).
  type: str
  returned: always
new_key_id:
  description: Id of the key the store is under now (empty in check mode when a key would be made).
  type: str
  returned: always
old_key_file:
  description: Where the old key was kept, if a key file was replaced.
  type: str
  returned: when a key file was replaced
new_key_file:
  description: With C(VIBEBOX_LOCAL_KEY), the file holding the new key that the variable must be set to.
  type: str
  returned: when the key comes from C(VIBEBOX_LOCAL_KEY)
versions:
  description: Number of encrypted values (versions) in the store.
  type: int
  returned: always
secrets:
  description: Number of secrets in the store.
  type: int
  returned: always
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile
from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.core.factory import normalise_provider
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail, manager_for


def main():
    module = build_module(
        dict(
            new_key=dict(type="str", no_log=True),
            new_key_file=dict(type="path", no_log=False),
            min_interval=dict(type="str", default="1d"),
        ),
        mutually_exclusive=[("new_key", "new_key_file")],
    )
    params = module.params
    try:
        chosen = normalise_provider(params.get("provider"))
        if chosen not in (None, "local"):
            raise errors.InvalidOption(
                f"local_rekey re-keys the embedded local store, not provider '{chosen}'",
                hint="Set provider: local on this task (or leave it unset)")
        new_key = None
        if params["new_key"]:
            try:
                new_key = keyfile.decode_key(params["new_key"])
            except keyfile.KeyFileError as exc:
                raise errors.InvalidOption(f"new_key {exc.reason}", provider="local",
                                           hint=f"Make one with: {keyfile.GENERATE_HINT}")
        min_interval = parse_duration(params["min_interval"], "min_interval")
    except errors.SecretError as exc:
        fail(module, exc)
    manager = manager_for(module, provider="local")
    try:
        result = manager.backend.rekey(new_key, params["new_key_file"], min_interval, check=module.check_mode)
    except errors.SecretError as exc:
        if not module.check_mode:
            manager.audit.record("rekey", "*", ok=False, error=exc)
        fail(module, exc)
    finally:
        manager.close()
    if result["changed"] and not module.check_mode:
        manager.audit.record("rekey", "*", ok=True, version=result.get("new_key_id"))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
