"""plugins/modules/secret_move.py between two embedded stores: a plan writes nothing, apply (after its backup)
moves once."""
from __future__ import annotations

CANARY = "CANARY-module-move-7c31"


def test_plan_then_apply_then_apply_again(run_module, store, tmp_path):
    source = {"local_path": str(tmp_path / "source" / "secrets.db"), "local_key_file": str(tmp_path / "source" / "secrets.key")}
    run_module("secret", name="jwt", value=CANARY, **dict(store, **source))
    options = dict(store, source="local", source_options=source, backup_dir=str(tmp_path / "backups"))
    planned = run_module("secret_move", action="plan", **options)
    assert planned["failed"] is False and planned["changed"] is False
    assert run_module("secret_info", **store)["secrets"] == []
    backup = run_module("secret_move", action="backup", **options)
    assert backup["failed"] is False and backup["backup"]
    options["backup"] = backup["backup"]
    applied = run_module("secret_move", action="apply", **options)
    assert applied["failed"] is False and applied["changed"] is True
    assert [entry["name"] for entry in run_module("secret_info", **store)["secrets"]] == ["jwt"]
    assert run_module("secret_move", action="apply", **options)["changed"] is False
    assert CANARY not in repr([planned, backup, applied])
