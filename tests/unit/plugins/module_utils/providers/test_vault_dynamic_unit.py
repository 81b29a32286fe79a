"""Pure logic of the vault provider's dynamic secrets: engine, paths, the lease dict, and what vault_lease decides.

The requests themselves are tested against real OpenBao and PostgreSQL in tests/integration/test_vault_dynamic.py;
here a recording stand-in for the transport checks each decision (idempotence, check mode, bad input first).
"""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault


def test_engine_defaults_to_kv_and_names_the_option_when_unknown():
    assert vault.engine_of({}) == "kv"
    assert vault.engine_of({"engine": "Dynamic"}) == "dynamic"
    with pytest.raises(errors.InvalidOption, match="engine must be one of kv, dynamic"):
        vault.engine_of({"engine": "transit"})


def test_dynamic_paths():
    assert vault.dynamic_path("database/creds/app", None) == "database/creds/app"
    assert vault.dynamic_path("creds/app", "teams/db/") == "teams/db/creds/app"
    with pytest.raises(errors.InvalidOption, match="vault_dynamic_mount"):
        vault.dynamic_path("app", None)


def test_the_lease_dict_and_a_path_without_a_lease():
    value = vault.lease_value({"lease_id": "database/creds/app/x", "lease_duration": 60, "renewable": True,
                               "data": {"username": "u", "password": "p"}}, "database/creds/app")
    assert value == {"username": "u", "password": "p", "lease_id": "database/creds/app/x", "lease_duration": 60,
                     "renewable": True}
    with pytest.raises(errors.InvalidOption, match="not a dynamic secret"):
        vault.lease_value({"lease_id": "", "data": {"value": "p"}}, "secret/data/x")


@pytest.mark.parametrize("lease_id", ["", "nolease", "a//b", "a/../b", "a/./b"])
def test_bad_lease_ids_fail_before_any_request(lease_id):
    with pytest.raises(errors.InvalidOption):
        vault.check_lease_id(lease_id)


class Recorder:
    """Answers sys/leases requests from a dict of live leases and records every request."""

    def __init__(self, live):
        self.live = dict(live)
        self.sent = []

    def _call(self, method, api_path, *, name, capability, body=None, params=None, accept=(), secret_value=None,
              about_secret=True):
        self.sent.append((method, api_path, (body or {}).get("lease_id")))
        if api_path == "sys/leases/lookup":
            info = self.live.get(body["lease_id"])
            if info is None:
                return 400, {"errors": ["invalid lease"]}
            return 200, {"data": dict(info, id=body["lease_id"])}
        if api_path.startswith("sys/leases/lookup/"):
            folder = api_path[len("sys/leases/lookup/"):]
            keys = [lease[len(folder):] for lease in self.live if lease.startswith(folder)]
            return (200, {"data": {"keys": keys}}) if keys else (404, {})
        if api_path == "sys/leases/revoke":
            self.live.pop(body["lease_id"], None)
            return 204, {}
        if api_path == "sys/leases/renew":
            self.live[body["lease_id"]]["ttl"] = body.get("increment", 3600)
            return 200, {"lease_id": body["lease_id"], "lease_duration": body.get("increment", 3600), "renewable": True}
        raise AssertionError(api_path)

    def writes(self):
        return [item for item in self.sent if item[1] in ("sys/leases/revoke", "sys/leases/renew")]


LEASE = "database/creds/app/L1"


def test_revoking_is_idempotent_and_check_mode_only_looks():
    backend = Recorder({LEASE: {"ttl": 100, "renewable": True}})
    assert vault.manage_leases(backend, "revoked", lease_id=LEASE, check_mode=True)["changed"] is True
    assert backend.writes() == [] and LEASE in backend.live
    assert vault.manage_leases(backend, "revoked", lease_id=LEASE)["changed"] is True
    assert LEASE not in backend.live
    again = vault.manage_leases(backend, "revoked", lease_id=LEASE)
    assert again == {"changed": False, "leases": []}
    assert len(backend.writes()) == 1


def test_renewing_a_gone_lease_fails_with_the_reason():
    backend = Recorder({})
    with pytest.raises(errors.SecretNotFound, match="does not exist any more"):
        vault.manage_leases(backend, "renewed", lease_id=LEASE)


def test_renewing_asks_for_the_increment_and_reports_the_new_ttl():
    backend = Recorder({LEASE: {"ttl": 100, "renewable": True}})
    result = vault.manage_leases(backend, "renewed", lease_id=LEASE, increment=1800)
    assert result["changed"] is True and result["leases"][0]["ttl"] == 1800


def test_a_lease_that_cannot_be_renewed_says_so():
    backend = Recorder({LEASE: {"ttl": 100, "renewable": False}})
    with pytest.raises(errors.UnsupportedOperation, match="not renewable"):
        vault.manage_leases(backend, "renewed", lease_id=LEASE)


def test_a_prefix_reaches_every_lease_under_it_and_nothing_else():
    backend = Recorder({LEASE: {"ttl": 1}, "database/creds/app/L2": {"ttl": 1}, "database/creds/other/L3": {"ttl": 1}})
    result = vault.manage_leases(backend, "revoked", lease_prefix="database/creds/app")
    assert sorted(item["lease_id"] for item in result["leases"]) == [LEASE, "database/creds/app/L2"]
    assert list(backend.live) == ["database/creds/other/L3"]
    assert vault.manage_leases(backend, "revoked", lease_prefix="database/creds/app")["changed"] is False


@pytest.mark.parametrize("kwargs, match", [
    (dict(state="gone", lease_id=LEASE), "state must be"),
    (dict(state="revoked"), "exactly one of"),
    (dict(state="revoked", lease_id=LEASE, lease_prefix="database"), "exactly one of"),
    (dict(state="renewed", lease_id=LEASE, increment=-1), "increment"),
    (dict(state="revoked", lease_prefix="../x"), "lease_prefix"),
])
def test_bad_input_fails_before_any_request(kwargs, match):
    backend = Recorder({LEASE: {"ttl": 1}})
    with pytest.raises(errors.InvalidOption, match=match):
        vault.manage_leases(backend, **kwargs)
    assert backend.sent == []


def test_the_dynamic_backend_is_read_only_and_takes_no_prefix():
    backend = vault.VaultBackend.from_options({"vault_addr": "http://127.0.0.1:1", "vault_token": "t",
                                               "engine": "dynamic", "vault_dynamic_mount": "db",
                                               "vault_revoke_leases_at_end": True})
    assert isinstance(backend, vault.VaultDynamicBackend)
    assert backend.uses_prefix is False and backend.read_only and backend.revoke_at_end
    assert backend.dynamic_mount == "db"
    with pytest.raises(errors.ReadOnlyProvider):
        backend.set("creds/app", "x")
    with pytest.raises(errors.VersionNotFound):
        backend.get("creds/app", "previous")
    assert isinstance(vault.VaultBackend.from_options({"vault_addr": "http://127.0.0.1:1", "vault_token": "t"}),
                      vault.VaultKV2Backend)
