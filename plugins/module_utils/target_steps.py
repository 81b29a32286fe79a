# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What the steps of a .env migration and of a provider move share (secret_migrate, secret_move).

Both are runs of several module calls against one target: the run takes the target's lock with its
first writing step and keeps it until its last, every request checks that the lock is still the run's,
and each backup gets an undo file naming the target. Written once, so that both kinds of run lock,
give back and undo in the same way, and a fix to one reaches the other.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import lock as _lock
from ansible_collections.vibebox.secrets.plugins.module_utils.core import migration as _migration
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core import registry as _registry

#: options never written to the undo file: credentials, and what does not address the target
NOT_UNDO = set(_options.SECRET_OPTIONS) | {"cache_ttl", "fallback"}


def _location_option(provider: Any) -> Optional[str]:
    return _registry.spec(provider).location_option if provider in _registry.PROVIDERS else None


def backup_key(params: Dict[str, Any], create: bool) -> _backup.BackupKey:
    return _backup.BackupKey.load(params["backup_key"], params["backup_key_file"], create=create)


def backup_dir(params: Dict[str, Any]) -> str:
    return params["backup_dir"] or _backup.default_backup_dir()


class TargetSteps:
    """The target's identity, the run's lock and the guard between requests, for one step of a run."""

    #: steps that write (secrets, a backup, a journal) and so hold the target's lock
    writing: Tuple[str, ...] = ()
    #: steps after which the run gives the lock back (a step after them needs no lock kept for it)
    last: Tuple[str, ...] = ("finish",)

    def __init__(self, module: Any, target: Any) -> None:
        self.module = module
        self.target = target
        self.params = module.params
        self.controller = _lock.Process.from_dict(self.params["controller"])
        self.lock: Optional[_lock.TargetLock] = None
        self._identity: Optional[Dict[str, Any]] = None

    @property
    def identity(self) -> Dict[str, Any]:
        if self._identity is None:
            self._identity = _migration.target_identity(self.target)
        return self._identity

    @property
    def prefix(self) -> str:
        return self.target.prefix or ""

    def existing_key(self) -> Optional[_backup.BackupKey]:
        """The backup key when it exists already (reading history never creates one)."""
        try:
            return backup_key(self.params, create=False)
        except errors.SecretError:
            return None

    def _target_lock(self) -> _lock.TargetLock:
        path = _lock.lock_path(self.identity, self.prefix, backup_dir(self.params))
        owner = self.controller or _lock.Process.current()
        return _lock.TargetLock(path, _lock.describe_target(self.identity, self.prefix), owner, _lock.Process.current())

    def peek_lock(self) -> None:
        """Before any write: refuse (or in check mode, warn) while another live run holds the target."""
        probe = self._target_lock()
        record = probe.read()
        if record is None or probe._ours(record) or probe.stale_reason(record) is not None:
            return
        text = f"{probe.target} is locked by {probe.holder(record)}"
        if self.module.check_mode:
            self.module.warn(text + "; this dry run writes nothing, but a real run would be refused now")
            return
        raise _lock.LockHeld(text, hint="Nothing was written. Wait for that run to finish, then run again")

    def lock_purpose(self, action: str) -> str:
        return "migration"

    def guarded_managers(self) -> List[Any]:
        """The managers whose every request checks the lock first."""
        return [self.target]

    def guard(self, action: str) -> None:
        """Take the target's lock (writing steps, not in check mode) and check before every request."""
        if action in self.writing and not self.module.check_mode:
            self.lock = self._target_lock()
            warning = self.lock.acquire(self.lock_purpose(action))
            if warning:
                self.module.warn(warning)
        guard = _lock.Guard(self.controller, self.lock)
        for manager in self.guarded_managers():
            manager.retry = _lock.guarded(manager.retry, guard)

    def release(self, action: str, failed: bool) -> None:
        """Keep the lock for the run's next step (it holds it until its last step) unless there is none."""
        if self.lock is None:
            return
        keep = self.controller is not None and action not in self.last
        if failed and self.controller is not None and self.controller.alive() is False:
            keep = True  # a killed run's lock stays until it is taken over, with a warning naming it
        self.lock.release(keep=keep)

    def undo_variables(self, backup_path: str, key: _backup.BackupKey) -> Dict[str, Any]:
        """The extra vars that undo this run, pasted into a new shell: paths absolute, target explicit,
        never a credential."""
        resolved = _options.with_environment(_options.from_module(self.params))
        variables = {name: value for name, value in resolved.items()
                     if name not in NOT_UNDO and value not in (None, "", [])}
        variables.update(provider=self.target.provider, prefix=self.prefix, migrate_action="rollback",
                         backup=backup_path)
        place = _location_option(self.identity.get("provider"))
        if place and self.identity.get("path"):  # a store that is a file: the rollback names that file
            variables[place] = self.identity["path"]
        if os.path.isabs(key.source):  # a key file; a key from the environment or an option is never written
            variables["migrate_backup_key_file"] = key.source
        return variables
