"""GCP-specific behaviour, through the unchanged google-cloud-secret-manager client.

Against the project's gRPC fake by default, against Google with VIBEBOX_TEST_GCP_REAL=1 (tests that
need the fake's fault injection skip there, saying so). The raw SDK client used for checks is the
one the backend built, so both sides of each assertion see the same service.
"""
from __future__ import annotations

import uuid

import grpc
import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import gcp
import servers

CANARY = "canary-" + uuid.uuid4().hex


def _fast_retries(manager):
    manager.retry = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
    return manager


def _sdk(manager):
    return manager.backend._client()


def _secret_path(manager, name):
    return manager.backend._path(manager.provider_name(name))


def test_tags_that_break_label_rules_fail_before_any_call(gcp_manager, gcp_server):
    manager = gcp_manager()
    calls_before = len(gcp_server.fake.calls) if gcp_server.fake else None
    for bad in ({"Team": "core"}, {"team": "Core API"}, {"1team": "x"}, {f"k{i}": "v" for i in range(65)}):
        with pytest.raises(errors.InvalidOption) as caught:
            manager.set("labelled", CANARY, tags=bad)
        assert "label" in str(caught.value) and CANARY not in str(caught.value)
    if gcp_server.fake:
        assert len(gcp_server.fake.calls) == calls_before
    with pytest.raises(errors.SecretNotFound):
        manager.describe("labelled")


def test_tags_are_labels_and_description_is_an_annotation(gcp_manager):
    manager = gcp_manager()
    manager.set("meta", CANARY, description="Free text, with Capitals & spaces", tags={"team": "core-api"})
    raw = _sdk(manager).get_secret(request={"name": _secret_path(manager, "meta")})
    assert dict(raw.labels) == {"team": "core-api"}
    assert raw.annotations[gcp.DESCRIPTION_ANNOTATION] == "Free text, with Capitals & spaces"
    assert "automatic" in raw.replication


def test_user_managed_replication_option(gcp_manager):
    manager = gcp_manager(gcp_replication=["europe-west1", "europe-west4"])
    manager.set("resident", CANARY)
    raw = _sdk(manager).get_secret(request={"name": _secret_path(manager, "resident")})
    assert [replica.location for replica in raw.replication.user_managed.replicas] == ["europe-west1", "europe-west4"]


def test_crc32c_is_sent_with_every_version(gcp_manager):
    manager = gcp_manager()
    meta = manager.set("checked", CANARY)
    raw = _sdk(manager).get_secret_version(request={"name": f"{_secret_path(manager, 'checked')}/versions/{meta.version}"})
    assert raw.client_specified_payload_checksum is True


def test_corrupted_download_is_retried_then_refused(gcp_manager, gcp_server):
    fake = gcp_server.need_fake()
    manager = _fast_retries(gcp_manager())
    manager.set("corrupt", CANARY)
    fake.corrupt_checksum(manager.provider_name("corrupt"))
    before = fake.calls.count("AccessSecretVersion")
    with pytest.raises(errors.ProviderUnavailable) as caught:
        manager.get("corrupt", bypass_cache=True)
    assert "CRC32C" in str(caught.value) and CANARY not in str(caught.value)
    assert fake.calls.count("AccessSecretVersion") - before == 4  # every attempt, none returned the bad value


def test_versions_current_number_and_previous_skips_disabled(gcp_manager):
    manager = gcp_manager()
    first = manager.set("rotated", CANARY + "-1")
    second = manager.set("rotated", CANARY + "-2")
    third = manager.set("rotated", CANARY + "-3")
    assert [first.version, second.version, third.version] == sorted([first.version, second.version, third.version], key=int)
    assert manager.get("rotated", bypass_cache=True).value == CANARY + "-3"
    assert manager.get("rotated", version=second.version, bypass_cache=True).value == CANARY + "-2"
    assert manager.get("rotated", version="previous", bypass_cache=True).value == CANARY + "-2"
    _sdk(manager).disable_secret_version(request={"name": f"{_secret_path(manager, 'rotated')}/versions/{second.version}"})
    # previous is the newest ENABLED older version: the disabled one is skipped
    assert manager.get("rotated", version="previous", bypass_cache=True).value == CANARY + "-1"
    listed = {v.version: v for v in manager.versions("rotated")}
    assert listed[third.version].stages == ["current"] and listed[first.version].stages == ["previous"]
    assert listed[second.version].enabled is False


