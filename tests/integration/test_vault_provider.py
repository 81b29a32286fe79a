"""Vault-specific behaviour, against the real OpenBao of the session (tests/integration/fixtures/vault.py).

The contract suite covers what every provider shares; this file covers what only Vault has: AppRole,
policies, KV v1, namespaces, TLS, check-and-set, sealing and rate-limit quotas. Tests that change the
server's configuration (policies, roles, mounts) need the local test server and skip on a real one.
"""
from __future__ import annotations

import threading
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault
import servers

CANARY = "canary-" + uuid.uuid4().hex


@pytest.fixture
def server(openbao_server):
    if openbao_server is None:
        pytest.skip("changes the server's configuration: runs only against the test server")
    return openbao_server


def _audit_count(server, path: str) -> int:
    return sum(1 for entry in server.audit_entries() if entry.get("request", {}).get("path") == path)


# AppRole -------------------------------------------------------------------------------------------------
def test_approle_logs_in_once_for_many_operations(server, vault_manager, vault_options):
    prefix = vault_options["prefix"]
    server.write_policy(f"rw-{prefix.strip('/').replace('/', '-')}", f"""
path "secret/data/{prefix}*" {{ capabilities = ["create", "read", "update"] }}
path "secret/metadata/{prefix}*" {{ capabilities = ["read", "list", "update"] }}
path "secret/metadata/{prefix.rstrip('/')}" {{ capabilities = ["list"] }}
""")
    # the secret_id can be used for one login only: a second login would fail, on the server's side
    role_id, secret_id = server.approle("once", [f"rw-{prefix.strip('/').replace('/', '-')}"], secret_id_num_uses=1)
    logins_before = _audit_count(server, "auth/approle/login")
    manager = vault_manager(vault_token=None, vault_role_id=role_id, vault_secret_id=secret_id)
    for index in range(3):
        manager.set(f"app-{index}", f"{CANARY}-{index}", description="via approle")
    found = manager.get_many([f"app-{index}" for index in range(3)], bypass_cache=True)  # reads on threads
    assert [found[f"app-{index}"].value for index in range(3)] == [f"{CANARY}-{index}" for index in range(3)]
    assert manager.describe("app-1").description == "via approle"
    assert set(manager.list()) == {"app-0", "app-1", "app-2"}
    assert manager.backend.logins == 1
    assert _audit_count(server, "auth/approle/login") - logins_before == 1


def test_approle_with_a_wrong_secret_id_is_denied_without_echoing_it(server, vault_manager):
    role_id, _secret_id = server.approle("wrong-secret", ["default"])
    manager = vault_manager(vault_token=None, vault_role_id=role_id, vault_secret_id="not-the-" + CANARY)
    with pytest.raises(errors.SecretDenied) as caught:
        manager.get("anything", bypass_cache=True)
    assert "AppRole" in str(caught.value) and CANARY not in str(caught.value)


def test_a_policy_that_denies_a_path_gives_secret_denied_naming_the_path(server, vault_manager, vault_options):
    prefix = vault_options["prefix"]
    policy = f"deny-{prefix.strip('/').replace('/', '-')}"
    server.write_policy(policy, f"""
path "secret/data/{prefix}*" {{ capabilities = ["create", "read", "update"] }}
path "secret/metadata/{prefix}*" {{ capabilities = ["read", "update"] }}
path "secret/data/{prefix}forbidden" {{ capabilities = ["deny"] }}
""")
    role_id, secret_id = server.approle("denier", [policy])
    root = vault_manager()
    root.set("forbidden", CANARY)
    manager = vault_manager(vault_token=None, vault_role_id=role_id, vault_secret_id=secret_id)
    manager.set("allowed", CANARY + "-ok")
    assert manager.get("allowed", bypass_cache=True).value == CANARY + "-ok"
    with pytest.raises(errors.SecretDenied) as caught:
        manager.get("forbidden", bypass_cache=True)
    text = str(caught.value)
    assert f"secret/data/{prefix}forbidden" in text and '"read"' in text
    assert "forbidden" in text and CANARY not in text


def test_not_found_says_a_denied_path_can_look_the_same(vault_manager):
    with pytest.raises(errors.SecretNotFound) as caught:
        vault_manager().get("nowhere", bypass_cache=True)
    assert "policy" in str(caught.value)


# KV v2 specifics --------------------------------------------------------------------------------------
def test_previous_skips_versions_that_are_deleted(server, vault_manager, vault_options):
    manager = vault_manager()
    for index in (1, 2, 3):
        manager.set("layered", f"{CANARY}-{index}")
    server.request("POST", f"secret/delete/{vault_options['prefix']}layered", {"versions": [2]})
    assert manager.get("layered", version="previous", bypass_cache=True).value == f"{CANARY}-1"
    listed = {item.version: item for item in manager.versions("layered")}
    assert listed["3"].stages == ["current"] and listed["1"].stages == ["previous"]
    assert not listed["2"].enabled and not listed["2"].destroyed
    with pytest.raises(errors.VersionNotFound) as caught:
        manager.get("layered", version="2", bypass_cache=True)
    assert "deleted" in str(caught.value)


