# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vibebox.secrets.secret_notify: adds the AWX job id and URL that only the controller knows.

AWX and Automation Platform pass the job id as extra variables (``awx_job_id``, older ``tower_job_id``),
which a module never sees, and JOB_ID / AWX_HOST (older TOWER_HOST) in the environment of
ansible-playbook, which a module on another host would not have. They are read here so every
notification links to its job. Documented in plugins/modules/secret_notify.py; this file adds no option.
"""
from __future__ import annotations

import os

from typing import Any, Dict

from ansible_collections.vibebox.secrets.plugins.plugin_utils.action import SecretAction

from ansible_collections.vibebox.secrets.plugins.module_utils.core.notify import job_of


class ActionModule(SecretAction):
    def module_arguments(self, task_vars: Dict[str, Any]) -> Dict[str, Any]:
        args = dict(self._task.args)
        job_id, job_url = job_of(task_vars, os.environ)
        if job_id and not args.get("job_id"):
            args["job_id"] = job_id
        if job_url and not args.get("job_url"):
            args["job_url"] = job_url
        return args
