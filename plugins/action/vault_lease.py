# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.vault_lease: runs the module, then drops revoked leases from the run cache.

The run cache hands one lease of a dynamic secret to every host of the run; once a task revokes it, later lookups
must read a new one instead of handing out credentials that no longer log in. The run cache forgets an entry when
given its lease id (plugins/plugin_utils/run_cache/server.py). Documented in plugins/modules/vault_lease.py; this
file adds no option.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretWriteAction


class ActionModule(SecretWriteAction):
    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        if self._task.args.get("state", "revoked") != "revoked" or self._play_context.check_mode:
            return []
        return [str(lease.get("lease_id")) for lease in result.get("leases") or [] if isinstance(lease, dict)]
