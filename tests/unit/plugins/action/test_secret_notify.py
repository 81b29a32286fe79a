"""action/secret_notify.py: the AWX/AAP job id and its link reach the module unless the task gives its own."""
from __future__ import annotations


def test_the_job_of_an_awx_run_is_added(action, monkeypatch):
    monkeypatch.setenv("AWX_HOST", "https://awx.example/")
    sent = action("secret_notify", url="https://hooks").module_arguments({"awx_job_id": 42})
    assert sent == {"url": "https://hooks", "job_id": "42", "job_url": "https://awx.example/#/jobs/playbook/42/output"}


def test_the_tasks_own_job_wins_and_outside_a_job_nothing_is_added(action, monkeypatch):
    monkeypatch.delenv("JOB_ID", raising=False)
    monkeypatch.delenv("AWX_HOST", raising=False)
    monkeypatch.delenv("TOWER_HOST", raising=False)
    assert action("secret_notify", job_id="mine").module_arguments({"awx_job_id": 42}) == {"job_id": "mine"}
    plugin = action("secret_notify")
    assert plugin.module_arguments({}) == {}
    assert plugin._task.args == {}  # the task itself is left as written
