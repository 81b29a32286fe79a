# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Rotation of a PostgreSQL login's password, held in a secret as the bare password.

The secret's format is the one every consumer already uses, before and after every rotation: the
password of the application's login role, nothing else. ``.env`` files migrated by the migrate role
(``DATABASE_PASSWORD=${secret:database-password}``), references in connection strings
(``postgresql://app:${secret:database-password}@db/app``), ``lookup('vibebox.secrets.get',
'database-password')`` and the External Secrets manifests all read it that way. The user name, host
and database are configuration that a rotation does not change, so a rotation changes the password
of that one role in place.

What a rotation does, and why in that order:

1. takes a PostgreSQL advisory lock named after the secret, so two runs never set two passwords on
   the role while only one of them reaches the secret; the run that waited sees the new version and
   reports "already rotated by another run";
2. sets the new password on the role, hashed to SCRAM on this side (libpq's PQencryptPasswordConn),
   so the plaintext never reaches the server's statement log;
3. logs in with it and runs the verify query (the grants, not just the password), else gives the
   role its old password back and leaves the secret untouched;
4. writes the secret (check-and-set on the version read), reads it back and logs in with what it
   holds, else writes the old value back and gives the role its old password back.

Before any of that, every run (one that is not due and one in check mode too) logs in with the password the
secret holds: a run stopped between steps 2 and 4 leaves the role with a password no one has, and the
next run must say so rather than report nothing to do; a due rotation then mends it. When the login is
refused but the role's stored hash is that very password (the admin may read ``pg_authid``), the two agree
and something else turns the login away (a used-up CONNECTION LIMIT, pg_hba.conf, CONNECT on the
database): the run fails naming that, before any change, rather than send the operator to rotate.

Sessions that are open keep working (PostgreSQL checks a password at login only). A new connection
made with the old password fails from step 2 until the application reads the secret again, which is
why applications must re-read the secret when a login fails. The old password is kept in memory
for the rollback, and the role's stored verifier is restored exactly when the admin may read
``pg_authid``.

psycopg is imported only when a rotation runs, so the rest of the collection does not need it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import generators
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    ProviderNotInstalled,
    SecretError,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import (
    RotationFailed,
    RotationPolicy,
    RotationResult,
    Rotator,
    missing_error,
)

PACKAGE = "psycopg[binary]"
ENGINE = "postgres"
#: letters and digits only: the value goes into connection strings as it is (${secret:...} inserts it
#: without percent-encoding), and every character of these classes is safe in a URL
DEFAULT_PASSWORD = {"type": "password", "length": 32, "classes": ["lower", "upper", "digits"], "min_each": 1}
APPLICATION_NAME = "vibebox.secrets rotation"


class DatabaseError(SecretError):
    """The database refused or failed a step; the message is psycopg's, which never holds a password."""

    kind = "database"


def import_psycopg():
    try:
        import psycopg  # noqa: F401  (optional dependency, only for database rotation)
        from psycopg import sql
    except ImportError as exc:
        raise ProviderNotInstalled("postgres", PACKAGE, exc)
    return psycopg, sql


def lock_key(name: str) -> int:
    """The advisory lock of a secret: a stable signed 64-bit number from its name."""
    return zlib.crc32(f"vibebox.secrets:{name}".encode("utf-8")) - (1 << 31)


def looks_like_old_document(value: str) -> bool:
    """The JSON document earlier versions of this rotation wrote ({"username", "password", "url", ...})."""
    text = (value or "").strip()
    return text.startswith("{") and '"password"' in text and '"username"' in text


def verifier_matches(verifier: Optional[str], role: str, password: str) -> Optional[bool]:
    """Whether ``verifier`` (pg_authid.rolpassword) is the hash of ``password``; None when that cannot be said.

    A refused login does not say why in a way a client can read (psycopg gives no SQLSTATE for a failed
    connection, and the server's words follow its lc_messages): the hash says whether the password is the
    role's. Only ASCII passwords are judged, since the server applies SASLprep to others first.
    """
    if not verifier or not password.isascii():
        return None
    try:
        if verifier.startswith("SCRAM-SHA-256$"):
            iterations_salt, keys = verifier[len("SCRAM-SHA-256$"):].split("$", 1)
            iterations, salt = iterations_salt.split(":", 1)
            stored_key = base64.b64decode(keys.split(":", 1)[0], validate=True)
            salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), base64.b64decode(salt, validate=True),
                                         int(iterations))
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)
        if verifier.startswith("md5") and len(verifier) == 35:
            digest = hashlib.md5((password + role).encode("utf-8"), usedforsecurity=False).hexdigest()
            return hmac.compare_digest("md5" + digest, verifier)
    except (ValueError, binascii.Error):  # a malformed hash, or md5 refused (FIPS)
        return None
    return None


