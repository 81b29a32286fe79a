# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_move: the same as secret_migrate's.

A move writes many secrets through one module, like a .env migration: the module is told the run's
ansible-playbook (so a killed run stops writing and the target's lock names its owner), and every
secret it reports as written is dropped from the run cache afterwards (after a failure, every secret its plan
would write or delete). Documented in
plugins/modules/secret_move.py; this file adds no option.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable

from ansible_collections.vibebox.secrets.plugins.action.secret_migrate import ActionModule as MigrateAction
from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import planned_if_failed, written_in


#: plan actions of rows whose target is written or whose source is deleted (delete_source deletes what moved)
MOVED = ("create", "update", "unchanged")


class ActionModule(MigrateAction):
    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        rows = list(result.get("written") or []) + list(result.get("deleted") or [])
        names = [name for row in rows if isinstance(row, dict) for name in written_in(row)]
        # a failed write or source delete may have landed: the target's names and the source's (key, source_name)
        for row in planned_if_failed(result, MOVED):
            names += written_in(row) + [str(row[field]) for field in ("key", "source_name") if row.get(field)]
        return dict.fromkeys(names)
