# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_migrate: runs the module, then invalidates the run cache.

A migration writes many secrets and a rollback rewrites or deletes them, so every name the module
reports as written, restored or deleted (also from a failed step: it may have written some before
failing) is dropped from the run cache, and a lookup later in the run reads the new value.
Documented in plugins/modules/secret_migrate.py; this file adds no option.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable

from ansible_collections.vibebox.secrets.plugins.action.secret import SecretWriteAction


class ActionModule(SecretWriteAction):
    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        rows = list(result.get("written") or []) + list(result.get("rollback") or [])
        return dict.fromkeys(str(row["name"]) for row in rows if isinstance(row, dict) and row.get("name"))
