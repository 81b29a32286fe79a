"""The resolve filter in-process (the playbook test runs it in real forks): shapes, options, errors."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vibebox.secrets.plugins.filter.resolve import FilterModule, resolve
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

CANARY = "CANARY-5d0c"


@pytest.fixture
def options(tmp_path, monkeypatch):
    monkeypatch.delenv("ENABLE_SECRET_MANAGER", raising=False)
    monkeypatch.delenv("VIBEBOX_RUN_CACHE", raising=False)
    opts = {"provider": "local", "local_path": str(tmp_path / "s.db"), "local_key_file": str(tmp_path / "s.key"),
            "audit_log": "false"}
    manager = factory.build_manager(opts, env={})
    manager.set("database-password", CANARY)
    manager.set("database", '{"user": "app", "port": 5432}')
    return opts


def test_registered_as_resolve_with_the_template_variables(options):
    registered = FilterModule().filters()["resolve"]
    assert getattr(registered, "jinja_pass_arg", None) is not None  # jinja hands it the template's context
    assert registered({}, "${secret:database-password}", **options) == CANARY


def test_string_list_and_dict(options):
    assert resolve("postgres://app:${secret:database-password}@db/app", **options) == f"postgres://app:{CANARY}@db/app"
    assert resolve(["${secret:database#user}", "${secret:database#port}"], **options) == ["app", "5432"]
    assert resolve({"A": "x${secret:database#user}", "B": "$${literal}"}, **options) == {"A": "xapp", "B": "${literal}"}


def test_unknown_option_is_an_error(options):
    with pytest.raises(AnsibleFilterError, match="unknown option"):
        resolve("x", provder="vault")


def test_failures_name_reference_and_provider_never_the_value(options):
    with pytest.raises(AnsibleFilterError) as caught:
        resolve("${secret:database-password} ${secret:nope}", **options)
    assert "${secret:nope}" in str(caught.value) and "provider 'local'" in str(caught.value)
    assert CANARY not in str(caught.value)
    with pytest.raises(AnsibleFilterError, match="line 1, column 3"):
        resolve("x=${nope", **options)


def test_strict_false_keeps_the_reference(options):
    assert resolve("a=${secret:nope}", strict=False, **options) == "a=${secret:nope}"


def test_development_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("ENABLE_SECRET_MANAGER", "false")
    monkeypatch.setenv("JWT_SECRET", CANARY)
    assert resolve("Bearer ${secret:jwt-secret}") == f"Bearer {CANARY}"


def test_input_must_be_text(options):
    with pytest.raises(AnsibleFilterError, match="must be a string"):
        resolve(42, **options)