def test_delete_is_soft_and_restore_undeletes_every_version(vault_manager):
    manager = vault_manager()
    manager.set("undo", CANARY + "-1")
    manager.set("undo", CANARY + "-2")
    manager.delete("undo")
    with pytest.raises(errors.SecretDeleted) as caught:
        manager.get("undo", bypass_cache=True)
    assert "deleted on 20" in str(caught.value)  # the deletion date
    assert manager.describe("undo").deleted_at is not None
    with pytest.raises(errors.SecretDeleted):
        manager.set("undo", CANARY + "-3")  # no silent resurrection
    manager.restore("undo")
    assert manager.get("undo", bypass_cache=True).value == CANARY + "-2"
    assert manager.get("undo", version="previous", bypass_cache=True).value == CANARY + "-1"


def test_check_and_set_refuses_a_lost_update(vault_manager):
    first, second = vault_manager(), vault_manager()
    first.set("contended", CANARY + "-base")
    backend = first.backend
    real_metadata = backend._metadata

    def stale_metadata(name, missing_ok=False):
        seen = real_metadata(name, missing_ok)
        second.set("contended", CANARY + "-theirs")  # another writer wins the race after our read
        return seen

    backend._metadata = stale_metadata
    with pytest.raises(errors.SecretConflict) as caught:
        first.set("contended", CANARY + "-ours")
    backend._metadata = real_metadata
    assert "check-and-set" in str(caught.value) and CANARY not in str(caught.value)
    assert first.get("contended", bypass_cache=True).value == CANARY + "-theirs"


def test_destroyed_version_is_gone_but_current_stays(vault_manager):
    manager = vault_manager()
    old = manager.set("shredded", CANARY + "-old")
    manager.set("shredded", CANARY + "-new")
    manager.delete_version("shredded", old.version)
    with pytest.raises(errors.VersionNotFound) as caught:
        manager.get("shredded", version=old.version, bypass_cache=True)
    assert "destroyed" in str(caught.value)
    with pytest.raises(errors.UnsupportedOperation):
        manager.delete_version("shredded", manager.describe("shredded").version)


def test_update_metadata_keeps_the_version_and_reserved_tag_is_refused(vault_manager):
    manager = vault_manager()
    manager.set("labelled", CANARY, description="before", tags={"team": "a"})
    meta = manager.update_metadata("labelled", description="after", tags={"team": "b", "tier": "1"})
    assert meta.version == "1" and meta.description == "after" and meta.tags == {"team": "b", "tier": "1"}
    with pytest.raises(errors.InvalidOption):
        manager.set("labelled", CANARY, tags={vault.DESCRIPTION_KEY: "x"})


def test_nested_names_are_listed_and_bad_versions_are_clear(vault_manager):
    manager = vault_manager()
    for name in ("app/db/password", "app/api-key", "top"):
        manager.set(name, CANARY)
    assert manager.list() == ["app/api-key", "app/db/password", "top"]
    with pytest.raises(errors.VersionNotFound) as caught:
        manager.get("top", version="not-a-number", bypass_cache=True)
    assert "KV v2 version number" in str(caught.value)


def test_a_secret_with_several_fields_reads_as_json(server, vault_manager, vault_options):
    server.request("POST", f"secret/data/{vault_options['prefix']}legacy",
                   {"data": {"username": "app", "password": CANARY}})
    value = vault_manager().get("legacy", bypass_cache=True).value
    assert value == '{"password": "%s", "username": "app"}' % CANARY


# KV v1 -----------------------------------------------------------------------------------------------
def test_kv_version_1_mount_keeps_only_the_current_value(server, vault_manager):
    manager = vault_manager(vault_mount="kv1", vault_kv_version=1)
    assert not manager.backend.supports_versions and not manager.backend.supports_restore
    manager.set("flat", CANARY + "-1", description="kv one", tags={"env": "test"})
    manager.set("flat", CANARY + "-2")
    assert manager.get("flat", bypass_cache=True).value == CANARY + "-2"
    meta = manager.describe("flat")
    assert meta.description == "kv one" and meta.tags == {"env": "test"}
    for version in ("previous", "3"):
        with pytest.raises(errors.VersionNotFound) as caught:
            manager.get("flat", version=version, bypass_cache=True)
        assert "KV version 1" in str(caught.value)
    assert [item.stages for item in manager.versions("flat")] == [["current"]]
    assert manager.list() == ["flat"]
    manager.update_metadata("flat", description="renamed")
    assert manager.get("flat", bypass_cache=True).value == CANARY + "-2"
    assert manager.describe("flat").description == "renamed"
    with pytest.raises(errors.UnsupportedOperation):
        manager.delete_version("flat", "1")
    manager.delete("flat")
    with pytest.raises(errors.SecretNotFound):
        manager.get("flat", bypass_cache=True)
    with pytest.raises(errors.UnsupportedOperation):
        manager.restore("flat")
    with pytest.raises(errors.SecretNotFound):
        manager.delete("flat")


