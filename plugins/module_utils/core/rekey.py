# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Move the migration backups to a new backup key (the local store re-keys itself: providers/local.py).

Why: a backup holds the previous value of everything a migration changed; when its key leaks, every
backup must be re-sealed under a new key, and the leaked key must stop being the one in use.

How, so that no backup is ever lost: the new key is on disk before anything is sealed with it; every
backup is re-sealed into a temporary file beside it and read back with the new key (the same payload)
before any original is replaced; then the originals are replaced, one atomic rename each, and only
then does the key file change, the old key being kept aside as ``<key file>.old-<key id>``. Each
backup's header says which key sealed it, so a run that stopped half-way is finished by the next one,
and a second run finds nothing to do. The clear header is kept as it was, except its ``key_id``.
"""
from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backup as _backup
from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile as _keyfile
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption


def backup_files(backup_dir: str) -> List[str]:
    """Every migration backup in ``backup_dir`` (by name; a file that is not one is refused later)."""
    folder = os.path.abspath(os.path.expanduser(backup_dir))
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _backup.BackupError(f"cannot list the backup folder {folder}: {exc.strerror}")
    return [os.path.join(folder, name) for name in sorted(names)
            if name.endswith(_backup.SUFFIX) and not name.startswith(".")]


def reseal(path: str, old: _backup.BackupKey, new: _backup.BackupKey) -> Tuple[bytes, _backup.Backup]:
    """The bytes of ``path`` sealed under ``new`` instead of ``old``: same header (but its key id), same payload."""
    saved = _backup.read(path, old)
    header = dict(saved.header, key_id=new.key_id)
    clear = (_backup.MAGIC + "\n" + json.dumps(header, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    nonce = os.urandom(12)
    sealed = _aesgcm(new.key).encrypt(nonce, json.dumps(saved.payload, sort_keys=True).encode("utf-8"), clear)
    return clear + base64.b64encode(nonce + sealed) + b"\n", saved


def _aesgcm(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # an ansible-core dependency

    return AESGCM(key)


class BackupRekey:
    """One run: classify every backup by the key that sealed it, then re-seal, then swap the key files."""

    def __init__(self, backup_dir: Optional[str] = None, backup_key: Optional[str] = None,
                 backup_key_file: Optional[str] = None, new_backup_key: Optional[str] = None,
                 new_backup_key_file: Optional[str] = None, min_interval: Optional[int] = None,
                 check: bool = False, env: Optional[Dict[str, str]] = None) -> None:
        self.env = os.environ if env is None else env
        self.folder = os.path.abspath(os.path.expanduser(backup_dir or _backup.default_backup_dir()))
        self.key_file = os.path.abspath(os.path.expanduser(backup_key_file or _backup.default_key_file()))
        self.backup_key = backup_key
        #: the key in use comes from the key file (which the re-key then replaces), not an option or variable
        self.uses_file = not backup_key and not self.env.get(_backup.KEY_ENV)
        self.staged = os.path.abspath(os.path.expanduser(new_backup_key_file or self.key_file + ".new"))
        self.staged_is_ours = not new_backup_key_file
        self.explicit = bool(new_backup_key or new_backup_key_file)
        self.new_key: Optional[_backup.BackupKey] = None
        #: the new key is the one an earlier run left in our staged file (to finish that run)
        self.from_staged = False
        #: the staged file only holds the key in use: set aside, not a target
        self.leftover = False
        if new_backup_key:
            try:
                self.new_key = _backup.BackupKey(_keyfile.decode_key(new_backup_key), "the new_backup_key option")
            except _keyfile.KeyFileError as exc:
                raise InvalidOption(f"new_backup_key {exc.reason}", hint=f"Make one with: {_keyfile.GENERATE_HINT}")
        elif os.path.exists(self.staged):
            self.new_key = _backup.BackupKey.load(key_file=self.staged, env={})
            self.from_staged = self.staged_is_ours
        self.min_interval = min_interval
        self.check = check

    def _old_key(self) -> Optional[_backup.BackupKey]:
        if self.uses_file and not os.path.exists(self.key_file):
            return None
        return _backup.BackupKey.load(self.backup_key, self.key_file, env=self.env)

    def result(self, changed: bool, msg: str, **extra: Any) -> Dict[str, Any]:
        data: Dict[str, Any] = {"changed": changed, "msg": msg, "backup_dir": self.folder,
                                "key_file": self.key_file if self.uses_file else None, "warnings": [],
                                "old_key_file": None, "rekeyed": [], "backups": 0}
        data.update(extra)
        return data

    def run(self) -> Dict[str, Any]:
        files = backup_files(self.folder)
        old = self._old_key()
        if old is None and files:
            raise _backup.BackupError(
                f"{len(files)} backups in {self.folder} but no backup key: the key file {self.key_file} does not exist",
                hint="Restore the backup key file from your copy (or give it in backup_key or VIBEBOX_BACKUP_KEY);"
                     " nothing was changed")
        old_id = old.key_id if old else ""
        if self.from_staged and old is not None and self.new_key is not None and self.new_key.key_id == old_id:
            # a finished run's staged key that is now the key in use (VIBEBOX_BACKUP_KEY was set to it): taken
            # as the target, it would make every later re-key, one after a leak too, "already under" that key
            self.new_key, self.leftover = None, True
        new_id = self.new_key.key_id if self.new_key else ""
        todo, done, foreign = self._classify(files, old, new_id)
        if foreign:
            shown = ", ".join(f"{os.path.basename(path)} (key id {key})" for path, key in foreign[:10])
            raise _backup.BackupError(
                f"{len(foreign)} backups in {self.folder} were sealed with neither the current key (id {old_id}) nor"
                f" the new one (id {new_id or 'not made yet'}): {shown}",
                hint="Give their key as the current key (backup_key or backup_key_file) to re-key them first, or move"
                     " them out of the folder; nothing was changed")
        base = {"backups": len(files), "old_key_id": old_id, "new_key_id": new_id}
        swap_due = self.uses_file and old is not None and self.new_key is not None and old_id != new_id
        if not todo and self.new_key is not None:  # done already, or an interrupted run left the key swap
            return self._finish(old, [], base, swap_due)
        if not todo and old is None:
            return self.result(False, f"no backup key and no backup in {self.folder}: nothing to re-key", **base)
        last = self._last_rekey()
        if not self.explicit and self.min_interval and last is not None and not done:
            age = time.time() - last
            if age < self.min_interval:
                return self.result(False, f"the backups were re-keyed {int(age)}s ago (key id {old_id}), less than"
                                          f" min_interval ({self.min_interval}s): not re-keyed again",
                                   **{**base, "new_key_id": old_id})
        if self.check:
            return self.result(True, f"would re-seal {len(todo)} of {len(files)} backups from key id {old_id} to"
                                     f" {new_id or 'a new random key'}",
                               rekeyed=[os.path.basename(path) for path in todo], **base)
        new = self._durable_new_key()
        if new.key_id == old_id:
            raise InvalidOption("the new backup key is the key in use", hint="Give another key, or none to have one made")
        base["new_key_id"] = new.key_id
        self._reseal_all(todo, old, new)
        return self._finish(old, todo, base, self.uses_file and old is not None, rekeyed=True)

    def _last_rekey(self) -> Optional[float]:
        """When the key file last replaced a key: linking the old key aside (<key file>.old-<id>) sets its
        ctime. None when it never did, so a key that was never re-keyed is always due.

        With the key in a variable no key file is replaced: a staged file that holds the key in use was made
        by the last re-key, so its ctime counts too - else the run after the operator set the variable to it,
        as told, re-keyed again at once and left the variable stale.
        """
        folder, stem = os.path.dirname(self.key_file), os.path.basename(self.key_file) + ".old-"
        try:
            names = [name for name in os.listdir(folder) if name.startswith(stem)]
        except OSError:
            names = []
        times = []
        if self.leftover:
            try:
                times.append(os.stat(self.staged).st_ctime)
            except OSError:
                pass
        for name in names:
            try:
                times.append(os.stat(os.path.join(folder, name)).st_ctime)
            except OSError:
                continue
        return max(times) if times else None

    def _classify(self, files: List[str], old: Optional[_backup.BackupKey], new_id: str):
        todo, done, foreign = [], [], []
        for path in files:
            header = _backup.read_header(path).header
            key = header.get("key_id") or ""
            if new_id and key == new_id:
                done.append(path)
            elif old is not None and key == old.key_id:
                todo.append(path)
            else:
                foreign.append((path, key or "unknown"))
        return todo, done, foreign

    def _durable_new_key(self) -> _backup.BackupKey:
        if self.new_key is None:
            old = self._old_key() if self.leftover else None
            if old is not None:  # keep that copy where a re-key keeps old keys, and free the staged file
                _keyfile.set_aside(self.staged, f"{self.key_file}.old-{old.key_id}", old.key, what="new backup key file")
            _keyfile.write_key_file(self.staged, _keyfile.random_key(), what="new backup key file")
            self.new_key = _backup.BackupKey.load(key_file=self.staged, env={})
        elif self.uses_file and self.staged_is_ours:
            _keyfile.write_key_file(self.staged, self.new_key.key, what="new backup key file", replace=True)
        return self.new_key

    def _reseal_all(self, todo: List[str], old: _backup.BackupKey, new: _backup.BackupKey) -> None:
        """Every file re-sealed and read back before the first original is replaced."""
        temporaries: List[Tuple[str, str]] = []
        try:
            for path in todo:
                data, saved = reseal(path, old, new)
                fd, temporary = tempfile.mkstemp(prefix=".rekey-", suffix=".tmp", dir=self.folder)
                temporaries.append((temporary, path))
                with os.fdopen(fd, "wb") as handle:
                    os.fchmod(handle.fileno(), 0o600)
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                again = _backup.read(temporary, new)
                if again.payload != saved.payload or dict(again.header, key_id=None) != dict(saved.header, key_id=None):
                    raise _backup.BackupError(f"the backup {path} did not read back the same under the new key;"
                                              " nothing was changed")
            for temporary, path in temporaries:
                os.replace(temporary, path)
            temporaries = []
        finally:
            for temporary, _path in temporaries:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
        _keyfile.fsync_folder(self.folder)

    def _finish(self, old: Optional[_backup.BackupKey], todo: List[str], base: Dict[str, Any], swap: bool,
                rekeyed: bool = False) -> Dict[str, Any]:
        new = self.new_key
        names = [os.path.basename(path) for path in todo]
        if not self.uses_file:
            data = self.result(rekeyed, f"re-sealed {len(todo)} backups under key id {new.key_id}" if rekeyed else
                               f"every backup is already under key id {new.key_id}", rekeyed=names, **base)
            if old is not None and old.key_id != new.key_id:
                where = "the new key you gave" if new.source == "the new_backup_key option" else f"the key in {self.staged}"
                data["warnings"].append(f"{old.source} still holds the old backup key (id {old.key_id}): set it to {where}"
                                        f" (id {new.key_id}) before the next migration or rollback")
                data["new_key_file"] = self.staged if os.path.exists(self.staged) else None
            return data
        if not swap and not rekeyed:
            return self.result(False, f"every backup is already under key id {new.key_id}", **base)
        if self.check:
            return self.result(True, f"would put the new backup key (id {new.key_id}) in {self.key_file}", **base)
        kept = None
        if old is not None and os.path.exists(self.key_file) and old.key_id != new.key_id:
            kept = f"{self.key_file}.old-{old.key_id}"
            try:
                os.link(self.key_file, kept)
            except FileExistsError:
                if _backup.BackupKey.load(key_file=kept, env={}).key != old.key:
                    raise _backup.BackupError(f"{kept} exists and holds another key",
                                              hint="Move it away, then run the re-key again to finish")
        staged_holds_new = os.path.exists(self.staged) and \
            _backup.BackupKey.load(key_file=self.staged, env={}).key == new.key
        if self.staged_is_ours and staged_holds_new:
            os.replace(self.staged, self.key_file)
            _keyfile.fsync_folder(os.path.dirname(self.key_file))
        else:
            _keyfile.write_key_file(self.key_file, new.key, what="backup key file", replace=True)
        verb = f"re-sealed {len(todo)} backups and put" if rekeyed else "put"
        return self.result(True, f"{verb} the new backup key (id {new.key_id}) in {self.key_file}"
                                 + (f"; the old key (id {old.key_id}) is kept in {kept}" if kept else ""),
                           old_key_file=kept, rekeyed=names, **base)
