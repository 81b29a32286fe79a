# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""HashiCorp Vault and OpenBao KV secrets (KV v2 by default, KV v1 on request), through hvac.

Why it is written this way:

- hvac is imported only when a backend is built (never when this file is imported), so a run with
  another provider does not need it and a host without it gets ProviderNotInstalled, not a traceback.
- Requests go through hvac's adapter with ``raise_exception=False``: we need the HTTP status and the
  body of error answers (a 404 for a soft-deleted version carries its deletion time), and one mapping
  function (``translate``) turns every answer into a core error that names the API path a policy
  must allow. No SDK exception leaves this file.
- A value is stored as ``{"value": ...}``. KV v2 keeps description and tags in the secret's
  ``custom_metadata``; KV v1 has no metadata, so they ride along in the same data as extra fields.
- KV v1 and KV v2 are two classes over one transport (VaultBackend: client, login, requests, error
  translation); ``VaultBackend.from_options`` builds the one for ``vault_kv_version``.
- KV v2 writes use check-and-set with the version read just before, so two writers cannot silently
  overwrite each other (the loser gets SecretConflict). KV v1 cannot do that.
- delete() soft-deletes every live version and keeps the metadata, so restore() is an undelete;
  ``force`` deletes the metadata and every version for good. Vault never purges soft-deleted versions
  by itself, so ``recovery_days`` has no effect here (0 means force, as everywhere).
- AppRole logs in once per backend and reuses the token until shortly before its TTL ends: one login
  per run, not one per lookup.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend, fan_out
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    scrub,
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
    Observed,
    Secret,
    SecretMetadata,
    VersionInfo,
    is_current,
)

PROVIDER = "vault"
PACKAGE = "hvac"
DEFAULT_MOUNT = "secret"
DEFAULT_TIMEOUT = 30.0
APPROLE_MOUNT = "approle"
#: the data field that holds the value
VALUE_FIELD = "value"
#: custom_metadata key (KV v2) or data field (KV v1) that holds the description
DESCRIPTION_KEY = "vibebox.description"
#: data field (KV v1 only) that holds the tags; KV v2 keeps each tag as its own custom_metadata key
TAGS_FIELD = "vibebox.tags"
#: Vault's limits on custom_metadata (checked before a write so the error names the tag)
MAX_CUSTOM_KEYS = 64
MAX_CUSTOM_KEY_LENGTH = 128
MAX_CUSTOM_VALUE_LENGTH = 512

_FRACTION = re.compile(r"(\.\d{6})\d+")


# pure helpers (unit-tested without a server) -------------------------------------------------------
def parse_time(text: Optional[str]) -> Optional[_dt.datetime]:
    """Vault's RFC 3339 times carry nanoseconds, which older Pythons' fromisoformat rejects."""
    if not text:
        return None
    cleaned = _FRACTION.sub(r"\1", str(text)).replace("Z", "+00:00")
    try:
        moment = _dt.datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def version_state(info: Mapping[str, Any], now: Optional[_dt.datetime] = None) -> str:
    """'live', 'deleted' or 'destroyed' for one entry of a KV v2 metadata ``versions`` map.

    A deletion_time in the future is not a deletion yet: it is what ``delete_version_after`` sets.
    """
    if info.get("destroyed"):
        return "destroyed"
    deleted = parse_time(info.get("deletion_time"))
    if deleted is not None and deleted <= (now or _dt.datetime.now(_dt.timezone.utc)):
        return "deleted"
    return "live"


def previous_version(metadata: Mapping[str, Any], now: Optional[_dt.datetime] = None) -> Optional[int]:
    """The newest version older than the current one that can still be read (not deleted or destroyed)."""
    current = int(metadata.get("current_version") or 0)
    candidates = [
        int(number)
        for number, info in (metadata.get("versions") or {}).items()
        if int(number) < current and version_state(info, now) == "live"
    ]
    return max(candidates) if candidates else None


