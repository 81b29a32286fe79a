"""action/vault_lease.py: revoked lease ids are dropped from the run cache; renewals and check mode drop nothing."""
from __future__ import annotations

RESULT = {"changed": True, "leases": [{"lease_id": "database/creds/app/L1"}, "not-a-lease"]}


def test_revoked_leases_are_dropped(action):
    assert action("vault_lease", lease_ids=["x"]).written_names(RESULT) == ["database/creds/app/L1"]
    assert action("vault_lease", state="revoked").written_names(RESULT) == ["database/creds/app/L1"]


def test_a_renewal_or_check_mode_drops_nothing(action):
    assert action("vault_lease", state="renewed").written_names(RESULT) == []
    assert action("vault_lease", check_mode=True).written_names(RESULT) == []
