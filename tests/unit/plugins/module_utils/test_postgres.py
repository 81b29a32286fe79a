"""The database-password rotation without a server: the order of its steps, what each failure puts
back, the lock, the refusal of the old JSON document, and the error when psycopg is missing. The
same behaviour against a real PostgreSQL is in tests/integration/test_rotate_database.py."""
from __future__ import annotations

import builtins
from typing import Dict, List, Optional, Tuple

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils import postgres
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationFailed, RotationPolicy, Rotator

NAME = "database-password"


class Store(SecretBackend):
    name = "memory"

    def __init__(self) -> None:
        self.data: Dict[str, List[str]] = {}

    def get(self, name, version=None):
        if name not in self.data:
            raise errors.SecretNotFound("missing")
        index = -2 if version == "previous" else -1
        return Secret(self.data[name][index], SecretMetadata(name=name, version=str(len(self.data[name]) + index + 1)))

    def set(self, name, value, description=None, tags=None, expect_version=None):
        if expect_version is not None and str(len(self.data.get(name, [])) or "") != expect_version:
            raise errors.SecretConflict("moved")
        self.data.setdefault(name, []).append(value)
        return SecretMetadata(name=name, version=str(len(self.data[name])))

    def delete(self, name, recovery_days=None, force=False):
        self.data.pop(name)

    def describe(self, name):
        if name not in self.data:
            raise errors.SecretNotFound("missing")
        return SecretMetadata(name=name, version=str(len(self.data[name])))

    def list(self, prefix=""):
        return list(self.data)


class FakeAdmin:
    """Records the steps; ``refuse_login`` makes the verify query fail (the grants), ``turned_away`` every login
    whatever the password; ``readable`` is pg_authid access."""

    def __init__(self, readable: bool = True) -> None:
        self.passwords: Dict[str, Optional[str]] = {"app": "SCRAM-old-password"}
        self.steps: List[Tuple[str, str]] = []
        self.refuse_login = False
        self.turned_away = False
        self.readable = readable
        self.locked: List[int] = []

    def lock(self, key):
        self.locked.append(key)
        self.steps.append(("lock", str(key)))

    def unlock(self, key):
        self.locked.remove(key)
        self.steps.append(("unlock", str(key)))

    def role_exists(self, role):
        return role in self.passwords

    def create_role(self, role, member_of):
        self.passwords[role] = None
        self.steps.append(("create", role))

    def read_verifier(self, role):
        return (True, self.passwords[role]) if self.readable else (False, None)

    def set_password(self, role, password):
        self.passwords[role] = "SCRAM-" + password
        self.steps.append(("password", role))

    def restore_verifier(self, role, verifier):
        self.passwords[role] = verifier
        self.steps.append(("restore", role))

    def check_login(self, user, password, dbname, query):
        self.steps.append(("login", user))
        if (self.turned_away or (self.refuse_login and query != "SELECT 1")
                or self.passwords.get(user) != "SCRAM-" + password):
            raise postgres.DatabaseError(f"role {user} cannot log in", provider="postgres")

    def password_matches(self, role, password):
        return self.passwords.get(role) == "SCRAM-" + password if self.readable else None

    def sessions_before(self, role, moment):
        return 2


def make(admin=None, store=None, **kwargs):
    manager = SecretManager(store or Store(), prefix="", cache_ttl=0)
    return postgres.SingleRole(Rotator(manager), admin or FakeAdmin(), "app", "appdb", **kwargs)


def seeded(admin: FakeAdmin) -> Store:
    store = Store()
    store.data[NAME] = ["old-password"]
    return store


def test_the_secret_holds_the_bare_password_of_the_role():
    admin = FakeAdmin()
    store = seeded(admin)
    result = make(admin, store).run(NAME, RotationPolicy())
    new = store.data[NAME][-1]
    assert result.rotation.rotated and result.username == "app" and result.sessions_before == 2
    assert admin.passwords["app"] == "SCRAM-" + new and len(new) == 32 and new.isalnum()
    # the secret's password is tried first: a role that no longer takes it is a disagreement to report
    assert [entry[0] for entry in admin.steps] == ["lock", "login", "password", "login", "login", "unlock"]
    assert new not in repr(result.to_dict()) and "old-password" not in repr(result.to_dict())
    assert admin.locked == []


