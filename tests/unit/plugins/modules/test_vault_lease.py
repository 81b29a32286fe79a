"""plugins/modules/vault_lease.py: bad input fails before any connection is made."""
from __future__ import annotations


def test_a_bad_increment_or_lease_id_fails_before_connecting(run_module):
    unreachable = {"vault_addr": "http://127.0.0.1:9", "vault_token": "CANARY-token-lease"}
    increment = run_module("vault_lease", lease_id="database/creds/app/L1", state="renewed", increment="soon", **unreachable)
    assert increment["failed"] is True and "increment" in increment["msg"]
    lease = run_module("vault_lease", lease_id="../sys", **unreachable)
    assert lease["failed"] is True and "lease" in lease["msg"] and "cannot reach" not in lease["msg"]
    assert "CANARY-token-lease" not in repr([increment, lease])


def test_one_of_lease_id_and_lease_prefix_is_required(run_module):
    result = run_module("vault_lease", vault_addr="http://127.0.0.1:9")
    assert result["failed"] is True and "lease_id" in result["msg"] and "lease_prefix" in result["msg"]
