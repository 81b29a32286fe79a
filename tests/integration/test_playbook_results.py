"""Machine-readable results: set_stats of migrate, rotate, cleanup, compliance and status, and the tags.

AWX hands set_stats data to the next node of a workflow (its artifacts); here the default callback prints
it (ANSIBLE_SHOW_CUSTOM_STATS, the ``RUN:`` JSON at the end). Every value is a canary that must not be in
the stats.
"""
from __future__ import annotations

import json
import os
import re
import uuid

import yaml

from ansible_run import REPO, run_playbook, state_env

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

CANARY = "CANARY-stats-" + uuid.uuid4().hex
TAGS = {"plan", "backup", "apply", "validate", "rollback", "rotate", "cleanup", "report"}


def _local(tmp_path) -> dict:
    return {"provider": "local", "local_path": str(tmp_path / "store.db"), "local_key_file": str(tmp_path / "store.key")}


def _stats(tmp_path, playbook: str, *args: str, **extra) -> dict:
    env = state_env(tmp_path, {"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    run = run_playbook(os.path.join(REPO, "playbooks", f"{playbook}.yml"), env, *args,
                       extra_vars={**_local(tmp_path), **extra})
    assert CANARY not in run.output
    assert "\tRUN: " in run.stdout, run.output[-3000:]
    stats, _end = json.JSONDecoder().raw_decode(run.stdout[run.stdout.index("\tRUN: ") + 6:])
    return {"rc": run.rc, "global_custom_stats": stats, "output": run.output}


def _env_file(tmp_path) -> str:
    path = tmp_path / "app.env"
    path.write_text(f"DATABASE_PASSWORD={CANARY}-db\nJWT_SECRET={CANARY}-jwt\nAPP_NAME=demo\n")
    return str(path)


def test_migrate_publishes_counts_names_and_backup(tmp_path):
    env_file = _env_file(tmp_path)
    data = _stats(tmp_path, "migrate", env_file=env_file, migrate_exclude=["APP_NAME"],
                  migrate_backup_dir=str(tmp_path / "backups"))
    assert data["rc"] == 0
    stats = data["global_custom_stats"]["vibebox_migrate"]
    assert stats["outcome"] == "success" and stats["action"] == "migrate"
    assert stats["counts"] == {"create": 2, "skip": 0} or stats["counts"].get("create") == 2, stats
    assert sorted(stats["names"]["create"]) == ["database-password", "jwt-secret"]
    assert stats["backup"].startswith(str(tmp_path / "backups")) and os.path.exists(stats["backup"])
    assert stats["validated"] is True
    again = _stats(tmp_path, "migrate", env_file=env_file, migrate_exclude=["APP_NAME"],
                   migrate_backup_dir=str(tmp_path / "backups"))["global_custom_stats"]["vibebox_migrate"]
    assert sorted(again["names"]["unchanged"]) == ["database-password", "jwt-secret"] and "create" not in again["names"]


def test_rotate_publishes_outcomes_and_versions_and_a_failure(tmp_path):
    manager = factory.build_manager({**_local(tmp_path), "audit_log": str(tmp_path / "seed.log")}, env={})
    manager.set("jwt-secret", f"{CANARY}-jwt")
    manager.close()
    data = _stats(tmp_path, "rotate", rotate_secret="jwt-secret", grace_period="1h")
    stats = data["global_custom_stats"]["vibebox_rotate"]
    assert data["rc"] == 0 and stats["outcome"] == "success"
    assert stats["names"] == {"rotated": ["jwt-secret"]} and stats["counts"] == {"rotated": 1}
    assert stats["versions"]["jwt-secret"]["before"] == "1" and stats["versions"]["jwt-secret"]["after"] == "2"
    assert stats["versions"]["jwt-secret"]["grace_until"]
    failed = _stats(tmp_path, "rotate", rotate_secret="jwt-secret", rotate_after_command="false")
    assert failed["rc"] != 0
    stats = failed["global_custom_stats"]["vibebox_rotate"]
    assert stats["outcome"] == "failure" and stats["names"] == {"failed": ["jwt-secret"]}
    assert stats["secrets"][0]["error"] and CANARY not in json.dumps(stats)


def test_cleanup_and_compliance_and_status_publish(tmp_path):
    manager = factory.build_manager({**_local(tmp_path), "audit_log": str(tmp_path / "seed.log")}, env={})
    for index in range(3):
        manager.set("api-key", f"{CANARY}-{index}")
    manager.close()
    cleanup = _stats(tmp_path, "cleanup", names=["api-key"], keep=1)["global_custom_stats"]["vibebox_cleanup"]
    assert cleanup["outcome"] == "success" and cleanup["names"] == ["api-key"]
    assert cleanup["destroyed_count"] == 2 and sorted(cleanup["destroyed"]["api-key"]) == ["1", "2"]
    compliance = _stats(tmp_path, "compliance", max_age="0s", fail_on_violation=True)
    assert compliance["rc"] != 0
    stats = compliance["global_custom_stats"]["vibebox_compliance"]
    assert stats["outcome"] == "failure" and stats["failing"] == ["api-key"] and stats["compliant"] is False
    status = _stats(tmp_path, "status", status_file=str(tmp_path / "s.html"))["global_custom_stats"]["vibebox_status"]
    assert status["counts"]["total"] == 1 and status["path"] == str(tmp_path / "s.html")


def test_every_playbook_lists_the_tags_a_person_expects(tmp_path):
    expected = {"migrate": {"plan", "backup", "apply", "validate", "rollback", "report"},
                "rotate": {"rotate", "rollback", "cleanup", "report"},
                "cleanup": {"cleanup", "report"}, "compliance": {"report"}, "status": {"report"}}
    for playbook, tags in expected.items():
        run = run_playbook(os.path.join(REPO, "playbooks", f"{playbook}.yml"), state_env(tmp_path), "--list-tags")
        assert run.rc == 0, run.output[-2000:]
        listed = set(re.findall(r"TASK TAGS: \[([^\]]*)\]", run.stdout)[0].replace(" ", "").split(","))
        assert tags <= listed, (playbook, listed)
        assert listed - {"always"} <= TAGS, (playbook, listed)


def test_tags_plan_shows_the_plan_only(tmp_path):
    env_file = _env_file(tmp_path)
    run = run_playbook(os.path.join(REPO, "playbooks", "migrate.yml"), state_env(tmp_path), "--tags", "plan",
                       extra_vars={**_local(tmp_path), "env_file": env_file, "migrate_backup_dir": str(tmp_path / "b")})
    assert run.rc == 0, run.output[-3000:]
    assert "Plan for" in run.output and "create" in run.output
    assert "Write the secrets" not in run.output and "Back up the secrets" not in run.output
    assert not os.path.exists(tmp_path / "store.db") or not factory.build_manager(
        {**_local(tmp_path), "audit_log": "false"}, env={}).list(), "--tags plan wrote secrets"
    assert not (tmp_path / "b").exists() or not os.listdir(tmp_path / "b"), "--tags plan wrote a backup"


def test_awx_configure_attaches_the_notification_to_rotation_templates_on_failure():
    with open(os.path.join(REPO, "playbooks", "awx_configure.yml"), encoding="utf-8") as handle:
        play = yaml.safe_load(handle)[0]
    tasks = {next(key for key in task if key.startswith("awx.awx.")): task for task in play["tasks"]
             if any(key.startswith("awx.awx.") for key in task)}
    created = tasks["awx.awx.notification_template"]
    assert created["no_log"] is True and "awx_notification_configuration" in created["when"]
    attach = tasks["awx.awx.job_template"]["awx.awx.job_template"]["notification_templates_error"]
    assert "awx_notification_name" in attach and "awx_notification_templates" in attach
    assert {"rotate", "rotate_database"} <= set(play["vars"]["awx_notification_templates"])
    keys = {item["key"] for item in tasks["awx.awx.job_template"]["loop"]}
    assert set(play["vars"]["awx_notification_templates"]) <= keys
