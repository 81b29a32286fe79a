# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Zero-downtime rotation of a PostgreSQL login with the alternating-users strategy.

Why alternating users: changing the password of the role an application is logged in with breaks
every connection the application opens before it has re-read the secret. With two login roles
(``app_blue`` / ``app_green``, members of the same group role so they have the same privileges)
only the role nobody uses is changed; the secret is switched to it; the old role keeps its
password, so nothing fails while applications move over; then the old role's sessions are
drained (waited for, then terminated after a timeout).

The secret is one JSON document, so user, password and URL always change together in one version
(three separate secrets could be read half-switched):
``{"engine": "postgres", "host", "port", "dbname", "username", "password", "url"}`` — the keys of
AWS's own RDS rotation, plus ``url`` (the DATABASE_URL). Applications read
``${secret:database-password#url}`` or ``#password``.

psycopg is imported only when a rotation runs, so the rest of the collection does not need it.
Passwords are hashed (SCRAM) on this side with libpq's PQencryptPasswordConn, so the plaintext
never reaches the server's statement log.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote, urlencode

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
)

PACKAGE = "psycopg[binary]"
ENGINE = "postgres"
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


# --- the secret's layout -------------------------------------------------------------------------
@dataclass
class DatabaseTarget:
    """Where applications connect: what goes into the secret (may differ from the admin's route)."""

    host: str
    port: int
    dbname: str
    params: Dict[str, str] = field(default_factory=dict)


def compose_url(username: str, password: str, target: DatabaseTarget) -> str:
    """postgresql://user:password@host:port/dbname?params, every part percent-encoded."""
    host = target.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    url = (
        f"postgresql://{quote(username, safe='')}:{quote(password, safe='')}@{host}:{int(target.port)}"
        f"/{quote(target.dbname, safe='')}"
    )
    if target.params:
        url += "?" + urlencode(sorted((str(k), str(v)) for k, v in target.params.items()))
    return url


def secret_value(username: str, password: str, target: DatabaseTarget) -> str:
    return json.dumps(
        {
            "engine": ENGINE,
            "host": target.host,
            "port": int(target.port),
            "dbname": target.dbname,
            "username": username,
            "password": password,
            "url": compose_url(username, password, target),
        },
        sort_keys=True,
    )


def parse_secret(value: str) -> Optional[Dict[str, Any]]:
    """The JSON document, or None when the secret holds something else (a bare password)."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("username") or "password" not in data:
        return None
    return data


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
            self.conn.close()
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
        """(readable, stored password hash): lets a failed step give the role its old password back.
        Reading pg_authid needs a superuser; without one the rollback of the inactive role is skipped."""
        try:
            rows = self._execute("cannot read the password hash", "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                                 (role,))
        except DatabaseError:
            return False, None
        return bool(rows), rows[0][0] if rows else None

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

    def sessions(self, role: str) -> List[int]:
        rows = self._execute(
            "cannot list sessions",
            "SELECT pid FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            (role,),
        )
        return [row[0] for row in rows]

    def terminate(self, role: str) -> int:
        rows = self._execute(
            f"cannot terminate the sessions of role {role}",
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE usename = %s AND pid <> pg_backend_pid()",
            (role,),
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


# --- draining ------------------------------------------------------------------------------------
@dataclass
class DrainReport:
    role: Optional[str] = None
    sessions_at_switch: int = 0
    drained: bool = True
    waited: float = 0.0
    terminated: int = 0
    remaining: int = 0

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["waited"] = round(self.waited, 2)
        return data


def drain(
    admin: Any,
    role: str,
    timeout: float,
    interval: float = 0.25,
    settle: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Wait up to ``timeout`` for the sessions of ``role`` to end by themselves, then terminate what
    is left and wait up to ``settle`` for them to disappear. ``drained`` means nobody was cut off."""
    start = clock()
    remaining = len(admin.sessions(role))
    report = DrainReport(role=role, sessions_at_switch=remaining)
    while remaining and clock() - start < timeout:
        sleep(max(0.0, min(interval, timeout - (clock() - start))))
        remaining = len(admin.sessions(role))
    report.waited = clock() - start
    if remaining:
        report.drained = False
        report.terminated = admin.terminate(role)
        deadline = clock() + settle
        remaining = len(admin.sessions(role))
        while remaining and clock() < deadline:
            sleep(interval)
            remaining = len(admin.sessions(role))
    report.remaining = remaining
    return report


# --- the strategy --------------------------------------------------------------------------------
@dataclass
class DatabaseRotation:
    """What postgres_rotate returns; never a password."""

    rotation: RotationResult
    username: Optional[str] = None
    previous_username: Optional[str] = None
    drain: Optional[DrainReport] = None
    created_role: bool = False

    def to_dict(self) -> Dict[str, Any]:
        data = self.rotation.to_dict()
        data.update(
            username=self.username,
            previous_username=self.previous_username,
            drain=self.drain.to_dict() if self.drain else None,
            created_role=self.created_role,
        )
        return data