def test_check_mode_changes_neither_the_database_nor_the_secret():
    admin = FakeAdmin()
    store = seeded(admin)
    result = make(admin, store).run(NAME, RotationPolicy(), check_mode=True)
    assert result.rotation.due and not result.rotation.rotated and store.data[NAME] == ["old-password"]
    assert admin.steps == [("login", "app")] and admin.passwords["app"] == "SCRAM-old-password"


@pytest.mark.parametrize("readable", [True, False])
def test_failed_login_before_the_write_puts_the_old_password_back(readable):
    admin = FakeAdmin(readable=readable)
    store = seeded(admin)
    admin.refuse_login = True
    with pytest.raises(RotationFailed) as caught:
        make(admin, store, verify_query="SELECT count(*) FROM items").run(NAME, RotationPolicy())
    assert "secret was not changed" in str(caught.value) and store.data[NAME] == ["old-password"]
    # with pg_authid the stored hash comes back; without it, the password the secret holds is set again
    assert admin.passwords["app"] == "SCRAM-old-password"
    assert admin.locked == []


def test_failure_after_the_write_rolls_both_back():
    admin = FakeAdmin(readable=False)
    store = seeded(admin)
    strategy = make(admin, store)

    def fails(_secret):
        raise postgres.DatabaseError("the application cannot log in", provider="postgres")

    strategy._verify_secret = fails
    with pytest.raises(RotationFailed) as caught:
        strategy.run(NAME, RotationPolicy())
    assert caught.value.rolled_back and "has the password the secret holds again" in str(caught.value)
    assert store.data[NAME][-1] == "old-password" and admin.passwords["app"] == "SCRAM-old-password"


def test_a_run_that_waited_for_the_lock_reports_the_other_rotation():
    admin = FakeAdmin()
    store = seeded(admin)
    strategy = make(admin, store)
    real_lock = admin.lock

    def another_run_rotates_while_we_wait(key):
        store.data[NAME].append("rotated-by-the-other-run")
        real_lock(key)

    admin.lock = another_run_rotates_while_we_wait
    result = strategy.run(NAME, RotationPolicy())
    assert result.rotation.already_rotated and not result.rotation.rotated
    assert "by another run" in result.rotation.reason and ("password", "app") not in admin.steps
    assert store.data[NAME] == ["old-password", "rotated-by-the-other-run"]


def test_missing_secret_old_document_and_missing_role_are_refused():
    with pytest.raises(errors.SecretNotFound) as caught:
        make(FakeAdmin(), Store()).run(NAME, RotationPolicy())
    assert "set create: true" in str(caught.value)
    created = make(FakeAdmin(), Store()).run(NAME, RotationPolicy(), create=True)
    assert created.rotation.rotated

    store = Store()
    store.data[NAME] = ['{"username": "app_blue", "password": "x", "url": "postgresql://..."}']
    admin = FakeAdmin()
    with pytest.raises(errors.InvalidOption) as caught:
        make(admin, store).run(NAME, RotationPolicy())
    assert "JSON document" in str(caught.value) and ("password", "app") not in admin.steps

    admin = FakeAdmin()
    del admin.passwords["app"]
    with pytest.raises(postgres.DatabaseError):
        make(admin, seeded(admin)).run(NAME, RotationPolicy())
    result = make(admin, seeded(admin), create_role=True).run(NAME, RotationPolicy())
    assert result.created_role and ("create", "app") in admin.steps


def test_lock_key_is_stable_and_fits_a_bigint():
    assert postgres.lock_key(NAME) == postgres.lock_key(NAME) != postgres.lock_key("other")
    assert -(2 ** 63) <= postgres.lock_key(NAME) < 2 ** 63


