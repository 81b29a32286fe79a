# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_rotate: runs the module, then invalidates the run cache.

A rotation changes both the current and the previous version, so every cached version of the
secret is dropped (the run cache forgets all versions of a name at once). Documented in
plugins/modules/secret_rotate.py; this file adds no option
(it fills ``policy`` from the collection-wide sources when the task gives none).
"""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretWriteAction


class ActionModule(SecretWriteAction):
    takes_policy = True