# --- talking to the server -----------------------------------------------------------------------
def connect_kwargs(options: Dict[str, Any]) -> Dict[str, Any]:
    """psycopg.connect keywords; unset options are left out so libpq's PG* variables apply."""
    mapping = {
        "host": options.get("host"),
        "port": options.get("port"),
        "user": options.get("user"),
        "password": options.get("password"),
        "dbname": options.get("dbname"),
        "sslmode": options.get("sslmode"),
        "connect_timeout": options.get("connect_timeout"),
    }
    kwargs = {key: value for key, value in mapping.items() if value not in (None, "")}
    kwargs["application_name"] = APPLICATION_NAME
    return kwargs


class PostgresAdmin:
    """The admin connection a rotation needs. Methods are the steps of the strategy, so the
    orchestration can be tested with a fake that has the same methods."""

    def __init__(self, login: Dict[str, Any]) -> None:
        self.login = dict(login)
        self._psycopg, self._sql = import_psycopg()
        self.conn = None

    def _error(self, what: str, exc: BaseException) -> DatabaseError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DatabaseError(f"{what}: {text}", provider=ENGINE)

    def connect(self) -> None:
        try:
            self.conn = self._psycopg.connect(**connect_kwargs(self.login), autocommit=True)
        except self._psycopg.Error as exc:
            raise self._error("cannot connect as the admin user", exc) from None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()  # also releases the advisory lock
            self.conn = None

    def _execute(self, what: str, query: Any, params: Sequence[Any] = ()) -> List[tuple]:
        if self.conn is None:
            self.connect()
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchall() if cursor.description else []
        except self._psycopg.Error as exc:
            raise self._error(what, exc) from None

    def lock(self, key: int) -> None:
        """Wait for the session-level advisory lock ``key`` (held until unlock or the connection ends)."""
        self._execute("cannot take the rotation lock", "SELECT pg_advisory_lock(%s)", (key,))

    def unlock(self, key: int) -> None:
        self._execute("cannot release the rotation lock", "SELECT pg_advisory_unlock(%s)", (key,))

    def role_exists(self, role: str) -> bool:
        return bool(self._execute(f"cannot look up role {role}", "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)))

    def create_role(self, role: str, member_of: Sequence[str]) -> None:
        sql = self._sql
        self._execute(f"cannot create role {role}", sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for group in member_of:
            self._execute(
                f"cannot grant {group} to {role}",
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)),
            )

    def read_verifier(self, role: str) -> Tuple[bool, Optional[str]]:
        """(readable, stored password hash): lets a failed step give the role its old password back
        exactly. Reading pg_authid needs a superuser; without one the old password is set again."""
        try:
            rows = self._execute("cannot read the password hash", "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                                 (role,))
        except DatabaseError:
            return False, None
        return bool(rows), rows[0][0] if rows else None

    def password_matches(self, role: str, password: str) -> Optional[bool]:
        """Whether the role's stored hash is ``password`` (None: unknown, pg_authid is not readable). Connects
        first, outside read_verifier's refusal: a server that cannot be reached is said as such."""
        if self.conn is None:
            self.connect()
        readable, verifier = self.read_verifier(role)
        return verifier_matches(verifier, role, password) if readable else None

    def set_password(self, role: str, password: str) -> None:
        sql = self._sql
        if self.conn is None:
            self.connect()
        try:
            verifier = self.conn.pgconn.encrypt_password(password.encode("utf-8"), role.encode("utf-8")).decode("ascii")
        except self._psycopg.Error as exc:
            raise self._error(f"cannot hash the new password of role {role}", exc) from None
        self._execute(
            f"cannot set the password of role {role}",
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)),
        )

    def restore_verifier(self, role: str, verifier: Optional[str]) -> None:
        sql = self._sql
        value = sql.SQL("NULL") if verifier is None else sql.Literal(verifier)
        self._execute(
            f"cannot restore the password of role {role}",
            sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(sql.Identifier(role), value),
        )

    def sessions_before(self, role: str, moment: float) -> int:
        """Sessions of ``role`` opened before ``moment`` (epoch seconds): those that logged in with the
        old password and keep working."""
        rows = self._execute(
            "cannot list sessions",
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()"
            " AND backend_start < to_timestamp(%s)",
            (role, moment),
        )
        return int(rows[0][0]) if rows else 0

    def check_login(self, user: str, password: str, dbname: str, query: str) -> None:
        """Log in as the application would and run ``query``: proves the password and the grants."""
        options = dict(self.login, user=user, password=password, dbname=dbname)
        try:
            with self._psycopg.connect(**connect_kwargs(options), autocommit=True) as conn:
                with conn.cursor() as cursor:
                    cursor.execute(query)
                    if cursor.description:
                        cursor.fetchall()
        except self._psycopg.Error as exc:
            raise self._error(f"role {user} cannot log in and run the verify query", exc) from None


