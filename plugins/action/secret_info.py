# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_info: runs the module, telling it when the run is an AWX/AAP job.

secret_info only reads, but with no provider configured in a job it would describe (and create) an
empty embedded store inside the job's container and report "nothing there", which reads like data
loss. Modules do not see extra variables, so this action plugin passes the job marker on (see
plugins/plugin_utils/action.py). Documented in plugins/modules/secret_info.py; this file adds no option.
"""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretAction


class ActionModule(SecretAction):
    pass
