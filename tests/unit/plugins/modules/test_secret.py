"""plugins/modules/secret.py on the embedded store: a write, its idempotence, check mode, absent, and no value
in the result."""
from __future__ import annotations

CANARY = "CANARY-module-secret-51c2"


def test_a_write_then_the_same_write_again_changes_nothing(run_module, store):
    first = run_module("secret", name="jwt", value=CANARY, **store)
    assert first["failed"] is False and first["changed"] is True
    again = run_module("secret", name="jwt", value=CANARY, **store)
    assert again["failed"] is False and again["changed"] is False
    assert CANARY not in repr(first) + repr(again)


def test_check_mode_writes_nothing_and_absent_removes(run_module, store):
    checked = run_module("secret", check_mode=True, name="jwt", value=CANARY, **store)
    assert checked["changed"] is True
    assert run_module("secret", name="jwt", state="absent", **store)["changed"] is False  # nothing was written
    run_module("secret", name="jwt", value=CANARY, **store)
    assert run_module("secret", name="jwt", state="absent", **store)["changed"] is True


def test_a_bad_name_fails_before_any_write(run_module, store, tmp_path):
    failed = run_module("secret", name="a/../b", value=CANARY, **store)
    assert failed["failed"] is True and "path segment" in failed["msg"] and CANARY not in failed["msg"]
    assert not (tmp_path / "store" / "secrets.db").exists()
