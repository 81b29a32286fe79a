# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret: runs the module, then keeps the run cache coherent.

The module may run on any host; the run cache lives on the controller. Only an action plugin runs
on the controller after the module returns, so this is where a write invalidates the cached copy
(DESIGN.md 5: a write made through the modules in a run is seen by every later lookup). The module
is documented in plugins/modules/secret.py; this file adds no option.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.vibebox.secrets.plugins.plugin_utils import run_cache as _run_cache


def _names(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if isinstance(item, str)]
    return []


class SecretWriteAction(ActionBase):
    """Run the module as the ``normal`` action would; afterwards drop what it may have changed."""

    _supports_check_mode = True
    _supports_async = True
    #: the module's default for ``name`` when the task does not give one (postgres_rotate has one)
    default_name = None

    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        names = _names(self._task.args.get("name")) + _names(result.get("name"))
        if not names and self.default_name:
            names = [self.default_name]
        return dict.fromkeys(names)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.x; kept for the ActionBase signature
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        # A failed task may still have written (e.g. value set, tags not): forget it too. An async
        # task has not written yet; the lookup after async_status reads at most cache_ttl-old data.
        if result.get("changed") or result.get("failed"):
            _run_cache.invalidate(self.written_names(result))
        return result


class ActionModule(SecretWriteAction):
    pass