def test_connect_kwargs_leave_unset_options_to_libpq():
    kwargs = postgres.connect_kwargs({"host": None, "port": 5432, "password": "", "user": "admin"})
    assert kwargs == {"port": 5432, "user": "admin", "application_name": postgres.APPLICATION_NAME}


def test_missing_psycopg_names_the_pip_package(monkeypatch):
    real_import = builtins.__import__

    def no_psycopg(name, *args, **kwargs):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(errors.ProviderNotInstalled) as caught:
        postgres.import_psycopg()
    assert "pip install psycopg[binary]" in str(caught.value)


#: what PostgreSQL 15 stored for ALTER ROLE ... PASSWORD 'pencil' (password_encryption scram-sha-256)
SCRAM_PENCIL = ("SCRAM-SHA-256$4096:+QW3bOQz+TpcCnNlgkAY3A==$2vjIIma8w0/n7ZJ95ymoLOJYQj4VdoFtV+k58ZLUrMs="
                ":W3wTSmTZZwSB/5ams8q4MK4cikRWzKGiAV+HngBcnc8=")


def test_a_stored_hash_says_whether_it_is_the_password_and_nothing_it_cannot_judge():
    assert postgres.verifier_matches(SCRAM_PENCIL, "app", "pencil") is True
    assert postgres.verifier_matches(SCRAM_PENCIL, "app", "pencil2") is False
    assert postgres.verifier_matches("md506d701b4dd9f7cbb00816251a451b978", "app", "pencil") is True
    assert postgres.verifier_matches("md506d701b4dd9f7cbb00816251a451b978", "other", "pencil") is False
    # SASLprep applies to non-ASCII passwords; a hash that is not one; no hash (a role without a password)
    assert postgres.verifier_matches(SCRAM_PENCIL, "app", "pénçil") is None
    assert postgres.verifier_matches("SCRAM-SHA-256$4096:not base64$x:y", "app", "pencil") is None
    assert postgres.verifier_matches(None, "app", "pencil") is None


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("max_age", ["90d", None])
def test_a_login_turned_away_while_the_password_agrees_is_no_disagreement(max_age, check_mode):
    """The role's hash is the secret's password, yet the server turns the login away (a used-up connection
    limit): no run says the two disagree, nor sends the operator to rotate, and nothing is changed."""
    admin = FakeAdmin()
    store = seeded(admin)
    admin.turned_away = True
    with pytest.raises(postgres.DatabaseError) as caught:
        make(admin, store).run(NAME, RotationPolicy.from_options(max_age), check_mode=check_mode)
    assert "is the one the secret holds" in str(caught.value) and "disagree" not in str(caught.value)
    assert "CONNECTION LIMIT" in caught.value.hint and "old-password" not in str(caught.value) + caught.value.hint
    assert store.data[NAME] == ["old-password"] and admin.passwords["app"] == "SCRAM-old-password"
    assert ("password", "app") not in admin.steps and admin.locked == []


def test_a_login_turned_away_without_a_readable_hash_is_still_taken_for_a_disagreement():
    """Without pg_authid the hash cannot tell, and a role that does not take the secret's password is what a
    stopped rotation leaves: the run says so, as before."""
    admin = FakeAdmin(readable=False)
    store = seeded(admin)
    admin.turned_away = True
    preview = make(admin, store).run(NAME, RotationPolicy(), check_mode=True)
    assert any("disagree" in warning for warning in preview.rotation.warnings)


def test_a_missing_role_that_the_rotation_creates_is_no_disagreement_in_check_mode():
    """A due rotation with create_role makes the role: its preview says it is due, neither failing for the
    missing role nor warning that the secret's password does not log in."""
    admin = FakeAdmin()
    store = seeded(admin)
    del admin.passwords["app"]
    preview = make(admin, store, create_role=True).run(NAME, RotationPolicy(), check_mode=True)
    assert preview.rotation.due and not any("disagree" in warning for warning in preview.rotation.warnings)
    with pytest.raises(postgres.DatabaseError) as caught:
        make(admin, store).run(NAME, RotationPolicy(), check_mode=True)
    assert "role app does not exist" in str(caught.value) and "create_role" in caught.value.hint
