# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The migration's backup: one file, AES-256-GCM, under a 256-bit key the user controls.

Why this format and not ansible-vault: the backup is written and read by a module, and a module
carries only module_utils, not ``ansible.parsing.vault``; the vault passwords of a run live in the
controller's loader and never reach a module either. AES-256-GCM from ``cryptography`` (an
ansible-core dependency, already used by the local store) runs anywhere the module runs, is
authenticated (a changed byte, in the payload or in the clear header, fails decryption) and needs no
password-based key derivation: the key is 32 random bytes, like the local store's.

File layout (three lines, UTF-8)::

    $VIBEBOX_BACKUP;1;AES256GCM
    {"format": ..., "created_at": ..., "provider": ..., "entries": [{"key", "name", "action"}], ...}
    base64(nonce[12] || ciphertext+tag)

The first two lines are readable without the key (``head -2``) and hold no value: which .env file,
provider and prefix, which keys and what the run was going to do with them, and ``key_id`` (a hash
of the key, so a wrong key is named as such). Both lines are the AEAD's associated data. The
ciphertext is JSON with the previous value and metadata of every secret that will change and a
byte-exact copy of the .env file.

The key: option ``backup_key`` > ``VIBEBOX_BACKUP_KEY`` > option ``backup_key_file`` > default
``$XDG_DATA_HOME/vibebox/backup.key``, created 0600 (folder 0700) when the first backup is written.
Both forms are 32 bytes in base64 or hex.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile as _keyfile
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    ProviderNotInstalled,
    SecretError,
)

MAGIC = "$VIBEBOX_BACKUP;1;AES256GCM"
FORMAT = "vibebox-migrate-backup"
SUFFIX = ".backup"
KEY_ENV = "VIBEBOX_BACKUP_KEY"
_STAMP = re.compile(r"-(\d{8}T\d{6}\.\d{6}Z)" + re.escape(SUFFIX) + "$")
_KEY_HINT = "Create one with: python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'"


class BackupError(SecretError):
    """A backup that cannot be written, found, read or decrypted; never holds a value."""

    kind = "backup"


def default_key_file() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "vibebox", "backup.key")


def default_backup_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "vibebox", "migrate-backups")


def _decode_key(text: str, source: str) -> bytes:
    try:
        return _keyfile.decode_key(text)
    except _keyfile.KeyFileError as exc:
        raise InvalidOption(f"the backup key from {source} {exc.reason}", hint=_KEY_HINT)


@dataclass(frozen=True)
class BackupKey:
    """The key and where it came from (the source is shown in messages; the key never is)."""

    key: bytes = field(repr=False)
    source: str
    #: made by this load (create=True found no key file): backups sealed before it need the key that was lost
    created: bool = False

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"vibebox-backup-key-id\0" + self.key).hexdigest()[:16]

    @classmethod
    def load(cls, key: Optional[str] = None, key_file: Optional[str] = None, create: bool = False,
             env: Optional[Dict[str, str]] = None) -> "BackupKey":
        """Find the key; with ``create`` make the key file when there is none (first backup).

        The key file is trusted as ssh trusts its keys (yours, not readable or writable by others, in a
        folder others cannot write); a new one is on disk (fsync'ed) before any backup is sealed with it.
        """
        env = os.environ if env is None else env
        if key:
            return cls(_decode_key(key, "the backup_key option"), "the backup_key option")
        if env.get(KEY_ENV):
            return cls(_decode_key(env[KEY_ENV], KEY_ENV), KEY_ENV)
        path = os.path.abspath(os.path.expanduser(key_file or default_key_file()))
        hint = ("Restore the backup key file from your copy of it (32 bytes: 44 characters of base64 or 64 of hex);"
                " backups written with it cannot be read with another key")
        try:
            _keyfile.check_folder(os.path.dirname(path), what="folder of the backup key file")
            try:
                return cls(_keyfile.read_key_file(path, what="backup key file", hint=hint), path)
            except FileNotFoundError:
                pass
            if not create:
                raise BackupError(
                    f"no backup key: {KEY_ENV} is not set and the key file {path} does not exist",
                    hint=f"Give the key the backup was written with: {KEY_OPTIONS_HINT}",
                )
            return cls(_keyfile.create_key_file(path, what="backup key file", hint=hint), path, created=True)
        except (_keyfile.KeyFileError, _keyfile.UntrustedFile, _keyfile.PathError) as exc:
            raise BackupError(exc.reason, hint=exc.hint) from None


