# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_migrate: names the run's ansible-playbook to the module, then
invalidates the run cache.

Why the controller is named: the module runs as a child of a worker fork of ansible-playbook, and a
SIGKILL of ansible-playbook reaches neither (the worker is in a session of its own). Told the pid,
start time and boot id of ansible-playbook, the module checks between requests that it still
exists and stops writing within a request of its end; the same facts name the owner of the target's
lock. After the module returns, a worker whose ansible-playbook is gone exits at once: sending the
result to a dead parent is what left such workers hanging forever; and a thread of the worker ends it within a
second of ansible-playbook's end at any other moment (a warning written to the dead parent's pipe blocks too).

A migration writes many secrets and a rollback rewrites or deletes them, so every name the module
reports as written, restored or deleted (also from a failed step: it may have written some before
failing) is dropped from the run cache, and a lookup later in the run reads the new value.
Documented in plugins/modules/secret_migrate.py; this file adds no option
(it fills ``policy`` from the collection-wide sources when the task gives none).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Optional

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretWriteAction, planned_if_failed, written_in
from ansible_collections.vibebox.secrets.plugins.module_utils.core.lock import Process


def controller_process() -> Optional[Process]:
    """ansible-playbook as the module will check it: the parent of this worker fork (Linux /proc)."""
    pid = os.getppid()
    return Process.of(pid) if pid > 1 else None


def watch_controller(controller: Process, every: float = 1.0) -> None:
    """End this worker once ansible-playbook is gone, whatever it is doing then. The check after the module
    covers a result nobody will read; but a worker also blocks when it writes to the dead parent's pipe at any
    other moment (a warning, the result itself after this plugin returned), and stayed so for good."""
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(every)
            if controller.alive() is False:
                os._exit(1)

    threading.Thread(target=watch, name="vibebox-controller-watch", daemon=True).start()


class ActionModule(SecretWriteAction):
    takes_policy = True

    def run(self, tmp=None, task_vars=None):
        controller = controller_process()
        if controller is not None:
            watch_controller(controller)
        if controller is not None and not self._task.args.get("controller"):
            self._task.args = dict(self._task.args, controller=controller.to_dict())
        result = super().run(tmp, task_vars)
        if controller is not None and controller.alive() is False:
            # nobody reads this result: the queue to ansible-playbook has no reader left, and a put on it
            # can block forever; the module has already stopped writing (its run stays unfinished)
            os._exit(1)
        return result

    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        rows = list(result.get("written") or []) + list(result.get("rollback") or []) + planned_if_failed(result)
        return dict.fromkeys(name for row in rows if isinstance(row, dict) for name in written_in(row))
