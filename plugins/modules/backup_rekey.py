#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: backup_rekey
author: Vibebox maintainers (@vibebox)
short_description: Move the migration backups to a new backup key
version_added: 0.1.0
description:
  - Re-seals every migration backup in O(backup_dir) (written by M(vibebox.secrets.secret_migrate)) under a new
    backup key. Every backup is re-sealed into a temporary file and read back with the new key before the first
    original is replaced; then each original is replaced atomically. The clear header of each backup stays as it
    was, except the key id it records.
  - The new key is O(new_backup_key), else the key in O(new_backup_key_file), else a random key written 0600 to
    C(<backup_key_file>.new) before anything is sealed with it.
  - When the backup key comes from O(backup_key_file), that file then holds the new key, and the old key is kept as
    C(<backup_key_file>.old-<key id>). When it comes from O(backup_key) or C(VIBEBOX_BACKUP_KEY), no key file changes;
    the module warns that the variable must be set to the new key. Once it is, C(<backup_key_file>.new) is only a
    copy of the key in use, so the next re-key keeps it as C(<backup_key_file>.old-<key id>) and makes a new key.
  - Backups sealed with neither the current nor the new key are refused before anything is written.
  - A run that stopped half-way is finished by the next one; a second run changes nothing.
options:
  backup_dir:
    description:
      - Folder of the backups. Defaults to C($XDG_STATE_HOME/vibebox/migrate-backups), as for the migration.
    type: path
  backup_key:
    description:
      - The current backup key (32 bytes in base64 or hex). When not set, C(VIBEBOX_BACKUP_KEY) is read, then
        O(backup_key_file).
    type: str
  backup_key_file:
    description:
      - File holding the current backup key. Defaults to C($XDG_DATA_HOME/vibebox/backup.key).
    type: path
  new_backup_key:
    description:
      - The backup key to move to, 32 bytes in base64 or hex.
    type: str
  new_backup_key_file:
    description:
      - A file holding the backup key to move to; when it does not exist, it is created 0600 with a random key. Its
        key is copied into O(backup_key_file) at the end, and the file is left where it is.
    type: path
  min_interval:
    description:
      - Without O(new_backup_key) and O(new_backup_key_file), leave the backups alone when they were re-keyed less
        than this long ago (C(30s), C(15m), C(2h), C(30d) or seconds; the time the old key was kept aside), so that a
        second run changes nothing. Backups never re-keyed are always re-keyed. C(0) re-keys again now.
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
    details: Lists the backups that would be re-sealed; writes nothing, not even the new key file.
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - Backups are files, so no provider is contacted. The provider options are accepted so that C(module_defaults) of the
    action group C(vibebox.secrets.secrets) apply; only O(audit_log) is used (the re-key is recorded there).
  - Run it when no migration or rollback is running. Back up the new key at once, away from the backups.
seealso:
  - module: vibebox.secrets.local_rekey
  - module: vibebox.secrets.secret_migrate
"""

EXAMPLES = r"""
- name: Move the backups to a new random key (the old one is kept as backup.key.old-<id>)
  vibebox.secrets.backup_rekey:

- name: Move backups sealed with a key from AWX to a new key from AWX
  vibebox.secrets.backup_rekey:
    backup_dir: /var/lib/vibebox/migrate-backups
    backup_key: "{{ old_backup_key }}"
    new_backup_key: "{{ new_backup_key }}"
  no_log: true
"""

RETURN = r"""
msg:
  description: What was done, or would be.
  type: str
  returned: always
backup_dir:
  description: The folder of the backups.
  type: str
  returned: always
backups:
  description: Number of backups in the folder.
  type: int
  returned: always
rekeyed:
  description: File names of the backups re-sealed (or that would be).
  type: list
  elements: str
  returned: always
key_file:
  description: The backup key file, or null when the key comes from O(backup_key) or C(VIBEBOX_BACKUP_KEY).
  type: str
  returned: always
old_key_id:
  description: Id of the backup key in use before (a hash, never the key).
  type: str
  returned: always
new_key_id:
  description: Id of the backup key now (empty in check mode when a key would be made).
  type: str
  returned: always
old_key_file:
  description: Where the old key was kept, if the key file was replaced.
  type: str
  returned: always
"""

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog, resolve_audit_path
from ansible_collections.vibebox.secrets.plugins.module_utils.core.durations import parse_duration
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rekey import BackupRekey
from ansible_collections.vibebox.secrets.plugins.module_utils.module import build_module, fail


def main():
    module = build_module(
        dict(
            backup_dir=dict(type="path"),
            backup_key=dict(type="str", no_log=True),
            backup_key_file=dict(type="path", no_log=False),
            new_backup_key=dict(type="str", no_log=True),
            new_backup_key_file=dict(type="path", no_log=False),
            min_interval=dict(type="str", default="1d"),
        ),
        mutually_exclusive=[("new_backup_key", "new_backup_key_file")],
    )
    params = module.params
    audit = AuditLog(None if module.check_mode else resolve_audit_path(params.get("audit_log")), "backup")
    try:
        result = BackupRekey(params["backup_dir"], params["backup_key"], params["backup_key_file"],
                             params["new_backup_key"], params["new_backup_key_file"],
                             parse_duration(params["min_interval"], "min_interval"), check=module.check_mode).run()
    except errors.SecretError as exc:
        audit.record("rekey", "backups", ok=False, error=exc)
        fail(module, exc)
    if result["changed"]:
        audit.record("rekey", "backups", ok=True, version=result.get("new_key_id"))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
