# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Azure Key Vault secrets as a provider (``https://<vault>.vault.azure.net/secrets/vibebox-<name>``).

Model mapping, because Key Vault's is not the collection's:

- Versions are Key Vault's 32-character version ids. ``current`` is what Key Vault returns without a
  version (the newest one). Key Vault keeps no order beyond a creation time in whole seconds, so
  every version this collection writes records the id it replaced in the tag
  ``vibebox-previous-version``; ``previous`` follows that chain to the newest ENABLED older version
  (creation time orders versions written by other tools). The tag is hidden from ``tags``.
- Tags and the content type belong to one *version* in Key Vault. The description is stored as the
  content type (Key Vault has no description field; 255 characters). A new value without tags or
  description carries the current version's over, so writing a value never drops metadata.
- ``expires_at`` is Key Vault's ``exp`` attribute of the current version (``set``,
  ``update_metadata`` and ``set_expiry`` write it). A new value written by ``set`` carries the current
  version's ``exp`` over, as it carries tags over, so writing a value never drops the secret's expiry.
- Soft delete is the vault's own: ``delete`` waits on the poller until the secret is in the deleted
  collection (so an immediate restore or purge works); ``recovery_days`` cannot be chosen per
  secret (the vault's retention applies); ``force`` or ``recovery_days: 0`` also purges and waits
  until the name is free. ``restore`` recovers and waits.
- ``delete_version`` cannot destroy a Key Vault version (the service has no such call): it disables
  it with update_secret_properties(enabled=False), which makes it unreadable.

Authentication: ``azure_auth`` auto (a service principal when tenant, client id and secret are all
set, else managed identity), service_principal, managed_identity or default (DefaultAzureCredential,
only when asked: it probes several sources and is slow to fail). ``azure_authority_host`` selects a
sovereign cloud, Azure Stack or a test authority; instance discovery is switched off for hosts that
are not Microsoft's public authorities, because discovery asks login.microsoftonline.com about them.

The SDKs are imported inside this file only, on first use. The client's own retries are off
(``retry_total=0``): each request is retried by SecretBackend.request, the only retry, so faults are
not retried twice.
"""
from __future__ import annotations

import datetime as _dt
import importlib
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence
from urllib.parse import urlparse

from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    ProviderNotInstalled,
    ProviderThrottled,
    ProviderUnavailable,
    SecretConflict,
    SecretDeleted,
    SecretDenied,
    SecretError,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.names import NameRule
from ansible_collections.vibebox.secrets.plugins.module_utils.core.registry import Option, ProviderSpec
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    PREVIOUS,
    Secret,
    SecretMetadata,
    VersionInfo,
    is_current,
)

PROVIDER = "azure"
PACKAGE = "azure-keyvault-secrets azure-identity"
PREVIOUS_TAG = "vibebox-previous-version"
#: on a version a losing conditional writer wrote back: the id of the version whose value it holds
RESTORED_TAG = "vibebox-restored-from"
MAX_TAGS = 15
AUTH_MODES = ("auto", "service_principal", "managed_identity", "default")
#: Microsoft's own authority hosts: msal knows them, so instance discovery stays on for them
PUBLIC_AUTHORITIES = frozenset({
    "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
    "login.microsoftonline.us", "login.usgovcloudapi.net", "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
})
DEFAULT_POLL_INTERVAL = 2.0  # the SDK's own default between polls of a delete or recovery
WAIT_LIMIT = 120.0


# --- pure helpers (unit-tested without the SDK) ---------------------------------------------------
def authority_host(value: Optional[str]) -> Optional[str]:
    """``login.microsoftonline.us`` or ``https://host[:port]`` -> host name (None when unset)."""
    if not value:
        return None
    parsed = urlparse(value if "://" in value else f"https://{value}")
    return (parsed.hostname or "").lower() or None


def needs_instance_discovery_off(value: Optional[str]) -> bool:
    host = authority_host(value)
    return bool(host) and host not in PUBLIC_AUTHORITIES


def choose_auth(mode: Optional[str], tenant_id: Optional[str], client_id: Optional[str],
                client_secret: Optional[str]) -> str:
    """``azure_auth`` -> the credential to build; raises InvalidOption for an incomplete service principal."""
    mode = (mode or "auto").strip().lower()
    if mode not in AUTH_MODES:
        raise InvalidOption(f"azure_auth must be one of {', '.join(AUTH_MODES)} (got '{mode}')", provider=PROVIDER)
    if mode == "auto":
        mode = "service_principal" if tenant_id and client_id and client_secret else "managed_identity"
    if mode == "service_principal":
        missing = [f"{option} ({env})" for option, env, value in (
            ("azure_tenant_id", "AZURE_TENANT_ID", tenant_id),
            ("azure_client_id", "AZURE_CLIENT_ID", client_id),
            ("azure_client_secret", "AZURE_CLIENT_SECRET", client_secret),
        ) if not value]
        if missing:
            raise InvalidOption(
                f"a service principal needs {', '.join(missing)}", provider=PROVIDER,
                hint="Set them, or use azure_auth: managed_identity on an Azure host",
            )
    return mode


def check_tags(tags: Optional[Mapping[str, Any]]) -> Optional[Dict[str, str]]:
    """Tags -> Key Vault tags, checked before any call (15 per version, one kept for the version chain)."""
    if tags is None:
        return None
    if not isinstance(tags, Mapping):
        raise InvalidOption("tags must be a mapping of names to values", provider=PROVIDER)
    checked = {str(key): "" if value is None else str(value) for key, value in tags.items()}
    if PREVIOUS_TAG in checked:
        raise InvalidOption(f"the tag name '{PREVIOUS_TAG}' is reserved by this collection", provider=PROVIDER)
    if len(checked) > MAX_TAGS - 1:
        raise InvalidOption(
            f"{len(checked)} tags given; Key Vault allows {MAX_TAGS} per secret and this collection uses one",
            provider=PROVIDER, hint=f"Use at most {MAX_TAGS - 1} tags",
        )
    for key, value in checked.items():
        if not key or len(key) > 512:
            raise InvalidOption(f"tag name '{key[:40]}' must be 1-512 characters", provider=PROVIDER)
        if len(value) > 256:
            raise InvalidOption(f"the value of tag '{key}' is longer than 256 characters", provider=PROVIDER)
    return checked


def check_description(description: Optional[str]) -> Optional[str]:
    if description is None:
        return None
    description = str(description)
    if len(description) > 255:
        raise InvalidOption(
            "the description is longer than 255 characters (it is stored as the Key Vault content type)",
            provider=PROVIDER,
        )
    return description


def visible_tags(tags: Optional[Mapping[str, str]]) -> Dict[str, str]:
    return {key: value for key, value in (tags or {}).items() if key not in (PREVIOUS_TAG, RESTORED_TAG)}


def _when(value: Optional[_dt.datetime]) -> _dt.datetime:
    return value or _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)


