"""plugins/plugin_utils/action.py: the base of the action plugins: the ansible.cfg section it reads, the
automation marker a module gets in its environment, the collection-wide policy, and what a write drops
from the run cache. Each plugin's own decisions are tested in tests/unit/plugins/action/.
"""
from __future__ import annotations

import importlib
import sys
from types import SimpleNamespace

import pytest
from ansible.plugins.action import ActionBase

from ansible_collections.vibebox.secrets.plugins.plugin_utils import action as base


def plugin(cls=base.SecretWriteAction, environment=None, **args):
    made = object.__new__(cls)
    made._task = SimpleNamespace(args=args, environment=environment, async_val=0)
    return made


def test_the_policy_ini_entry_is_read_from_the_runs_ansible_cfg(tmp_path):
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text('[defaults]\nforks = 2\n[vibebox_secrets]\npolicy = {"min_length": 24, "forbidden": ["%s"]}\n'
                   "policy_mode = warn\n")
    expected = {"policy": '{"min_length": 24, "forbidden": ["%s"]}', "policy_mode": "warn"}
    assert base.ini_entries("vibebox_secrets", str(cfg)) == expected
    assert base.ini_entries("vibebox_secrets", str(tmp_path / "missing.cfg")) == {}
    assert base.ini_entries("nothing", str(cfg)) == {}


def test_a_broken_ansible_cfg_reads_as_empty(tmp_path):
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("no section header\n")
    assert base.ini_entries("vibebox_secrets", str(cfg)) == {}


@pytest.mark.parametrize("module, takes", [("secret", True), ("secret_rotate", True), ("secret_migrate", True),
                                           ("secret_info", False), ("secret_cleanup", False)])
def test_which_modules_take_the_collection_wide_policy(module, takes):
    cls = importlib.import_module(f"ansible_collections.vibebox.secrets.plugins.action.{module}").ActionModule
    assert cls.takes_policy is takes


def test_the_written_names_are_the_tasks_and_the_results_once():
    assert list(plugin(name="a").written_names({"name": "a"})) == ["a"]
    assert list(plugin(name=["a", "b", 3]).written_names({"name": "c"})) == ["a", "b", "c"]
    assert list(plugin().written_names({})) == []


def test_a_module_hears_of_automation_before_the_tasks_own_environment(monkeypatch):
    monkeypatch.delenv("VIBEBOX_AUTOMATION", raising=False)
    monkeypatch.delenv("JOB_ID", raising=False)
    seen = []
    made = plugin(environment={"TEAM": "core"})
    made.in_process_refusal = lambda task_vars: "not tested here"
    made._execute_module = lambda module_args, task_vars, wrap_async: seen.append(made._task.environment) or {}
    made.execute_module({"awx_job_id": 7}, False)
    made.execute_module({}, False)
    assert seen == [[{"VIBEBOX_AUTOMATION": "awx_job_id"}, {"TEAM": "core"}], {"TEAM": "core"}]
    assert made._task.environment == {"TEAM": "core"}  # put back after the run


def test_a_bad_collection_policy_fails_before_the_module_runs(monkeypatch):
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    monkeypatch.setenv("VIBEBOX_SECRETS_POLICY", "{not json")
    monkeypatch.setattr(base, "ini_entries", lambda section: {})
    made = plugin(base.SecretWriteAction, name="jwt")
    made.takes_policy = True
    made._templar = SimpleNamespace(template=lambda value: value)
    made._execute_module = lambda **kwargs: pytest.fail("the module ran")
    result = made.run(task_vars={})
    assert result["failed"] is True and result["changed"] is False
    assert "VIBEBOX_SECRETS_POLICY" in result["msg"] and "not json" not in result["msg"]


def _placed(monkeypatch, delegate_to=None, transport="local", become=False, **task_vars):
    monkeypatch.delenv("VIBEBOX_SECRETS_IN_PROCESS", raising=False)
    made = plugin(base.SecretAction)
    made._task.delegate_to = delegate_to
    made._templar = SimpleNamespace(template=lambda value: value.replace("{{ ansible_playbook_python }}", sys.executable))
    made._connection = SimpleNamespace(transport=transport)
    made._play_context = SimpleNamespace(become=become)
    return made.in_process_refusal(task_vars)


def test_a_task_on_the_controller_with_its_python_runs_in_the_worker(monkeypatch):
    assert _placed(monkeypatch, ansible_python_interpreter="{{ ansible_playbook_python }}") is None
    delegated = {"ansible_delegated_vars": {"localhost": {"ansible_python_interpreter": sys.executable}},
                 "ansible_python_interpreter": "/usr/bin/python3.6"}
    assert _placed(monkeypatch, delegate_to="localhost", **delegated) is None


def test_another_host_python_user_or_a_false_switch_keeps_the_module_run(monkeypatch):
    here = {"ansible_python_interpreter": sys.executable}
    assert "ssh" in _placed(monkeypatch, transport="ssh", **here)
    assert "become" in _placed(monkeypatch, become=True, **here)
    assert "Python" in _placed(monkeypatch, ansible_python_interpreter="/opt/other/python3")
    delegated = {"ansible_delegated_vars": {"db1": {"ansible_python_interpreter": "/usr/bin/python3.6"}}, **here}
    assert "Python" in _placed(monkeypatch, delegate_to="db1", **delegated)
    assert "vibebox_secrets_in_process" in _placed(monkeypatch, vibebox_secrets_in_process="no", **here)


def test_a_write_task_that_ends_inside_its_module_drops_the_whole_run_cache(monkeypatch):
    """A task's timeout (or a lost connection) raises out of the module run, so no result names what it wrote:
    the run cache is emptied, and the task's own error goes on."""
    from ansible.errors import AnsibleError

    announced = []
    monkeypatch.setattr(base._run_cache, "invalidate",
                        lambda names, hold=0.0, everything=False: announced.append((list(names), everything)))

    def interrupted(self, tmp=None, task_vars=None):
        raise AnsibleError("timed out")

    monkeypatch.setattr(base.SecretAction, "run", interrupted)
    with pytest.raises(AnsibleError, match="timed out"):
        plugin(name="jwt").run(task_vars={})
    assert announced == [([], True)]
    monkeypatch.setattr(base.SecretAction, "run", lambda self, tmp=None, task_vars=None: {"changed": False})
    assert plugin(name="jwt").run(task_vars={}) == {"changed": False}
    assert announced == [([], True)]


def test_an_async_write_task_that_ends_while_its_job_starts_keeps_nothing_for_the_jobs_time(monkeypatch):
    """The job of an async task may already run when the start raises (the task's timeout, the connection lost
    while reading the job's id): it writes whenever it gets there, so the emptied run cache keeps nothing it
    reads until the task's async seconds are over, as after an async start that answered."""
    from ansible.errors import AnsibleError

    announced = []
    monkeypatch.setattr(base._run_cache, "invalidate",
                        lambda names, hold=0.0, everything=False: announced.append((list(names), hold, everything)))

    def interrupted(self, tmp=None, task_vars=None):
        raise AnsibleError("timed out")

    monkeypatch.setattr(base.SecretAction, "run", interrupted)
    started = plugin(name="jwt")
    started._task.async_val = 300
    with pytest.raises(AnsibleError, match="timed out"):
        started.run(task_vars={})
    assert announced == [([], 300.0, True)]
