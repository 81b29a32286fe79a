# -*- coding: utf-8 -*-
"""Options of the embedded encrypted store (provider C(local))."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  local_path:
    description:
      - SQLite file of the embedded store (provider C(local)). Created 0600 in a 0700 folder on first write.
      - Defaults to C($XDG_DATA_HOME/vibebox/secrets.db) (C(~/.local/share/vibebox/secrets.db)); also C(VIBEBOX_LOCAL_PATH).
    type: path
  local_key_file:
    description:
      - File holding the store's 256-bit AES-GCM key (base64). Created 0600 with a new store only; a store that
        holds secrets and has no key file is refused (restore the key file), never given a new key.
      - C(VIBEBOX_LOCAL_KEY) (the key itself, base64 or hex) takes its place when set, for example from AWX.
      - Defaults to C(secrets.key) beside O(local_path); also C(VIBEBOX_LOCAL_KEY_FILE).
    type: path
"""

    LOOKUP = r"""
options:
  local_path:
    description:
      - SQLite file of the embedded store (provider C(local)). Created 0600 in a 0700 folder on first write.
      - Defaults to C($XDG_DATA_HOME/vibebox/secrets.db) (C(~/.local/share/vibebox/secrets.db)); also C(VIBEBOX_LOCAL_PATH).
    type: path
    vars:
      - name: vibebox_secrets_local_path
    env:
      - name: VIBEBOX_LOCAL_PATH
    ini:
      - section: vibebox_secrets
        key: local_path
  local_key_file:
    description:
      - File holding the store's 256-bit AES-GCM key (base64). Created 0600 with a new store only; a store that
        holds secrets and has no key file is refused (restore the key file), never given a new key.
      - C(VIBEBOX_LOCAL_KEY) (the key itself, base64 or hex) takes its place when set, for example from AWX.
      - Defaults to C(secrets.key) beside O(local_path); also C(VIBEBOX_LOCAL_KEY_FILE).
    type: path
    vars:
      - name: vibebox_secrets_local_key_file
    env:
      - name: VIBEBOX_LOCAL_KEY_FILE
    ini:
      - section: vibebox_secrets
        key: local_key_file
"""
