"""Pure mapping logic of the gcp provider: label rules, version references, error translation.

Service behaviour is tested against the gRPC fake in tests/integration; here only what needs no
server, with unittest.mock standing in for the client where a call's arguments are the point.
"""
from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace
from unittest import mock

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import gcp


def test_crc32c_matches_the_castagnoli_check_value():
    assert gcp.crc32c(b"123456789") == 0xE3069283
    assert gcp.crc32c(b"") == 0


@pytest.mark.parametrize("tags", [{"team": "core"}, {"env": ""}, {"a1_-": "x-1_y"}, {"équipe": "données"}])
def test_valid_labels_pass(tags):
    assert gcp.check_labels(tags) == tags


@pytest.mark.parametrize("tags", [
    {"Team": "core"}, {"team": "Core"}, {"1st": "x"}, {"": "x"}, {"team": "has space"},
    {"k" * 64: "v"}, {"k": "v" * 64}, {f"k{i}": "v" for i in range(65)}, {"team.name": "x"},
])
def test_invalid_labels_are_refused_with_a_hint(tags):
    with pytest.raises(errors.InvalidOption) as caught:
        gcp.check_labels(tags)
    assert "lower-case" in str(caught.value)


def test_labels_none_means_leave_as_is():
    assert gcp.check_labels(None) is None


def test_description_limit():
    assert gcp.check_description("ok") == "ok"
    with pytest.raises(errors.InvalidOption):
        gcp.check_description("x" * 16384)


@pytest.mark.parametrize("value,expected", [
    (None, None), ("", None), ("automatic", None), (["automatic"], None),
    (["europe-west1", "europe-west4"], ["europe-west1", "europe-west4"]), ("us-east1, us-west1", ["us-east1", "us-west1"]),
])
def test_replication(value, expected):
    assert gcp.parse_replication(value) == expected


@pytest.mark.parametrize("value", [["automatic", "us-east1"], ["US East"], [","], ","])
def test_bad_replication(value):
    with pytest.raises(errors.InvalidOption):
        gcp.parse_replication(value)


@pytest.mark.parametrize("endpoint,expected", [
    ("127.0.0.1:8443", True), ("localhost:9000", True), ("[::1]:443", True), ("127.5.0.1:1", True),
    ("secretmanager.googleapis.com:443", False), ("10.0.0.5:443", False), (None, False), ("", False),
])
def test_loopback_detection(endpoint, expected):
    assert gcp.is_loopback(endpoint) is expected


@pytest.mark.parametrize("version,expected", [
    (None, "latest"), ("current", "latest"), ("latest", "latest"), ("", "latest"),
    ("7", "7"), ("007", "7"), ("stable", "stable"), ("previous", None),
])
def test_version_reference(version, expected):
    assert gcp.version_ref(version) == expected


@pytest.mark.parametrize("version", ["0", "-1", "bad value", "NEW", "1.5"])
def test_bad_version_reference(version):
    with pytest.raises(errors.VersionNotFound):
        gcp.version_ref(version)


def test_previous_is_the_newest_enabled_older_version():
    assert gcp.previous_of([(3, "ENABLED"), (2, "DISABLED"), (1, "ENABLED")]) == 1
    assert gcp.previous_of([(3, "DISABLED"), (2, "ENABLED")]) == 2  # relative to latest, whatever its state
    assert gcp.previous_of([(1, "ENABLED")]) is None
    assert gcp.previous_of([(2, "ENABLED"), (1, "DESTROYED")]) is None
    assert gcp.previous_of([]) is None


def _translate(exc, version=None):
    return gcp.translate(exc, "vibebox-db", version, project="proj")


def test_translate_maps_every_status_to_a_core_error():
    from google.api_core import exceptions as g

    missing = _translate(g.NotFound("Secret [projects/1/secrets/vibebox-db] not found or has no versions."))
    assert missing.__class__ is errors.SecretNotFound and "project proj" in str(missing) and "404" not in str(missing)
    version = _translate(g.NotFound("Secret Version [projects/1/secrets/vibebox-db/versions/9] not found."), "9")
    assert isinstance(version, errors.VersionNotFound) and "version 9" in str(version)
    assert isinstance(_translate(g.PermissionDenied("Permission 'secretmanager.versions.access' denied")), errors.SecretDenied)
    assert isinstance(_translate(g.Unauthenticated("no token")), errors.SecretDenied)
    disabled = _translate(g.FailedPrecondition("Secret Version [x/versions/2] is in DISABLED state."), "2")
    assert isinstance(disabled, errors.VersionNotFound) and "disabled" in str(disabled)
    destroyed = _translate(g.FailedPrecondition("Secret Version [x/versions/latest] is in DESTROYED state."), "latest")
    assert "current version is destroyed" in str(destroyed)
    assert isinstance(_translate(g.Aborted("etag")), errors.SecretConflict)
    assert isinstance(_translate(g.AlreadyExists("exists")), errors.SecretConflict)
    throttled = _translate(g.ResourceExhausted("quota"))
    assert isinstance(throttled, errors.ProviderThrottled) and throttled.retryable
    for cls in (g.ServiceUnavailable, g.DeadlineExceeded, g.InternalServerError):
        err = _translate(cls("blip"))
        assert isinstance(err, errors.ProviderUnavailable) and err.retryable
    tls = _translate(g.ServiceUnavailable("failed to connect: Ssl handshake failed: CERTIFICATE_VERIFY_FAILED"))
    assert tls.retryable is False and "gcp_ca_cert" in str(tls)
    checksum = _translate(g.InvalidArgument("Checksum mismatch"))
    assert isinstance(checksum, errors.ProviderUnavailable) and checksum.retryable
    assert isinstance(_translate(g.InvalidArgument("Invalid label")), errors.InvalidOption)