def order_versions(props: Sequence[Any], current_id: Optional[str] = None) -> List[Any]:
    """Versions newest first: current, then the chain of ``vibebox-previous-version`` tags, then the rest by time.

    ``props`` are objects with ``version``, ``tags``, ``created_on`` and ``updated_on``
    (SecretProperties). Without ``current_id`` the current one is the newest version no other
    version points back to, which is what Key Vault serves as current for versions we wrote.
    """
    if not props:
        return []
    by_id = {item.version: item for item in props}
    if current_id not in by_id:
        referenced = {(item.tags or {}).get(PREVIOUS_TAG) for item in props}
        heads = [item for item in props if item.version not in referenced] or list(props)
        current_id = max(heads, key=lambda item: (_when(item.created_on), _when(item.updated_on))).version
    ordered = [by_id[current_id]]
    seen = {current_id}
    link = (by_id[current_id].tags or {}).get(PREVIOUS_TAG)
    while link in by_id and link not in seen:
        ordered.append(by_id[link])
        seen.add(link)
        link = (by_id[link].tags or {}).get(PREVIOUS_TAG)
    rest = [item for item in props if item.version not in seen]
    rest.sort(key=lambda item: (_when(item.created_on), _when(item.updated_on)), reverse=True)
    return ordered + rest


