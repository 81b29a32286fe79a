"""SecretManager's own logic over an in-memory backend: cache, audit, prefixes, batch reads, rotate."""
from __future__ import annotations

import json

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog, read_tail
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata


class MemoryBackend(SecretBackend):
    name = "aws"  # borrow aws's name rules and prefix

    def __init__(self):
        self.data = {}
        self.calls = []

    def get(self, name, version=None):
        self.calls.append(("get", name, version))
        if name not in self.data:
            raise errors.SecretNotFound("missing", provider_name=name)
        values = self.data[name]
        if version == "previous":
            if len(values) < 2:
                raise errors.VersionNotFound("no previous", provider_name=name)
            return Secret(values[-2], SecretMetadata(name=name, version=str(len(values) - 1)))
        return Secret(values[-1], SecretMetadata(name=name, version=str(len(values))))

    def set(self, name, value, description=None, tags=None):
        self.calls.append(("set", name))
        self.data.setdefault(name, []).append(value)
        return SecretMetadata(name=name, version=str(len(self.data[name])))

    def delete(self, name, recovery_days=None, force=False):
        self.data.pop(name)

    def describe(self, name):
        return self.get(name).metadata

    def list(self, prefix=""):
        return [n for n in self.data if n.startswith(prefix)]


@pytest.fixture
def manager(tmp_path):
    return SecretManager(MemoryBackend(), cache_ttl=300, audit=AuditLog(str(tmp_path / "audit.log"), "aws"))


def test_prefix_is_applied_before_the_backend(manager):
    manager.set("jwt", "v")
    assert "vibebox/jwt" in manager.backend.data
    assert manager.list() == ["jwt"]


def test_second_read_comes_from_the_cache_and_bypass_skips_it(manager):
    manager.set("jwt", "v")
    manager.get("jwt")
    manager.get("jwt")
    assert [c for c in manager.backend.calls if c[0] == "get"] == [("get", "vibebox/jwt", None)]
    manager.get("jwt", bypass_cache=True)
    assert len([c for c in manager.backend.calls if c[0] == "get"]) == 2


def test_a_write_invalidates_current_and_previous(manager):
    manager.set("jwt", "one")
    assert manager.get("jwt").value == "one"
    manager.set("jwt", "two")
    assert manager.get("jwt").value == "two"
    assert manager.get("jwt", "previous").value == "one"


def test_get_many_reports_each_name_and_uses_the_cache(manager):
    manager.set("a", "1")
    manager.get("a")
    found = manager.get_many(["a", "b", "bad name"])
    assert found["a"].value == "1"
    assert isinstance(found["b"], errors.SecretNotFound) and "'b'" in str(found["b"])
    assert isinstance(found["bad name"], errors.InvalidSecretName)
    assert ("get", "vibebox/a", None) in manager.backend.calls and manager.backend.calls.count(("get", "vibebox/a", None)) == 1


def test_values_are_checked_before_the_backend(manager):
    manager.max_value_bytes = 10
    for bad in ("", "x" * 11, 42, "\udcff"):
        with pytest.raises(errors.InvalidSecretValue):
            manager.set("jwt", bad)
    assert manager.backend.calls == []


def test_audit_has_one_line_per_operation_and_no_value(manager, tmp_path):
    manager.set("jwt", "CANARY-value")
    manager.get("jwt")
    with pytest.raises(errors.SecretNotFound):
        manager.get("missing")
    tail = read_tail(str(tmp_path / "audit.log"), 10)
    assert [(e["op"], e["name"], e["ok"]) for e in tail] == [("set", "jwt", True), ("get", "jwt", True), ("get", "missing", False)]
    assert set(tail[0]) == {"ts", "op", "provider", "name", "version", "ok", "error", "actor"}
    text = (tmp_path / "audit.log").read_text()
    assert "CANARY" not in text
    assert oct((tmp_path / "audit.log").stat().st_mode & 0o777) == "0o600"
    assert read_tail(str(tmp_path / "audit.log"), 5, name="missing")[0]["error"].startswith("SecretNotFound")
    json.loads(text.splitlines()[0])


def test_a_new_version_leaves_the_old_one_readable_as_previous(manager):
    old = manager.set("jwt", "old")
    new = manager.set("jwt", "new")
    assert old.version == "1" and new.version == "2"
    assert manager.get("jwt").value == "new"
    assert manager.get("jwt", version="previous").value == "old"