def test_disabled_version_is_a_clear_error_naming_the_secret(gcp_manager):
    manager = gcp_manager()
    old = manager.set("switched-off", CANARY + "-old")
    manager.set("switched-off", CANARY + "-new")
    _sdk(manager).disable_secret_version(request={"name": f"{_secret_path(manager, 'switched-off')}/versions/{old.version}"})
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.get("switched-off", version=old.version, bypass_cache=True)
    text = str(caught.value)
    assert "switched-off" in text and "disabled" in text and "FAILED_PRECONDITION" not in text and "400" not in text


def test_delete_version_disables_then_destroys_and_keeps_current(gcp_manager, gcp_server):
    manager = gcp_manager()
    old = manager.set("cleanup", CANARY + "-old")
    new = manager.set("cleanup", CANARY + "-new")
    with pytest.raises(errors.UnsupportedOperation):
        manager.delete_version("cleanup", new.version)
    before = len(gcp_server.fake.calls) if gcp_server.fake else 0
    manager.delete_version("cleanup", old.version)
    if gcp_server.fake:
        assert gcp_server.fake.calls[before:][-2:] == ["DisableSecretVersion", "DestroySecretVersion"]
    listed = {v.version: v for v in manager.versions("cleanup")}
    assert listed[old.version].destroyed and not listed[old.version].enabled
    with pytest.raises(errors.SecretNotFound) as caught:
        manager.get("cleanup", version=old.version, bypass_cache=True)
    assert "destroyed" in str(caught.value)
    with pytest.raises(errors.SecretNotFound):  # nothing older is left enabled
        manager.get("cleanup", version="previous", bypass_cache=True)
    manager.delete_version("cleanup", old.version)  # already destroyed: nothing to do
    assert manager.get("cleanup", bypass_cache=True).value == CANARY + "-new"


def test_version_alias_reads_the_version_it_points_to(gcp_manager):
    manager = gcp_manager()
    stable = manager.set("aliased", CANARY + "-stable")
    manager.set("aliased", CANARY + "-canary")
    _sdk(manager).update_secret(request={
        "secret": {"name": _secret_path(manager, "aliased"), "version_aliases": {"stable": int(stable.version)}},
        "update_mask": {"paths": ["version_aliases"]},
    })
    assert manager.get("aliased", version="stable", bypass_cache=True).value == CANARY + "-stable"


def test_delete_is_guarded_by_the_etag(gcp_manager):
    manager = gcp_manager()
    manager.set("etagged", CANARY, tags={"a": "1"})
    client = _sdk(manager)
    stale = client.get_secret(request={"name": _secret_path(manager, "etagged")}).etag
    manager.update_metadata("etagged", tags={"a": "2"})  # changes the etag
    from google.api_core import exceptions as gexc

    with pytest.raises(gexc.Aborted):  # what the service does with a stale etag
        client.delete_secret(request={"name": _secret_path(manager, "etagged"), "etag": stale})
    error = gcp.translate(gexc.Aborted("etag mismatch"), manager.provider_name("etagged"))
    assert isinstance(error, errors.SecretConflict)
    manager.delete("etagged")  # the backend reads the fresh etag first
    with pytest.raises(errors.SecretNotFound):
        manager.describe("etagged")


def test_denied_secret_is_secret_denied_naming_it(gcp_manager, gcp_server):
    fake = gcp_server.need_fake()
    manager = gcp_manager()
    manager.set("forbidden", CANARY)
    fake.deny_secret(manager.provider_name("forbidden"))
    with pytest.raises(errors.SecretDenied) as caught:
        manager.get("forbidden", bypass_cache=True)
    text = str(caught.value)
    assert "forbidden" in text and "[gcp]" in text and "403" not in text and CANARY not in text


def test_access_token_is_sent_and_a_denied_token_is_secret_denied(gcp_manager, gcp_server):
    fake = gcp_server.need_fake()
    fake.deny_token("revoked-token")
    good = gcp_manager(gcp_access_token="fresh-token")
    good.set("tokened", CANARY)
    assert good.get("tokened", bypass_cache=True).value == CANARY
    bad = gcp_manager(gcp_access_token="revoked-token")
    with pytest.raises(errors.SecretDenied):
        bad.get("tokened", bypass_cache=True)