def previous_in(ordered: Sequence[Any]) -> Optional[Any]:
    """The newest enabled version after the current one in ``order_versions`` order."""
    return next((item for item in ordered[1:] if item.enabled is not False), None)


def _error_codes(exc: BaseException) -> tuple:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    inner = getattr(error, "innererror", None) or {}
    inner_code = inner.get("code", "") if isinstance(inner, dict) else getattr(inner, "code", "") or ""
    message = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    return code, inner_code, str(message).strip().splitlines()[0][:400] if str(message).strip() else ""


def translate(exc: BaseException, name: Optional[str], version: Optional[str] = None, vault: str = "") -> SecretError:
    """An azure-core / azure-identity exception -> the core error a user can act on (no status numbers alone)."""
    from azure.core import exceptions as azexc  # the caller has already imported the SDK

    context = dict(provider=PROVIDER, provider_name=name)
    code, inner, message = _error_codes(exc)
    status = getattr(exc, "status_code", None)
    label = "the current version" if is_current(version) else f"version {version}"
    if isinstance(exc, azexc.ClientAuthenticationError) and status is None:
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import network

        if network.caused_by(exc, (azexc.ServiceRequestError, azexc.ServiceResponseError)):
            # the token request got no answer: name the sign-in endpoint, not a credential problem
            return network.unreachable("the Azure sign-in endpoint", network.tried_endpoint(exc, None), exc,
                                       address="azure_authority_host (AZURE_AUTHORITY_HOST)",
                                       ca="azure_ca_cert (AZURE_CA_CERT)", **context)
        if type(exc).__name__ == "CredentialUnavailableError":
            return ProviderUnavailable(
                f"no Azure credential is available: {message}", retryable=False, **context,
                hint="Set azure_tenant_id, azure_client_id and azure_client_secret (AZURE_*), run on an Azure host"
                     " with a managed identity, or use azure_auth: default",
            )
        return SecretDenied(
            f"Azure sign-in failed: {message}", **context,
            hint="Check azure_tenant_id (AZURE_TENANT_ID), azure_client_id (AZURE_CLIENT_ID), azure_client_secret"
                 " (AZURE_CLIENT_SECRET) and azure_authority_host",
        )
    if status == 401:
        return SecretDenied(f"the vault did not accept the token: {message}", **context,
                            hint="Check that the identity belongs to the vault's tenant")
    if status == 404 or isinstance(exc, azexc.ResourceNotFoundError):
        if not is_current(version):
            return VersionNotFound(f"{label} does not exist", **context,
                                   hint="List the versions with vibebox.secrets.secret_info")
        where = f" in {vault}" if vault else ""
        return SecretNotFound(f"it does not exist{where}", **context,
                              hint="Create it with vibebox.secrets.secret (state: present), or check azure_vault_url and the prefix")
    if status == 403:
        if inner == "SecretDisabled" or "disabled secret" in message:
            return VersionNotFound(f"{label} is disabled and cannot be read", **context,
                                   hint="Enable it again (az keyvault secret set-attributes --enabled true) or read another version")
        if inner == "SecretExpired" or "expired secret" in message:
            return SecretDenied(f"{label} has expired and the vault refuses to return it", **context,
                                hint="Set a new value, or move its expiry date")
        return SecretDenied(f"the vault refused access: {message}", **context,
                            hint="Give the identity the secret permissions it needs (access policy get/list/set/delete/"
                                 "recover/purge, or the role Key Vault Secrets Officer)")
    if status == 409 or isinstance(exc, azexc.ResourceExistsError):
        if inner == "ObjectIsDeletedButRecoverable" or "deleted but recoverable" in message:
            return SecretDeleted(
                "it is deleted but still recoverable, so its name cannot be used for a new secret", **context,
                hint="Recover it (vibebox.secrets.secret with state: present restores it; az keyvault secret recover)"
                     " or purge it (state: absent with force: true; az keyvault secret purge), then try again",
            )
        if inner.startswith("ObjectIsBeing") or "currently being" in message:
            return ProviderUnavailable(f"a delete, purge or recovery of it is still in progress: {message}",
                                       retryable=True, **context)
        return SecretConflict(f"the vault reported a conflict: {message}", **context)
    if status == 429:
        return ProviderThrottled("Key Vault is throttling requests", retryable=True, **context,
                                 hint="Lower forks or request rate; Key Vault limits requests per vault")
    if status is not None and status >= 500:
        return ProviderUnavailable(f"Key Vault failed temporarily: {message or code}", retryable=True, **context)
    if status == 400:
        return InvalidOption(f"Key Vault rejected the request: {message}", **context)
    if isinstance(exc, (azexc.ServiceRequestError, azexc.ServiceResponseError)):
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import network

        # the failed request went to the vault or to the sign-in authority: the chain says which
        endpoint = network.tried_endpoint(exc, vault)
        to_vault = not vault or endpoint == network.endpoint_label(vault)
        failure = network.network_failure(exc)
        if failure == network.NETWORK and isinstance(exc, azexc.ServiceResponseError):
            failure = network.CLOSED  # connected, then the answer never came whole
        return network.unreachable(
            "Key Vault" if to_vault else "the Azure sign-in endpoint", endpoint, exc, failure=failure,
            address="azure_vault_url (AZURE_KEYVAULT_URL)" if to_vault else "azure_authority_host (AZURE_AUTHORITY_HOST)",
            ca="azure_ca_cert (AZURE_CA_CERT)", **context,
        )
    if isinstance(exc, azexc.HttpResponseError):
        return ProviderUnavailable(f"Key Vault failed: {message or code}", retryable=False, **context)
    if isinstance(exc, ValueError) and "challenge resource" in message:
        return InvalidOption(
            f"the vault's authentication challenge does not match its URL: {message}", **context,
            hint="For a private endpoint or test server whose host is not under vault.azure.net, set"
                 " azure_verify_challenge_resource: false",
        )
    if isinstance(exc, ValueError):
        return InvalidOption(f"the Azure client rejected its settings: {message}", **context)
    return ProviderUnavailable(f"unexpected error from the Azure client: {type(exc).__name__}", retryable=False, **context)


