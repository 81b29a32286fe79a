"""Azure-specific behaviour, through the unchanged azure-keyvault-secrets and azure-identity clients.

Against the project's HTTPS fake by default (which is also the Entra ID authority), against a real
vault with VIBEBOX_TEST_AZURE_REAL=1 (tests that need the fake's principals or fault injection skip
there, saying so). Raw SDK checks use the client the backend built.
"""
from __future__ import annotations

import datetime as _dt
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import azure
import servers

CANARY = "canary-" + uuid.uuid4().hex


def _fast_retries(manager):
    manager.retry = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
    return manager


def _sdk(manager):
    return manager.backend._client()


def test_service_principal_signs_in_through_the_token_endpoint(azure_manager, azure_server):
    fake = azure_server.need_fake()
    before = len(fake.token_requests)
    manager = azure_manager()
    manager.set("signed-in", CANARY)
    assert manager.get("signed-in", bypass_cache=True).value == CANARY
    grants = fake.token_requests[before:]
    assert grants and grants[-1]["grant_type"] == "client_credentials"
    assert grants[-1]["client_id"] == fake.client_id and "https://vault.azure.net/.default" in grants[-1]["scope"]
    vault_calls = [call for call in fake.calls if call[1].startswith(f"/secrets/{manager.provider_name('signed-in')}")]
    # at most the very first call of the session is unauthenticated (the challenge is cached per vault)
    assert [client for _m, _p, client in vault_calls if client] and \
        all(client == fake.client_id for _m, _p, client in vault_calls[1:])
    assert ("PUT", f"/secrets/{manager.provider_name('signed-in')}?api-version", fake.client_id) in [
        (m, p.split("=")[0], c) for m, p, c in vault_calls]


def test_unauthenticated_call_gets_the_bearer_challenge(azure_server):
    fake = azure_server.need_fake()
    import json
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{fake.url}/secrets?api-version=7.6")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=fake.ca_file), timeout=5)
    assert caught.value.code == 401
    header = caught.value.headers["WWW-Authenticate"]
    assert header.startswith("Bearer ") and f'authorization="{fake.authority}/{fake.tenant_id}"' in header
    assert 'resource="https://vault.azure.net"' in header
    assert json.loads(caught.value.read())["error"]["code"] == "Unauthorized"


def test_wrong_client_secret_is_secret_denied(azure_manager, azure_server):
    azure_server.need_fake()
    manager = azure_manager(azure_client_secret="not-the-secret")
    with pytest.raises(errors.SecretDenied) as caught:
        manager.get("anything", bypass_cache=True)
    text = str(caught.value)
    assert "sign-in" in text and "not-the-secret" not in text and "[azure]" in text
    assert manager.retry.retries == 0


def test_missing_permission_is_secret_denied_naming_the_secret(azure_manager, azure_server):
    fake = azure_server.need_fake()
    fake.add_principal("reader-app", "reader-secret", permissions={"get", "list"})
    writer = azure_manager()
    writer.set("read-only", CANARY)
    reader = azure_manager(azure_client_id="reader-app", azure_client_secret="reader-secret")
    assert reader.get("read-only", bypass_cache=True).value == CANARY
    with pytest.raises(errors.SecretDenied) as caught:
        reader.set("read-only", CANARY + "-2")
    text = str(caught.value)
    assert "read-only" in text and "set permission" in text and "403" not in text and CANARY not in text


def test_denied_secret_is_secret_denied(azure_manager, azure_server):
    fake = azure_server.need_fake()
    manager = azure_manager()
    manager.set("walled", CANARY)
    fake.deny_secret(manager.provider_name("walled"))
    with pytest.raises(errors.SecretDenied):
        manager.get("walled", bypass_cache=True)


def test_versions_current_previous_and_id(azure_manager):
    manager = azure_manager()
    first = manager.set("rotated", CANARY + "-1")
    second = manager.set("rotated", CANARY + "-2")
    third = manager.set("rotated", CANARY + "-3")
    assert len({first.version, second.version, third.version}) == 3 and len(third.version) == 32
    assert manager.get("rotated", bypass_cache=True).value == CANARY + "-3"
    assert manager.get("rotated", version="previous", bypass_cache=True).value == CANARY + "-2"
    assert manager.get("rotated", version=first.version, bypass_cache=True).value == CANARY + "-1"
    listed = manager.versions("rotated")
    assert [v.version for v in listed] == [third.version, second.version, first.version]
    assert listed[0].stages == ["current"] and listed[1].stages == ["previous"]
    with pytest.raises(errors.SecretNotFound):
        manager.get("rotated", version="0" * 32, bypass_cache=True)


def test_delete_version_disables_it_and_previous_skips_it(azure_manager):
    manager = azure_manager()
    first = manager.set("cleanup", CANARY + "-1")
    second = manager.set("cleanup", CANARY + "-2")
    third = manager.set("cleanup", CANARY + "-3")
    with pytest.raises(errors.UnsupportedOperation):
        manager.delete_version("cleanup", third.version)
    manager.delete_version("cleanup", second.version)
    raw = {p.version: p for p in _sdk(manager).list_properties_of_secret_versions(manager.provider_name("cleanup"))}
    assert raw[second.version].enabled is False
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.get("cleanup", version=second.version, bypass_cache=True)
    assert "disabled" in str(caught.value) and "cleanup" in str(caught.value)
    assert manager.get("cleanup", version="previous", bypass_cache=True).value == CANARY + "-1"
    assert [v.enabled for v in manager.versions("cleanup")] == [True, False, True]
    assert first.version in {v.version for v in manager.versions("cleanup") if v.stages == ["previous"]}


