"""action/secret_migrate.py: written and rolled-back names are dropped; the controller is the worker's parent."""
from __future__ import annotations

import os

from ansible_collections.vibebox.secrets.plugins.action import secret_migrate


def test_written_and_rolled_back_names_are_dropped(action):
    result = {"changed": True, "written": [{"name": "a"}], "rollback": [{"name": "b"}, "not-a-row", {"name": ""}]}
    assert list(action("secret_migrate").written_names(result)) == ["a", "b"]


def test_a_failed_run_drops_every_name_its_plan_would_write(action):
    """``written`` lists the writes that answered; the one that failed may have landed all the same."""
    plan = [{"key": "DB_PASS", "name": "db-pass", "provider_name": "app/db-pass", "action": "update"},
            {"key": "API", "name": "api", "provider_name": "app/api", "action": "create"},
            {"key": "SAME", "name": "same", "provider_name": "app/same", "action": "unchanged"}]
    failed = {"failed": True, "written": [{"name": "api"}], "plan": plan}
    assert list(action("secret_migrate").written_names(failed)) == ["api", "db-pass", "app/db-pass", "app/api"]
    assert list(action("secret_migrate").written_names(dict(failed, failed=False))) == ["api"]


def test_an_async_migration_keeps_nothing_cached_until_its_job_is_over(action, held):
    """Its job's result would name what it wrote; when the job starts, nothing does, so nothing at all is kept."""
    action("secret_migrate", async_val=600, action="apply").after({"changed": True, "started": 1, "finished": 0})
    assert held == [([], 600.0, True)]


def test_it_takes_the_collection_wide_policy(action):
    assert action("secret_migrate").takes_policy is True


def test_the_controller_is_the_parent_of_this_process(monkeypatch):
    controller = secret_migrate.controller_process()
    assert controller is not None and controller.pid == os.getppid()
    assert controller.alive() is True
    monkeypatch.setattr(os, "getppid", lambda: 1)  # orphaned: adopted by init, which is no controller
    assert secret_migrate.controller_process() is None


def test_a_worker_ends_itself_once_its_controller_is_gone():
    """A worker blocked writing to a dead ansible-playbook's pipe stayed for good; the watch thread ends it."""
    import subprocess
    import sys
    import time

    from ansible_collections.vibebox.secrets.plugins.module_utils.core.lock import Process

    controller = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    watched = Process.of(controller.pid)
    worker = os.fork()
    if worker == 0:  # the worker: watches, then blocks as if on a full pipe
        secret_migrate.watch_controller(watched, every=0.05)
        time.sleep(30)
        os._exit(0)
    try:
        controller.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(worker, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        assert done and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1, "the worker outlived its controller"
    finally:
        try:
            os.kill(worker, 9)
            os.waitpid(worker, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