@pytest.mark.parametrize("code", [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE])
def test_throttling_and_unavailable_are_retried(gcp_manager, gcp_server, code):
    fake = gcp_server.need_fake()
    manager = _fast_retries(gcp_manager())
    manager.set("busy", CANARY)
    fake.fail_next(code, times=2, method="AccessSecretVersion")
    assert manager.get("busy", bypass_cache=True).value == CANARY
    assert manager.retry.retries == 2


def test_throttling_that_does_not_stop_is_provider_throttled(gcp_manager, gcp_server):
    fake = gcp_server.need_fake()
    manager = _fast_retries(gcp_manager())
    fake.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, times=4, method="AccessSecretVersion")
    with pytest.raises(errors.ProviderThrottled):
        manager.get("anything", bypass_cache=True)


def test_list_follows_pages(gcp_manager, gcp_server):
    manager = gcp_manager()
    names = [f"paged-{i:02d}" for i in range(30)]
    for name in names:
        manager.set(name, CANARY)
    assert set(names) <= set(manager.list())
    if gcp_server.fake:
        assert gcp_server.fake.page_size < 30


def test_project_is_required(gcp_server):
    options = {k: v for k, v in gcp_server.options.items() if k != "gcp_project"}
    with pytest.raises(errors.InvalidOption) as caught:
        factory.build_manager({"provider": "gcp", "audit_log": "false", **options}, env={})
    assert "gcp_project" in str(caught.value) and "GCP_PROJECT_ID" in str(caught.value)


def test_tls_roots_from_the_standard_grpc_variable(gcp_server, tmp_path):
    fake = gcp_server.need_fake()
    env = {"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": fake.ca_file}
    options = {"provider": "gcp", "audit_log": "false", "prefix": f"roots-{uuid.uuid4().hex[:6]}-",
               "gcp_project": fake.project, "gcp_endpoint": fake.endpoint}
    manager = factory.build_manager(options, env=env)
    try:
        manager.set("via-env", CANARY)
        assert manager.get("via-env", bypass_cache=True).value == CANARY
    finally:
        manager.close()


def test_untrusted_certificate_fails_at_once_with_a_hint(gcp_server, tmp_path):
    fake = gcp_server.need_fake()

    other_ca = servers.load("gcp_fake").make_certificates(str(tmp_path))[2]
    manager = factory.build_manager(
        {"provider": "gcp", "audit_log": "false", "gcp_project": fake.project,
         "gcp_endpoint": fake.endpoint, "gcp_ca_cert": other_ca}, env={})
    try:
        with pytest.raises(errors.ProviderUnavailable) as caught:
            manager.get("anything", bypass_cache=True)
        assert caught.value.retryable is False and "gcp_ca_cert" in str(caught.value)
        assert manager.retry.retries == 0
    finally:
        manager.close()


def test_service_account_file_signs_its_own_jwt(gcp_server, tmp_path):
    """gcp_credentials with a service-account key: the client sends a self-signed JWT, no token endpoint needed."""
    fake = gcp_server.need_fake()
    import base64
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    account = "vibebox-ci@vibebox-test.iam.gserviceaccount.com"
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": fake.project, "private_key_id": "k1", "private_key": pem,
        "client_email": account, "client_id": "1", "token_uri": "https://oauth2.invalid/token",
    }))
    manager = factory.build_manager(
        {"provider": "gcp", "audit_log": "false", "prefix": f"sa-{uuid.uuid4().hex[:6]}-", "gcp_project": fake.project,
         "gcp_endpoint": fake.endpoint, "gcp_ca_cert": fake.ca_file, "gcp_credentials": str(key_file)}, env={})
    try:
        before = len(fake.tokens)
        manager.set("sa-made", CANARY)
        assert manager.get("sa-made", bypass_cache=True).value == CANARY
        claims = json.loads(base64.urlsafe_b64decode(fake.tokens[before].split(".")[1] + "=="))
        assert claims["iss"] == account
    finally:
        manager.close()


def test_unreadable_credentials_file_is_a_clear_option_error(gcp_server, tmp_path):
    fake = gcp_server.need_fake()
    bad = tmp_path / "not-a-key.json"
    bad.write_text("{}")
    manager = factory.build_manager(
        {"provider": "gcp", "audit_log": "false", "gcp_project": fake.project, "gcp_endpoint": fake.endpoint,
         "gcp_ca_cert": fake.ca_file, "gcp_credentials": str(bad)}, env={})
    with pytest.raises(errors.InvalidOption) as caught:
        manager.get("anything", bypass_cache=True)
    assert "gcp_credentials" in str(caught.value)
