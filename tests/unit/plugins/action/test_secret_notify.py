"""action/secret_notify.py: the AWX/AAP job id and its link reach the module unless the task gives its own."""
from __future__ import annotations

import pytest
from ansible.plugins.action import ActionBase


@pytest.fixture
def sent(monkeypatch):
    """The arguments the module would be run with (ActionBase's own run and transfer are not needed here)."""
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    seen = []

    def execute(plugin):
        plugin._execute_module = lambda module_name, module_args, task_vars: seen.append((module_name, module_args)) or {"changed": False}
        return plugin

    return seen, execute


def test_the_job_of_an_awx_run_is_added(action, sent, monkeypatch):
    seen, execute = sent
    monkeypatch.setenv("AWX_HOST", "https://awx.example/")
    result = execute(action("secret_notify", url="https://hooks")).run(task_vars={"awx_job_id": 42})
    assert result == {"changed": False}
    assert seen == [("vibebox.secrets.secret_notify",
                     {"url": "https://hooks", "job_id": "42", "job_url": "https://awx.example/#/jobs/playbook/42/output"})]


def test_the_tasks_own_job_wins_and_outside_a_job_nothing_is_added(action, sent, monkeypatch):
    seen, execute = sent
    monkeypatch.delenv("JOB_ID", raising=False)
    monkeypatch.delenv("AWX_HOST", raising=False)
    monkeypatch.delenv("TOWER_HOST", raising=False)
    execute(action("secret_notify", job_id="mine")).run(task_vars={"awx_job_id": 42})
    execute(action("secret_notify")).run(task_vars={})
    assert [args for _name, args in seen] == [{"job_id": "mine"}, {}]
