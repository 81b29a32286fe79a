# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_cleanup: runs the module, then invalidates the run cache.

Destroying old versions can remove what a lookup cached as ``version='previous'``, so every secret
the module destroyed a version of is dropped from the run cache. Documented in
plugins/modules/secret_cleanup.py; this file adds no option.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretWriteAction


class ActionModule(SecretWriteAction):
    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        names = [str(entry.get("name")) for entry in result.get("secrets") or []
                 if isinstance(entry, dict) and entry.get("name") and entry.get("destroyed")]
        if result.get("failed"):  # unknown how far it got: forget every name it was given
            names += [str(name) for name in self._task.args.get("names") or [] if isinstance(name, str)]
        return dict.fromkeys(names)
