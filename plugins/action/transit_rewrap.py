# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.transit_rewrap: runs the module, then builds its ``ciphertexts``
result and invalidates the run cache of the secrets it re-wrapped (after a failure, of every name it was given).

Why the list is built here: ``ciphertexts`` is a no_log option, so Ansible masks every given value
that appears in the module's result, and the ciphertexts left unchanged would come back as
``********``. The module returns only the new ciphertexts with their positions; the controller
still holds the given list and puts them in place. Documented in plugins/modules/transit_rewrap.py;
this file adds no option.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretWriteAction


class ActionModule(SecretWriteAction):
    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        names = [str(item.get("name")) for item in result.get("secrets") or [] if item.get("rewrapped")]
        if result.get("failed"):  # the write that failed is not listed, and may have landed: every name given
            names += [str(name) for name in self._task.args.get("names") or [] if isinstance(name, str)]
        return dict.fromkeys(names)

    def after(self, result: Dict[str, Any]) -> None:
        super().after(result)
        given = self._task.args.get("ciphertexts") or []
        if result.get("failed") or not isinstance(given, list):
            return
        merged = [str(item) for item in given]
        for item in result.get("rewrapped_items") or []:
            index = item.get("index")
            if isinstance(index, int) and 0 <= index < len(merged):
                merged[index] = item.get("ciphertext")
        result["ciphertexts"] = merged
