# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_status: makes a relative ``path`` absolute on the controller.

Why: a person who types ``ansible-playbook vibebox.secrets.status -e status_file=status.html`` expects
the page in the directory they are in. A module resolves a relative path from the directory its
process runs in, which is not that one (for a playbook of the installed collection the file ended up
inside the collection). The worker processes of ansible-playbook keep the directory it was started
from, so it is read here, before the module runs. Documented in plugins/modules/secret_status.py;
this file adds no option.
"""
from __future__ import annotations

import os

from typing import Any, Dict

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretAction


def from_start_directory(path: str) -> str:
    """``path`` with ``~`` expanded, taken from the directory ansible-playbook was started from."""
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


class ActionModule(SecretAction):
    def module_arguments(self, task_vars: Dict[str, Any]) -> Dict[str, Any]:
        args = dict(self._task.args)
        if args.get("path"):
            args["path"] = from_start_directory(args["path"])
        return args
