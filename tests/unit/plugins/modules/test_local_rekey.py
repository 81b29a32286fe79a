"""plugins/modules/local_rekey.py on the embedded store: check mode changes nothing, a re-key is done once."""
from __future__ import annotations

CANARY = "CANARY-module-rekey-9d10"


def test_a_rekey_then_a_second_run_inside_min_interval_changes_nothing(run_module, store, tmp_path):
    run_module("secret", name="jwt", value=CANARY, **store)
    key_before = (tmp_path / "store" / "secrets.key").read_bytes()
    checked = run_module("local_rekey", check_mode=True, **store)
    assert checked["failed"] is False and checked["changed"] is True
    assert (tmp_path / "store" / "secrets.key").read_bytes() == key_before
    done = run_module("local_rekey", **store)
    assert done["changed"] is True and (tmp_path / "store" / "secrets.key").read_bytes() != key_before
    assert run_module("local_rekey", **store)["changed"] is False
    assert CANARY not in repr([checked, done])


def test_another_provider_or_a_bad_key_is_refused(run_module, store):
    other = run_module("local_rekey", **dict(store, provider="vault"))
    assert other["failed"] is True and "provider 'vault'" in other["msg"]
    bad = run_module("local_rekey", new_key="not-a-key", **store)
    assert bad["failed"] is True and "new_key" in bad["msg"] and "not-a-key" not in bad["msg"]
