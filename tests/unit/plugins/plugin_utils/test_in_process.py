"""plugins/plugin_utils/in_process.py: when a module may run in the controller's worker, and that running it
there prints the result a new interpreter would (the playbook-level comparison is in
tests/integration/test_in_process.py)."""
from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.vibebox.secrets.plugins.plugin_utils import in_process

CANARY = "CANARY-in-process-5d1c"
SECRET_INFO = "ansible_collections.vibebox.secrets.plugins.modules.secret_info"
SECRET = "ansible_collections.vibebox.secrets.plugins.modules.secret"


def _refusal(**given):
    arguments = dict(connection="local", become=False, is_async=False, interpreter=sys.executable,
                     variables={}, environ={})
    arguments.update(given)
    return in_process.refusal(**arguments)


def test_the_controllers_own_python_over_the_local_connection_runs_here():
    assert _refusal() is None


@pytest.mark.parametrize("given, reason", [
    (dict(connection="ssh"), "the connection is ssh"),
    (dict(become=True), "become"),
    (dict(is_async=True), "async"),
    (dict(interpreter="/usr/bin/false"), "not the controller's"),
    (dict(interpreter=None), "not the controller's"),
    (dict(interpreter="auto_silent"), "not the controller's"),
    (dict(variables={"vibebox_secrets_in_process": False}), "vibebox_secrets_in_process is false"),
    (dict(variables={"vibebox_secrets_in_process": "no"}), "vibebox_secrets_in_process is false"),
    (dict(environ={"VIBEBOX_SECRETS_IN_PROCESS": "0"}), "VIBEBOX_SECRETS_IN_PROCESS is false"),
])
def test_anything_that_could_change_the_result_keeps_the_module_path(given, reason):
    assert reason in _refusal(**given)


def test_an_ansible_core_without_the_internals_gets_the_module_run(monkeypatch):
    from ansible.module_utils import basic

    monkeypatch.delattr(basic, "_ANSIBLE_ARGS")
    assert "has no ansible.module_utils.basic._ANSIBLE_ARGS" in _refusal()


def test_a_link_to_the_same_python_is_the_same_python(tmp_path):
    link = tmp_path / "python"
    os.symlink(sys.executable, link)
    assert in_process.same_python(str(link))
    assert in_process.same_python(f" {sys.executable} ")
    assert not in_process.same_python(str(tmp_path / "missing"))


def test_an_action_plugin_names_its_module():
    assert in_process.module_path_of("ansible_collections.vibebox.secrets.plugins.action.secret") == SECRET
    with pytest.raises(ValueError):
        in_process.module_path_of("ansible.plugins.action.normal")


def _arguments(tmp_path, **own):
    return dict(provider="local", local_path=str(tmp_path / "s.db"), local_key_file=str(tmp_path / "s.key"),
                audit_log="false", _ansible_check_mode=False, _ansible_no_log=False, **own)


def test_a_module_run_here_prints_its_result_and_exit_code(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_PROVIDER", raising=False)
    written = in_process.run_module(SECRET, _arguments(tmp_path, name="jwt", value=CANARY), {})
    assert written["rc"] == 0, written["stderr"]
    result = json.loads(written["stdout"])
    assert result["changed"] is True and CANARY not in written["stdout"]

    again = in_process.run_module(SECRET, _arguments(tmp_path, name="jwt", value=CANARY), {})
    assert json.loads(again["stdout"])["changed"] is False

    failed = in_process.run_module(SECRET, _arguments(tmp_path, name="bad name!", value=CANARY), {})
    assert failed["rc"] == 1 and json.loads(failed["stdout"])["failed"] is True


def test_the_tasks_environment_applies_to_the_run_only(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_PROVIDER", raising=False)
    arguments = _arguments(tmp_path, name="missing")
    del arguments["provider"]
    ran = in_process.run_module(SECRET_INFO, arguments, {"SECRET_PROVIDER": "local"})
    result = json.loads(ran["stdout"])
    assert result["provider"] == "local" and result["exists"] is False
    assert "SECRET_PROVIDER" not in os.environ


def test_one_runs_warnings_are_not_the_next_ones(tmp_path, monkeypatch):
    # In a worker, ansible-core 2.19+ shows a module's warning through the controller's display, which puts it in
    # the task result (tests/integration/test_in_process.py compares that); a plain process that imported the
    # controller's action code would print it instead. Here the module collects it as on a target.
    try:
        from ansible.module_utils import _internal as module_internal
    except ImportError:  # ansible-core before 2.19 collects warnings in the module either way
        module_internal = None
    if hasattr(module_internal, "is_controller"):
        monkeypatch.setattr(module_internal, "is_controller", False)
    monkeypatch.delenv("SECRET_PROVIDER", raising=False)
    for key in ("VAULT_ADDR", "AWS_SECRET_MANAGER_REGION", "GCP_PROJECT_ID", "AZURE_KEYVAULT_URL", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(key, raising=False)
    detected = _arguments(tmp_path, name="missing")
    del detected["provider"]
    warned = json.loads(in_process.run_module(SECRET_INFO, detected, {})["stdout"])
    assert warned.get("warnings")
    quiet = json.loads(in_process.run_module(SECRET_INFO, _arguments(tmp_path, name="missing"), {})["stdout"])
    assert not quiet.get("warnings")


def test_a_crash_is_reported_as_a_crashed_interpreter_would(tmp_path, monkeypatch):
    module = type(sys)("crashing_module")
    module.main = lambda: 1 / 0
    monkeypatch.setitem(sys.modules, "crashing_module", module)
    crashed = in_process.run_module("crashing_module", {}, {})
    assert crashed["rc"] == 1 and "ZeroDivisionError" in crashed["stderr"] and crashed["stdout"] == ""
