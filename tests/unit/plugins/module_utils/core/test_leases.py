"""core/leases.py: what counts as a leased (dynamic) secret."""
from __future__ import annotations

from ansible_collections.vibebox.secrets.plugins.module_utils.core import leases
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata


def test_what_is_a_lease():
    assert leases.lease_of(Secret("text", SecretMetadata(name="a"))) is None
    assert leases.lease_of(Secret({"lease_id": ""}, SecretMetadata(name="a"))) is None
    assert leases.lease_of(Secret({"lease_id": "x/y", "lease_duration": 0}, SecretMetadata(name="a"))) == ("x/y", 0.0)
    assert leases.reuse_for(Secret({"lease_id": "x/y", "lease_duration": 0}, SecretMetadata(name="a")), 60) == float("inf")
    assert leases.reuse_for(Secret("text", SecretMetadata(name="a")), 60) == 60
