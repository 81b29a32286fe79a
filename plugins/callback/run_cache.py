# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: run_cache
author: Vibebox maintainers (@vibebox)
type: aggregate
short_description: Get the run cache and the lookups ready when the playbook starts
version_added: 0.1.0
description:
  - Without this plugin, the first worker fork that reads a secret starts the run cache helper and reads the
    provider itself, importing its SDK, while the other forks of the first hosts wait for it; and every fork
    loads the collection's lookups afresh.
  - With it, when the playbook starts, the controller loads the C(vibebox.secrets.get) and
    C(vibebox.secrets.dotenv) lookups once (every fork it makes inherits them) and starts the run cache helper
    without waiting for it; the helper imports the SDK of the provider the controller's environment selects
    (C(SECRET_PROVIDER), or the variable that detects one) while the play is still being set up. What it saves
    grows with the fleet; C(bench/README.md) in the collection's source has the figures for 50 hosts reading 10
    secrets and 200 hosts reading 50.
  - It only prepares. What a lookup reads, and how many requests it makes, is the same with it and without it;
    it makes no request, reads no secret and logs in nowhere. A run that never reads a secret pays the SDK's
    import in the helper (0.1 to 0.3 seconds of CPU) and nothing else.
  - Nothing is started when the run cache is off (C(VIBEBOX_RUN_CACHE=false)). When the helper cannot be
    started (its private directory fails the checks, the process cannot be created), the plugin prints a warning
    (never a value). A helper that exits before it serves, or has not served within 15 seconds (a fork then ends
    it), leaves the run as without the plugin, where the first fork that reads a secret starts one.
requirements:
  - Enable it in C(ansible.cfg) (C(callbacks_enabled = vibebox.secrets.run_cache) in C([defaults])) or with
    C(ANSIBLE_CALLBACKS_ENABLED=vibebox.secrets.run_cache). Add it to the list when you enable other callbacks.
"""

import os

from ansible.plugins.callback import CallbackBase

#: the lookups every worker fork would otherwise load afresh
LOOKUPS = ("vibebox.secrets.get", "vibebox.secrets.dotenv")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "vibebox.secrets.run_cache"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook) -> None:
        from ansible.plugins.loader import lookup_loader

        from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client, start

        for name in LOOKUPS:
            try:
                lookup_loader.get(name, class_only=True)
            except Exception as exc:  # an optimisation only: each fork loads it as usual
                self._display.warning(f"vibebox.secrets.run_cache: could not load {name} ahead of the forks: {exc}")
        if not client.enabled(worker=True):
            return
        try:
            # this process is the run: its forks name their parent as the run's owner, whatever started it
            started = start.start_with_playbook(client.RunCacheClient(owner_pid=os.getpid()))
        except Exception as exc:  # an optimisation only: never the reason a playbook fails
            self._display.warning(f"vibebox.secrets.run_cache: the run cache helper did not start with the playbook ({exc});"
                                  " forks that read a secret start it themselves, or read the provider directly if it cannot start")
            return
        if started:
            self._display.vvv("vibebox.secrets.run_cache: the run cache helper started with the playbook")