# namespace, TLS, availability ------------------------------------------------------------------------
def test_namespace_header_reaches_the_namespace(server, vault_manager):
    namespace = "team-" + uuid.uuid4().hex[:8]
    server.create_namespace(namespace)
    server.enable_kv("secret", 2, namespace=namespace)
    inside = vault_manager(vault_namespace=namespace)
    inside.set("scoped", CANARY)
    assert inside.get("scoped", bypass_cache=True).value == CANARY
    with pytest.raises(errors.SecretNotFound):
        vault_manager().get("scoped", bypass_cache=True)  # the root namespace has no such secret
    entries = [entry for entry in server.audit_entries()
               if entry["request"].get("namespace", {}).get("path") == namespace + "/"]
    assert entries, "the audit device saw no request in the namespace"


def _launcher():
    """The launcher module the session fixture loaded (tests/servers/openbao.py)."""
    return servers.load("openbao")


@pytest.fixture(scope="module")
def extra_server(openbao_server):
    """A second OpenBao of this module, for TLS and sealing (the session server must stay usable)."""
    if openbao_server is None:
        pytest.skip("starts its own server: runs only with the local test servers")
    started = _launcher().start(tls=True, audit=False, configure=False)
    yield started
    started.stop()


def test_tls_with_a_ca_file_and_without_one(extra_server, tmp_path):
    options = {"provider": "vault", "vault_addr": extra_server.addr, "vault_token": extra_server.token,
               "audit_log": "false", "prefix": "tls/"}
    manager = factory.build_manager({**options, "vault_ca_cert": extra_server.ca_cert}, env={})
    manager.set("over-tls", CANARY)
    assert manager.get("over-tls", bypass_cache=True).value == CANARY
    untrusting = factory.build_manager(options, env={}).backend
    with pytest.raises(errors.ProviderUnavailable) as caught:
        untrusting.get("tls/over-tls")
    assert not caught.value.retryable and "vault_ca_cert" in str(caught.value)
    with pytest.raises(errors.InvalidOption):
        factory.build_manager({**options, "vault_ca_cert": str(tmp_path / "missing.pem")}, env={})


def test_sealed_server_is_unavailable_and_not_retried(extra_server):
    backend = factory.build_manager({"provider": "vault", "vault_addr": extra_server.addr,
                                     "vault_token": extra_server.token, "vault_ca_cert": extra_server.ca_cert,
                                     "audit_log": "false"}, env={}).backend
    extra_server.seal()
    with pytest.raises(errors.ProviderUnavailable) as caught:
        backend.get("vibebox/anything")
    assert "sealed" in str(caught.value) and not caught.value.retryable


def test_unreachable_server_is_retryable_unavailable():
    backend = vault.VaultKV2Backend(addr="http://127.0.0.1:9", token="t", timeout=2)
    with pytest.raises(errors.ProviderUnavailable) as caught:
        backend.get("vibebox/anything")
    assert caught.value.retryable and "127.0.0.1:9" in str(caught.value)


def test_rate_limit_quota_429_is_retried(server, vault_manager):
    mount = "throttled-" + uuid.uuid4().hex[:6]
    server.enable_kv(mount, 2)
    manager = vault_manager(vault_mount=mount)
    manager.set("busy", CANARY)
    server.request("POST", f"sys/quotas/rate-limit/{mount}", {"path": f"{mount}/", "rate": 1, "interval": "1s"})
    try:
        manager.retry = RetryPolicy(attempts=30, base_delay=0.1, max_delay=0.1, deadline=10)
        values = [manager.get("busy", bypass_cache=True).value for _attempt in range(2)]
    finally:
        server.request("DELETE", f"sys/quotas/rate-limit/{mount}")
    assert values == [CANARY] * 2
    assert manager.retry.retries >= 1


def test_missing_credentials_and_bad_address_fail_before_any_call():
    with pytest.raises(errors.InvalidOption):
        vault.VaultKV2Backend(addr="http://127.0.0.1:8200")
    with pytest.raises(errors.InvalidOption):
        vault.VaultKV2Backend(addr="127.0.0.1:8200", token="t")
    with pytest.raises(errors.InvalidOption):
        vault.VaultKV2Backend(addr="http://127.0.0.1:8200", token="t", kv_version=3)


def test_many_threads_share_one_backend(vault_manager):
    manager = vault_manager()
    names = [f"par-{index}" for index in range(12)]
    for name in names:
        manager.set(name, CANARY + name)
    failures = []

    def read(name):
        try:
            assert manager.backend.get(manager.provider_name(name)).value == CANARY + name
        except Exception as exc:  # collected, asserted below
            failures.append(exc)

    threads = [threading.Thread(target=read, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