def test_tags_and_content_type_are_kept_on_a_new_value(azure_manager):
    manager = azure_manager()
    manager.set("described", CANARY + "-1", description="postgres password", tags={"team": "Core API"})
    meta = manager.set("described", CANARY + "-2")
    raw = _sdk(manager).get_secret(manager.provider_name("described")).properties
    assert raw.content_type == "postgres password"
    assert raw.tags["team"] == "Core API" and raw.tags[azure.PREVIOUS_TAG]  # the version chain
    described = manager.describe("described")
    assert described.description == "postgres password" and described.tags == {"team": "Core API"}
    assert described.version == meta.version and described.versions_count == 2


def test_reserved_and_too_many_tags_fail_before_any_call(azure_manager, azure_server):
    manager = azure_manager()
    calls = len(azure_server.fake.calls) if azure_server.fake else 0
    for bad in ({azure.PREVIOUS_TAG: "x"}, {f"k{i}": "v" for i in range(15)}):
        with pytest.raises(errors.InvalidOption):
            manager.set("tagged", CANARY, tags=bad)
    if azure_server.fake:
        assert len(azure_server.fake.calls) == calls


def test_expiry_is_reported_as_expires_at(azure_manager):
    manager = azure_manager()
    when = (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=30)).replace(microsecond=0)
    manager.backend.set(manager.provider_name("expiring"), CANARY, expires_at=when)
    assert manager.describe("expiring").expires_at == when
    later = when + _dt.timedelta(days=1)
    manager.backend.update_metadata(manager.provider_name("expiring"), expires_at=later)
    assert manager.describe("expiring").expires_at == later


def test_soft_delete_recover_then_purge(azure_manager):
    manager = azure_manager()
    manager.set("recoverable", CANARY)
    manager.delete("recoverable")  # returns once the secret is in the deleted collection
    with pytest.raises(errors.SecretDeleted) as caught:
        manager.get("recoverable", bypass_cache=True)
    assert "recovered" in str(caught.value)
    assert manager.describe("recoverable").deleted_at is not None
    assert "recoverable" not in manager.list()
    manager.restore("recoverable")  # waits on the recovery poller
    assert manager.get("recoverable", bypass_cache=True).value == CANARY
    manager.delete("recoverable", force=True)  # delete, wait, purge, wait until the name is free
    with pytest.raises(errors.SecretNotFound):
        manager.describe("recoverable")
    manager.set("recoverable", CANARY + "-again")
    assert manager.get("recoverable", bypass_cache=True).value == CANARY + "-again"


def test_reusing_a_deleted_name_says_how_to_recover_or_purge(azure_manager):
    manager = azure_manager()
    manager.set("tombstone", CANARY)
    manager.delete("tombstone", recovery_days=7)
    with pytest.raises(errors.SecretDeleted) as caught:
        manager.set("tombstone", CANARY + "-new")
    text = str(caught.value)
    assert "tombstone" in text and "Recover" in text and "purge" in text and "409" not in text
    assert CANARY not in text
    manager.delete("tombstone", force=True)  # already soft-deleted: purges it


@pytest.mark.parametrize("status,error", [(429, errors.ProviderThrottled), (503, errors.ProviderUnavailable)])
def test_throttling_and_server_errors_are_retried(azure_manager, azure_server, status, error):
    fake = azure_server.need_fake()
    manager = _fast_retries(azure_manager())
    manager.set("busy", CANARY)
    fake.fail_next(status, times=2, path_contains=manager.provider_name("busy"))
    assert manager.get("busy", bypass_cache=True).value == CANARY
    assert manager.retry.retries == 2
    fake.fail_next(status, times=4, path_contains=manager.provider_name("busy"))
    with pytest.raises(error):
        manager.get("busy", bypass_cache=True)


def test_list_follows_next_link(azure_manager, azure_server):
    manager = azure_manager()
    names = [f"paged-{i:02d}" for i in range(30)]
    for name in names:
        manager.set(name, CANARY)
    assert set(names) <= set(manager.list())
    if azure_server.fake:
        assert any("skiptoken" in path for _m, path, _c in azure_server.fake.calls)


def test_challenge_resource_is_verified_by_default(azure_server):
    azure_server.need_fake()
    options = {**azure_server.options, "provider": "azure", "audit_log": "false"}
    options.pop("azure_verify_challenge_resource")
    manager = factory.build_manager(options, env={})
    try:
        with pytest.raises(errors.InvalidOption) as caught:
            manager.get("anything", bypass_cache=True)
        assert "azure_verify_challenge_resource" in str(caught.value)
    finally:
        manager.close()


def test_untrusted_certificate_fails_at_once_with_a_hint(azure_server, tmp_path):
    azure_server.need_fake()
    other_ca = servers.load("azure_fake").make_certificates(str(tmp_path))[2]
    options = {**azure_server.options, "provider": "azure", "audit_log": "false", "azure_ca_cert": other_ca}
    manager = factory.build_manager(options, env={})
    try:
        with pytest.raises(errors.ProviderUnavailable) as caught:
            manager.get("anything", bypass_cache=True)
        assert caught.value.retryable is False and "azure_ca_cert" in str(caught.value)
    finally:
        manager.close()


def test_options_are_checked_before_any_call():
    with pytest.raises(errors.InvalidOption) as caught:
        factory.build_manager({"provider": "azure", "audit_log": "false"}, env={})
    assert "AZURE_KEYVAULT_URL" in str(caught.value)
    with pytest.raises(errors.InvalidOption) as caught:
        factory.build_manager({"provider": "azure", "audit_log": "false", "azure_vault_url": "https://v.vault.azure.net",
                               "azure_auth": "service_principal", "azure_tenant_id": "t"}, env={})
    assert "AZURE_CLIENT_ID" in str(caught.value) and "AZURE_CLIENT_SECRET" in str(caught.value)