def test_translate_google_auth_errors():
    from google.auth import exceptions as auth

    no_adc = _translate(auth.DefaultCredentialsError("Your default credentials were not found"))
    assert isinstance(no_adc, errors.ProviderUnavailable) and not no_adc.retryable and "GOOGLE_APPLICATION_CREDENTIALS" in str(no_adc)
    assert isinstance(_translate(auth.RefreshError("invalid_grant")), errors.SecretDenied)
    assert isinstance(_translate(RuntimeError("boom")), errors.ProviderUnavailable)


def test_from_options_requires_a_project():
    with pytest.raises(errors.InvalidOption) as caught:
        gcp.GcpBackend.from_options({})
    assert "GCP_PROJECT_ID" in str(caught.value)
    backend = gcp.GcpBackend.from_options({"gcp_project": "p", "gcp_replication": "europe-west1",
                                           "gcp_access_token": "tok-123"})
    assert backend.replication == ["europe-west1"] and "tok-123" not in repr(backend)


def test_missing_sdk_names_the_pip_package_when_the_provider_is_chosen():
    with mock.patch.dict(sys.modules, {"google.cloud.secretmanager_v1": None}):
        with pytest.raises(errors.ProviderNotInstalled) as caught:
            gcp.GcpBackend.from_options({"gcp_project": "p"})
        assert "pip install google-cloud-secret-manager" in str(caught.value)
        with pytest.raises(errors.ProviderNotInstalled):
            gcp.GcpBackend("p")._client()


def test_importing_the_provider_does_not_import_the_sdk():
    code = (
        "import sys\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.providers import gcp\n"
        "loaded = [m for m in sys.modules if m.startswith(('google', 'grpc'))]\n"
        "assert not loaded, loaded\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def _fake_client():
    client = mock.Mock()
    client.get_secret.return_value = SimpleNamespace(
        name="projects/1/secrets/vibebox-x", etag='"e1"', labels={"team": "core"}, annotations={},
        create_time=None, expire_time=None,
    )
    client.add_secret_version.return_value = SimpleNamespace(name="projects/1/secrets/vibebox-x/versions/4", create_time=None)
    return client


def test_set_checks_labels_before_any_call():
    client = _fake_client()
    backend = gcp.GcpBackend("p", client=client)
    with pytest.raises(errors.InvalidOption):
        backend.set("vibebox-x", "value", tags={"Bad": "x"})
    assert client.mock_calls == []


def test_set_sends_the_crc32c_and_no_sdk_retry():
    client = _fake_client()
    backend = gcp.GcpBackend("p", client=client)
    meta = backend.set("vibebox-x", "s3cret", tags={"team": "core"})
    request = client.add_secret_version.call_args.kwargs["request"]
    assert request["payload"]["data_crc32c"] == gcp.crc32c(b"s3cret")
    assert client.add_secret_version.call_args.kwargs["retry"] is None
    client.update_secret.assert_not_called()  # labels already as wanted
    assert meta.version == "4" and meta.tags == {"team": "core"}


def test_set_updates_only_what_changed_with_the_etag():
    client = _fake_client()
    client.update_secret.return_value = client.get_secret.return_value
    gcp.GcpBackend("p", client=client).set("vibebox-x", "v", description="words")
    request = client.update_secret.call_args.kwargs["request"]
    assert request["update_mask"] == {"paths": ["annotations"]}
    assert request["secret"]["etag"] == '"e1"'
    assert request["secret"]["annotations"] == {gcp.DESCRIPTION_ANNOTATION: "words"}


def test_access_checksum_mismatch_is_retryable_and_hides_the_value():
    client = _fake_client()
    client.access_secret_version.return_value = SimpleNamespace(
        name="projects/1/secrets/vibebox-x/versions/2",
        payload=mock.MagicMock(data=b"s3cret", data_crc32c=gcp.crc32c(b"s3cret") ^ 1,
                               __contains__=lambda self, key: True),
    )
    with pytest.raises(errors.ProviderUnavailable) as caught:
        gcp.GcpBackend("p", client=client).get("vibebox-x")
    assert caught.value.retryable and "s3cret" not in str(caught.value)


def test_credentials_files_are_loaded_by_their_declared_type(tmp_path):
    import json

    with pytest.raises(errors.InvalidOption) as caught:
        gcp.credentials_file_type(str(tmp_path / "missing.json"))
    assert "cannot be read" in str(caught.value)
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(errors.InvalidOption):
        gcp.credentials_file_type(str(tmp_path / "text.json"))
    (tmp_path / "odd.json").write_text(json.dumps({"type": "impersonated_service_account"}))
    with pytest.raises(errors.InvalidOption) as caught:
        gcp.load_credentials_file(str(tmp_path / "odd.json"))
    assert "impersonated_service_account" in str(caught.value)
    user = tmp_path / "user.json"
    user.write_text(json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}))
    from google.oauth2 import credentials as user_credentials

    assert isinstance(gcp.load_credentials_file(str(user)), user_credentials.Credentials)
    broken = tmp_path / "broken-sa.json"
    broken.write_text(json.dumps({"type": "service_account"}))
    with pytest.raises(errors.InvalidOption) as caught:
        gcp.load_credentials_file(str(broken))
    assert "service_account" in str(caught.value)