def value_from_data(data: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The secret's value from a KV data map.

    Our own secrets hold ``{"value": "..."}``. A secret written by someone else with several fields
    comes back as a JSON object of them, so ``json_key`` in a lookup can pick one field.
    """
    if data is None:
        return None
    fields = {key: item for key, item in data.items() if key not in (DESCRIPTION_KEY, TAGS_FIELD)}
    if VALUE_FIELD in fields and len(fields) == 1:
        item = fields[VALUE_FIELD]
        return item if isinstance(item, str) else json.dumps(item, sort_keys=True)
    return json.dumps(fields, sort_keys=True)


def tags_from_custom(custom: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    return {str(key): str(item) for key, item in (custom or {}).items() if key != DESCRIPTION_KEY}


def merge_custom(
    current: Optional[Mapping[str, Any]], description: Optional[str], tags: Optional[Mapping[str, str]]
) -> Dict[str, str]:
    """The custom_metadata to write: None for description or tags means 'leave that part as it is'. Tags that
    replace the others keep the expiry (expiry.EXPIRY_TAG) unless they give one; set_expiry removes it."""
    merged: Dict[str, str] = {str(k): str(v) for k, v in (current or {}).items()}
    if tags is not None:
        kept = {key: merged[key] for key in (DESCRIPTION_KEY, expiry.EXPIRY_TAG) if key in merged}
        merged = {str(k): str(v) for k, v in tags.items()}
        for key, item in kept.items():
            merged.setdefault(key, item)
    if description is not None:
        if description == "":
            merged.pop(DESCRIPTION_KEY, None)
        else:
            merged[DESCRIPTION_KEY] = description
    return merged


def check_custom(name: str, description: Optional[str], tags: Optional[Mapping[str, str]]) -> None:
    """Vault's custom_metadata limits, checked before any call so the message names the bad tag."""
    def fail(reason: str) -> InvalidOption:
        return InvalidOption(reason, provider=PROVIDER, provider_name=name,
                             hint="Vault custom_metadata allows 64 keys of up to 128 characters with values of up to 512")

    for key, item in (tags or {}).items():
        if key == DESCRIPTION_KEY:
            raise fail(f"the tag name '{DESCRIPTION_KEY}' is reserved for the description")
        if not key or len(str(key)) > MAX_CUSTOM_KEY_LENGTH:
            raise fail(f"the tag name '{str(key)[:40]}' must be 1-{MAX_CUSTOM_KEY_LENGTH} characters")
        if len(str(item)) > MAX_CUSTOM_VALUE_LENGTH:
            raise fail(f"the value of tag '{key}' is longer than {MAX_CUSTOM_VALUE_LENGTH} characters")
    if description is not None and len(description) > MAX_CUSTOM_VALUE_LENGTH:
        raise fail(f"the description is longer than {MAX_CUSTOM_VALUE_LENGTH} characters")
    if tags is not None and len(tags) + 1 > MAX_CUSTOM_KEYS:
        raise fail(f"{len(tags)} tags are too many")


def version_number(version: Any, name: str) -> int:
    try:
        number = int(str(version))
    except ValueError:
        number = 0
    if number < 1:
        raise VersionNotFound(
            f"version '{version}' is not a KV v2 version number",
            provider=PROVIDER,
            provider_name=name,
            hint="Use current, previous or a version number from vibebox.secrets.secret_info",
        )
    return number


def translate(
    status: int,
    messages: Optional[Iterable[str]],
    *,
    api_path: str,
    capability: str,
    provider_name: Optional[str] = None,
    namespace: Optional[str] = None,
    secret_value: Optional[str] = None,
    login: bool = False,
) -> SecretError:
    """One core error for one Vault answer; the message names the API path a policy must allow."""
    said = scrub("; ".join(str(item) for item in (messages or []) if item) or f"HTTP {status}", secret_value)
    where = f"'{api_path}'" + (f" in namespace '{namespace}'" if namespace else "")
    context = dict(provider=PROVIDER, provider_name=provider_name)
    if login:
        if status in (400, 401, 403):
            return SecretDenied(
                f"the AppRole login at {where} was refused ({said})",
                hint="Check vault_role_id and vault_secret_id (a secret_id can expire or be used up), and vault_namespace",
                **context,
            )
    if status == 400 and "check-and-set" in said:
        return SecretConflict(
            f"somebody else wrote {where} between our read and our write (check-and-set failed)",
            hint="Nothing was overwritten; read the secret again and repeat the change",
            **context,
        )
    if status == 401:
        return SecretDenied(
            f"Vault did not accept the credentials for {where} ({said})",
            hint="Set vault_token (VAULT_TOKEN) or vault_role_id and vault_secret_id (VAULT_ROLE_ID, VAULT_SECRET_ID)",
            **context,
        )
    if status == 403:
        return SecretDenied(
            f"Vault denied '{capability}' on {where} ({said})",
            hint=f'The token\'s policies must grant capabilities = ["{capability}"] on path "{api_path}"'
            " (an expired or revoked token is also answered with 403)",
            **context,
        )
    if status == 404:
        return SecretNotFound(
            f"Vault has nothing at {where}",
            hint="Check the name, prefix, vault_mount and vault_namespace. Vault can also answer 404 when the token"
            " may not see the path, so check the token's policy too",
            **context,
        )
    if status == 405:
        return UnsupportedOperation(
            f"Vault does not support this operation on {where} ({said})",
            hint="Check that vault_mount is a KV engine and vault_kv_version matches it",
            **context,
        )
    if status == 429:
        return ProviderThrottled(f"Vault rate-limited the request to {where} ({said})", **context)
    if status == 501:
        return ProviderUnavailable(
            "Vault is not initialized", retryable=False, hint="Initialize and unseal the server", **context
        )
    if status == 503 and "sealed" in said.lower():
        return ProviderUnavailable(
            "Vault is sealed", retryable=False, hint="Unseal the server, then run again", **context
        )
    if status == 412 or status >= 500:
        return ProviderUnavailable(f"Vault answered HTTP {status} for {where} ({said})", retryable=True, **context)
    if status == 400:
        return InvalidOption(
            f"Vault rejected the request to {where} ({said})",
            hint="If the mount is KV version 1, set vault_kv_version: 1",
            **context,
        )
    return ProviderUnavailable(f"unexpected HTTP {status} from Vault for {where} ({said})", retryable=False, **context)


def _sdk():
    """hvac and requests, imported here only, so that importing this file needs neither."""
    try:
        import hvac  # noqa: F401  (the client)
        import requests.exceptions  # hvac's own dependency: connection errors come from it
    except ImportError as exc:
        raise ProviderNotInstalled(PROVIDER, PACKAGE, exc)
    return hvac, requests.exceptions


# the backend --------------------------------------------------------------------------------------------
class VaultBackend(SecretBackend):
    """What both KV versions share: the client, authentication, one request with its retry and error
    translation, listing, capability checks. ``VaultBackend.from_options`` builds the backend of the KV
    version asked for (VaultKV2Backend by default, VaultKV1Backend for ``vault_kv_version: 1``), so
    each class's methods do one version's work without branching on it."""

    name = PROVIDER
    #: a data read returns the secret's tags with any version (KV v2: custom_metadata; KV v1: the data)
    version_reads_carry_tags = True
    #: the KV engine version this class speaks
    KV_VERSION = 2
    #: what a migration's operations need on which kind of path (see missing_capabilities)
    CAPABILITY_NEEDS: Dict[str, List[Tuple[str, str]]] = {}

    def __init__(
        self,
        addr: str,
        token: Optional[str] = None,
        role_id: Optional[str] = None,
        secret_id: Optional[str] = None,
        namespace: Optional[str] = None,
        mount: Optional[str] = None,
        kv_version: Optional[int] = None,
        ca_cert: Optional[str] = None,
        timeout: Optional[float] = None,
        login: Optional["VaultLogin"] = None,
    ) -> None:
        if not addr or not str(addr).startswith(("http://", "https://")):
            raise InvalidOption(
                f"vault_addr must be an http:// or https:// URL (got '{addr or ''}')",
                provider=PROVIDER,
                hint="Set vault_addr or VAULT_ADDR, for example https://vault.example.com:8200",
            )
        if kv_version not in (None, "") and int(kv_version) not in (1, 2):
            raise InvalidOption(f"vault_kv_version must be 1 or 2 (got {kv_version})", provider=PROVIDER)
        self.kv_version = self.KV_VERSION
        if login is None:  # built without from_options: the token, or AppRole when both ids are given
            login = VaultLogin.from_options({"vault_token": token, "vault_role_id": role_id,
                                             "vault_secret_id": secret_id})
        self.login = login
        self.approle = login.method == "approle"
        if ca_cert and not os.path.isfile(ca_cert):
            raise InvalidOption(f"vault_ca_cert '{ca_cert}' is not a file", provider=PROVIDER,
                                hint="Point vault_ca_cert (VAULT_CACERT) at the PEM file of the CA that signed Vault's certificate")
        self.addr = str(addr).rstrip("/")
        self.mount = (mount or DEFAULT_MOUNT).strip("/")
        self.namespace = namespace.strip("/") if namespace else None
        self.timeout = DEFAULT_TIMEOUT if timeout in (None, "") else float(timeout)
        self._role_id = role_id
        self._secret_id = secret_id
        self._hvac, self._http_errors = _sdk()
        # token "" (not None): hvac would otherwise read VAULT_TOKEN or ~/.vault-token behind our back
        self._client = self._hvac.Client(
            url=self.addr,
            token="" if login.logs_in or login.method == "none" else token,
            namespace=self.namespace,
            verify=ca_cert or True,
            timeout=self.timeout,
            cert=(login.client_cert, login.client_key) if login.client_key else login.client_cert,
        )
        self._lock = threading.Lock()
        self._token_deadline: Optional[float] = None
        self._have_token = not login.logs_in
        #: logins made by this backend (one per run is the goal; tests read it)
        self.logins = 0
        #: renewals of the login's token (renew-self) made by this backend
        self.renewals = 0
        #: when the login's token ends, whether Vault lets it be renewed, and the TTL it was granted
        self._token_expires: Optional[float] = None
        self._token_renewable = False
        self._token_ttl = 0.0
        self._clock = time.monotonic

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "VaultBackend":
        """The backend of the mount's KV version (VaultKV2Backend unless vault_kv_version is 1)."""
        if cls is VaultBackend and engine_of(options) == "dynamic":
            return VaultDynamicBackend.from_options(options)
        chosen = cls
        if cls is VaultBackend:
            chosen = VaultKV1Backend if str(options.get("vault_kv_version")) == "1" else VaultKV2Backend
        return chosen(
            addr=options.get("vault_addr"),
            token=options.get("vault_token"),
            role_id=options.get("vault_role_id"),
            secret_id=options.get("vault_secret_id"),
            namespace=options.get("vault_namespace"),
            mount=options.get("vault_mount"),
            kv_version=options.get("vault_kv_version"),
            ca_cert=options.get("vault_ca_cert"),
            timeout=options.get("vault_timeout"),
            login=VaultLogin.from_options(options),
        ).with_expiry_deletion(options.get("vault_delete_version_after"))

    def with_expiry_deletion(self, asked: Any) -> "VaultBackend":
        """``vault_delete_version_after: true`` (KV v2 only): an expiry is also Vault's own
        ``delete_version_after``, so the expiry is written by set_expiry (native_expiry) in one metadata request."""
        if str(asked).strip().lower() in ("true", "1", "yes", "on"):
            if self.KV_VERSION != 2:
                raise InvalidOption("vault_delete_version_after needs a KV version 2 mount (KV v1 keeps no versions)",
                                    provider=PROVIDER, hint="Leave vault_delete_version_after out on a KV v1 mount")
            self.native_expiry = True
        return self

    # transport -------------------------------------------------------------------------------------
    def _send(self, method: str, api_path: str, body: Optional[dict] = None,
              params: Optional[dict] = None) -> Tuple[int, Dict[str, Any]]:
        """One HTTP exchange; network failures become ProviderUnavailable here."""
        errors = self._http_errors
        kwargs: Dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        if params:
            kwargs["params"] = params
        try:
            answer = self._client.adapter.request(method, f"/v1/{api_path}", raise_exception=False, **kwargs)
        except (errors.SSLError, errors.Timeout, errors.ConnectionError) as exc:
            raise self._unreachable(exc) from None
        except errors.RequestException as exc:
            from ansible_collections.vibebox.secrets.plugins.module_utils.core import network  # only once a request failed

            raise ProviderUnavailable(
                f"the request to Vault at {network.endpoint_label(self.addr)} failed ({type(exc).__name__})", retryable=False,
                provider=PROVIDER,
            ) from None
        if isinstance(answer, dict):  # hvac's JSONAdapter decodes 200 answers itself
            return 200, answer
        status = int(answer.status_code)
        try:
            payload = answer.json() if answer.content else {}
        except ValueError:
            payload = {"errors": [answer.text[:200]]} if status >= 400 else {}
        return status, payload if isinstance(payload, dict) else {}

    def _unreachable(self, exc: BaseException) -> ProviderUnavailable:
        """No answer from Vault: the address (no user, password or query) and refused/timed out/TLS/DNS."""
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import network  # only once a request failed

        errors = self._http_errors
        failure = None
        if isinstance(exc, errors.SSLError):
            failure = network.TLS
        elif isinstance(exc, errors.Timeout) and not isinstance(exc, errors.ConnectTimeout):
            failure = network.TIMED_OUT  # a read timeout: connected, then no answer within vault_timeout
        error = network.unreachable("Vault", network.endpoint_label(self.addr), exc, failure=failure, provider=PROVIDER,
                                    address="vault_addr (VAULT_ADDR)", ca="vault_ca_cert (VAULT_CACERT)")
        if error.failure == network.TIMED_OUT:
            error.hint = f"{error.hint}, or raise vault_timeout (now {self.timeout:g} s)"
        return error

    def _call(
        self,
        method: str,
        api_path: str,
        *,
        name: Optional[str],
        capability: str,
        body: Optional[dict] = None,
        params: Optional[dict] = None,
        accept: Tuple[int, ...] = (),
        secret_value: Optional[str] = None,
        about_secret: bool = True,
    ) -> Tuple[int, Dict[str, Any]]:
        """One request, retried alone; its retries count for ``name`` unless it is not about a secret
        (a listing names its folder in errors but reports its retries with the list)."""
        def one_request() -> Tuple[int, Dict[str, Any]]:
            self._ensure_token()  # a throttled AppRole login is retried with the request it precedes
            status, payload = self._send(method, api_path, body, params)
            if status < 300 or status in accept:
                return status, payload
            raise translate(
                status, payload.get("errors"), api_path=api_path, capability=capability,
                provider_name=name, namespace=self.namespace, secret_value=secret_value,
            )

        # a write is several requests: a throttled one is retried alone, not the whole write
        return self.request(one_request, name if about_secret else None)

    def _ensure_token(self) -> None:
        if not self.login.logs_in:
            return
        with self._lock:  # get_many runs reads on threads: one login, not one per thread
            if self._have_token and (self._token_deadline is None or self._clock() < self._token_deadline):
                return
            if self._have_token and self._renew():
                return
            self._login()

    def _login(self) -> None:
        self._client.token = ""  # an expired token sent along would make Vault refuse the login itself
        try:
            answer = self.login.perform(self._client)
        except (self._http_errors.SSLError, self._http_errors.Timeout, self._http_errors.ConnectionError) as exc:
            raise self._unreachable(exc) from None
        except self._http_errors.RequestException as exc:  # only the type: the text may quote the request
            raise ProviderUnavailable(f"{self.login.describe()} failed ({type(exc).__name__})", retryable=False,
                                      provider=PROVIDER) from None
        except self._hvac.exceptions.VaultError as exc:
            raise self.login.refused(hvac_status(exc) or 0, getattr(exc, "errors", None) or [], self.namespace) from None
        auth = (answer or {}).get("auth") if isinstance(answer, dict) else None
        if not (auth or {}).get("client_token"):
            raise ProviderUnavailable(f"{self.login.describe()} answered without a token", retryable=False,
                                      provider=PROVIDER)
        self._client.token = auth["client_token"]
        self._token_ttl = float(auth.get("lease_duration") or 0)
        self._token_renewable = bool(auth.get("renewable"))
        self._set_deadlines(self._token_ttl)
        self._have_token = True
        self.logins += 1

    # logins: renewal and hand-over (see the "logins" section below) ------------------------------------
    def _set_deadlines(self, ttl: float) -> None:
        """Renew once less than RENEW_WHEN_LEFT of ``ttl`` is left; a TTL of 0 never expires."""
        now = self._clock()
        self._token_expires = now + ttl if ttl else None
        self._token_deadline = now + ttl * (1 - RENEW_WHEN_LEFT) if ttl else None

    def _renew(self) -> bool:
        """Extend the login's token with renew-self; False when a new login is needed instead (the token is
        not renewable, has reached its max TTL, has expired, or Vault refused)."""
        if not self._token_renewable or (self._token_expires is not None and self._clock() >= self._token_expires):
            return False
        try:
            answer = self._client.auth.token.renew_self()
        except (self._http_errors.RequestException, self._hvac.exceptions.VaultError):
            return False  # the login that follows reports what is wrong, if anything is
        auth = (answer or {}).get("auth") if isinstance(answer, dict) else None
        ttl = float((auth or {}).get("lease_duration") or 0)
        if not auth or not ttl:
            return False
        self.renewals += 1
        self._token_renewable = bool(auth.get("renewable")) and ttl > self._token_ttl * RENEW_WHEN_LEFT
        self._set_deadlines(ttl)  # at its max TTL the token is kept until its renewal time, then replaced
        return True

    def export_session(self) -> Optional[Dict[str, Any]]:
        """The login's token and how long it lasts, for the run cache helper (kept in memory, never on
        disk): the fork that reads while the helper starts hands it over so the run logs in once."""
        if not self.login.logs_in or not self._have_token:
            return None
        now = self._clock()
        return {"method": self.login.method, "token": self._client.token, "ttl": self._token_ttl,
                "renewable": self._token_renewable,
                "expires_in": None if self._token_expires is None else self._token_expires - now,
                "renew_in": None if self._token_deadline is None else self._token_deadline - now}

    def adopt_session(self, session: Optional[Mapping[str, Any]]) -> bool:
        """Use a token another backend of the same options got (``export_session``) instead of logging in."""
        if not session or not self.login.logs_in or session.get("method") != self.login.method:
            return False
        if not session.get("token") or (session.get("renew_in") is not None and float(session["renew_in"]) <= 0):
            return False
        with self._lock:
            now = self._clock()
            self._client.token = str(session["token"])
            self._token_ttl = float(session.get("ttl") or 0)
            self._token_renewable = bool(session.get("renewable"))
            expires, renew = session.get("expires_in"), session.get("renew_in")
            self._token_expires = None if expires is None else now + float(expires)
            self._token_deadline = None if renew is None else now + float(renew)
            self._have_token = True
        return True

    def _conflict(self, name: str, why: str) -> SecretConflict:
        return SecretConflict(
            f"another writer changed it first ({why}); nothing was written",
            provider=PROVIDER, provider_name=name,
            hint="Read the secret again and repeat the change if it is still needed",
        )

    # paths and listing -------------------------------------------------------------------------------
    def _path(self, kind: str, name: str) -> str:
        """The API path of ``name`` for ``kind`` (data, metadata, delete, ...; KV v1 has one path)."""
        raise NotImplementedError

    def _list_path(self, folder: str) -> str:
        raise NotImplementedError

    def _walk(self, folder: str, prefix: str) -> List[str]:
        api_path = self._list_path(folder)
        status, payload = self._call("LIST", api_path, name=folder or None, capability="list", accept=(404,),
                                     about_secret=False)
        if status == 404:
            return []
        found: List[str] = []
        for key in (payload.get("data") or {}).get("keys") or []:
            full = folder + key
            if key.endswith("/"):
                if full.startswith(prefix) or prefix.startswith(full):
                    found.extend(self._walk(full, prefix))
            else:
                found.append(full)
        return found

    def identity(self) -> Dict[str, str]:
        """Address, namespace, mount and KV version: what addresses the store (the token does not)."""
        return {"provider": PROVIDER, "address": self.addr, "namespace": self.namespace or "",
                "mount": self.mount, "kv_version": str(self.kv_version)}

    def instance_id(self) -> Optional[str]:
        """The server's cluster id (sys/health, which every Vault and OpenBao answers without a token): the same
        cluster reached at two addresses (localhost and 127.0.0.1, a node and its load balancer) is one store."""
        try:
            _status, payload = self._call("GET", "sys/health", name=None, capability="read", about_secret=False,
                                          params={"standbyok": "true", "perfstandbyok": "true"},
                                          accept=(429, 472, 473, 501, 503))
        except SecretError:
            return None
        found = payload.get("cluster_id") if isinstance(payload, dict) else None
        return str(found) if found else None

    def missing_capabilities(self, operations: Mapping[str, Iterable[str]]) -> List[Tuple[str, str, str]]:
        """(secret, API path, capability) that the token lacks for what a migration is about to do.

        ``operations`` maps provider-side names to ``create``, ``update``, ``delete`` (for good, what
        the rollback of a created secret does) and ``metadata`` (description and tags). Asked with
        sys/capabilities-self, 100 paths per request, before the first write: a policy that allows
        only part of the paths stops the run in its plan instead of half-way through. A token that
        may not call sys/capabilities-self raises SecretDenied (the caller decides what that means).
        """
        needs = self.CAPABILITY_NEEDS
        wanted: Dict[str, Dict[str, str]] = {}
        for name, ops in operations.items():
            for op in ops:
                for kind, capability in needs.get(op, []):
                    wanted.setdefault(self._path(kind, name), {}).setdefault(capability, name)
        paths = list(wanted)
        missing: List[Tuple[str, str, str]] = []
        for start in range(0, len(paths), 100):
            chunk = paths[start:start + 100]
            _status, payload = self._call("POST", "sys/capabilities-self", name=None, capability="update",
                                          body={"paths": chunk})
            granted = payload.get("data") or payload
            for path in chunk:
                have = set(granted.get(path) or [])
                if "root" in have:
                    continue
                for capability, name in wanted[path].items():
                    if "deny" in have or capability not in have:
                        missing.append((name, path, capability))
        return missing

    def close(self) -> None:
        try:
            self._client.adapter.close()
        except Exception:  # closing must never fail a run
            pass

    # lean writes: which names exist, from one LIST per folder -------------------------------------------
    def observe_many(self, wanted: Sequence[Tuple[str, Optional[str], bool]]) -> Dict[str, object]:
        """Every name with its own observe(): Vault has no batch read, and that one data read is what
        write_observed() needs (version for check-and-set, custom_metadata)."""
        return self._observe_each(wanted)

    def existing(self, names: Iterable[str]) -> Optional[set]:
        """The names that the mount lists, one LIST per folder they are in (soft-deleted KV v2 secrets are
        listed too: their read says they are deleted). A missing folder lists nothing."""
        folders: Dict[str, List[str]] = {}
        for name in names:
            folders.setdefault(name[: name.rfind("/") + 1] if "/" in name else "", []).append(name)
        found = set()
        for folder in folders:
            status, payload = self._call("LIST", self._list_path(folder), name=folder or None, capability="list",
                                         accept=(404,), about_secret=False)
            if status != 404:
                found.update(folder + key for key in (payload.get("data") or {}).get("keys") or []
                             if not key.endswith("/"))
        return found & set(names)


class VaultKV2Backend(VaultBackend):
    """KV version 2: versions, soft delete and undelete, check-and-set, tags in custom_metadata."""

    KV_VERSION = 2
    CAPABILITY_NEEDS = {
        "create": [("data", "create"), ("metadata", "read")],
        "update": [("data", "update"), ("metadata", "read")],
        "delete": [("metadata", "delete")],
        "metadata": [("metadata", "update")],
    }

    def _path(self, kind: str, name: str) -> str:
        return f"{self.mount}/{kind}/{name}"

    def _list_path(self, folder: str) -> str:
        return f"{self.mount}/metadata/{folder}"

    def _metadata(self, name: str, missing_ok: bool = False) -> Optional[Dict[str, Any]]:
        status, payload = self._call("GET", self._path("metadata", name), name=name, capability="read",
                                     accept=(404,) if missing_ok else ())
        if status == 404:
            return None
        return payload.get("data") or {}

    def _deleted_error(self, name: str, info: Mapping[str, Any], number: Any) -> SecretDeleted:
        when = parse_time(info.get("deletion_time"))
        return SecretDeleted(
            f"it was deleted on {when.isoformat() if when else 'an unknown date'} (its current version {number} and"
            " every other live version are soft-deleted; Vault keeps them until they are destroyed)",
            provider=PROVIDER,
            provider_name=name,
            hint="Restore it (vibebox.secrets.secret with state: present restores and sets it), or delete it with"
            " force to free the name",
        )

    def _raise_if_deleted(self, name: str, metadata: Mapping[str, Any]) -> None:
        current = str(metadata.get("current_version") or 0)
        info = (metadata.get("versions") or {}).get(current)
        if info and version_state(info) == "deleted":
            raise self._deleted_error(name, info, current)

    def _meta_from_metadata(self, name: str, metadata: Mapping[str, Any]) -> SecretMetadata:
        current = int(metadata.get("current_version") or 0)
        versions = metadata.get("versions") or {}
        info = versions.get(str(current)) or {}
        custom = metadata.get("custom_metadata") or {}
        deleted = parse_time(info.get("deletion_time")) if version_state(info) == "deleted" else None
        return SecretMetadata(
            name=name,
            version=str(current) if current else None,
            created_at=parse_time(metadata.get("created_time")),
            updated_at=parse_time(info.get("created_time") or metadata.get("updated_time")),
            tags=tags_from_custom(custom),
            description=custom.get(DESCRIPTION_KEY),
            stages=["current"] if current else [],
            provider_name=name,
            deleted_at=deleted,
            versions_count=len([v for v in versions.values() if not v.get("destroyed")]),
        )

    def set_expiry(self, name: str, expires_at: Optional[_dt.datetime],
                   tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        """The tag in custom_metadata; with vault_delete_version_after also ``delete_version_after`` (the time
        left until the expiry, which Vault counts from each version's creation), in the same request. None
        removes both (``0s``: versions are kept)."""
        if not self.native_expiry and expires_at is not None:
            return super().set_expiry(name, expires_at, tags)
        # removing: written here, because tags that replace the others keep the expiry (merge_custom)
        metadata = self._metadata(name) or {}
        self._raise_if_deleted(name, metadata)
        custom = expiry.with_tag(metadata.get("custom_metadata") or {}, expiry.CLEAR if expires_at is None else expires_at)
        body: Dict[str, Any] = {"custom_metadata": custom}
        if self.native_expiry:
            left = 0 if expires_at is None else max(int((expires_at - _dt.datetime.now(_dt.timezone.utc)).total_seconds()), 1)
            body["delete_version_after"] = f"{left}s"
        self._call("POST", self._path("metadata", name), name=name, capability="update", body=body)
        return self._meta_from_metadata(name, {**metadata, "custom_metadata": custom})

    def _write_custom(self, name: str, custom: Dict[str, str]) -> None:
        self._call("POST", self._path("metadata", name), name=name, capability="update",
                   body={"custom_metadata": custom})

    # SecretBackend ---------------------------------------------------------------------------------
    def get(self, name: str, version: Optional[str] = None) -> Secret:
        stage: Optional[str] = "current"
        number: Optional[int] = None
        if version == PREVIOUS:
            metadata = self._metadata(name)
            self._raise_if_deleted(name, metadata)
            number = previous_version(metadata)
            if number is None:
                raise VersionNotFound(
                    "it has no previous version that can still be read",
                    provider=PROVIDER,
                    provider_name=name,
                    hint="A previous version exists only after the secret has been changed or rotated,"
                    " and only while it is not deleted or destroyed",
                )
            stage = "previous"
        elif not is_current(version):
            number = version_number(version, name)
            stage = None
        status, payload = self._call("GET", self._path("data", name), name=name, capability="read",
                                     params={"version": number} if number else None, accept=(404,))
        if status == 404:
            raise self._missing_version(name, number, payload)
        data = payload.get("data") or {}
        return Secret(value_from_data(data.get("data")) or "", self._meta_from_data(name, data, stage))

    def _meta_from_data(self, name: str, data: Mapping[str, Any], stage: Optional[str]) -> SecretMetadata:
        """The metadata a data read answers along with the value (its version's, and the custom metadata)."""
        info = data.get("metadata") or {}
        custom = info.get("custom_metadata") or {}
        return SecretMetadata(
            name=name,
            version=str(info.get("version")) if info.get("version") else None,
            updated_at=parse_time(info.get("created_time")),
            tags=tags_from_custom(custom),
            description=custom.get(DESCRIPTION_KEY),
            stages=[stage] if stage else [],
            provider_name=name,
        )

    def _missing_version(self, name: str, number: Optional[int], payload: Mapping[str, Any]) -> SecretError:
        """Why a KV v2 data read answered 404: deleted, destroyed, no such version, or no secret."""
        info = ((payload.get("data") or {}).get("metadata")) or {}
        state = version_state(info) if info else None
        label = f"version {number}" if number else "the current version"
        if state == "deleted":
            if number is None:
                return self._deleted_error(name, info, info.get("version"))
            return VersionNotFound(f"{label} was deleted", provider=PROVIDER, provider_name=name,
                                   hint="Undelete it with restore, or read another version")
        if state == "destroyed":
            return VersionNotFound(f"{label} was destroyed", provider=PROVIDER, provider_name=name,
                                   hint="A destroyed version cannot come back; read another version")
        if number is not None and self._metadata(name, missing_ok=True) is not None:
            return VersionNotFound(f"version {number} does not exist", provider=PROVIDER, provider_name=name,
                                   hint="List the versions with vibebox.secrets.secret_info")
        return translate(404, None, api_path=self._path("data", name), capability="read",
                         provider_name=name, namespace=self.namespace)

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        check_custom(name, description, tags)
        metadata = self._metadata(name, missing_ok=True)
        if metadata:
            self._raise_if_deleted(name, metadata)
        cas = int((metadata or {}).get("current_version") or 0)
        if expect_version is not None:
            # KV v2 check-and-set: the server writes only while the current version is still this one
            expected = 0 if expect_version == "" else version_number(expect_version, name)
            if expected != cas:
                raise self._conflict(name, f"its current version is {cas or 'none'}, not {expected or 'none'}")
            cas = expected
        _status, payload = self._call(
            "POST", self._path("data", name), name=name, capability="create" if not cas else "update",
            body={"options": {"cas": cas}, "data": {VALUE_FIELD: value}}, secret_value=value,
        )
        written = payload.get("data") or {}
        custom = dict((metadata or {}).get("custom_metadata") or {})
        wanted = merge_custom(custom, description, tags)
        if wanted != custom:
            self._write_custom(name, wanted)
        number = written.get("version")
        return SecretMetadata(
            name=name,
            version=str(number) if number else None,
            created_at=parse_time((metadata or {}).get("created_time") or written.get("created_time")),
            updated_at=parse_time(written.get("created_time")),
            tags=tags_from_custom(wanted),
            description=wanted.get(DESCRIPTION_KEY),
            stages=["current"],
            provider_name=name,
        )

    def update_metadata(self, name: str, description: Optional[str] = None,
                        tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        check_custom(name, description, tags)
        metadata = self._metadata(name)
        self._raise_if_deleted(name, metadata)
        custom = dict(metadata.get("custom_metadata") or {})
        wanted = merge_custom(custom, description, tags)
        if wanted != custom:
            self._write_custom(name, wanted)
        return self._meta_from_metadata(name, {**metadata, "custom_metadata": wanted})

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        metadata = self._metadata(name)
        if force or recovery_days == 0:
            self._call("DELETE", self._path("metadata", name), name=name, capability="delete")
            return
        live = sorted(int(n) for n, info in (metadata.get("versions") or {}).items() if version_state(info) == "live")
        if live:
            self._call("POST", self._path("delete", name), name=name, capability="update", body={"versions": live})

    def restore(self, name: str) -> SecretMetadata:
        metadata = self._metadata(name)
        deleted = sorted(int(n) for n, info in (metadata.get("versions") or {}).items()
                         if version_state(info) == "deleted")
        if deleted:
            self._call("POST", self._path("undelete", name), name=name, capability="update", body={"versions": deleted})
            metadata = self._metadata(name)
        return self._meta_from_metadata(name, metadata)

    def describe(self, name: str) -> SecretMetadata:
        return self._meta_from_metadata(name, self._metadata(name))

    def versions(self, name: str) -> List[VersionInfo]:
        metadata = self._metadata(name)
        current = int(metadata.get("current_version") or 0)
        previous = previous_version(metadata)
        found = []
        for number, info in (metadata.get("versions") or {}).items():
            number_int = int(number)
            state = version_state(info)
            stages = ["current"] if number_int == current else (["previous"] if number_int == previous else [])
            found.append(VersionInfo(str(number_int), parse_time(info.get("created_time")), stages,
                                     enabled=state == "live", destroyed=state == "destroyed"))
        return sorted(found, key=lambda item: int(item.version), reverse=True)

    def delete_version(self, name: str, version: str) -> None:
        metadata = self._metadata(name)
        if version == PREVIOUS:
            number = previous_version(metadata)
            if number is None:
                return
        else:
            number = version_number(version, name)
        if number == int(metadata.get("current_version") or 0):
            raise UnsupportedOperation(
                "the current version cannot be destroyed", provider=PROVIDER, provider_name=name,
                hint="Rotate first, then clean up the old version",
            )
        info = (metadata.get("versions") or {}).get(str(number))
        if info is None or info.get("destroyed"):
            return  # already gone (destroyed, or pruned by max_versions): nothing to clean up
        self._call("POST", self._path("destroy", name), name=name, capability="update", body={"versions": [number]})

    def list(self, prefix: str = "") -> List[str]:
        folder = prefix[: prefix.rfind("/") + 1] if "/" in prefix else ""
        names = [item for item in self._walk(folder, prefix) if item.startswith(prefix)]
        if not names:
            return sorted(names)

        def readable(item: str) -> bool:
            try:
                metadata = self._metadata(item, missing_ok=True)
            except SecretDenied:
                return True  # a policy may allow list but not read: list what we cannot check, as Vault does
            if not metadata:
                return False
            info = (metadata.get("versions") or {}).get(str(metadata.get("current_version") or 0))
            return bool(info) and version_state(info) == "live"

        # deleted secrets keep their metadata and so still appear in LIST: one metadata read each tells
        keep = fan_out(readable, names)
        return sorted(item for item in names if keep[item])

    # lean writes: one read before a write, then the write alone ----------------------------------------
    def observe(self, name: str, value: Optional[str] = None, need_metadata: bool = True) -> Optional[Observed]:
        """One data read: value, version and custom_metadata (description, tags) come in one answer, and
        a soft-deleted current version answers 404 with its deletion time. Only a destroyed current
        version (no answer to compare with) falls back to the metadata read."""
        status, payload = self._call("GET", self._path("data", name), name=name, capability="read", accept=(404,))
        if status == 404:
            info = ((payload.get("data") or {}).get("metadata")) or {}
            if not info:
                return None  # no secret (a metadata entry without versions is written over like none)
            if version_state(info) != "deleted":
                return super().observe(name, value, need_metadata)
            meta = self._meta_from_metadata(name, {"current_version": info.get("version"),
                                                   "versions": {str(info.get("version")): info},
                                                   "custom_metadata": info.get("custom_metadata") or {}})
            return Observed(meta, raw=info)
        data = payload.get("data") or {}
        return Observed(self._meta_from_data(name, data, "current"), value=value_from_data(data.get("data")) or "",
                        raw=data.get("metadata") or {})

    def write_observed(self, name: str, value: Optional[str], description: Optional[str],
                       tags: Optional[Dict[str, str]], observed: Optional[Observed]) -> SecretMetadata:
        """The data write with check-and-set on the version observe() read (so a writer in between makes
        this one fail with SecretConflict, not overwrite), and the metadata write only when description
        or tags differ from what that read saw: one request for a new value, two with new tags."""
        if observed is not None and (observed.deleted or not isinstance(observed.raw, dict)):
            return super().write_observed(name, value, description, tags, observed)
        check_custom(name, description, tags)
        info = observed.raw if observed is not None else {}
        custom = dict(info.get("custom_metadata") or {})
        wanted = merge_custom(custom, description, tags)
        cas = int(info.get("version") or 0)
        written: Dict[str, Any] = {}
        if value is not None:
            _status, payload = self._call(
                "POST", self._path("data", name), name=name, capability="create" if not cas else "update",
                body={"options": {"cas": cas}, "data": {VALUE_FIELD: value}}, secret_value=value,
            )
            written = payload.get("data") or {}
        if wanted != custom:
            self._write_custom(name, wanted)
        number = written.get("version") or info.get("version")
        return SecretMetadata(
            name=name,
            version=str(number) if number else None,
            updated_at=parse_time(written.get("created_time") or info.get("created_time")),
            tags=tags_from_custom(wanted),
            description=wanted.get(DESCRIPTION_KEY),
            stages=["current"],
            provider_name=name,
        )


class VaultKV1Backend(VaultBackend):
    """KV version 1: one value per path, no versions, no soft delete; description and tags ride along
    in the data (there is no metadata), and a write is unconditional but for 'only if absent'."""

    KV_VERSION = 1
    supports_versions = False
    supports_restore = False
    CAPABILITY_NEEDS = {
        "create": [("", "create")],
        "update": [("", "update")],
        "delete": [("", "delete")],
        "metadata": [],
    }

    def _path(self, kind: str, name: str) -> str:
        return f"{self.mount}/{name}"

    def _list_path(self, folder: str) -> str:
        return f"{self.mount}/{folder}"

    def _read(self, name: str, missing_ok: bool = False) -> Optional[Dict[str, Any]]:
        status, payload = self._call("GET", self._path("", name), name=name, capability="read",
                                     accept=(404,) if missing_ok else ())
        if status == 404:
            return None
        return payload.get("data") or {}

    @staticmethod
    def _meta(name: str, data: Mapping[str, Any]) -> SecretMetadata:
        tags = data.get(TAGS_FIELD)
        return SecretMetadata(
            name=name,
            version=None,
            tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
            description=data.get(DESCRIPTION_KEY),
            stages=["current"],
            provider_name=name,
            versions_count=1,
        )

    def _no_versions(self, name: str, version: Any) -> VersionNotFound:
        return VersionNotFound(
            f"version '{version}' was asked for, but the KV version 1 mount '{self.mount}' keeps only the current value",
            provider=PROVIDER,
            provider_name=name,
            hint="Ask for the current value, or use a KV version 2 mount (vault_kv_version: 2) to keep versions",
        )

    def _write(self, name: str, value: str, description: Optional[str], tags: Optional[Mapping[str, str]],
               existing: Optional[Mapping[str, Any]]) -> SecretMetadata:
        data: Dict[str, Any] = {VALUE_FIELD: value}
        old = existing or {}
        kept_description = old.get(DESCRIPTION_KEY) if description is None else (description or None)
        kept_tags = old.get(TAGS_FIELD) if tags is None else dict(tags)
        if kept_description:
            data[DESCRIPTION_KEY] = kept_description
        if kept_tags:
            data[TAGS_FIELD] = kept_tags
        self._call("POST", self._path("", name), name=name, capability="create", body=data, secret_value=value)
        return self._meta(name, data)

    def get(self, name: str, version: Optional[str] = None) -> Secret:
        if not is_current(version):
            raise self._no_versions(name, version)
        data = self._read(name)
        return Secret(value_from_data(data) or "", self._meta(name, data))

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        check_custom(name, description, tags)
        existing = self._read(name, missing_ok=True)
        if expect_version == "" and existing is not None:
            raise self._conflict(name, "it exists already")  # KV v1 has no versions to check beyond that
        return self._write(name, value, description, tags, existing)

    def update_metadata(self, name: str, description: Optional[str] = None,
                        tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        check_custom(name, description, tags)
        data = self._read(name)
        # KV v1 keeps metadata in the data itself, so the (unchanged) value is written back with it
        return self._write(name, data.get(VALUE_FIELD, ""), description, tags, data)

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        self._read(name)  # Vault answers 204 for a missing path: check first so "not found" is said
        self._call("DELETE", self._path("", name), name=name, capability="delete")

    def describe(self, name: str) -> SecretMetadata:
        return self._meta(name, self._read(name))

    def list(self, prefix: str = "") -> List[str]:
        folder = prefix[: prefix.rfind("/") + 1] if "/" in prefix else ""
        return sorted(item for item in self._walk(folder, prefix) if item.startswith(prefix))

    # lean writes: one read before a write, then the write alone ----------------------------------------
    def observe(self, name: str, value: Optional[str] = None, need_metadata: bool = True) -> Optional[Observed]:
        """One read: KV v1 keeps value, description and tags in the same data."""
        data = self._read(name, missing_ok=True)
        if data is None:
            return None
        return Observed(self._meta(name, data), value=value_from_data(data) or "", raw=data)

    def write_observed(self, name: str, value: Optional[str], description: Optional[str],
                       tags: Optional[Dict[str, str]], observed: Optional[Observed]) -> SecretMetadata:
        """One write of the whole data (KV v1 has no metadata of its own), with what observe() read."""
        check_custom(name, description, tags)
        existing = observed.raw if observed is not None and isinstance(observed.raw, dict) else None
        if value is None:
            if existing is None:
                return super().write_observed(name, value, description, tags, observed)
            value = existing.get(VALUE_FIELD, "")
        return self._write(name, value, description, tags, existing)


# logins -------------------------------------------------------------------------------------------------
# How the backend gets its token. A method that logs in (everything but token and none) does so once per
# backend, i.e. once per run when the run cache shares the backend, renews the token with renew-self while
# a long run goes on, and logs in again only when the token cannot be renewed any more. Every input is
# checked when the backend is built, so a bad one fails before any request and names its option.

#: the values of vault_auth_method, in the order the documentation lists them
AUTH_METHODS = ("token", "approle", "userpass", "jwt", "kubernetes", "cert", "none")
#: where a pod's service-account token is mounted
KUBERNETES_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
#: renew a login's token once less than this share of its TTL is left
RENEW_WHEN_LEFT = 1 / 3
#: hvac's exception classes -> the HTTP status they stand for (hvac keeps no status on them)
_HVAC_STATUS = {"InvalidRequest": 400, "Unauthorized": 401, "Forbidden": 403, "InvalidPath": 404,
                "PreconditionFailed": 412, "RateLimitExceeded": 429, "InternalServerError": 500,
                "VaultNotInitialized": 501, "BadGateway": 502, "VaultDown": 503}
#: how a message names each method, and what to check when Vault refuses its login
_METHOD_LABELS = {"approle": "AppRole", "userpass": "userpass", "jwt": "JWT", "kubernetes": "Kubernetes",
                  "cert": "TLS certificate"}
_LOGIN_HINTS = {
    "approle": "Check vault_role_id and vault_secret_id (a secret_id can expire or be used up), vault_auth_mount"
               " and vault_namespace",
    "userpass": "Check vault_username and vault_password, vault_auth_mount and vault_namespace",
    "jwt": "Check vault_role, that the JWT has not expired, and that its issuer, audience, subject and signing key"
           " match the role and the mount's configuration (vault_auth_mount)",
    "kubernetes": "Check vault_role (its bound service account names and namespaces must include this service"
                  " account) and that the mount's kubernetes_host reaches the API server that issued the token",
    "cert": "Check that the mount (vault_auth_mount) has a certificate role trusting the CA that issued"
            " vault_client_cert, and vault_role if you name one",
}


def _readable_file(path: Optional[str], option: str, what: str) -> str:
    """``path`` if it is a file this process can read, else InvalidOption naming ``option``."""
    if not path:
        raise InvalidOption(f"{option} is not set; it must point at {what}", provider=PROVIDER)
    if not os.path.isfile(path):
        raise InvalidOption(f"{option} '{path}' is not a file", provider=PROVIDER, hint=f"Point {option} at {what}")
    if not os.access(path, os.R_OK):
        raise InvalidOption(f"{option} '{path}' cannot be read by this user", provider=PROVIDER,
                            hint=f"Point {option} at {what} that this user may read")
    return path


class VaultLogin:
    """One way of getting a token: the method, its mount and its inputs (checked by ``from_options``).

    Secrets (password, JWT, secret_id) are kept in attributes that ``repr`` does not show; file inputs
    (JWT file, service-account token) are read at each login, because Kubernetes rotates projected
    tokens while a pod runs.
    """

    def __init__(self, method: str, mount: Optional[str] = None, role: Optional[str] = None,
                 username: Optional[str] = None, secret: Optional[str] = None, secret_file: Optional[str] = None,
                 role_id: Optional[str] = None, client_cert: Optional[str] = None,
                 client_key: Optional[str] = None) -> None:
        self.method = method
        self.mount = (mount or method).strip("/")
        self.role = role
        self.username = username
        self.role_id = role_id
        self.client_cert = client_cert
        self.client_key = client_key
        self._secret = secret
        self._secret_file = secret_file

    def __repr__(self) -> str:  # never the password, JWT or secret id
        return f"VaultLogin(method={self.method!r}, mount={self.mount!r}, role={self.role!r})"

    @property
    def logs_in(self) -> bool:
        """False for token and none: the token is given (or added by a Vault Agent or proxy)."""
        return self.method not in ("token", "none")

    def describe(self) -> str:
        """'the JWT login at mount 'jwt' with role 'app'': what failure messages say (never a credential)."""
        text = f"the {_METHOD_LABELS.get(self.method, self.method)} login at mount '{self.mount}'"
        if self.role:
            text += f" with role '{self.role}'"
        if self.username:
            text += f" as user '{self.username}'"
        return text

    def credential(self) -> Optional[str]:
        """The secret sent with the login: given, or read from its file now (so a rotated file is seen)."""
        if self._secret_file:
            try:
                with open(self._secret_file, encoding="utf-8") as handle:
                    return handle.read().strip()
            except OSError as exc:
                option = "vault_kubernetes_token_file" if self.method == "kubernetes" else "vault_jwt_file"
                raise InvalidOption(f"{option} '{self._secret_file}' cannot be read ({exc.strerror})",
                                    provider=PROVIDER) from None
        return self._secret

    def perform(self, client: Any) -> Dict[str, Any]:
        """Log in with hvac's auth method client; returns Vault's answer (the token is set on ``client``)."""
        if self.method == "approle":
            return client.auth.approle.login(self.role_id, self._secret, mount_point=self.mount)
        if self.method == "userpass":
            return client.auth.userpass.login(self.username, self._secret, mount_point=self.mount)
        if self.method == "jwt":
            return client.auth.jwt.jwt_login(self.role, self.credential(), path=self.mount)
        if self.method == "kubernetes":
            return client.auth.kubernetes.login(self.role, self.credential(), mount_point=self.mount)
        if self.method == "cert":
            return client.auth.cert.login(name=self.role or "", cert_pem=self.client_cert,
                                          key_pem=self.client_key or "", mount_point=self.mount)
        raise InvalidOption(f"vault_auth_method '{self.method}' does not log in", provider=PROVIDER)

    def refused(self, status: int, messages: Optional[Iterable[str]], namespace: Optional[str]) -> SecretError:
        """The error for a login Vault answered with ``status``: names method, mount, role and Vault's words."""
        said = "; ".join(str(item) for item in (messages or []) if item) or f"HTTP {status}"
        for hidden in (self._secret, self.role_id):
            # replaced before scrub cuts the text: a long JWT cut in two would no longer be found whole
            if hidden and len(hidden) >= 4:
                said = said.replace(hidden, "<hidden>")
        said = scrub(said, None)
        where = self.describe() + (f" in namespace '{namespace}'" if namespace else "")
        if status in (400, 401, 403):
            return SecretDenied(f"{where} was refused (Vault answered HTTP {status}: {said})", provider=PROVIDER,
                                hint=_LOGIN_HINTS.get(self.method))
        if status == 404:
            return InvalidOption(f"{where} found no such auth method (Vault answered HTTP 404: {said})",
                                 provider=PROVIDER,
                                 hint=f"Enable the {self.method} auth method at '{self.mount}' or set vault_auth_mount"
                                 " to where it is enabled")
        return translate(status, [said], api_path=f"auth/{self.mount}/login", capability="update",
                         namespace=namespace)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "VaultLogin":
        """The login the options ask for. Without vault_auth_method: AppRole when a role id and secret id
        are set (as before this option existed), else the token. Raises InvalidOption before any request."""
        method = options.get("vault_auth_method")
        method = str(method).strip().lower() if method not in (None, "") else None
        mount = options.get("vault_auth_mount") or None
        if method is None:
            if options.get("vault_role_id") and options.get("vault_secret_id"):
                method = "approle"
            elif options.get("vault_token"):
                method = "token"
            else:
                raise InvalidOption(
                    "no Vault credentials: neither a token nor an AppRole role_id and secret_id, and no vault_auth_method",
                    provider=PROVIDER,
                    hint="Set vault_token (VAULT_TOKEN), vault_role_id and vault_secret_id (VAULT_ROLE_ID,"
                    " VAULT_SECRET_ID), or vault_auth_method (VAULT_AUTH_METHOD) with its options",
                )
        if method not in AUTH_METHODS:
            raise InvalidOption(f"vault_auth_method '{method}' is not one of {', '.join(AUTH_METHODS)}",
                                provider=PROVIDER)

        def need(option: str, why: str) -> str:
            value = options.get(option)
            if value in (None, ""):
                raise InvalidOption(f"vault_auth_method '{method}' needs {option} ({why})", provider=PROVIDER)
            return str(value)

        if method == "token":
            need("vault_token", "the token to use")
            return cls("token", mount)
        if method == "none":
            return cls("none", mount)
        if method == "approle":
            return cls("approle", mount, role_id=need("vault_role_id", "the AppRole's role id"),
                       secret=need("vault_secret_id", "the AppRole's secret id"))
        if method == "userpass":
            return cls("userpass", mount, username=need("vault_username", "the user to log in as"),
                       secret=need("vault_password", "that user's password"))
        if method == "jwt":
            role = need("vault_role", "the JWT role to log in with")
            if options.get("vault_jwt"):
                return cls("jwt", mount, role=role, secret=str(options["vault_jwt"]))
            if not options.get("vault_jwt_file"):
                raise InvalidOption("vault_auth_method 'jwt' needs vault_jwt or vault_jwt_file (the signed token)",
                                    provider=PROVIDER)
            path = _readable_file(str(options["vault_jwt_file"]), "vault_jwt_file", "a file holding the signed JWT")
            return cls("jwt", mount, role=role, secret_file=path)
        if method == "kubernetes":
            role = need("vault_role", "the Kubernetes auth role to log in with")
            path = _readable_file(str(options.get("vault_kubernetes_token_file") or KUBERNETES_TOKEN_FILE),
                                  "vault_kubernetes_token_file", "the pod's service-account token")
            return cls("kubernetes", mount, role=role, secret_file=path)
        # cert: the TLS client certificate is the credential, so the connection must be TLS
        if not str(options.get("vault_addr") or "").startswith("https://"):
            raise InvalidOption("vault_auth_method 'cert' needs an https:// vault_addr (the certificate is"
                                " presented in the TLS handshake)", provider=PROVIDER)
        cert = _readable_file(options.get("vault_client_cert"), "vault_client_cert",
                              "the PEM file of the client certificate")
        key = options.get("vault_client_key")
        if key:
            key = _readable_file(str(key), "vault_client_key", "the PEM file of the client certificate's private key")
        return cls("cert", mount, role=options.get("vault_role") or None, client_cert=cert, client_key=key or None)


def hvac_status(exc: BaseException) -> Optional[int]:
    """The HTTP status an hvac exception stands for, None if it is not one of hvac's answers."""
    for klass in type(exc).__mro__:
        if klass.__name__ in _HVAC_STATUS:
            return _HVAC_STATUS[klass.__name__]
        if klass.__name__ == "VaultError":
            return 0
    return None
# dynamic secrets ----------------------------------------------------------------------------------------
#
# engine: dynamic reads a secret that Vault makes on each read (database credentials, cloud keys): the
# answer carries a lease, and reading again makes another lease (another database user). The backend
# returns the answer's fields with the lease's id, duration and renewability as one dict, which the
# run cache (core/leases.py) hands to every host and fork of the run for most of the lease, so a run
# makes one lease however many hosts ask. The lease functions below serve vibebox.secrets.vault_lease
# and the end-of-run revocation (vault_revoke_leases_at_end).


ENGINES = ("kv", "dynamic")
#: the lease fields added to a dynamic secret's own fields (core/leases.py reads the first two)
LEASE_FIELDS = ("lease_id", "lease_duration", "renewable")


def engine_of(options: Mapping[str, Any]) -> str:
    """``engine`` as given (``kv`` when unset); InvalidOption naming the option for anything else."""
    engine = str(options.get("engine") or "kv").strip().lower()
    if engine not in ENGINES:
        raise InvalidOption(f"engine must be one of {', '.join(ENGINES)} (got '{options.get('engine')}')",
                            provider=PROVIDER, hint="Use engine: dynamic for a database/creds/<role>-style path")
    return engine


def dynamic_path(name: str, mount: Optional[str]) -> str:
    """The API path a dynamic secret is read from: ``name`` itself (its first segment is the mount),
    or ``name`` under ``vault_dynamic_mount`` when the mount has several segments."""
    path = f"{mount.strip('/')}/{name.strip('/')}" if mount and mount.strip("/") else name.strip("/")
    if "/" not in path:
        raise InvalidOption(
            f"the dynamic secret path '{path}' has no mount (expected <mount>/<path>, such as database/creds/app)",
            provider=PROVIDER, provider_name=name,
            hint="Give the whole path, or set vault_dynamic_mount to the secrets engine's mount",
        )
    return path


def lease_value(payload: Mapping[str, Any], api_path: str) -> Dict[str, Any]:
    """The lookup's dict: the answer's own fields, then lease_id, lease_duration and renewable."""
    if not payload.get("lease_id"):
        raise InvalidOption(
            f"'{api_path}' answered without a lease, so it is not a dynamic secret",
            provider=PROVIDER, provider_name=api_path,
            hint="Read static secrets with engine: kv (the default), or check the path of the dynamic secret",
        )
    value = dict(payload.get("data") or {})
    value.update(lease_id=str(payload["lease_id"]), lease_duration=int(payload.get("lease_duration") or 0),
                 renewable=bool(payload.get("renewable")))
    return value


class VaultDynamicBackend(VaultBackend):
    """Reads dynamic secrets (each read is a new lease); writes are refused. Names are API paths, so
    no prefix applies, and there are no versions."""

    read_only = True
    supports_versions = False
    supports_restore = False
    uses_prefix = False

    dynamic_mount: Optional[str] = None
    revoke_at_end = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "VaultBackend":
        backend = super().from_options(options)
        backend.dynamic_mount = options.get("vault_dynamic_mount") or None
        backend.revoke_at_end = str(options.get("vault_revoke_leases_at_end")).strip().lower() in ("true", "1", "yes", "on")
        return backend

    def get(self, name: str, version: Optional[str] = None) -> Secret:
        if not is_current(version):
            raise VersionNotFound(
                f"version '{version}' was asked for, but a dynamic secret has no versions (each read is a new lease)",
                provider=PROVIDER, provider_name=name, hint="Leave version unset",
            )
        api_path = dynamic_path(name, self.dynamic_mount)
        try:
            _status, payload = self._call("GET", api_path, name=name, capability="read")
        except InvalidOption as exc:  # Vault's 400, such as "unknown role: app"
            exc.hint = ("Check the role in the path and that a dynamic secrets engine is mounted at its first segment"
                        " (or at vault_dynamic_mount)")
            raise
        value = lease_value(payload, api_path)
        duration = value["lease_duration"]
        now = _dt.datetime.now(_dt.timezone.utc)
        meta = SecretMetadata(name=name, version=None, created_at=now, updated_at=now,
                              expires_at=now + _dt.timedelta(seconds=duration) if duration else None,
                              stages=["current"], provider_name=api_path)
        return Secret(value, meta)  # type: ignore[arg-type]  # a dict: core/leases.py

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        raise self._read_only(name)

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        raise self._read_only(name)

    def describe(self, name: str) -> SecretMetadata:
        raise UnsupportedOperation("a dynamic secret has no metadata to describe", provider=PROVIDER, provider_name=name,
                                   hint="Read it with the get lookup; inspect its lease with vibebox.secrets.vault_lease")

    def list(self, prefix: str = "") -> List[str]:
        raise UnsupportedOperation("dynamic secrets cannot be listed", provider=PROVIDER,
                                   hint="List leases with vibebox.secrets.vault_lease")

    def identity(self) -> Dict[str, str]:
        return {"provider": PROVIDER, "address": self.addr, "namespace": self.namespace or "",
                "mount": (self.dynamic_mount or "").strip("/"), "engine": "dynamic"}

    def release_leases(self, lease_ids: List[str]) -> None:
        if not self.revoke_at_end:
            return
        for lease_id in lease_ids:
            try:
                revoke_lease(self, lease_id)
            except SecretError:
                pass  # already gone, or not ours to revoke any more: it ends with its TTL


def check_lease_id(lease_id: str) -> str:
    """A lease id is a path (``database/creds/app/<id>``); checked before any request."""
    text = str(lease_id or "").strip().strip("/")
    if not text or "/" not in text or any(part in ("", ".", "..") for part in text.split("/")):
        raise InvalidOption(f"lease_id '{lease_id}' is not a lease id (expected <path>/<id>, such as"
                            " database/creds/app/AbC123)", provider=PROVIDER)
    return text


def lookup_lease(backend: VaultBackend, lease_id: str) -> Optional[Dict[str, Any]]:
    """The lease's id, ttl, renewable, issue and expire times; None when Vault does not know it (revoked
    or expired)."""
    lease_id = check_lease_id(lease_id)
    status, payload = backend._call("PUT", "sys/leases/lookup", name=lease_id, capability="update",
                                    body={"lease_id": lease_id}, accept=(400,), about_secret=False)
    if status == 400:
        return None  # Vault answers "invalid lease" for a lease it does not have
    data = payload.get("data") or {}
    return {"lease_id": str(data.get("id") or lease_id), "ttl": int(data.get("ttl") or 0),
            "renewable": bool(data.get("renewable")), "issue_time": data.get("issue_time"),
            "expire_time": data.get("expire_time")}


def leases_under(backend: VaultBackend, prefix: str) -> List[str]:
    """Every lease id under ``prefix`` (a path such as ``database/creds/app``), walking sub-folders."""
    folder = str(prefix or "").strip().strip("/")
    if not folder or any(part in ("", ".", "..") for part in folder.split("/")):
        raise InvalidOption(f"lease_prefix '{prefix}' is not a path such as database/creds/app", provider=PROVIDER)
    found: List[str] = []
    pending = [folder + "/"]
    while pending:
        current = pending.pop()
        api_path = f"sys/leases/lookup/{current}"
        status, payload = backend._call("LIST", api_path, name=current, capability="sudo", accept=(404,),
                                        about_secret=False)
        if status == 404:
            continue
        for key in (payload.get("data") or {}).get("keys") or []:
            (pending if key.endswith("/") else found).append(current + key)
    return sorted(found)


def renew_lease(backend: VaultBackend, lease_id: str, increment: Optional[int] = None) -> Dict[str, Any]:
    lease_id = check_lease_id(lease_id)
    body: Dict[str, Any] = {"lease_id": lease_id}
    if increment:
        body["increment"] = int(increment)
    _status, payload = backend._call("PUT", "sys/leases/renew", name=lease_id, capability="update", body=body,
                                     about_secret=False)
    return {"lease_id": str(payload.get("lease_id") or lease_id), "ttl": int(payload.get("lease_duration") or 0),
            "renewable": bool(payload.get("renewable"))}


def revoke_lease(backend: VaultBackend, lease_id: str) -> None:
    lease_id = check_lease_id(lease_id)
    backend._call("PUT", "sys/leases/revoke", name=lease_id, capability="update", body={"lease_id": lease_id},
                  about_secret=False)


def manage_leases(backend: VaultBackend, state: str, lease_id: Optional[str] = None, lease_prefix: Optional[str] = None,
                  increment: Optional[int] = None, check_mode: bool = False) -> Dict[str, Any]:
    """What vibebox.secrets.vault_lease does: renew or revoke one lease or every lease under a prefix.

    Idempotent: a lease Vault no longer knows is not revoked again (changed is false) and cannot be
    renewed (an error for one named lease, skipped under a prefix). In check mode the leases are
    looked up and nothing else is sent. Returns ``changed`` and ``leases`` (what was or would be done).
    """
    if state not in ("renewed", "revoked"):
        raise InvalidOption(f"state must be renewed or revoked (got '{state}')", provider=PROVIDER)
    if bool(lease_id) == bool(lease_prefix):
        raise InvalidOption("give exactly one of lease_id and lease_prefix", provider=PROVIDER)
    if increment is not None and int(increment) < 0:
        raise InvalidOption(f"increment must not be negative (got {increment})", provider=PROVIDER)
    if lease_id:
        ids = [check_lease_id(lease_id)]
    else:
        ids = leases_under(backend, str(lease_prefix))
    done: List[Dict[str, Any]] = []
    for one in ids:
        info = lookup_lease(backend, one)
        if info is None:
            if state == "renewed" and lease_id:
                raise SecretNotFound(f"the lease '{one}' does not exist any more (revoked or expired), so it cannot"
                                     " be renewed", provider=PROVIDER, provider_name=one,
                                     hint="Read the dynamic secret again for a new lease")
            continue
        if state == "revoked":
            if not check_mode:
                revoke_lease(backend, one)
            done.append(dict(info, ttl=0))
            continue
        if not info["renewable"]:
            raise UnsupportedOperation(f"the lease '{one}' is not renewable", provider=PROVIDER, provider_name=one,
                                       hint="Read the dynamic secret again for a new lease")
        if check_mode:
            done.append(info)
            continue
        renewed = renew_lease(backend, one, increment)
        done.append(lookup_lease(backend, one) or dict(info, **renewed))  # the new expire_time too
    return {"changed": bool(done), "leases": done}


# what the rest of the collection knows about this provider (core/registry.py) -----------------------
SPEC = ProviderSpec(
    name=PROVIDER,
    backend=VaultBackend,
    aliases=("hashicorp", "openbao"),
    options=(
        Option("vault_addr", dict(type="str"), ("VAULT_ADDR",)),
        Option("vault_token", dict(type="str", no_log=True), ("VAULT_TOKEN",)),
        Option("vault_role_id", dict(type="str"), ("VAULT_ROLE_ID",)),
        Option("vault_secret_id", dict(type="str", no_log=True), ("VAULT_SECRET_ID",)),
        Option("vault_namespace", dict(type="str"), ("VAULT_NAMESPACE",)),
        Option("vault_mount", dict(type="str"), ("VAULT_PATH",)),
        Option("vault_kv_version", dict(type="int", choices=[1, 2]), ("VAULT_KV_VERSION",)),
        Option("vault_ca_cert", dict(type="path"), ("VAULT_CACERT",)),
        Option("vault_timeout", dict(type="float"), ("VAULT_CLIENT_TIMEOUT",)),
        # logins
        # no choices: AWX injects an unset field as an empty variable, which must mean "the default";
        # VaultLogin.from_options rejects an unknown method before any request, naming the option
        Option("vault_auth_method", dict(type="str"), ("VAULT_AUTH_METHOD",)),
        Option("vault_auth_mount", dict(type="str"), ("VAULT_AUTH_MOUNT",)),
        Option("vault_username", dict(type="str"), ("VAULT_USERNAME",)),
        Option("vault_password", dict(type="str", no_log=True), ("VAULT_PASSWORD",)),
        Option("vault_role", dict(type="str"), ("VAULT_ROLE",)),
        Option("vault_jwt", dict(type="str", no_log=True), ("VAULT_JWT",)),
        Option("vault_jwt_file", dict(type="path"), ("VAULT_JWT_FILE",)),
        Option("vault_kubernetes_token_file", dict(type="path"), ("VAULT_KUBERNETES_TOKEN_FILE",)),
        Option("vault_client_cert", dict(type="path"), ("VAULT_CLIENT_CERT",)),
        Option("vault_client_key", dict(type="path"), ("VAULT_CLIENT_KEY",)),
        Option("vault_transit_mount", dict(type="str"), ("VAULT_TRANSIT_MOUNT",)),
        Option("vault_transit_key", dict(type="str", no_log=False), ("VAULT_TRANSIT_KEY",)),  # a name, not a secret
        Option("engine", dict(type="str", choices=list(ENGINES))),
        Option("vault_dynamic_mount", dict(type="str")),
        Option("vault_revoke_leases_at_end", dict(type="bool")),
        Option("vault_delete_version_after", dict(type="bool")),
    ),
    # Vault reads the provider-side name as a path: 'a/./b' would be written to 'a/b'
    name_rule=NameRule(r"[A-Za-z0-9_.@+=-]+(/[A-Za-z0-9_.@+=-]+)*", 512, "path segments of letters, digits and _.@+=-",
                       "vibebox/", paths=True),
    max_value_bytes=1024 * 1024,
    detected_by="VAULT_ADDR",
    prefix_env="VAULT_PREFIX",
    package=PACKAGE,
    # engine: dynamic turns the name into the path of a secret Vault makes on each read; kv is a stored secret
    meaning_options=(("engine", ("kv",)),),
)


# transit: this provider's client and login, lent to code that is not a KV store (core/transit.py) ---
#: hvac's exception classes and the HTTP status each stands for (the reverse of VaultError.from_status)
_HVAC_STATUS = {
    "InvalidRequest": 400, "Unauthorized": 401, "Forbidden": 403, "InvalidPath": 404, "RateLimitExceeded": 429,
    "InternalServerError": 500, "VaultNotInitialized": 501, "BadGateway": 502, "VaultDown": 503,
}


def client_call(
    backend: VaultBackend,
    call: Callable[[Any], Any],
    *,
    api_path: str,
    capability: str,
    name: Optional[str] = None,
    explain: Optional[Callable[[int, Any], Optional[SecretError]]] = None,
) -> Any:
    """Run ``call(client)``, one request made with one of hvac's typed API clients (for example
    ``client.secrets.transit``), with this backend's login, retry and error translation.

    Why: the transit engine is not a secret store, yet it must connect and log in exactly as the KV
    backend does (every login option, the CA, the namespace, one login per run), so it borrows the
    backend built by ``VaultBackend.from_options`` instead of building a second client. ``explain``
    may turn an error answer (status, hvac exception) into a more precise core error first (a batch
    whose items failed); no SDK exception leaves this function.
    """
    hvac = backend._hvac
    http_errors = backend._http_errors

    def one_request() -> Any:
        backend._ensure_token()
        try:
            return call(backend._client)
        except hvac.exceptions.VaultError as exc:
            status = _HVAC_STATUS.get(type(exc).__name__, 500)
            better = explain(status, exc) if explain is not None else None
            if better is not None:
                raise better from None
            said = exc.errors if isinstance(exc.errors, list) else [str(exc.errors or "")]
            raise translate(status, said, api_path=api_path, capability=capability, provider_name=name,
                            namespace=backend.namespace) from None
        except (http_errors.SSLError, http_errors.Timeout, http_errors.ConnectionError) as exc:
            raise backend._unreachable(exc) from None

    return backend.request(one_request, name)
