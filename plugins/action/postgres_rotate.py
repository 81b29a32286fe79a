# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.postgres_rotate: runs the module, then invalidates the run cache.

The module writes the new database password (default name ``database-password``) into the secret
manager; a later lookup in the same run must see it. Documented in plugins/modules/postgres_rotate.py;
this file adds no option.
"""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretWriteAction


class ActionModule(SecretWriteAction):
    default_name = "database-password"
