"""Pure mapping logic of the azure provider: auth choice, tag rules, version order, error translation.

Service behaviour is tested against the HTTPS fake in tests/integration; here only what needs no
server, with unittest.mock standing in for SDK classes where constructor arguments are the point.
"""
from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
from types import SimpleNamespace
from unittest import mock

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.providers import azure

T0 = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


def _props(version, created=T0, enabled=True, previous=None, tags=None):
    tags = dict(tags or {})
    if previous:
        tags[azure.PREVIOUS_TAG] = previous
    return SimpleNamespace(version=version, created_on=created, updated_on=created, enabled=enabled, tags=tags)


@pytest.mark.parametrize("value,host,off", [
    ("login.microsoftonline.us", "login.microsoftonline.us", False),
    ("https://login.chinacloudapi.cn/", "login.chinacloudapi.cn", False),
    ("https://adfs.local.azurestack.external", "adfs.local.azurestack.external", True),
    ("https://127.0.0.1:8443", "127.0.0.1", True),
    (None, None, False),
])
def test_authority_host_and_instance_discovery(value, host, off):
    assert azure.authority_host(value) == host
    assert azure.needs_instance_discovery_off(value) is off


def test_auth_choice():
    assert azure.choose_auth(None, "t", "c", "s") == "service_principal"
    assert azure.choose_auth("auto", "t", "c", None) == "managed_identity"
    assert azure.choose_auth("managed_identity", None, None, None) == "managed_identity"
    assert azure.choose_auth("DEFAULT", None, None, None) == "default"
    with pytest.raises(errors.InvalidOption) as caught:
        azure.choose_auth("service_principal", "t", None, None)
    assert "AZURE_CLIENT_ID" in str(caught.value) and "AZURE_CLIENT_SECRET" in str(caught.value)
    with pytest.raises(errors.InvalidOption):
        azure.choose_auth("cli", None, None, None)


def test_tag_rules():
    assert azure.check_tags(None) is None
    assert azure.check_tags({"Team": "Core API", "n": 3}) == {"Team": "Core API", "n": "3"}
    for bad in ({azure.PREVIOUS_TAG: "x"}, {f"k{i}": "v" for i in range(15)}, {"k": "v" * 257}, {"": "v"}):
        with pytest.raises(errors.InvalidOption):
            azure.check_tags(bad)
    assert azure.visible_tags({"a": "1", azure.PREVIOUS_TAG: "abc"}) == {"a": "1"}
    with pytest.raises(errors.InvalidOption):
        azure.check_description("d" * 256)


def test_order_follows_the_chain_even_within_one_second():
    # three versions written in the same second: only the chain tags tell their order
    a, b, c = _props("a"), _props("b", previous="a"), _props("c", previous="b")
    assert [p.version for p in azure.order_versions([b, c, a])] == ["c", "b", "a"]
    assert azure.previous_in(azure.order_versions([a, b, c])).version == "b"


def test_previous_skips_disabled_versions():
    a, b, c = _props("a"), _props("b", previous="a", enabled=False), _props("c", previous="b")
    assert azure.previous_in(azure.order_versions([a, b, c])).version == "a"
    assert azure.previous_in(azure.order_versions([_props("only")])) is None


def test_versions_written_elsewhere_are_ordered_by_time():
    old = _props("old", created=T0)
    newer = _props("newer", created=T0 + _dt.timedelta(minutes=1))
    ours = _props("ours", created=T0 + _dt.timedelta(minutes=2), previous="newer")
    assert [p.version for p in azure.order_versions([old, ours, newer])] == ["ours", "newer", "old"]
    assert [p.version for p in azure.order_versions([old, newer])] == ["newer", "old"]
    assert [p.version for p in azure.order_versions([old, newer], current_id="old")] == ["old", "newer"]
    assert azure.order_versions([]) == []


def _http_error(cls, status, code="", inner="", message="msg"):
    exc = cls(message=message)
    exc.status_code = status
    exc.error = SimpleNamespace(code=code, message=message, innererror={"code": inner} if inner else {})
    return exc


def test_translate_statuses():
    from azure.core import exceptions as az

    def tr(exc, version=None):
        return azure.translate(exc, "vibebox-db", version, "https://v.vault.azure.net")

    missing = tr(_http_error(az.ResourceNotFoundError, 404, "SecretNotFound", message="A secret with (name/id) x was not found"))
    assert missing.__class__ is errors.SecretNotFound and "https://v.vault.azure.net" in str(missing) and "404" not in str(missing)
    assert isinstance(tr(_http_error(az.ResourceNotFoundError, 404), "abc"), errors.VersionNotFound)
    disabled = tr(_http_error(az.HttpResponseError, 403, "Forbidden", "SecretDisabled",
                              "Operation get is not allowed on a disabled secret."), "abc")
    assert isinstance(disabled, errors.VersionNotFound) and "version abc is disabled" in str(disabled)
    assert isinstance(tr(_http_error(az.HttpResponseError, 403, "Forbidden", "AccessDenied")), errors.SecretDenied)
    assert "expired" in str(tr(_http_error(az.HttpResponseError, 403, "Forbidden", "SecretExpired")))
    assert isinstance(tr(_http_error(az.ClientAuthenticationError, 401, "Unauthorized")), errors.SecretDenied)
    deleted = tr(_http_error(az.ResourceExistsError, 409, "Conflict", "ObjectIsDeletedButRecoverable",
                             "Secret x is currently in a deleted but recoverable state"))
    assert isinstance(deleted, errors.SecretDeleted) and "Recover" in str(deleted) and "purge" in str(deleted)
    busy = tr(_http_error(az.ResourceExistsError, 409, "Conflict", "ObjectIsBeingDeleted", "Secret is currently being deleted."))
    assert isinstance(busy, errors.ProviderUnavailable) and busy.retryable
    throttled = tr(_http_error(az.HttpResponseError, 429, "Throttled"))
    assert isinstance(throttled, errors.ProviderThrottled) and throttled.retryable
    assert tr(_http_error(az.HttpResponseError, 503, "ServiceUnavailable")).retryable
    assert isinstance(tr(_http_error(az.HttpResponseError, 400, "BadParameter")), errors.InvalidOption)


