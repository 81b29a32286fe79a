# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Embedded encrypted store: the default provider, so a single machine needs no server.

SQLite in WAL mode (many Ansible forks read and write at once; writers take BEGIN IMMEDIATE and
wait on busy_timeout) with every value sealed by AES-256-GCM. The associated data binds each
ciphertext to its secret name and version, so rows cannot be swapped without detection.

The store knows its key: it records a key id and an HMAC of a fixed label under the key (never the
key), and every open compares them inside its transaction, so a wrong key, or a key file recreated
after the real one was lost, is refused before anything is read or sealed; a store never ends up
under two keys. A new key is only ever created for a store that holds no secret.

Reads never create the database or the key (a --check run leaves the store byte-identical) and work
in a read-only folder. Files are trusted as ssh trusts its own (core/keyfile.py). Erasure is real:
secure_delete zeroes freed cells and a destroy or forced delete checkpoints the WAL, so a destroyed
value is gone from the files whatever SQLite build the host has.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import stat
import time
import urllib.parse
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, TypeVar

from ansible_collections.vibebox.secrets.plugins.module_utils.core import keyfile as _keyfile
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    ProviderNotInstalled,
    ProviderUnavailable,
    SecretConflict,
    SecretDeleted,
    SecretError,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.names import NameRule
from ansible_collections.vibebox.secrets.plugins.module_utils.core.registry import Option, ProviderSpec
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    PREVIOUS,
    Secret,
    SecretMetadata,
    VersionInfo,
    is_current,
)

PROVIDER = "local"
PACKAGE = "cryptography"
DEFAULT_RECOVERY_DAYS = 30
KEY_ENV = "VIBEBOX_LOCAL_KEY"
#: version of the layout below; 1 was the same tables without store_meta
STORE_FORMAT = "2"
_KEY_ID_LABEL = b"vibebox.secrets local store key id"
_KEY_CHECK_LABEL = b"vibebox.secrets local store key check v1"
_TABLES = {"secrets", "versions", "store_meta"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    description TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    current INTEGER NOT NULL,
    deleted_at REAL,
    purge_at REAL
);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    nonce BLOB,
    ciphertext BLOB,
    created_at REAL NOT NULL,
    destroyed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS store_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: how long a store that looks cut short is given before it is called damaged (a checkpoint in another process)
_RECHECK_DELAY = 0.2


class LocalStoreError(SecretError):
    """The store cannot be used as it is (wrong or missing key, damaged file, read-only folder).

    Not a ProviderUnavailable on purpose: a fallback chain must not paper over a wrong key.
    """

    kind = "store"


class _Connection(sqlite3.Connection):
    #: set by an operation that removed ciphertext, so the WAL is checkpointed after the commit
    erased = False


def _data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "vibebox")


def _moment(seconds: Optional[float]) -> Optional[_dt.datetime]:
    return None if seconds is None else _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)


def store_key_id(key: bytes) -> str:
    return _keyfile.key_id(key, _KEY_ID_LABEL)


def _check_of(key: bytes) -> str:
    return _keyfile.key_check(key, _KEY_CHECK_LABEL)


def _sdk() -> Tuple[Any, Any]:
    """(AESGCM, InvalidTag) from cryptography, imported on first use (it ships with ansible-core)."""
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - cryptography ships with ansible-core
        raise ProviderNotInstalled(PROVIDER, PACKAGE, exc)
    return AESGCM, InvalidTag


def _aesgcm(key: bytes):
    return _sdk()[0](key)


def _invalid_tag():
    return _sdk()[1]


def _aad(name: str, version: int) -> bytes:
    return f"vibebox.secrets:{name}:{version}".encode("utf-8")


T = TypeVar("T")


