# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Embedded encrypted store: the default provider, so a single machine needs no server.

SQLite in WAL mode (many Ansible forks read and write at once; writers take BEGIN IMMEDIATE and
wait on busy_timeout) with every value sealed by AES-256-GCM. The associated data binds each
ciphertext to its secret name and version, so rows cannot be swapped without detection. Reads
never create the database: a --check run leaves the store byte-identical.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    ProviderNotInstalled,
    ProviderUnavailable,
    SecretDeleted,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    PREVIOUS,
    Secret,
    SecretMetadata,
    VersionInfo,
)

import datetime as _dt

PROVIDER = "local"
DEFAULT_RECOVERY_DAYS = 30
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
"""


def _data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "vibebox")


def _moment(seconds: Optional[float]) -> Optional[_dt.datetime]:
    return None if seconds is None else _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)


def _decode_key(text: str, source: str) -> bytes:
    text = text.strip()
    candidates = []
    if len(text) == 64:
        try:
            candidates.append(binascii.unhexlify(text))
        except binascii.Error:
            pass
    try:
        candidates.append(base64.b64decode(text, validate=True))
    except binascii.Error:
        pass
    for key in candidates:
        if len(key) == 32:
            return key
    raise InvalidOption(
        f"the local store key from {source} is not 32 bytes in base64 or hex",
        provider=PROVIDER,
        hint="Create one with: python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'",
    )


class LocalBackend(SecretBackend):
    name = PROVIDER

    def __init__(self, path: Optional[str] = None, key_file: Optional[str] = None, key: Optional[bytes] = None) -> None:
        self.path = os.path.abspath(os.path.expanduser(path or os.path.join(_data_dir(), "secrets.db")))
        self.key_file = os.path.abspath(
            os.path.expanduser(key_file or os.path.join(os.path.dirname(self.path), "secrets.key"))
        )
        self._key = key
        self._aead = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "LocalBackend":
        env_key = os.environ.get("VIBEBOX_LOCAL_KEY")
        key = _decode_key(env_key, "VIBEBOX_LOCAL_KEY") if env_key else None
        return cls(options.get("local_path"), options.get("local_key_file"), key)

    # encryption ----------------------------------------------------------------------------------
    def _cipher(self, create: bool):
        if self._aead is not None:
            return self._aead
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:  # pragma: no cover - cryptography ships with ansible-core
            raise ProviderNotInstalled(PROVIDER, "cryptography", exc)
        if self._key is None:
            self._key = self._load_key(create)
        self._aead = AESGCM(self._key)
        return self._aead

    def _load_key(self, create: bool) -> bytes:
        if os.path.exists(self.key_file):
            with open(self.key_file, "r", encoding="ascii") as handle:
                return _decode_key(handle.read(), self.key_file)
        if not create:
            raise ProviderUnavailable(
                f"the key file {self.key_file} does not exist, so the store cannot be read",
                retryable=False,
                provider=PROVIDER,
                hint="Set VIBEBOX_LOCAL_KEY or local_key_file to the key that encrypted this store",
            )
        folder = os.path.dirname(self.key_file)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".key-")
        try:
            os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
            os.fchmod(fd, 0o600)
            os.close(fd)
            try:
                os.link(tmp, self.key_file)  # atomic: the first fork wins, the others read its key
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        with open(self.key_file, "r", encoding="ascii") as handle:
            return _decode_key(handle.read(), self.key_file)

    @staticmethod
    def _aad(name: str, version: int) -> bytes:
        return f"vibebox.secrets:{name}:{version}".encode("utf-8")

    def _seal(self, name: str, version: int, value: str):
        nonce = os.urandom(12)
        return nonce, self._cipher(True).encrypt(nonce, value.encode("utf-8"), self._aad(name, version))

    def _open(self, name: str, version: int, nonce: bytes, ciphertext: bytes) -> str:
        try:
            from cryptography.exceptions import InvalidTag
        except ImportError as exc:  # pragma: no cover
            raise ProviderNotInstalled(PROVIDER, "cryptography", exc)
        try:
            return self._cipher(False).decrypt(nonce, ciphertext, self._aad(name, version)).decode("utf-8")
        except InvalidTag:
            raise ProviderUnavailable(
                "the value cannot be decrypted: the key does not match this store or the row was altered",
                retryable=False,
                provider=PROVIDER,
                provider_name=name,
                hint=f"Use the key that encrypted {self.path} (VIBEBOX_LOCAL_KEY or local_key_file)",
            )

    # storage -------------------------------------------------------------------------------------
    @contextmanager
    def _db(self, write: bool) -> Iterator[Optional[sqlite3.Connection]]:
        """A connection, or None for a read of a store that does not exist yet."""
        if not write and not os.path.exists(self.path):
            yield None
            return
        folder = os.path.dirname(self.path)
        if write:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        old_umask = os.umask(0o077)
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise ProviderUnavailable(f"cannot open {self.path}: {exc}", retryable=False, provider=PROVIDER)
        finally:
            os.umask(old_umask)
        try:
            conn.execute("PRAGMA busy_timeout=60000")
            if write:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if write:
                    conn.execute("COMMIT")
            except BaseException:
                if write and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            # "database is locked" after busy_timeout: another fork held the write lock too long
            raise ProviderUnavailable(f"local store {self.path}: {exc}", provider=PROVIDER) from None
        finally:
            conn.close()

    def _row(self, conn: Optional[sqlite3.Connection], name: str, allow_deleted: bool = False) -> sqlite3.Row:
        if conn is None:
            raise self._not_found(name)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM secrets WHERE name = ?", (name,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise self._not_found(name)
            raise
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

    def _not_found(self, name: str) -> SecretNotFound:
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

    def _purge_if_expired(self, conn: sqlite3.Connection, name: str) -> None:
        conn.execute(
            "DELETE FROM versions WHERE name IN (SELECT name FROM secrets WHERE name = ? AND purge_at <= ?)",
            (name, time.time()),
        )
        conn.execute("DELETE FROM secrets WHERE name = ? AND purge_at <= ?", (name, time.time()))

    # SecretBackend --------------------------------------------------------------------------------
    def get(self, name: str, version: Optional[str] = None) -> Secret:
        with self._db(write=False) as conn:
            row = self._row(conn, name)
            if version in (None, "current"):
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

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        with self._db(write=True) as conn:
            self._purge_if_expired(conn, name)
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM secrets WHERE name = ?", (name,)).fetchone()
            now = time.time()
            if row is not None and row["deleted_at"] is not None:
                self._row(conn, name)  # raises SecretDeleted with the date
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

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        with self._db(write=True) as conn:
            self._purge_if_expired(conn, name)
            row = self._row(conn, name, allow_deleted=True)
            if force or recovery_days == 0:
                conn.execute("DELETE FROM versions WHERE name = ?", (name,))
                conn.execute("DELETE FROM secrets WHERE name = ?", (name,))
                return
            if row["deleted_at"] is not None:
                return
            days = DEFAULT_RECOVERY_DAYS if recovery_days is None else int(recovery_days)
            now = time.time()
            conn.execute("UPDATE secrets SET deleted_at = ?, purge_at = ? WHERE name = ?", (now, now + days * 86400, name))

    def restore(self, name: str) -> SecretMetadata:
        with self._db(write=True) as conn:
            self._purge_if_expired(conn, name)
            self._row(conn, name, allow_deleted=True)
            conn.execute("UPDATE secrets SET deleted_at = NULL, purge_at = NULL WHERE name = ?", (name,))
            return self._meta(conn, self._row(conn, name))

    def describe(self, name: str) -> SecretMetadata:
        with self._db(write=False) as conn:
            row = self._row(conn, name, allow_deleted=True)
            return self._meta(conn, row)

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

    def delete_version(self, name: str, version: str) -> None:
        with self._db(write=True) as conn:
            row = self._row(conn, name)
            number = int(version)
            if number == row["current"]:
                raise UnsupportedOperation(
                    "the current version cannot be destroyed", provider=PROVIDER, provider_name=name,
                    hint="Rotate first, then clean up the old version",
                )
            conn.execute(
                "UPDATE versions SET destroyed = 1, nonce = NULL, ciphertext = NULL WHERE name = ? AND version = ?",
                (name, number),
            )

    def list(self, prefix: str = "") -> List[str]:
        with self._db(write=False) as conn:
            if conn is None:
                return []
            try:
                rows = conn.execute(
                    "SELECT name FROM secrets WHERE deleted_at IS NULL AND substr(name, 1, ?) = ? ORDER BY name",
                    (len(prefix), prefix),
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise
            return [item[0] for item in rows]
