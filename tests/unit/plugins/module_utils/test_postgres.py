"""Alternating-users logic without a server: URL and JSON layout, role choice, drain with a
fake clock, what a failure before the switch undoes, and the error when psycopg is missing.
The same behaviour against a real PostgreSQL is in tests/integration/test_rotate_database.py."""
from __future__ import annotations

import builtins
import json
from typing import Dict, List, Optional, Tuple

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils import postgres
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationFailed, RotationPolicy, Rotator

TARGET = postgres.DatabaseTarget(host="db.internal", port=5433, dbname="app", params={"sslmode": "require"})


class Store(SecretBackend):
    name = "memory"

    def __init__(self) -> None:
        self.data: Dict[str, List[str]] = {}

    def get(self, name, version=None):
        if name not in self.data:
            raise errors.SecretNotFound("missing")
        index = -2 if version == "previous" else -1
        return Secret(self.data[name][index], SecretMetadata(name=name, version=str(len(self.data[name]) + index + 1)))

    def set(self, name, value, description=None, tags=None):
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
    """Records the steps; ``refuse_login`` makes check_login fail for that role."""

    def __init__(self, sessions: Optional[Dict[str, List[int]]] = None) -> None:
        self.passwords: Dict[str, Optional[str]] = {"app_blue": "SCRAM-blue", "app_green": None}
        self.live: Dict[str, List[int]] = sessions or {}
        self.steps: List[Tuple[str, str]] = []
        self.refuse_login: Optional[str] = None

    def role_exists(self, role):
        return role in self.passwords

    def create_role(self, role, member_of):
        self.passwords[role] = None
        self.steps.append(("create", role))

    def read_verifier(self, role):
        return True, self.passwords[role]

    def set_password(self, role, password):
        self.passwords[role] = "SCRAM-" + password
        self.steps.append(("password", role))

    def restore_verifier(self, role, verifier):
        self.passwords[role] = verifier
        self.steps.append(("restore", role))

    def check_login(self, user, password, dbname, query):
        self.steps.append(("login", user))
        if user == self.refuse_login or self.passwords.get(user) != "SCRAM-" + password:
            raise postgres.DatabaseError(f"role {user} cannot log in", provider="postgres")

    def sessions(self, role):
        return list(self.live.get(role, []))

    def terminate(self, role):
        count = len(self.live.get(role, []))
        self.live[role] = []
        self.steps.append(("terminate", role))
        return count


def strategy(admin, store=None, **kwargs):
    manager = SecretManager(store or Store(), prefix="", cache_ttl=0)
    return postgres.AlternatingUsers(Rotator(manager), admin, ["app_blue", "app_green"], TARGET, **kwargs)


def test_url_quotes_every_part():
    url = postgres.compose_url("app blue", "p@ss:w/rd%", TARGET)
    assert url == "postgresql://app%20blue:p%40ss%3Aw%2Frd%25@db.internal:5433/app?sslmode=require"
    ipv6 = postgres.compose_url("u", "p", postgres.DatabaseTarget("::1", 5432, "app"))
    assert ipv6 == "postgresql://u:p@[::1]:5432/app"


def test_secret_is_one_json_document_with_aws_keys_and_url():
    data = json.loads(postgres.secret_value("app_green", "pw", TARGET))
    assert data == {"engine": "postgres", "host": "db.internal", "port": 5433, "dbname": "app",
                    "username": "app_green", "password": "pw",
                    "url": "postgresql://app_green:pw@db.internal:5433/app?sslmode=require"}
    assert postgres.parse_secret("bare-password") is None
    assert postgres.parse_secret('{"user": "x"}') is None


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


def test_roles_must_be_two_different_ones():
    manager = SecretManager(Store(), prefix="", cache_ttl=0)
    with pytest.raises(errors.InvalidOption):
        postgres.AlternatingUsers(Rotator(manager), FakeAdmin(), ["app"], TARGET)
    with pytest.raises(errors.InvalidOption):
        postgres.AlternatingUsers(Rotator(manager), FakeAdmin(), ["a", "a"], TARGET)


def test_alternates_between_the_two_roles_and_drains_the_old_one():
    admin, store = FakeAdmin(), Store()
    first = strategy(admin, store, drain_timeout=0).run("database-password", RotationPolicy())
    assert first.username == "app_blue" and first.drain is None
    admin.live["app_blue"] = [101, 102]
    second = strategy(admin, store, drain_timeout=0).run("database-password", RotationPolicy())
    assert (second.username, second.previous_username) == ("app_green", "app_blue")
    assert second.drain.terminated == 2 and second.drain.remaining == 0 and not second.drain.drained
    third = strategy(admin, store, drain_timeout=0).run("database-password", RotationPolicy())
    assert third.username == "app_blue"
    assert json.loads(store.data["database-password"][-1])["username"] == "app_blue"
    password = json.loads(store.data["database-password"][-1])["password"]
    assert password not in json.dumps(third.to_dict())


def test_check_mode_names_the_next_role_and_changes_nothing():
    admin, store = FakeAdmin(), Store()
    strategy(admin, store).run("database-password", RotationPolicy())
    steps = list(admin.steps)
    result = strategy(admin, store).run("database-password", RotationPolicy(), check_mode=True)
    assert result.rotation.due and not result.rotation.rotated and result.username == "app_green"
    assert admin.steps == steps and len(store.data["database-password"]) == 1


def test_failed_login_before_the_switch_restores_the_password_and_keeps_the_secret():
    admin, store = FakeAdmin(), Store()
    strategy(admin, store).run("database-password", RotationPolicy())
    admin.refuse_login = "app_green"
    with pytest.raises(RotationFailed) as caught:
        strategy(admin, store).run("database-password", RotationPolicy())
    assert "secret was not changed" in str(caught.value)
    assert admin.passwords["app_green"] is None and ("restore", "app_green") in admin.steps
    assert len(store.data["database-password"]) == 1


def test_missing_role_fails_unless_created():
    admin = FakeAdmin()
    del admin.passwords["app_blue"]
    with pytest.raises(postgres.DatabaseError):
        strategy(admin).run("database-password", RotationPolicy())
    result = strategy(admin, create_roles=True).run("database-password", RotationPolicy())
    assert result.created_role and ("create", "app_blue") in admin.steps


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_drain_waits_for_sessions_that_leave_in_time():
    clock = Clock()
    admin = FakeAdmin({"app_blue": [1]})
    original = admin.sessions

    def leaving(role):
        if clock.now >= 2:
            admin.live[role] = []
        return original(role)

    admin.sessions = leaving
    report = postgres.drain(admin, "app_blue", timeout=10, interval=0.5, clock=clock, sleep=clock.sleep)
    assert report.drained and report.terminated == 0 and 2 <= report.waited < 10


def test_drain_terminates_what_is_left_after_the_timeout():
    clock = Clock()
    admin = FakeAdmin({"app_blue": [1, 2, 3]})
    report = postgres.drain(admin, "app_blue", timeout=5, interval=1, clock=clock, sleep=clock.sleep)
    assert not report.drained and report.terminated == 3 and report.remaining == 0 and report.waited >= 5
    assert report.to_dict()["sessions_at_switch"] == 3