def test_translate_sign_in_and_transport_errors():
    from azure.core import exceptions as az
    from azure.identity import CredentialUnavailableError

    denied = azure.translate(az.ClientAuthenticationError("ClientSecretCredential.get_token failed: AADSTS7000215"), "n")
    assert isinstance(denied, errors.SecretDenied) and "AZURE_CLIENT_SECRET" in str(denied)
    unavailable = azure.translate(CredentialUnavailableError("ManagedIdentityCredential unavailable"), "n")
    assert isinstance(unavailable, errors.ProviderUnavailable) and not unavailable.retryable
    tls = azure.translate(az.ServiceRequestError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "n")
    assert not tls.retryable and "azure_ca_cert" in str(tls)
    assert azure.translate(az.ServiceRequestError("Connection refused"), "n").retryable
    assert azure.translate(az.ServiceResponseError("reset"), "n").retryable
    challenge = azure.translate(ValueError("The challenge resource 'vault.azure.net' does not match the requested domain"), "n")
    assert isinstance(challenge, errors.InvalidOption) and "azure_verify_challenge_resource" in str(challenge)


def test_from_options_checks_the_vault_url():
    with pytest.raises(errors.InvalidOption):
        azure.AzureBackend.from_options({})
    with pytest.raises(errors.InvalidOption):
        azure.AzureBackend.from_options({"azure_vault_url": "http://v.vault.azure.net"})
    backend = azure.AzureBackend.from_options({"azure_vault_url": "https://v.vault.azure.net/", "azure_tenant_id": "t",
                                               "azure_client_id": "c", "azure_client_secret": "hush"})
    assert backend.auth == "service_principal" and backend.verify_challenge_resource is True
    assert backend.vault_url == "https://v.vault.azure.net" and "hush" not in repr(backend)


def test_credentials_are_built_as_asked():
    from azure import identity

    backend = azure.AzureBackend("https://v", "service_principal", "t", "c", "s",
                                 authority="https://127.0.0.1:9", ca_cert="/ca.pem")
    with mock.patch.object(identity, "ClientSecretCredential") as credential:
        backend._credential({"connection_verify": "/ca.pem"})
    assert credential.call_args.args == ("t", "c", "s")
    assert credential.call_args.kwargs == {"connection_verify": "/ca.pem", "authority": "https://127.0.0.1:9",
                                           "disable_instance_discovery": True}
    public = azure.AzureBackend("https://v", "service_principal", "t", "c", "s", authority="login.microsoftonline.us")
    with mock.patch.object(identity, "ClientSecretCredential") as credential:
        public._credential({})
    assert "disable_instance_discovery" not in credential.call_args.kwargs
    managed = azure.AzureBackend("https://v", "managed_identity", client_id="uami")
    with mock.patch.object(identity, "ManagedIdentityCredential") as credential:
        managed._credential({})
    assert credential.call_args.kwargs == {"client_id": "uami"}
    default = azure.AzureBackend("https://v", "default")
    with mock.patch.object(identity, "DefaultAzureCredential") as credential:
        default._credential({})
    credential.assert_called_once()


def test_set_carries_metadata_and_links_the_previous_version():
    client = mock.Mock()
    current = SimpleNamespace(version="v1", tags={"team": "core", azure.PREVIOUS_TAG: "v0"}, content_type="desc")
    client.get_secret.return_value = SimpleNamespace(properties=current, value="old")
    client.set_secret.return_value = SimpleNamespace(properties=SimpleNamespace(
        version="v2", tags={"team": "core", azure.PREVIOUS_TAG: "v1"}, content_type="desc",
        created_on=T0, updated_on=T0, expires_on=None))
    meta = azure.AzureBackend("https://v", client=client).set("vibebox-x", "new-value")
    kwargs = client.set_secret.call_args.kwargs
    assert kwargs["tags"] == {"team": "core", azure.PREVIOUS_TAG: "v1"} and kwargs["content_type"] == "desc"
    assert meta.tags == {"team": "core"} and meta.description == "desc" and meta.version == "v2"


@pytest.mark.parametrize("blocked", ["azure.keyvault.secrets", "azure.identity"])
def test_missing_sdk_names_both_pip_packages_when_the_provider_is_chosen(blocked):
    with mock.patch.dict(sys.modules, {blocked: None}):
        with pytest.raises(errors.ProviderNotInstalled) as caught:
            azure.AzureBackend.from_options({"azure_vault_url": "https://v.vault.azure.net"})
        assert "pip install azure-keyvault-secrets azure-identity" in str(caught.value)
        with pytest.raises(errors.ProviderNotInstalled):
            azure.AzureBackend("https://v")._client()


def test_importing_the_provider_does_not_import_the_sdk():
    code = (
        "import sys\n"
        "from ansible_collections.vibebox.secrets.plugins.module_utils.providers import azure\n"
        "loaded = [m for m in sys.modules if m.startswith(('azure', 'msal', 'requests'))]\n"
        "assert not loaded, loaded\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