# --- the strategy --------------------------------------------------------------------------------
@dataclass
class DatabaseRotation:
    """What postgres_rotate returns; never a password."""

    rotation: RotationResult
    username: Optional[str] = None
    created_role: bool = False
    #: sessions opened with the old password that are still open (they keep working)
    sessions_before: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        data = self.rotation.to_dict()
        data.update(username=self.username, created_role=self.created_role, sessions_before=self.sessions_before)
        return data


class SingleRole:
    """Rotate the password of one login role and keep the secret (the bare password) in step."""

    def __init__(
        self,
        rotator: Rotator,
        admin: Any,
        role: str,
        dbname: str,
        verify_query: str = "SELECT 1",
        password_spec: Optional[Dict[str, Any]] = None,
        create_role: bool = False,
        member_of: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not role or not str(role).strip():
            raise InvalidOption("role must name the login role the applications connect as (for example app)")
        self.rotator = rotator
        self.admin = admin
        self.role = str(role)
        self.dbname = dbname
        self.verify_query = verify_query or "SELECT 1"
        self.password_spec = dict(password_spec or DEFAULT_PASSWORD)
        self.create_role = create_role
        self.member_of = list(member_of or [])
        self.clock = clock

    def _verify_secret(self, secret: Secret) -> None:
        self.admin.check_login(self.role, secret.value, self.dbname, self.verify_query)

    def _no_role(self, name: str) -> DatabaseError:
        return DatabaseError(
            f"role {self.role} does not exist", provider=ENGINE, name=name,
            hint="Create the login role (a member of the group role that owns the objects), or set create_role: true",
        )

    def _refused(self, password: str, name: str, creating: bool = False) -> Optional[str]:
        """Why the role does not take ``password`` (None: it does). SELECT 1, not the verify query: this asks
        about the password, not the grants. A login turned away for another reason is no disagreement, so no
        one rotates to mend it: a missing role is raised as such (unless ``creating``: this run makes it), and
        a role whose stored hash is this password with the server's reason."""
        try:
            self.admin.check_login(self.role, password, self.dbname, "SELECT 1")
        except DatabaseError as exc:
            if not self.admin.role_exists(self.role):
                if creating:
                    return None
                raise self._no_role(name) from None
            if self.admin.password_matches(self.role, password):
                raise DatabaseError(
                    f"the password of role {self.role} is the one the secret holds, yet the role cannot log in ({exc.reason})",
                    provider=ENGINE, name=name, provider_name=self.rotator.manager.provider_name(name),
                    hint=f"Nothing was changed. Find what turns the login away: the role's CONNECTION LIMIT (used up"
                         f" by the applications' pools), pg_hba.conf, CONNECT on database {self.dbname}, the role's"
                         " VALID UNTIL, or connection settings that point at another server",
                ) from None
            return exc.reason
        return None

    def _disagreement(self, name: str, version: Optional[str], refused: str) -> DatabaseError:
        manager = self.rotator.manager
        return DatabaseError(
            f"the password the secret holds (version {version}) does not log in as role {self.role} ({refused}):"
            " the database and the secret disagree, so applications that read the secret cannot connect",
            provider=ENGINE, name=name, provider_name=manager.provider_name(name),
            hint="A rotation stopped between setting the password and writing the secret leaves this. Check that the"
                 " connection settings point at the application's database, then rotate now (no max_age;"
                 " rotate_secret with this secret's name in the rotate role) to give the role and the secret one"
                 " new password",
        )

    def _disagreement_warning(self, version: Optional[str], refused: str) -> str:
        return (f"the password the secret held (version {version}) did not log in as role {self.role} before this"
                f" rotation ({refused}): the database and the secret disagreed; the rotation gives both one new"
                " password")

    def _old_value(self, name: str, exists: bool) -> Optional[str]:
        if not exists:
            return None
        manager = self.rotator.manager
        value = manager.get(name, bypass_cache=True).value
        if looks_like_old_document(value):
            raise InvalidOption(
                "the secret holds a JSON document (username, password, url) written by an earlier version of this"
                f" rotation; it now holds only the password of role {self.role}",
                provider=manager.provider, name=name, provider_name=manager.provider_name(name),
                hint=f"Point the applications at ${{secret:{name}}} with user {self.role} in their configuration, store"
                     f" the password of {self.role} in the secret (vibebox.secrets.secret), then rotate",
            )
        return value

    def run(self, name: str, policy: RotationPolicy, check_mode: bool = False, create: bool = False,
            take_over: bool = False) -> DatabaseRotation:
        rotator = self.rotator
        notes: List[str] = []
        meta, _versions, due = rotator.inspect(name, policy, notes)
        if meta is None and not create:
            raise missing_error(rotator.manager, name)
        outcome = DatabaseRotation(
            RotationResult(name=name, due=due.due, reason=due.reason, age=due.age, max_age=policy.max_age,
                           version=due.version, next_due=due.next_due, warnings=notes,
                           already_rotated=due.already_rotated),
            username=self.role,
        )
        rotator.check_owner(name, meta, take_over, outcome.rotation.warnings)
        if meta is not None and (check_mode or not due.due):
            # a run stopped between setting the password and writing the secret left the two apart; a run
            # that is not due would otherwise say "nothing to do" while no application can log in
            refused = self._refused(self._old_value(name, True), name, creating=due.due and self.create_role)
            if refused is not None and not due.due:
                raise self._disagreement(name, due.version, refused)
            if refused is not None:
                outcome.rotation.warnings.append(self._disagreement_warning(due.version, refused))
        if not due.due:
            return outcome
        # before the role's password changes, and in check mode too: Rotator.rotate would refuse it only
        # after ALTER ROLE, and the role then depends on getting its old password back
        rotator.refuse_past_expiry(name, meta, rotator.clock(), own_expiry=False)
        if check_mode:
            outcome.rotation.previous_version = due.version
            return outcome

        key = lock_key(name)
        self.admin.lock(key)
        try:
            return self._rotate_locked(name, policy, meta, due.version, outcome, create, take_over)
        finally:
            self.admin.unlock(key)

    def _rotate_locked(self, name: str, policy: RotationPolicy, meta: Any, seen: Optional[str],
                       outcome: DatabaseRotation, create: bool, take_over: bool) -> DatabaseRotation:
        rotator = self.rotator
        again, _versions = rotator.state(name)
        if (again.version if again is not None else None) != seen:
            # another run held the lock and rotated while this one waited
            rotator.lost_race(name, outcome.rotation, seen)
            return outcome
        old_value = self._old_value(name, meta is not None)
        if not self.admin.role_exists(self.role):
            if not self.create_role:
                raise self._no_role(name)
            self.admin.create_role(self.role, self.member_of)
            outcome.created_role = True
        readable, saved = self.admin.read_verifier(self.role)
        # the stored hash is "the old password" only when it is the secret's: after a stopped run it is one
        # that no one has, and putting it back would keep the role and the secret apart
        refused = None if outcome.created_role or old_value is None else self._refused(old_value, name)
        if refused is not None:
            outcome.rotation.warnings.append(self._disagreement_warning(seen, refused))

        def give_back_old_password() -> str:
            if readable and refused is None:
                self.admin.restore_verifier(self.role, saved)
                return "has its old password again"
            if old_value is not None:
                self.admin.set_password(self.role, old_value)
                return "has the password the secret holds again"
            return "keeps the new, unpublished password"

        password = generators.from_spec(self.password_spec)
        switched_at = self.clock()
        self.admin.set_password(self.role, password)
        try:
            self.admin.check_login(self.role, password, self.dbname, self.verify_query)
        except DatabaseError as exc:
            state = give_back_old_password()
            raise RotationFailed(
                f"{exc.reason}; the secret was not changed and role {self.role} {state}",
                rolled_back=True, version=seen, provider=ENGINE, name=name,
                hint=f"Grant role {self.role} what the application needs (membership in the group role that owns the"
                     " objects), and check the verify query",
            ) from None
        try:
            result = rotator.rotate(name, policy, value=password, verify=self._verify_secret, create=create,
                                    take_over=take_over)
        except RotationFailed as exc:
            if exc.rolled_back:  # the secret holds the old value again: so must the role
                state = give_back_old_password()
                exc.reason = f"{exc.reason}; role {self.role} {state}"
            raise
        except SecretError:
            give_back_old_password()  # nothing was published: the secret still holds the old password
            raise
        if result.already_rotated:  # the secret was changed by a writer that does not take the lock
            give_back_old_password()
        result.warnings = outcome.rotation.warnings + [w for w in result.warnings if w not in outcome.rotation.warnings]
        outcome.rotation = result
        if result.rotated:
            outcome.sessions_before = self.admin.sessions_before(self.role, switched_at)
        return outcome