def _one_request(keyed: bool = True) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run a backend method, one SQLite transaction, as one request (SecretBackend.request), its
    retries counted under its first argument (the name) when ``keyed``.

    SQLite's own busy handler waits up to a minute for another fork's write lock, so a transaction
    that still finds the store locked is past the retry deadline and fails; going through request()
    still runs a migration's guard (core/lock.py) before every write, as for remote providers.
    """
    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def run(self: "LocalBackend", *args: Any, **kwargs: Any) -> T:
            key = (args[0] if args else kwargs.get("name")) if keyed else None
            return self.request(lambda: method(self, *args, **kwargs), key)

        return run

    return wrap


class LocalBackend(SecretBackend):
    name = PROVIDER
    #: every version read carries the secret's tags
    version_reads_carry_tags = True

    def __init__(self, path: Optional[str] = None, key_file: Optional[str] = None, key: Optional[bytes] = None,
                 key_source: Optional[str] = None) -> None:
        self.path = os.path.abspath(os.path.expanduser(path or os.path.join(_data_dir(), "secrets.db")))
        self.folder = os.path.dirname(self.path)
        self.key_file = os.path.abspath(os.path.expanduser(key_file or os.path.join(self.folder, "secrets.key")))
        #: a key given directly (VIBEBOX_LOCAL_KEY, or by a caller) wins over the key file
        self._given_key = key
        self._given_source = key_source or ("the key given" if key is not None else None)
        self._file_key: Optional[bytes] = None
        self._cipher: Optional[Tuple[bytes, Any]] = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "LocalBackend":
        backend = cls(options.get("local_path"), options.get("local_key_file"))
        env_key = os.environ.get(KEY_ENV)
        if env_key:
            try:
                backend._given_key = _keyfile.decode_key(env_key)
            except _keyfile.KeyFileError as exc:
                raise InvalidOption(f"{KEY_ENV} {exc.reason}", provider=PROVIDER, hint=backend._key_hint(KEY_ENV))
            backend._given_source = KEY_ENV
        return backend

    # keys ------------------------------------------------------------------------------------------
    def _store_file_exists(self) -> bool:
        try:
            return os.path.getsize(self.path) > 0
        except OSError:
            return False

    def _key_hint(self, source: str) -> str:
        """What to do about a malformed key; a new key is suggested only where no store needs the old one."""
        if self._store_file_exists():
            return (f"Give the key that encrypted {self.path} in {source} (32 bytes: 44 characters of base64 or 64 of"
                    " hex), for example restored from your backup of it")
        return (f"Fix {source}: a key is 32 random bytes, 44 characters of base64 or 64 of hex"
                f" (no store exists at {self.path} yet, so a new one is fine: {_keyfile.GENERATE_HINT})")

    def _source(self) -> str:
        return self._given_source if self._given_key is not None else self.key_file

    def _available_key(self, reload: bool = False) -> Optional[bytes]:
        """The key given or in the key file (checked like ssh checks its keys); None when there is none."""
        if self._given_key is not None:
            return self._given_key
        if self._file_key is not None and not reload:
            return self._file_key
        key_folder = os.path.dirname(self.key_file)
        if key_folder != self.folder:
            _keyfile.check_folder(key_folder, what="folder of the local store key file", provider=PROVIDER)
        try:
            self._file_key = _keyfile.read_key_file(self.key_file, what="local store key file", provider=PROVIDER,
                                                    hint=self._key_hint(f"the key file {self.key_file}"))
        except FileNotFoundError:
            self._file_key = None
        return self._file_key

    @property
    def key_id(self) -> str:
        """Short id of the key this backend would use (never the key); '' when there is none yet."""
        key = self._available_key()
        return store_key_id(key) if key is not None else ""

    def _use_key(self, key: bytes) -> None:
        # one assignment of (key, cipher): get_many's threads open the store at the same time
        if self._cipher is None or self._cipher[0] != key:
            self._cipher = (key, _aesgcm(key))

    # files ---------------------------------------------------------------------------------------
    def _check_files(self) -> Optional[os.stat_result]:
        """Trust checks of the folder, the store and its WAL files; the store's stat, or None if absent."""
        _keyfile.check_folder(self.folder, what="folder of the local store", provider=PROVIDER)
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise LocalStoreError(f"local_path {self.path} is not usable: a part of it is a file, not a folder",
                                  provider=PROVIDER, hint="Fix local_path (VIBEBOX_LOCAL_PATH)")
        except OSError as exc:
            raise LocalStoreError(f"cannot check the local store {self.path}: {exc.strerror}", provider=PROVIDER,
                                  hint=f"The folder {self.folder} must be readable by this user")
        if stat.S_ISDIR(info.st_mode):
            raise LocalStoreError(f"local_path {self.path} is a folder, not a store file", provider=PROVIDER,
                                  hint=f"Give the path of the database file, for example {os.path.join(self.path, 'secrets.db')}")
        if not stat.S_ISREG(info.st_mode):
            raise LocalStoreError(f"local_path {self.path} is not a regular file", provider=PROVIDER,
                                  hint="Give the path of the database file (local_path)")
        _keyfile.check_file(self.path, info, what="local store", private=False, provider=PROVIDER)
        for suffix in ("-wal", "-shm"):
            try:
                extra = os.stat(self.path + suffix)
            except OSError:
                continue
            _keyfile.check_file(self.path + suffix, extra, what="local store file", private=False, provider=PROVIDER)
        return info

    def _wal_has_frames(self) -> bool:
        try:
            return os.path.getsize(self.path + "-wal") > 0
        except OSError:
            return False

    def _damaged(self, what: str) -> LocalStoreError:
        key = KEY_ENV if self._given_source == KEY_ENV else f"the key file {self.key_file}"
        return LocalStoreError(
            f"the local store {self.path} is damaged: {what}",
            provider=PROVIDER,
            hint=f"Restore {self.path} (with its -wal file if there is one) from your file backup, or point local_path at"
                 f" the right file. The key is not the cause: keep {key} as it is. Nothing was written",
        )

    def _content(self, info: Optional[os.stat_result]) -> str:
        """'absent', 'empty' (a 0-byte file) or 'sqlite'; a file that cannot be a whole store is refused."""
        if info is None:
            return "absent"
        if info.st_size == 0:
            return "sqlite" if self._wal_has_frames() else "empty"
        short = self._short_by()
        if short is not None:
            # another process may be checkpointing: it writes the header (page 1) before the pages that grow
            # the file, then empties the WAL. A store that is still short a moment later is really cut short.
            time.sleep(_RECHECK_DELAY)
            short = self._short_by()
        if short is not None:
            raise self._damaged(f"the file is truncated ({short[0]} bytes, its header says {short[1]})")
        return "sqlite"

    def _short_by(self) -> Optional[Tuple[int, int]]:
        """(size, size the header gives) when the file is shorter than its header says and no WAL holds the rest.

        The header is read first and the size after it, on the same open file: a store that grew in between
        (a write by another process) is then not mistaken for a cut one.
        """
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(100)
                size = os.fstat(handle.fileno()).st_size
        except OSError as exc:
            raise LocalStoreError(f"cannot read the local store {self.path}: {exc.strerror}", provider=PROVIDER,
                                  hint="It should belong to this user, mode 600")
        if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
            raise self._damaged("it is not a SQLite database (random or foreign bytes, or cut short)")
        page_size = int.from_bytes(head[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(head[28:32], "big")
        header_valid = head[24:28] == head[92:96]  # SQLite's own test for the in-header page count
        if header_valid and pages and size < pages * page_size and not self._wal_has_frames():
            return size, pages * page_size
        return None

    def _folder_writable(self) -> bool:
        return os.access(self.folder, os.W_OK)

    def _prepare_write(self, info: Optional[os.stat_result]) -> None:
        if not os.path.isdir(self.folder):
            _keyfile.make_private_folder(self.folder, what="folder of the local store", provider=PROVIDER)
        if not self._folder_writable() or (info is not None and not os.access(self.path, os.W_OK)):
            raise LocalStoreError(
                f"cannot write to the local store {self.path}: its folder {self.folder} (or the file) is read-only"
                " for this user; reading still works",
                provider=PROVIDER,
                hint=f"Writes need the folder writable, because SQLite keeps its write-ahead log beside the store:"
                     f" make it writable (chmod u+w {self.folder}) or use a store in a writable folder (local_path)",
            )

    def _uri(self, mode: str) -> str:
        return f"file:{urllib.parse.quote(self.path)}?mode={mode}"

    def _connect(self, write: bool) -> _Connection:
        """rwc for writes; rw for reads where the folder is writable (the last reader removes the WAL
        files, so a read leaves the folder as it found it, and nothing can create the file); ro, then
        immutable, where it is not (an immutable open is safe only when no -wal file exists: no writer
        can exist in a folder where nobody can create one)."""
        wal_exists = os.path.exists(self.path + "-wal")
        if write:
            modes = ["rwc"]
        elif self._folder_writable() and os.access(self.path, os.W_OK):
            modes = ["rw"]
        else:
            modes = ["ro"] + ([] if wal_exists else ["ro&immutable=1"])
        # only a write can create the file (SQLite gives the WAL files the store's own mode); the umask is
        # process-wide, so reads, which get_many runs on several threads, leave it alone
        old_umask = os.umask(0o077) if write else None
        try:
            failure: Optional[sqlite3.Error] = None
            for mode in modes:
                conn = None
                try:
                    conn = sqlite3.connect(self._uri(mode), uri=True, timeout=60, isolation_level=None,
                                           factory=_Connection)
                    conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                    return conn  # type: ignore[return-value]
                except sqlite3.OperationalError as exc:
                    failure = exc
                    if conn is not None:
                        conn.close()
                except sqlite3.Error as exc:
                    if conn is not None:
                        conn.close()
                    raise self.translate(exc) from None
        finally:
            if old_umask is not None:
                os.umask(old_umask)
        if not write and wal_exists and "unable to open" in str(failure):
            raise LocalStoreError(
                f"cannot read the local store {self.path}: its folder is read-only and an unfinished write-ahead"
                " log lies beside it, which only a writer can fold back into the store",
                provider=PROVIDER,
                hint=f"Make {self.folder} writable for one run (any read or write then finishes the log), or copy"
                     " the store with its -wal file to a writable folder",
            )
        raise self.translate(failure)  # type: ignore[arg-type]

    def translate(self, exc: sqlite3.Error) -> SecretError:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in text or "busy" in text:
                # after busy_timeout: another fork held the write lock too long
                return ProviderUnavailable(f"local store {self.path}: {text}", provider=PROVIDER)
            if "readonly" in text:
                return LocalStoreError(
                    f"cannot write to the local store {self.path}: SQLite says it is read-only ({text})",
                    provider=PROVIDER,
                    hint=f"The store and its folder {self.folder} must be writable by this user for writes",
                )
            if "unable to open" in text:
                return LocalStoreError(
                    f"cannot open the local store {self.path}: {text}", provider=PROVIDER,
                    hint=f"Check that {self.folder} exists and that this user can read and write it",
                )
            if "disk is full" in text or "disk I/O" in text:
                return LocalStoreError(f"the local store {self.path} cannot be written: {text}", provider=PROVIDER,
                                       hint="Free disk space or fix the disk, then run again; the last write was"
                                            " rolled back")
            return LocalStoreError(f"local store {self.path}: {text}", provider=PROVIDER)
        return self._damaged(f"SQLite says: {text}")

    # opening -------------------------------------------------------------------------------------
    @contextmanager
    def _db(self, write: bool, verify_key: bool = True) -> Iterator[Optional[_Connection]]:
        """A connection inside a transaction whose key is checked, or None for a read of no store."""
        info = self._check_files()
        content = self._content(info)
        if not write and content != "sqlite":
            yield None
            return
        if write:
            self._prepare_write(info)
        conn = self._connect(write)
        try:
            try:
                tables = self._prepare(conn, write)
                if not write and "secrets" not in tables:
                    yield None
                    return
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                if verify_key:
                    self._verify_key(conn, tables, write)
                if write:
                    self._ensure_schema(conn, tables)
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
            if conn.erased:
                self._checkpoint(conn)
        except sqlite3.Error as exc:
            raise self.translate(exc) from None
        finally:
            conn.close()

    def _prepare(self, conn: _Connection, write: bool) -> set:
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA secure_delete=ON")
        tables = self._tables(conn)
        if tables and "secrets" not in tables:
            shown = ", ".join(sorted(tables)[:5])
            raise LocalStoreError(
                f"{self.path} is a SQLite database but not a vibebox.secrets store (its tables: {shown})",
                provider=PROVIDER,
                hint="Point local_path at the store (default $XDG_DATA_HOME/vibebox/secrets.db); nothing was written",
            )
        if write:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        return tables

    def _ensure_schema(self, conn: sqlite3.Connection, tables: set) -> None:
        """Create what is missing, inside the write transaction and only after the key was accepted, so a
        refused open leaves an old store byte-identical."""
        if _TABLES <= tables:
            return
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    @staticmethod
    def _tables(conn: sqlite3.Connection) -> set:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not row[0].startswith("sqlite_")}

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        """Copy the WAL into the store and empty it, so erased ciphertext is not left in old frames."""
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:  # a reader holds an old snapshot: the next checkpoint finishes it
            pass

    @staticmethod
    def _meta_of(conn: sqlite3.Connection, tables: set) -> Dict[str, str]:
        if "store_meta" not in tables:
            return {}
        return dict(conn.execute("SELECT name, value FROM store_meta").fetchall())

    @staticmethod
    def _has_rows(conn: sqlite3.Connection, tables: set) -> bool:
        if "versions" not in tables:
            return False
        return conn.execute("SELECT 1 FROM versions LIMIT 1").fetchone() is not None

    def _opens_newest(self, conn: sqlite3.Connection, key: bytes) -> bool:
        """For a store from before key checks: does ``key`` open the newest sealed value?"""
        row = conn.execute(
            "SELECT name, version, nonce, ciphertext FROM versions WHERE ciphertext IS NOT NULL"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return True
        try:
            _aesgcm(key).decrypt(row[2], row[3], _aad(row[0], row[1]))
            return True
        except _invalid_tag():
            return False

    def _key_matches(self, conn: sqlite3.Connection, meta: Dict[str, str], key: bytes, has_rows: bool) -> bool:
        recorded = meta.get("key_check")
        if recorded:
            return hmac.compare_digest(recorded, _check_of(key))
        return not has_rows or self._opens_newest(conn, key)

    def _verify_key(self, conn: _Connection, tables: set, write: bool) -> None:
        """Refuse a wrong or missing key before anything is read or sealed; record the check on first write."""
        meta = self._meta_of(conn, tables)
        has_rows = self._has_rows(conn, tables)
        key = self._available_key()
        if key is None:
            if has_rows:
                raise self._missing_key(meta.get("key_id"))
            if not write:
                return  # nothing sealed: an empty store is read without a key
            # no secret is sealed in this store, so a new key loses nothing (also for an empty store whose key
            # was lost); durable on disk before anything is sealed with it
            key = _keyfile.create_key_file(self.key_file, what="local store key file", provider=PROVIDER,
                                           hint=self._key_hint(f"the key file {self.key_file}"))
            self._file_key = key
            meta = {}
        elif not self._key_matches(conn, meta, key, has_rows):
            if self._given_key is None:
                key = self._available_key(reload=True)  # re-keyed by another process since we read it
            if key is None or not self._key_matches(conn, meta, key, has_rows):
                raise self._wrong_key(meta.get("key_id") or "", key)
        self._use_key(key)
        if write and (meta.get("key_check") != _check_of(key) or not meta.get("store_id")):
            self._ensure_schema(conn, tables)
            self._record_key(conn, key)

    @staticmethod
    def _record_key(conn: sqlite3.Connection, key: bytes, rekeyed_at: Optional[float] = None) -> None:
        """Record the key's check value, and give the store its id the first time (never changed after:
        a re-key keeps it, so the backups of earlier migrations still know their store)."""
        values = {"format": STORE_FORMAT, "key_id": store_key_id(key), "key_check": _check_of(key),
                  "rekeyed_at": "" if rekeyed_at is None else repr(rekeyed_at)}
        conn.executemany("INSERT OR REPLACE INTO store_meta (name, value) VALUES (?, ?)", list(values.items()))
        conn.execute("INSERT OR IGNORE INTO store_meta (name, value) VALUES ('store_id', ?)", (secrets.token_hex(8),))

    def _missing_key(self, recorded_id: Optional[str]) -> LocalStoreError:
        folder = os.path.dirname(self.key_file)
        where = "" if os.path.isdir(folder) else f" (nor does its folder {folder})"
        return LocalStoreError(
            f"the key file {self.key_file} does not exist{where}, but the store {self.path} holds secrets encrypted"
            f" with key id {recorded_id or 'unknown (recorded before key ids)'}",
            provider=PROVIDER,
            hint=f"Restore the key file {self.key_file} from your backup (or give that key in {KEY_ENV} or local_key_file)."
                 " No new key is created: it could not read these secrets. Nothing was written",
        )

    def _wrong_key(self, store_id: str, key: Optional[bytes]) -> LocalStoreError:
        given = store_key_id(key) if key is not None else "none"
        hints = [f"Give the key that encrypted this store ({KEY_ENV} or local_key_file), for example by restoring its"
                 " key file from your backup"]
        staged = self.key_file + ".new"
        if store_id and os.path.exists(staged):
            try:
                if store_key_id(_keyfile.read_key_file(staged, what="new local store key file")) == store_id:
                    where = f"put that key in {KEY_ENV}" if self._given_key is not None else "run the re-key again to finish"
                    hints.append(f"a re-key moved the store to the key in {staged}: {where} (playbooks/rekey.yml)")
            except SecretError:
                pass
        kept = self._kept_old_key(given)
        if kept:
            hints.append(f"the key given is the store's old key (kept in {kept} by a re-key)")
        return LocalStoreError(
            f"the store {self.path} cannot be used with the key from {self._source()}: this store was encrypted with"
            f" another key (store key id {store_id or 'unknown: recorded before key ids'}, given key id {given})",
            provider=PROVIDER,
            hint="; ".join(hints) + ". Nothing was read or written",
        )

    def _kept_old_key(self, key_id: str) -> Optional[str]:
        """A '<key file>.old-<key_id>' a re-key left beside the key file or the store, if there is one."""
        for folder in dict.fromkeys((os.path.dirname(self.key_file), self.folder)):
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                if name.endswith(f".old-{key_id}"):
                    return os.path.join(folder, name)
        return None

    # sealing -------------------------------------------------------------------------------------
    def _seal(self, name: str, version: int, value: str) -> Tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, self._cipher[1].encrypt(nonce, value.encode("utf-8"), _aad(name, version))

    def _open(self, name: str, version: int, nonce: bytes, ciphertext: bytes) -> str:
        try:
            return self._cipher[1].decrypt(nonce, ciphertext, _aad(name, version)).decode("utf-8")
        except _invalid_tag():
            raise LocalStoreError(
                f"version {version} cannot be decrypted although the key is the store's own: the row was changed or"
                " damaged",
                provider=PROVIDER,
                provider_name=name,
                hint=f"Restore {self.path} from your file backup, or set the secret again; other secrets are not affected",
            )

    # rows ----------------------------------------------------------------------------------------
    def _row(self, conn: Optional[sqlite3.Connection], name: str, allow_deleted: bool = False) -> sqlite3.Row:
        if conn is None:
            raise self._not_found(name, store_missing=True)
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM secrets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._not_found(name)
        if row["deleted_at"] is not None:
            if row["purge_at"] is not None and row["purge_at"] <= time.time():
                raise self._not_found(name)
            if not allow_deleted:
                raise SecretDeleted(
                    f"it was deleted and can be restored until {_moment(row['purge_at']).isoformat()}",
                    provider=PROVIDER,
                    provider_name=name,
                    hint="Restore it (vibebox.secrets.secret with state: present restores and sets it) or wait",
                )
        return row

    def _not_found(self, name: str, store_missing: bool = False) -> SecretNotFound:
        if store_missing and not os.path.exists(self.path):
            where = "" if os.path.isdir(self.folder) else f", and its folder {self.folder} is missing"
            return SecretNotFound(
                f"the local store {self.path} does not exist yet{where}",
                provider=PROVIDER,
                provider_name=name,
                hint="Check local_path (VIBEBOX_LOCAL_PATH); the store is created by the first write"
                     " (vibebox.secrets.secret with state: present)",
            )
        return SecretNotFound(
            f"it does not exist in the local store {self.path}",
            provider=PROVIDER,
            provider_name=name,
            hint="Create it with vibebox.secrets.secret (state: present) or check the name and local_path",
        )

    def _meta(self, conn: sqlite3.Connection, row: sqlite3.Row, version: Optional[int] = None) -> SecretMetadata:
        version = row["current"] if version is None else version
        stages = []
        if version == row["current"]:
            stages.append("current")
        elif version == self._previous_number(conn, row):
            stages.append("previous")
        created = conn.execute(
            "SELECT created_at FROM versions WHERE name = ? AND version = ?", (row["name"], version)
        ).fetchone()
        count = conn.execute("SELECT COUNT(*) FROM versions WHERE name = ? AND destroyed = 0", (row["name"],)).fetchone()[0]
        return SecretMetadata(
            name=row["name"],
            version=str(version),
            created_at=_moment(row["created_at"]),
            updated_at=_moment(created[0] if created else row["updated_at"]),
            tags=json.loads(row["tags"] or "{}"),
            description=row["description"],
            stages=stages,
            provider_name=row["name"],
            deleted_at=_moment(row["deleted_at"]),
            versions_count=count,
        )

    @staticmethod
    def _previous_number(conn: sqlite3.Connection, row: sqlite3.Row) -> Optional[int]:
        found = conn.execute(
            "SELECT MAX(version) FROM versions WHERE name = ? AND version < ? AND destroyed = 0",
            (row["name"], row["current"]),
        ).fetchone()
        return found[0] if found else None

    @staticmethod
    def _purge_if_expired(conn: _Connection, name: str) -> None:
        now = time.time()
        gone = conn.execute(
            "DELETE FROM versions WHERE name IN (SELECT name FROM secrets WHERE name = ? AND purge_at <= ?)", (name, now),
        ).rowcount
        conn.execute("DELETE FROM secrets WHERE name = ? AND purge_at <= ?", (name, now))
        if gone:
            conn.erased = True

    # identity --------------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the database exists and has the store's tables (no key needed, nothing created)."""
        with self._db(write=False, verify_key=False) as conn:
            return conn is not None

    def identity(self) -> Dict[str, str]:
        """What tells this store from another: its path and the random id it was given when its first secret
        was written ('' before that). Not the key id: a re-key keeps the store the same store, and a store
        file replaced by another one at the same path has another id. Read without a key."""
        with self._db(write=False, verify_key=False) as conn:
            store_id = "" if conn is None else self._meta_of(conn, self._tables(conn)).get("store_id", "")
        return {"provider": PROVIDER, "path": self.path, "store_id": store_id}

    # SecretBackend --------------------------------------------------------------------------------
    @_one_request()
    def get(self, name: str, version: Optional[str] = None) -> Secret:
        with self._db(write=False) as conn:
            row = self._row(conn, name)
            if is_current(version):
                number = row["current"]
            elif version == PREVIOUS:
                number = self._previous_number(conn, row)
                if number is None:
                    raise VersionNotFound(
                        "it has no previous version", provider=PROVIDER, provider_name=name,
                        hint="A previous version exists only after the secret has been changed or rotated",
                    )
            else:
                try:
                    number = int(str(version))
                except ValueError:
                    raise VersionNotFound(
                        f"version '{version}' is not a local version number", provider=PROVIDER, provider_name=name,
                        hint="Use current, previous or a number from vibebox.secrets.secret_info",
                    )
            found = conn.execute(
                "SELECT nonce, ciphertext, destroyed FROM versions WHERE name = ? AND version = ?", (name, number)
            ).fetchone()
            if found is None or found[2]:
                raise VersionNotFound(
                    f"version {number} does not exist{' any more' if found else ''}",
                    provider=PROVIDER, provider_name=name,
                    hint="List the versions with vibebox.secrets.secret_info",
                )
            value = self._open(name, number, found[0], found[1])
            return Secret(value, self._meta(conn, row, number))

    @_one_request()
    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        with self._db(write=True) as conn:
            self._purge_if_expired(conn, name)
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM secrets WHERE name = ?", (name,)).fetchone()
            now = time.time()
            if row is not None and row["deleted_at"] is not None:
                self._row(conn, name)  # raises SecretDeleted with the date
            # check-and-set inside the write transaction (BEGIN IMMEDIATE): no writer can come between
            if expect_version is not None and ("" if row is None else str(row["current"])) != expect_version:
                raise SecretConflict(
                    f"another writer changed it first (its version is {'none' if row is None else row['current']},"
                    f" not {expect_version or 'none'}); nothing was written",
                    provider=PROVIDER, provider_name=name,
                    hint="Read the secret again and repeat the change if it is still needed",
                )
            number = 1 if row is None else row["current"] + 1
            last = conn.execute("SELECT MAX(version) FROM versions WHERE name = ?", (name,)).fetchone()[0]
            number = max(number, (last or 0) + 1)
            nonce, sealed = self._seal(name, number, value)
            conn.execute(
                "INSERT INTO versions (name, version, nonce, ciphertext, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, number, nonce, sealed, now),
            )
            if row is None:
                conn.execute(
                    "INSERT INTO secrets (name, description, tags, created_at, updated_at, current) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, description, json.dumps(tags or {}, sort_keys=True), now, now, number),
                )
            else:
                conn.execute(
                    "UPDATE secrets SET current = ?, updated_at = ?, description = COALESCE(?, description),"
                    " tags = COALESCE(?, tags) WHERE name = ?",
                    (number, now, description, None if tags is None else json.dumps(tags, sort_keys=True), name),
                )
            return self._meta(conn, self._row(conn, name), number)

    @_one_request()
    def update_metadata(self, name: str, description: Optional[str] = None,
                        tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        with self._db(write=True) as conn:
            self._row(conn, name)
            conn.execute(
                "UPDATE secrets SET description = COALESCE(?, description), tags = COALESCE(?, tags),"
                " updated_at = ? WHERE name = ?",
                (description, None if tags is None else json.dumps(tags, sort_keys=True), time.time(), name),
            )
            return self._meta(conn, self._row(conn, name))

    @_one_request()
    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        with self._db(write=True) as conn:
            self._purge_if_expired(conn, name)
            row = self._row(conn, name, allow_deleted=True)
            if force or recovery_days == 0:
                conn.execute("DELETE FROM versions WHERE name = ?", (name,))
                conn.execute("DELETE FROM secrets WHERE name = ?", (name,))
                conn.erased = True
                return
            if row["deleted_at"] is not None:
                return
            days = DEFAULT_RECOVERY_DAYS if recovery_days is None else int(recovery_days)
            now = time.time()
            conn.execute("UPDATE secrets SET deleted_at = ?, purge_at = ? WHERE name = ?", (now, now + days * 86400, name))

    @_one_request()
    def restore(self, name: str) -> SecretMetadata:
        with self._db(write=True) as conn:
            self._purge_if_expired(conn, name)
            self._row(conn, name, allow_deleted=True)
            conn.execute("UPDATE secrets SET deleted_at = NULL, purge_at = NULL WHERE name = ?", (name,))
            return self._meta(conn, self._row(conn, name))

    @_one_request()
    def describe(self, name: str) -> SecretMetadata:
        with self._db(write=False) as conn:
            row = self._row(conn, name, allow_deleted=True)
            return self._meta(conn, row)

    @_one_request()
    def versions(self, name: str) -> List[VersionInfo]:
        with self._db(write=False) as conn:
            row = self._row(conn, name, allow_deleted=True)
            previous = self._previous_number(conn, row)
            found = []
            for number, created, destroyed in conn.execute(
                "SELECT version, created_at, destroyed FROM versions WHERE name = ? ORDER BY version DESC", (name,)
            ):
                stages = ["current"] if number == row["current"] else (["previous"] if number == previous else [])
                found.append(VersionInfo(str(number), _moment(created), stages, enabled=not destroyed, destroyed=bool(destroyed)))
            return found

    @_one_request()
    def delete_version(self, name: str, version: str) -> None:
        with self._db(write=True) as conn:
            row = self._row(conn, name)
            number = int(version)
            if number == row["current"]:
                raise UnsupportedOperation(
                    "the current version cannot be destroyed", provider=PROVIDER, provider_name=name,
                    hint="Rotate first, then clean up the old version",
                )
            changed = conn.execute(
                "UPDATE versions SET destroyed = 1, nonce = NULL, ciphertext = NULL"
                " WHERE name = ? AND version = ? AND ciphertext IS NOT NULL",
                (name, number),
            ).rowcount
            if changed:
                conn.erased = True

    @_one_request(keyed=False)
    def list(self, prefix: str = "") -> List[str]:
        with self._db(write=False) as conn:
            if conn is None:
                return []
            rows = conn.execute(
                "SELECT name FROM secrets WHERE deleted_at IS NULL AND substr(name, 1, ?) = ? ORDER BY name",
                (len(prefix), prefix),
            ).fetchall()
            return [item[0] for item in rows]

    # re-keying -------------------------------------------------------------------------------------
    def rekey(self, new_key: Optional[bytes] = None, new_key_file: Optional[str] = None,
              min_interval: Optional[int] = None, check: bool = False) -> Dict[str, Any]:
        """Move the store to a new key: every sealed value re-encrypted in one transaction.

        The target is ``new_key``, else the key in ``new_key_file`` (default: the key file + '.new'),
        else a random key written there first (durable before the commit). The old key stays where it
        was until every value has been read back with the new one; then, when the store's key comes
        from its key file, the old key is kept aside as '<key file>.old-<key id>' and the new one takes
        its place. An interrupted run is finished by the next one. Without an explicit target,
        ``min_interval`` (seconds) leaves alone a store re-keyed less than that long ago, so a second
        run changes nothing (a store never re-keyed is always due).
        """
        return _Rekey(self, new_key, new_key_file, min_interval, check).run()

    def _inventory(self) -> Dict[str, Any]:
        with self._db(write=False, verify_key=False) as conn:
            if conn is None:
                return {"exists": False}
            tables = self._tables(conn)
            meta = self._meta_of(conn, tables)
            versions = conn.execute("SELECT COUNT(*) FROM versions WHERE ciphertext IS NOT NULL").fetchone()[0]
            secret_count = conn.execute("SELECT COUNT(*) FROM secrets").fetchone()[0]
            key = self._available_key()
            store_id = meta.get("key_id") or ""
            if not store_id and versions and key is not None and self._opens_newest(conn, key):
                store_id = store_key_id(key)
            rekeyed_at = meta.get("rekeyed_at") or ""
            return {"exists": True, "store_key_id": store_id, "versions": versions, "secrets": secret_count,
                    "rekeyed_at": float(rekeyed_at) if rekeyed_at else None}

    def _reencrypt(self, old: Optional[bytes], new: bytes) -> int:
        """One transaction: check the old key, re-seal every value, read each back with the new key, record it."""
        new_aead = _aesgcm(new)
        invalid = _invalid_tag()
        with self._db(write=True, verify_key=False) as conn:
            tables = self._tables(conn)
            meta = self._meta_of(conn, tables)
            has_rows = self._has_rows(conn, tables)
            if has_rows and (old is None or not self._key_matches(conn, meta, old, has_rows)):
                raise self._wrong_key(meta.get("key_id") or "", old)
            self._ensure_schema(conn, tables)
            rows = conn.execute("SELECT name, version, nonce, ciphertext FROM versions WHERE ciphertext IS NOT NULL").fetchall()
            digests = {}
            old_aead = _aesgcm(old) if old is not None else None
            for name, version, nonce, sealed in rows:
                try:
                    plain = old_aead.decrypt(nonce, sealed, _aad(name, version))
                except invalid:
                    raise LocalStoreError(
                        f"version {version} cannot be decrypted with the store's key: the row was changed or damaged;"
                        " nothing was re-keyed (the transaction was rolled back)",
                        provider=PROVIDER, provider_name=name,
                        hint="Restore the store from your file backup, or destroy that version"
                             " (vibebox.secrets.secret_cleanup) and re-key again",
                    )
                digests[(name, version)] = hashlib.sha256(plain).digest()
                fresh = os.urandom(12)
                conn.execute("UPDATE versions SET nonce = ?, ciphertext = ? WHERE name = ? AND version = ?",
                             (fresh, new_aead.encrypt(fresh, plain, _aad(name, version)), name, version))
            self._verify_rows(conn, new, digests)
            self._record_key(conn, new, rekeyed_at=time.time())
            conn.erased = True  # the old ciphertexts must not stay in WAL frames
            return len(rows)

    def _verify_rows(self, conn: sqlite3.Connection, key: bytes, digests: Optional[Dict[Tuple[str, int], bytes]] = None) -> int:
        """Read every sealed value back with ``key`` (and compare with what was sealed, when known)."""
        aead = _aesgcm(key)
        invalid = _invalid_tag()
        count = 0
        for name, version, nonce, sealed in conn.execute(
                "SELECT name, version, nonce, ciphertext FROM versions WHERE ciphertext IS NOT NULL"):
            try:
                plain = aead.decrypt(nonce, sealed, _aad(name, version))
            except invalid:
                plain = None
            if plain is None or (digests is not None and hashlib.sha256(plain).digest() != digests.get((name, version))):
                raise LocalStoreError(
                    f"version {version} does not read back under the new key; the re-key was stopped",
                    provider=PROVIDER, provider_name=name,
                    hint="Nothing was changed if this happened before the commit; otherwise the old key is still in"
                         " its file: keep both keys and report the problem",
                )
            count += 1
        return count

    def _verify_all(self, key: bytes) -> int:
        with self._db(write=False, verify_key=False) as conn:
            if conn is None:
                return 0
            meta = self._meta_of(conn, self._tables(conn))
            if meta.get("key_check") != _check_of(key):
                raise self._wrong_key(meta.get("key_id") or "", key)
            return self._verify_rows(conn, key)


class _Rekey:
    """One run of LocalBackend.rekey: decide, then re-encrypt and swap the key files, in that order."""

    def __init__(self, store: LocalBackend, new_key: Optional[bytes], new_key_file: Optional[str],
                 min_interval: Optional[int], check: bool) -> None:
        self.store = store
        self.check = check
        self.min_interval = min_interval
        self.explicit = new_key is not None or bool(new_key_file)
        self.staged = os.path.abspath(os.path.expanduser(new_key_file or store.key_file + ".new"))
        self.staged_is_ours = not new_key_file
        self.new_key = new_key
        #: where the operator finds the new key: the option they gave, else the file that holds it
        self.new_key_source = "the new_key option" if new_key is not None else self.staged
        #: the new key is the one an earlier run left in our staged file (to finish that run)
        self.from_staged = False
        #: the staged file only holds the key the store is already under: set aside, not a target
        self.leftover = False
        if self.new_key is None and os.path.exists(self.staged):
            self.new_key = _keyfile.read_key_file(self.staged, what="new local store key file", provider=PROVIDER,
                                                  hint="Give the new key in this file as 44 characters of base64")
            self.from_staged = self.staged_is_ours
        #: the key comes from the key file, which the re-key then replaces; else from VIBEBOX_LOCAL_KEY
        self.uses_file = store._given_key is None

    def result(self, changed: bool, msg: str, **extra: Any) -> Dict[str, Any]:
        data = {"changed": changed, "msg": msg, "path": self.store.path,
                "key_file": self.store.key_file if self.uses_file else None, "warnings": []}
        data.update(extra)
        return data

    def run(self) -> Dict[str, Any]:
        store = self.store
        facts = store._inventory()
        if not facts["exists"]:
            return self.result(False, f"the store {store.path} does not exist: nothing to re-key",
                               old_key_id="", new_key_id="", versions=0, secrets=0)
        old = store._available_key()
        old_id = store_key_id(old) if old is not None else ""
        store_id = facts["store_key_id"] or ("" if facts["versions"] else old_id)
        new_id = store_key_id(self.new_key) if self.new_key is not None else ""
        counts = {"versions": facts["versions"], "secrets": facts["secrets"]}
        if self.from_staged and new_id == store_id == old_id:
            # a finished run's staged key that is now the key in use (VIBEBOX_LOCAL_KEY was set to it): taken
            # as the target, it would make every later re-key, one after a leak too, "already under" that key
            self.new_key, new_id, self.leftover = None, "", True
        if self.new_key is not None and new_id == store_id:
            return self._finish(old, old_id, new_id, counts)
        if facts["versions"] and (old is None or store_id != old_id):
            if old is None:
                raise store._missing_key(store_id)
            raise LocalStoreError(
                f"the store {store.path} is under key id {store_id or 'unknown'}, which is neither the current key"
                f" (id {old_id}, from {store._source()}) nor the new one (id {new_id or 'not made yet'})",
                provider=PROVIDER,
                hint="Give the store's own key as the current key (local_key_file or VIBEBOX_LOCAL_KEY); nothing was"
                     " changed",
            )
        if not self.explicit and self.min_interval and facts["rekeyed_at"] is not None:
            age = time.time() - facts["rekeyed_at"]
            if age < self.min_interval:
                return self.result(False, f"the store was re-keyed {int(age)}s ago (key id {store_id}), less than"
                                          f" min_interval ({self.min_interval}s): not re-keyed again",
                                   old_key_id=store_id, new_key_id=store_id, **counts)
        if self.check:
            return self.result(True, f"would re-encrypt {counts['versions']} values of {counts['secrets']} secrets"
                                     f" from key id {store_id or old_id or 'none'} to"
                                     f" {new_id or 'a new random key'}", old_key_id=store_id or old_id,
                               new_key_id=new_id, **counts)
        new = self.new_key = self._durable_new_key()
        new_id = store_key_id(new)
        if new_id == (store_id or old_id):
            raise InvalidOption("the new key is the key the store already uses", provider=PROVIDER,
                                hint="Give another key, or none to have one made")
        store._reencrypt(old, new)
        store._verify_all(new)
        return self._finish(old, old_id, new_id, counts, reencrypted=True)

    def _durable_new_key(self) -> bytes:
        """The new key, on disk before anything is sealed with it.

        A generated key goes to the staged file (first writer wins). A given key is also written there
        when the store's key lives in a file, so a run killed after the commit leaves it on disk; a
        staged file with another key holds nothing (the store is still under the old key: checked).
        With VIBEBOX_LOCAL_KEY the operator holds the given key, and no key file is written.
        """
        if self.new_key is None:
            if self.leftover:
                self._set_leftover_aside()
            _keyfile.write_key_file(self.staged, _keyfile.random_key(), what="new local store key file", provider=PROVIDER)
            return _keyfile.read_key_file(self.staged, what="new local store key file", provider=PROVIDER)
        if self.uses_file and self.staged_is_ours:
            _keyfile.write_key_file(self.staged, self.new_key, what="new local store key file", provider=PROVIDER,
                                    replace=True)
        return self.new_key

    def _set_leftover_aside(self) -> None:
        """Keep the staged copy of the key in use as '<key file>.old-<key id>', where a re-key keeps old keys,
        and free the staged file for the new key."""
        current = self.store._available_key()
        if current is not None:
            _keyfile.set_aside(self.staged, f"{self.store.key_file}.old-{store_key_id(current)}", current,
                               what="new local store key file", provider=PROVIDER)

    def _finish(self, old: Optional[bytes], old_id: str, new_id: str, counts: Dict[str, int],
                reencrypted: bool = False) -> Dict[str, Any]:
        store = self.store
        kept = None
        if not self.uses_file:
            data = self.result(reencrypted, "", old_key_id=old_id, new_key_id=new_id, **counts)
            from_file = self.new_key_source == self.staged
            if old_id != new_id:
                where = f"the key in {self.staged}" if from_file else "the new key you gave"
                data["warnings"].append(f"{KEY_ENV} still holds the old key (id {old_id}): set it to {where}"
                                        f" (id {new_id}) before the next run")
            data["msg"] = (f"re-encrypted {counts['versions']} values under key id {new_id}" if reencrypted
                           else f"the store is already under key id {new_id}")
            data["new_key_file"] = self.staged if from_file else None
            return data
        if old_id == new_id and not reencrypted:
            return self.result(False, f"the store is already under key id {new_id}", old_key_id=new_id,
                               new_key_id=new_id, **counts)
        if self.check:
            return self.result(True, f"would put the new key (id {new_id}) in {store.key_file} and keep the old one"
                                     " aside", old_key_id=old_id, new_key_id=new_id, **counts)
        if old is not None and os.path.exists(store.key_file):
            kept = f"{store.key_file}.old-{old_id}"
            try:
                os.link(store.key_file, kept)
            except FileExistsError:
                if _keyfile.read_key_file(kept, what="kept old key file", provider=PROVIDER) != old:
                    raise LocalStoreError(f"{kept} exists and holds another key", provider=PROVIDER,
                                          hint="Move it away, then run the re-key again to finish")
        new = self.new_key
        staged_holds_new = os.path.exists(self.staged) and _keyfile.read_key_file(
            self.staged, what="new local store key file", provider=PROVIDER) == new
        if self.staged_is_ours and staged_holds_new:
            os.replace(self.staged, store.key_file)  # atomic: the key file holds the old key or the new one
            _keyfile.fsync_folder(os.path.dirname(store.key_file))
        else:  # a new_key_file of the operator's stays where it is; the key file gets a copy
            _keyfile.write_key_file(store.key_file, new, what="local store key file", provider=PROVIDER, replace=True)
        store._file_key = None
        store._verify_all(store._available_key())  # the store opens with what its key file now holds
        verb = f"re-encrypted {counts['versions']} values and put" if reencrypted else "put"
        return self.result(True, f"{verb} the new key (id {new_id}) in {store.key_file}"
                                 + (f"; the old key (id {old_id}) is kept in {kept}" if kept else ""),
                           old_key_id=old_id, new_key_id=new_id, old_key_file=kept, **counts)


# what the rest of the collection knows about this provider (core/registry.py) -----------------------
SPEC = ProviderSpec(
    name=PROVIDER,
    backend=LocalBackend,
    options=(
        Option("local_path", dict(type="path"), ("VIBEBOX_LOCAL_PATH",)),
        Option("local_key_file", dict(type="path"), ("VIBEBOX_LOCAL_KEY_FILE",)),
    ),
    name_rule=NameRule(r"[A-Za-z0-9_.@+=/-]+", 512, "letters, digits and _.@+=/-", "", paths=True),
    max_value_bytes=1024 * 1024,
    location_option="local_path",
    package=PACKAGE,
)