# the names an operator types: the role's and playbook's variables first, the module's options after
KEY_OPTIONS_HINT = (f"-e migrate_backup_key_file=PATH or migrate_backup_key=KEY with the migrate playbook and role,"
                    f" backup_key_file or backup_key on the module, or {KEY_ENV}")


def _kept_key_file(key: BackupKey, wanted_id: str) -> Optional[str]:
    """The '<key file>.old-<id>' a re-key of the backups left beside the key file, when it holds ``wanted_id``."""
    folders = [os.path.dirname(key.source)] if os.path.isabs(key.source) else []
    folders.append(os.path.dirname(default_key_file()))
    for folder in dict.fromkeys(folders):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in sorted(names):
            if name.endswith(f".old-{wanted_id}"):
                return os.path.join(folder, name)
    return None


def _aead(key: bytes):
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - cryptography ships with ansible-core
        raise ProviderNotInstalled("backup", "cryptography", exc)
    return AESGCM(key)


@dataclass
class Backup:
    """A decrypted (or header-only) backup: ``header`` is clear text, ``payload`` the sealed part."""

    path: str
    header: Dict[str, Any]
    payload: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def entries(self) -> List[Dict[str, Any]]:
        return list(self.payload.get("entries") or [])

    @property
    def env(self) -> Dict[str, Any]:
        return dict(self.payload.get("env") or {})

    def env_bytes(self) -> Optional[bytes]:
        content = self.env.get("content_b64")
        return None if content is None else base64.b64decode(content)