def _sdk() -> Any:
    """(azure.keyvault.secrets, azure.identity), imported on first need; ProviderNotInstalled names both packages."""
    try:
        return importlib.import_module("azure.keyvault.secrets"), importlib.import_module("azure.identity")
    except ImportError as exc:
        raise ProviderNotInstalled(PROVIDER, PACKAGE, exc)


# --- the backend -------------------------------------------------------------------------------------
class AzureBackend(SecretBackend):
    name = PROVIDER
    supports_versions = True
    supports_restore = True
    native_expiry = True  # the current version's ``exp`` (set_expiry)
    clears_expiry = False  # the SDK leaves a None ``expires_on`` out of the request: ``exp`` cannot be removed

    def __init__(
        self,
        vault_url: str,
        auth: str = "service_principal",
        tenant_id: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        authority: Optional[str] = None,
        ca_cert: Optional[str] = None,
        verify_challenge_resource: bool = True,
        client: Any = None,
    ) -> None:
        self.vault_url = vault_url.rstrip("/")
        self.auth = auth
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.authority = authority
        self.ca_cert = ca_cert
        self.verify_challenge_resource = verify_challenge_resource
        #: seconds between polls of a delete, purge or recovery (the SDK's 2 s; tests against the fake use less)
        self.poll_interval = DEFAULT_POLL_INTERVAL
        self._client_obj = client
        self._credential_obj: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "AzureBackend":
        vault_url = options.get("azure_vault_url")
        if not vault_url:
            raise InvalidOption(
                "azure_vault_url is required for provider azure", provider=PROVIDER,
                hint="Set azure_vault_url or AZURE_KEYVAULT_URL, e.g. https://my-vault.vault.azure.net",
            )
        if urlparse(str(vault_url)).scheme != "https":
            raise InvalidOption(f"azure_vault_url must be an https URL (got '{vault_url}')", provider=PROVIDER)
        tenant, client_id, secret = (options.get(k) or None for k in
                                     ("azure_tenant_id", "azure_client_id", "azure_client_secret"))
        auth = choose_auth(options.get("azure_auth"), tenant, client_id, secret)
        verify = options.get("azure_verify_challenge_resource")
        _sdk()  # a host without the SDKs fails when the provider is chosen, not halfway through a run
        return cls(
            vault_url=str(vault_url), auth=auth, tenant_id=tenant, client_id=client_id, client_secret=secret,
            authority=options.get("azure_authority_host") or None, ca_cert=options.get("azure_ca_cert") or None,
            verify_challenge_resource=True if verify is None else bool(verify),
        )

    def __repr__(self) -> str:  # never the client secret
        return f"AzureBackend(vault_url={self.vault_url!r}, auth={self.auth!r})"

    # client -----------------------------------------------------------------------------------------
    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                self._client_obj = self._build_client()
            return self._client_obj

    def _build_client(self) -> Any:
        secrets, _identity = _sdk()
        transport: Dict[str, Any] = {}
        if self.ca_cert:
            transport["connection_verify"] = self.ca_cert
        try:
            self._credential_obj = self._credential(transport)
            return secrets.SecretClient(
                self.vault_url, self._credential_obj,
                verify_challenge_resource=self.verify_challenge_resource,
                retry_total=0, connection_timeout=10, read_timeout=60, **transport,
            )
        except SecretError:
            raise
        except Exception as exc:
            raise translate(exc, None, vault=self.vault_url)

    def _credential(self, transport: Dict[str, Any]) -> Any:
        _secrets, identity = _sdk()
        signin = dict(transport)
        if self.authority:
            signin["authority"] = self.authority
            if needs_instance_discovery_off(self.authority):
                signin["disable_instance_discovery"] = True
        if self.auth == "service_principal":
            return identity.ClientSecretCredential(self.tenant_id, self.client_id, self._client_secret, **signin)
        if self.auth == "managed_identity":
            return identity.ManagedIdentityCredential(client_id=self.client_id, **transport)
        return identity.DefaultAzureCredential(managed_identity_client_id=self.client_id, **signin)

    def identity(self) -> Dict[str, str]:
        """The vault URL names one Key Vault; the credential does not."""
        return {"provider": PROVIDER, "vault_url": self.vault_url.lower()}

    def close(self) -> None:
        with self._lock:
            client, self._client_obj = self._client_obj, None
            credential, self._credential_obj = self._credential_obj, None
        for item in (client, credential):
            try:
                if item is not None:
                    item.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass

    def _call(self, name: Optional[str], operation, version: Optional[str] = None) -> Any:
        """One request (retried alone by SecretBackend.request); SDK errors become core errors here."""
        def send() -> Any:
            client = self._client()
            try:
                return operation(client)
            except SecretError:
                raise
            except Exception as exc:
                raise translate(exc, name, version, self.vault_url) from None

        return self.request(send, name)

    def _wait(self, name: str, poller: Any, what: str) -> None:
        self._call(name, lambda _c: poller.wait(timeout=WAIT_LIMIT))
        if not poller.done():
            raise ProviderUnavailable(f"the vault did not finish the {what} within {WAIT_LIMIT:.0f}s",
                                      retryable=False, provider=PROVIDER, provider_name=name)

    # reads ------------------------------------------------------------------------------------------
    def _props(self, name: str) -> List[Any]:
        return self._call(name, lambda c: list(c.list_properties_of_secret_versions(name)))

    def _deleted(self, name: str) -> Optional[Any]:
        """The deleted secret, or None; permission or transport problems read as 'not deleted'."""
        try:
            return self._call(name, lambda c: c.get_deleted_secret(name))
        except SecretNotFound:
            return None
        except SecretDenied:
            return None

    def _missing(self, name: str, error: SecretNotFound) -> SecretError:
        """A 404 on a live secret: say 'deleted, recoverable' when it is, else keep the not-found error."""
        deleted = self._deleted(name)
        if deleted is None:
            return error
        purge = deleted.scheduled_purge_date.isoformat() if deleted.scheduled_purge_date else "the vault's retention ends"
        return SecretDeleted(
            f"it was deleted and can be recovered until {purge}", provider=PROVIDER, provider_name=name,
            hint="Restore it (vibebox.secrets.secret with state: present restores and sets it) or purge it",
        )

    def _meta(self, name: str, props: Any, stages: Optional[List[str]] = None,
              all_props: Optional[Sequence[Any]] = None) -> SecretMetadata:
        created = props.created_on
        if all_props:
            created = min((p.created_on for p in all_props if p.created_on), default=created)
        return SecretMetadata(
            name=name,
            version=props.version,
            created_at=created,
            updated_at=props.updated_on,
            expires_at=props.expires_on,
            tags=visible_tags(props.tags),
            description=props.content_type,
            stages=list(stages or []),
            provider_name=name,
            versions_count=len(all_props) if all_props is not None else None,
        )

    def get(self, name: str, version: Optional[str] = None) -> Secret:
        stages: List[str] = []
        wanted: Optional[str] = None
        if is_current(version):
            stages = ["current"]
        elif version == PREVIOUS:
            ordered = self._ordered(name)
            found = previous_in(ordered)
            if found is None:
                raise VersionNotFound(
                    "it has no previous enabled version", provider=PROVIDER, provider_name=name,
                    hint="A previous version exists only after the secret has been changed or rotated",
                )
            wanted, stages = found.version, ["previous"]
        else:
            wanted = str(version)
        try:
            secret = self._call(name, lambda c: c.get_secret(name, wanted), version=wanted)
        except VersionNotFound:
            raise
        except SecretNotFound as exc:
            raise self._missing(name, exc) from None
        return Secret(secret.value or "", self._meta(name, secret.properties, stages))

    def _ordered(self, name: str) -> List[Any]:
        try:
            return order_versions(self._props(name))
        except VersionNotFound:
            raise
        except SecretNotFound as exc:
            raise self._missing(name, exc) from None

    def describe(self, name: str) -> SecretMetadata:
        try:
            props = self._props(name)
        except SecretNotFound as exc:
            deleted = self._deleted(name)
            if deleted is None:
                raise exc from None
            meta = self._meta(name, deleted.properties)
            meta.deleted_at = deleted.deleted_date
            return meta
        ordered = order_versions(props)
        return self._meta(name, ordered[0], ["current"], props)

    def versions(self, name: str) -> List[VersionInfo]:
        ordered = self._ordered(name)
        previous = previous_in(ordered)
        found = []
        for index, item in enumerate(ordered):
            stages = ["current"] if index == 0 else ["previous"] if previous is not None and item is previous else []
            # Key Vault cannot destroy a version, only disable it: a disabled version can no longer be
            # read, so for cleanup it is gone (a second cleanup must not "destroy" it again)
            disabled = item.enabled is False
            found.append(VersionInfo(item.version, item.created_on, stages, enabled=not disabled, destroyed=disabled))
        return found

    def list(self, prefix: str = "") -> List[str]:
        found = self._call(None, lambda c: [p.name for p in c.list_properties_of_secrets()])
        return sorted(item for item in found if item and item.startswith(prefix))

    # writes -----------------------------------------------------------------------------------------
    def _current_props(self, name: str) -> Optional[Any]:
        """The current version's properties (None when there is no live secret).

        Read with get_secret, which is the service's own idea of current; when that version cannot be
        read (disabled, or no 'get' permission) the version list answers instead.
        """
        try:
            return self._call(name, lambda c: c.get_secret(name)).properties
        except VersionNotFound:
            pass
        except SecretNotFound:
            return None
        except SecretDenied:
            pass
        try:
            ordered = order_versions(self._props(name))
        except (SecretNotFound, SecretDenied):
            return None
        return ordered[0] if ordered else None

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None, *,
            expires_at: Optional[_dt.datetime] = None) -> SecretMetadata:
        checked = check_tags(tags)  # before any call
        description = check_description(description)
        current = self._current_props(name)
        if expect_version is not None and (current.version if current is not None else "") != expect_version:
            raise self._conflict(name, f"its current version is {current.version if current else 'none'},"
                                       f" not {expect_version or 'none'}")
        new_tags = dict(checked) if checked is not None else visible_tags(current.tags if current else None)
        if current is not None and current.version:
            new_tags[PREVIOUS_TAG] = current.version
        content_type = description if description is not None else (current.content_type if current else None)
        if expires_at is None and current is not None:
            expires_at = getattr(current, "expires_on", None)  # a new value keeps the secret's expiry, as it keeps its tags
        secret = self._call(name, lambda c: c.set_secret(
            name, value, tags=new_tags or None, content_type=content_type or None, expires_on=expires_at))
        if expect_version is not None:
            self._settle_race(name, secret.properties, expect_version)
        return self._meta(name, secret.properties, ["current"])

    def _conflict(self, name: str, why: str) -> SecretConflict:
        return SecretConflict(
            f"another writer changed it first ({why})", provider=PROVIDER, provider_name=name,
            hint="Read the secret again and repeat the change if it is still needed",
        )

    def _settle_race(self, name: str, mine: Any, expected: str) -> None:
        """The 'after' half of a conditional write, since Key Vault has none.

        The check before the write leaves a window of one request: two writers that both saw
        ``expected`` can both write. Each then lists the versions: every other version that replaced
        ``expected`` is a sibling. A writer that finds a sibling created before its own version, or in
        the same second (Key Vault keeps whole seconds, so the order inside a second is unknown), has
        lost: it puts the sibling's value back as the newest version, disables its own and raises
        SecretConflict. Ties lose on both sides, so two writers never both report success. What
        remains possible: a reader can get a loser's value for the moment before it is replaced, and
        two writers in the same second can both lose (the secret still holds one of their values).
        """
        props = self._props(name)
        live = [item for item in props if item.version != mine.version and item.enabled is not False]
        if any((item.tags or {}).get(RESTORED_TAG) == mine.version for item in live):
            return  # another writer lost to this one and already put this value back
        if expected:
            others = [item for item in live if (item.tags or {}).get(PREVIOUS_TAG) == expected
                      and not (item.tags or {}).get(RESTORED_TAG)]
        else:
            others = [item for item in live if not (item.tags or {}).get(RESTORED_TAG)]  # all were creators
        mine_at = _when(getattr(mine, "created_on", None))
        earlier = [item for item in others if _when(item.created_on) <= mine_at]
        if not earlier:
            return
        first = min(earlier, key=lambda item: (_when(item.created_on), item.version or ""))
        winner = self._call(name, lambda c: c.get_secret(name, first.version), version=first.version)
        restored_tags = dict(first.tags or {})
        if len(restored_tags) < MAX_TAGS:  # the mark is best effort: a version holds at most MAX_TAGS tags
            restored_tags[RESTORED_TAG] = first.version
        self._call(name, lambda c: c.set_secret(
            name, winner.value, tags=restored_tags or None, content_type=first.content_type or None))
        self._call(name, lambda c: c.update_secret_properties(name, mine.version, enabled=False),
                   version=mine.version)
        raise self._conflict(name, f"version {first.version} replaced {expected or 'nothing'} at the same moment;"
                                   " its value is current again and the version this write made is disabled")

    def update_metadata(self, name: str, description: Optional[str] = None, tags: Optional[Dict[str, str]] = None,
                        *, expires_at: Optional[_dt.datetime] = None) -> SecretMetadata:
        checked = check_tags(tags)
        description = check_description(description)
        current = self._current_props(name)
        if current is None:
            raise self._missing(name, SecretNotFound("it does not exist", provider=PROVIDER, provider_name=name))
        kwargs: Dict[str, Any] = {}
        if checked is not None:
            new_tags = dict(checked)
            link = (current.tags or {}).get(PREVIOUS_TAG)
            if link:
                new_tags[PREVIOUS_TAG] = link
            kwargs["tags"] = new_tags
        if description is not None:
            kwargs["content_type"] = description
        if expires_at is not None:
            kwargs["expires_on"] = expires_at
        if not kwargs:
            return self._meta(name, current, ["current"])
        props = self._call(name, lambda c: c.update_secret_properties(name, current.version, **kwargs))
        return self._meta(name, props, ["current"])

    def set_expiry(self, name: str, expires_at: Optional[_dt.datetime],
                   tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        """Key Vault's own ``exp`` on the current version (one request; a later value starts without one)."""
        if expires_at is None:
            raise UnsupportedOperation("Key Vault's SDK cannot remove a secret's expiry", provider=PROVIDER, provider_name=name,
                                       hint="Give a later expires_at instead")
        return self.update_metadata(name, expires_at=expires_at)

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        """Soft delete and wait until it is in the deleted collection; purge too when forced."""
        purge = force or recovery_days == 0
        try:
            poller = self._call(name, lambda c: c.begin_delete_secret(name, _polling_interval=self.poll_interval))
        except SecretNotFound as exc:
            if self._deleted(name) is None:
                raise exc from None
            if purge:  # already soft-deleted: finish the job
                self._purge(name)
            return
        self._wait(name, poller, "deletion")
        recovery_id = getattr(poller.result(), "recovery_id", None)
        if purge and recovery_id:  # no recovery id: the vault has no soft delete and the secret is gone already
            self._purge(name)

    def _purge(self, name: str) -> None:
        self._call(name, lambda c: c.purge_deleted_secret(name))
        deadline = time.monotonic() + WAIT_LIMIT
        while self._deleted(name) is not None:  # the name is free once the deleted entry is gone
            if time.monotonic() > deadline:
                raise ProviderUnavailable(f"the vault did not finish the purge within {WAIT_LIMIT:.0f}s",
                                          retryable=False, provider=PROVIDER, provider_name=name)
            time.sleep(self.poll_interval)

    def restore(self, name: str) -> SecretMetadata:
        try:
            poller = self._call(name, lambda c: c.begin_recover_deleted_secret(name, _polling_interval=self.poll_interval))
        except SecretNotFound:
            return self.describe(name)  # live already: nothing to recover (or SecretNotFound when it is not)
        self._wait(name, poller, "recovery")
        return self.describe(name)

    def delete_version(self, name: str, version: str) -> None:
        """Key Vault cannot destroy one version: disable it, which makes it unreadable."""
        ordered = self._ordered(name)
        if version == PREVIOUS:
            target = previous_in(ordered)
        else:
            target = next((item for item in ordered if item.version == version), None)
        if target is None:
            raise VersionNotFound(f"version {version} does not exist", provider=PROVIDER, provider_name=name)
        if target is ordered[0]:
            raise UnsupportedOperation(
                "the current version cannot be disabled", provider=PROVIDER, provider_name=name,
                hint="Rotate first, then clean up the old version",
            )
        if target.enabled is False:
            return
        self._call(name, lambda c: c.update_secret_properties(name, target.version, enabled=False),
                   version=target.version)


# what the rest of the collection knows about this provider (core/registry.py) -----------------------
SPEC = ProviderSpec(
    name=PROVIDER,
    backend=AzureBackend,
    options=(
        Option("azure_vault_url", dict(type="str"), ("AZURE_KEYVAULT_URL",)),
        Option("azure_tenant_id", dict(type="str"), ("AZURE_TENANT_ID",)),
        Option("azure_client_id", dict(type="str"), ("AZURE_CLIENT_ID",)),
        Option("azure_client_secret", dict(type="str", no_log=True), ("AZURE_CLIENT_SECRET",)),
        Option("azure_auth", dict(type="str", choices=list(AUTH_MODES)), ("AZURE_AUTH",)),
        Option("azure_authority_host", dict(type="str"), ("AZURE_AUTHORITY_HOST",)),
        Option("azure_ca_cert", dict(type="path"), ("AZURE_CA_CERT",)),
        Option("azure_verify_challenge_resource", dict(type="bool")),
    ),
    name_rule=NameRule(r"[A-Za-z0-9-]+", 127, "letters, digits and '-'", "vibebox-"),
    max_value_bytes=25 * 1024,
    detected_by="AZURE_KEYVAULT_URL",
    prefix_env="AZURE_SECRET_PREFIX",
    package=PACKAGE,
)