class AlternatingUsers:
    def __init__(
        self,
        rotator: Rotator,
        admin: Any,
        roles: Sequence[str],
        target: DatabaseTarget,
        verify_query: str = "SELECT 1",
        password_spec: Optional[Dict[str, Any]] = None,
        drain_timeout: float = 60.0,
        drain_interval: float = 0.25,
        create_roles: bool = False,
        member_of: Sequence[str] = (),
        active_role: Optional[str] = None,
    ) -> None:
        roles = list(roles or [])
        if len(roles) != 2 or roles[0] == roles[1]:
            raise InvalidOption(
                f"roles must name exactly two different login roles (got {roles})",
                hint="For example roles: [app_blue, app_green]; both members of the group role that owns the objects",
            )
        if active_role is not None and active_role not in roles:
            raise InvalidOption(f"active_role '{active_role}' is not one of roles {roles}")
        self.rotator = rotator
        self.admin = admin
        self.roles = roles
        self.target = target
        self.verify_query = verify_query or "SELECT 1"
        self.password_spec = dict(password_spec or DEFAULT_PASSWORD)
        self.drain_timeout = float(drain_timeout)
        self.drain_interval = drain_interval
        self.create_roles = create_roles
        self.member_of = list(member_of or [])
        self.active_role = active_role

    def _current_role(self, name: str, exists: bool) -> Optional[str]:
        """The role applications use now: from the secret, or active_role when the secret cannot say."""
        if self.active_role:
            return self.active_role
        if not exists:
            return None
        manager = self.rotator.manager
        data = parse_secret(manager.get(name, bypass_cache=True).value)
        if data is None:
            raise InvalidOption(
                "the secret does not hold the JSON document of the alternating-users rotation"
                " ({username, password, host, port, dbname, url})",
                provider=manager.provider, name=name, provider_name=manager.provider_name(name),
                hint=f"Tell which role its password belongs to with active_role (one of {self.roles});"
                     " the rotation then writes the JSON form",
            )
        if data["username"] not in self.roles:
            raise InvalidOption(
                f"the secret's username '{data['username']}' is not one of roles {self.roles}",
                provider=manager.provider, name=name, provider_name=manager.provider_name(name),
                hint="Add it to roles, or set active_role",
            )
        return str(data["username"])

    def _verify_secret(self, secret: Secret) -> None:
        data = parse_secret(secret.value)
        if data is None:
            raise DatabaseError("the secret read back is not the JSON document that was written", provider=ENGINE)
        self.admin.check_login(str(data["username"]), str(data["password"]), str(data["dbname"]), self.verify_query)

    def run(self, name: str, policy: RotationPolicy, check_mode: bool = False) -> DatabaseRotation:
        rotator = self.rotator
        meta, _versions, due = rotator.inspect(name, policy)
        current = self._current_role(name, meta is not None)
        inactive = self.roles[0] if current is None else next(role for role in self.roles if role != current)
        outcome = DatabaseRotation(
            RotationResult(name=name, due=due.due, reason=due.reason, age=due.age, max_age=policy.max_age,
                           version=due.version, next_due=due.next_due),
            username=current,
        )
        if not due.due:
            return outcome
        if check_mode:
            outcome.rotation.previous_version = due.version
            outcome.username, outcome.previous_username = inactive, current
            return outcome

        if not self.admin.role_exists(inactive):
            if not self.create_roles:
                raise DatabaseError(
                    f"role {inactive} does not exist", provider=ENGINE, name=name,
                    hint="Create both login roles (members of the group role that owns the objects), or set create_roles: true",
                )
            self.admin.create_role(inactive, self.member_of)
            outcome.created_role = True
        readable, saved = self.admin.read_verifier(inactive)

        def give_back_old_password() -> None:
            if readable:
                self.admin.restore_verifier(inactive, saved)

        password = generators.from_spec(self.password_spec)
        self.admin.set_password(inactive, password)
        try:
            self.admin.check_login(inactive, password, self.target.dbname, self.verify_query)
        except DatabaseError as exc:
            give_back_old_password()
            raise RotationFailed(
                f"{exc.reason}; the secret was not changed and role {inactive}"
                f" {'has its old password again' if readable else 'keeps the new, unpublished password'}",
                rolled_back=True, version=due.version, provider=ENGINE, name=name,
                hint=f"Grant role {inactive} what role {current or self.roles[1]} has (membership in the same group role)",
            ) from None
        value = secret_value(inactive, password, self.target)
        try:
            outcome.rotation = rotator.rotate(name, policy, value=value, verify=self._verify_secret)
        except RotationFailed:
            # the secret is back on the old role; the failed version (now 'previous') names the
            # inactive role with its new password, so that password stays valid
            raise
        except SecretError:
            give_back_old_password()  # nothing was published: the secret still names the old role
            raise
        outcome.username, outcome.previous_username = inactive, current
        if current is not None:
            outcome.drain = drain(self.admin, current, self.drain_timeout, interval=self.drain_interval)
        return outcome