def timestamp(moment: Optional[_dt.datetime] = None) -> str:
    moment = moment or _dt.datetime.now(_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._") or "env"


def stem(label: str) -> str:
    """The start of the file names of one .env file's (or one move's) backups, before the timestamp."""
    return f"migrate-{_safe(os.path.basename(label))}-"


def file_name(env_file: str, stamp: Optional[str] = None) -> str:
    return f"{stem(env_file)}{stamp or timestamp()}{SUFFIX}"


def planned_path(backup_dir: str, label: Optional[str] = None, *, stem_text: Optional[str] = None,
                 stamp: Optional[str] = None) -> str:
    """The path of a new backup in ``backup_dir``: named after ``label`` (an env file, a move's label) or given
    ``stem_text`` (what a move's plan returns), then the timestamp. The roles choose the path before the backup
    step with this, so it never depends on a module result that Ansible may have masked, and every backup path
    has one spelling however it is made (later moves and rollbacks find backups by it)."""
    if (label is None) == (stem_text is None):
        raise ValueError("give exactly one of label or stem_text")
    start = stem(label) if label is not None else stem_text
    return os.path.join(os.path.abspath(os.path.expanduser(backup_dir)), f"{start}{stamp or timestamp()}{SUFFIX}")


def write(backup_dir: str, env_file: str, header: Dict[str, Any], payload: Dict[str, Any], key: BackupKey,
          path: Optional[str] = None) -> str:
    """Seal and write a new backup file (0600, folder 0700), read it back, return its path.

    ``path`` names the file (the role chooses it, so it never depends on a module result that
    Ansible may have masked); otherwise it is ``backup_dir``/migrate-<env file>-<timestamp>.backup.
    An existing file is never replaced.
    """
    if path:
        path = os.path.abspath(os.path.expanduser(path))
        backup_dir = os.path.dirname(path)
    folder = os.path.abspath(os.path.expanduser(backup_dir))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup folder {folder}: {exc.strerror}")
    stamp = timestamp()
    header = dict(header, format=FORMAT, version=1, cipher="AES-256-GCM", key_id=key.key_id,
                  created_at=stamp)
    clear = (MAGIC + "\n" + json.dumps(header, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    nonce = os.urandom(12)
    sealed = _aead(key.key).encrypt(nonce, json.dumps(payload, sort_keys=True).encode("utf-8"), clear)
    data = clear + base64.b64encode(nonce + sealed) + b"\n"
    path = path or os.path.join(folder, file_name(env_file, stamp))
    try:
        fd, temporary = tempfile.mkstemp(prefix=".migrate-", suffix=".tmp", dir=folder)
    except OSError as exc:  # a read-only folder or file system, a full disk: said, never a traceback
        raise BackupError(f"cannot write the backup {path}: {exc.strerror}; nothing was written to the provider",
                          hint=f"Give a writable migrate_backup_dir (the folder {folder} must be writable by this user)")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # never replaces an existing backup
    except FileExistsError:
        raise BackupError(f"the backup {path} exists already; it is never overwritten")
    except OSError as exc:
        raise BackupError(f"cannot write the backup {path}: {exc.strerror}")
    finally:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    read(path, key)  # a backup that cannot be read back is no backup: fail before any write
    return path


def _split(path: str) -> tuple:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise BackupError(f"cannot read the backup {path}: {exc.strerror}")
    lines = data.split(b"\n")
    if len(lines) < 3 or lines[0].decode("utf-8", "replace") != MAGIC:
        raise BackupError(f"{path} is not a vibebox.secrets migration backup")
    try:
        header = json.loads(lines[1].decode("utf-8"))
    except ValueError:
        raise BackupError(f"the header of the backup {path} is damaged")
    return lines[0] + b"\n" + lines[1] + b"\n", header, lines[2]


def read_header(path: str) -> Backup:
    """The clear part only (no key needed): what the backup covers, never a value."""
    _clear, header, _sealed = _split(path)
    return Backup(path, header)


def read(path: str, key: BackupKey) -> Backup:
    clear, header, sealed = _split(path)
    if header.get("key_id") and header["key_id"] != key.key_id:
        kept = _kept_key_file(key, header["key_id"])
        raise BackupError(
            f"the backup {path} was written with another key (key id {header['key_id']}; the key from"
            f" {key.source} has id {key.key_id})",
            hint=(f"A re-key kept that key in {kept}: give it with migrate_backup_key_file={kept} (backup_key_file on"
                  " the module)" if kept else f"Give the key that was used for the migration: {KEY_OPTIONS_HINT}"),
        )
    try:
        raw = base64.b64decode(sealed.strip(), validate=True)
        plain = _aead(key.key).decrypt(raw[:12], raw[12:], clear)
    except Exception:  # InvalidTag, binascii.Error: the same answer, and never any detail of the content
        raise BackupError(f"the backup {path} cannot be decrypted: it was changed or damaged")
    return Backup(path, header, json.loads(plain.decode("utf-8")))


def sealed_with_other_keys(backup_dir: str, key: BackupKey) -> int:
    """How many backups in ``backup_dir`` were sealed with another key than ``key`` (read from their clear
    headers: no key is needed and none is tried)."""
    return sum(1 for saved in backups(backup_dir) if saved.header.get("key_id") not in (None, "", key.key_id))


def new_key_warning(backup_dir: str, key: BackupKey) -> Optional[str]:
    """What to tell an operator whose backup key file was just made next to backups sealed with another key: the
    key file was deleted or moved (or another one is named), and rolling those back needs the old key."""
    if not key.created:
        return None
    others = sealed_with_other_keys(backup_dir, key)
    if not others:
        return None
    return (f"a new backup key was made at {key.source}, but {others} backup(s) in {os.path.abspath(backup_dir)} were"
            " sealed with another key: rolling them back needs that key. If the key file was deleted or moved,"
            " restore it from your copy (and keep this new one for the backups written from now on)")


def backups(backup_dir: str, env_file: Optional[str] = None) -> List[Backup]:
    """Headers of the backups in ``backup_dir`` (of ``env_file`` when given), oldest first."""
    folder = os.path.abspath(os.path.expanduser(backup_dir))
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    stem = f"migrate-{_safe(os.path.basename(env_file))}-" if env_file else "migrate-"
    found = []
    for name in names:
        match = _STAMP.search(name)
        if match and name.startswith(stem):
            found.append((match.group(1), name))
    wanted = os.path.realpath(os.path.expanduser(env_file)) if env_file else None
    headers = []
    for _stamp, name in sorted(found):
        try:
            saved = read_header(os.path.join(folder, name))
        except BackupError:
            if wanted is None:  # still the newest: reading it says what is wrong with it
                headers.append(Backup(os.path.join(folder, name), {}))
            continue
        if wanted is None or saved.header.get("env_file") == wanted:
            headers.append(saved)
    return headers


def latest(backup_dir: str, env_file: Optional[str] = None) -> str:
    """Newest backup in ``backup_dir`` (by the timestamp in its name); of ``env_file`` when given."""
    found = backups(backup_dir, env_file)
    if found:
        return found[-1].path
    which = f" of {env_file}" if env_file else ""
    raise BackupError(f"no migration backup{which} in {os.path.abspath(os.path.expanduser(backup_dir))}",
                      hint="Give the backup to restore with backup=PATH (the path the migration printed)")


# the run's journal ---------------------------------------------------------------------------------
# Beside each backup, ``<backup>.journal`` (JSON lines, 0600) says what became of its run: ``started``
# when the backup is written, ``written`` (name, version) after each secret, ``complete`` after the
# validation, ``rolled-back`` or ``rollback-incomplete`` after a rollback. A run that was killed or
# failed without a complete rollback stays ``unfinished``, so a later rollback can name it, and a
# later migration knows what this file wrote and when (names and versions only, never a value).
JOURNAL_SUFFIX = ".journal"
UNDO_SUFFIX = ".undo.yml"
COMPLETE, ROLLED_BACK, UNFINISHED, UNKNOWN = "complete", "rolled-back", "unfinished", "unknown"
_TERMINAL = {"complete": COMPLETE, "rolled-back": ROLLED_BACK, "rollback-incomplete": UNFINISHED,
             "started": UNFINISHED}


def journal_path(backup_path: str) -> str:
    return backup_path + JOURNAL_SUFFIX


def undo_path(backup_path: str) -> str:
    """``<backup>.undo.yml``: the extra vars of the rollback of the run that wrote ``backup_path``."""
    return backup_path + UNDO_SUFFIX


def record_event(backup_path: str, event: str, durable: bool = False, **fields: Any) -> None:
    """Append one event; ``durable`` fsyncs it (the events that end a run)."""
    entry = dict(fields, event=event, ts=round(_dt.datetime.now(_dt.timezone.utc).timestamp(), 3))
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    try:
        fd = os.open(journal_path(backup_path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise BackupError(f"cannot write the journal {journal_path(backup_path)}: {exc.strerror}")


def events(backup_path: str) -> Optional[List[Dict[str, Any]]]:
    """The journal's events, oldest first; None for a backup written before journals existed."""
    try:
        with open(journal_path(backup_path), "r", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackupError(f"cannot read the journal {journal_path(backup_path)}: {exc.strerror}")
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash
        if isinstance(entry, dict) and entry.get("event"):
            found.append(entry)
    return found


def run_state(backup_path: str) -> str:
    """complete, rolled-back, unfinished (killed, failed, rollback not complete) or unknown (no journal)."""
    found = events(backup_path)
    if found is None:
        return UNKNOWN
    state = UNFINISHED
    for entry in found:
        state = _TERMINAL.get(entry["event"], state)
    return state


def write_undo(backup_path: str, variables: Dict[str, Any]) -> str:
    """``<backup>.undo.yml``: the extra vars of the rollback of this run, for ``-e @FILE``.

    Written so that the printed undo command works pasted into a new shell: every path absolute,
    the provider and the options that address the target as this run resolved them. Never a
    credential: those come from the environment, as they did for the migration.
    """
    path = undo_path(backup_path)
    text = ("# Extra vars that undo the migration of this backup:\n"
            "#   ansible-playbook vibebox.secrets.migrate -e @" + path + "\n"
            + json.dumps(variables, sort_keys=True, indent=2) + "\n")
    fd = None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, text.encode("utf-8"))
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror}")
    finally:
        if fd is not None:
            os.close(fd)
    return path
