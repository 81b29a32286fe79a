"""Each provider's identity(): what a migration backup records so that its rollback finds the same store.

Against the real servers and the wire fakes of the contract suite: the identity names the store (the
facts that address it) and never a credential, and it is the same for two backends of one store.
"""
from __future__ import annotations

import json

EXPECTED_KEYS = {
    "aws": {"provider", "region", "account", "endpoint"},
    "azure": {"provider", "vault_url"},
    "gcp": {"provider", "project", "endpoint"},
    "kubernetes": {"provider", "server", "namespace", "secret_name"},
    "local": {"provider", "path", "store_id"},
    "vault": {"provider", "address", "namespace", "mount", "kv_version"},
}
CREDENTIAL_WORDS = ("token", "secret_access", "password", "client_secret", "secret_id", "access_key")


def test_identity_names_the_store_and_never_a_credential(manager_factory, contract_provider):
    first, second = manager_factory(), manager_factory()
    try:
        identity = first.backend.identity()
        assert identity["provider"] == contract_provider
        assert set(identity) == EXPECTED_KEYS[contract_provider], identity
        assert all(isinstance(value, str) for value in identity.values())
        text = json.dumps(identity).lower()
        assert not any(word in text for word in CREDENTIAL_WORDS), identity
        assert second.backend.identity() == identity  # two backends of one store agree
    finally:
        first.close()
        second.close()


def test_aws_account_comes_from_sts(aws_manager, moto_server):
    manager = aws_manager()
    identity = manager.backend.identity()
    if moto_server is not None:
        assert identity["account"] == "123456789012"  # moto's account, answered by its STS
        assert identity["endpoint"] == moto_server.url.rstrip("/")
    else:
        assert identity.get("account") or identity.get("endpoint")


def test_vault_identity_tells_mounts_apart(vault_manager):
    assert vault_manager().backend.identity() != vault_manager(vault_mount="kv1", vault_kv_version=1).backend.identity()
