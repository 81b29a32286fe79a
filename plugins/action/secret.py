# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret: runs the module, then drops the written name from the run cache
(plugins/plugin_utils/action.py). Documented in plugins/modules/secret.py; this file adds no option
(it fills ``policy`` from the collection-wide sources when the task gives none).
"""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretWriteAction


class ActionModule(SecretWriteAction):
    takes_policy = True
