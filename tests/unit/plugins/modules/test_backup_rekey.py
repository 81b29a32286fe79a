"""plugins/modules/backup_rekey.py: nothing to re-key is no change; bad input fails naming the option."""
from __future__ import annotations


def test_no_backups_and_no_key_is_nothing_to_do(run_module, tmp_path, own_home):
    result = run_module("backup_rekey", backup_dir=str(tmp_path / "backups"), audit_log="false")
    assert not (own_home / ".local" / "share" / "vibebox").exists()  # no key is made for nothing
    assert result["failed"] is False and result["changed"] is False


def test_a_bad_min_interval_is_refused_naming_the_option(run_module, tmp_path):
    result = run_module("backup_rekey", backup_dir=str(tmp_path / "backups"), min_interval="soon", audit_log="false")
    assert result["failed"] is True and "min_interval" in result["msg"]
