"""plugins/modules/secret_migrate.py on the embedded store: a plan writes nothing, apply writes once."""
from __future__ import annotations

CANARY = "CANARY-module-migrate-44aa"


def test_plan_then_apply_then_apply_again(run_module, store, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"JWT_SECRET={CANARY}\n")
    options = dict(store, env_file=str(env_file), backup_dir=str(tmp_path / "backups"))
    planned = run_module("secret_migrate", action="plan", **options)
    assert planned["failed"] is False and planned["changed"] is False
    assert run_module("secret_info", **store)["secrets"] == []
    applied = run_module("secret_migrate", action="apply", **options)
    assert applied["failed"] is False and applied["changed"] is True
    assert run_module("secret_migrate", action="apply", **options)["changed"] is False
    assert CANARY not in repr([planned, applied])


def test_an_action_on_a_file_needs_env_file(run_module, store):
    result = run_module("secret_migrate", action="plan", **store)
    assert result["failed"] is True and "env_file" in result["msg"]
