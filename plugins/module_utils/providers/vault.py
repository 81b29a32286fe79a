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
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

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
    """The custom_metadata to write: None for description or tags means 'leave that part as it is'."""
    merged: Dict[str, str] = {str(k): str(v) for k, v in (current or {}).items()}
    if tags is not None:
        kept_description = merged.get(DESCRIPTION_KEY)
        merged = {str(k): str(v) for k, v in tags.items()}
        if kept_description is not None:
            merged[DESCRIPTION_KEY] = kept_description
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
        self.approle = bool(role_id and secret_id)
        if not self.approle and not token:
            raise InvalidOption(
                "no Vault credentials: neither a token nor an AppRole role_id and secret_id",
                provider=PROVIDER,
                hint="Set vault_token (VAULT_TOKEN), or vault_role_id and vault_secret_id (VAULT_ROLE_ID, VAULT_SECRET_ID)",
            )
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
            token="" if self.approle else token,
            namespace=self.namespace,
            verify=ca_cert or True,
            timeout=self.timeout,
        )
        self._lock = threading.Lock()
        self._token_deadline: Optional[float] = None
        self._have_token = not self.approle
        #: AppRole logins made by this backend (one per run is the goal; tests read it)
        self.logins = 0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "VaultBackend":
        """The backend of the mount's KV version (VaultKV2Backend unless vault_kv_version is 1)."""
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
        )

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
        if not self.approle:
            return
        with self._lock:  # get_many runs reads on threads: one login, not one per thread
            if self._have_token and (self._token_deadline is None or time.monotonic() < self._token_deadline):
                return
            self._login()

    def _login(self) -> None:
        api_path = f"auth/{APPROLE_MOUNT}/login"
        self._client.token = ""  # an expired token sent along would make Vault refuse the login itself
        status, payload = self._send("POST", api_path, {"role_id": self._role_id, "secret_id": self._secret_id})
        if status >= 300:
            raise translate(status, payload.get("errors"), api_path=api_path, capability="update",
                            namespace=self.namespace, login=True)
        auth = payload.get("auth") or {}
        if not auth.get("client_token"):
            raise ProviderUnavailable("the AppRole login answered without a token", retryable=False, provider=PROVIDER)
        self._client.token = auth["client_token"]
        ttl = float(auth.get("lease_duration") or 0)
        # renew a little before the end so a long run never sends an expired token
        self._token_deadline = time.monotonic() + ttl - min(30.0, ttl / 10) if ttl else None
        self._have_token = True
        self.logins += 1

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
        info = data.get("metadata") or {}
        custom = info.get("custom_metadata") or {}
        meta = SecretMetadata(
            name=name,
            version=str(info.get("version")) if info.get("version") else None,
            updated_at=parse_time(info.get("created_time")),
            tags=tags_from_custom(custom),
            description=custom.get(DESCRIPTION_KEY),
            stages=[stage] if stage else [],
            provider_name=name,
        )
        return Secret(value_from_data(data.get("data")) or "", meta)

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
        info = data.get("metadata") or {}
        custom = info.get("custom_metadata") or {}
        meta = SecretMetadata(
            name=name,
            version=str(info.get("version")) if info.get("version") else None,
            updated_at=parse_time(info.get("created_time")),
            tags=tags_from_custom(custom),
            description=custom.get(DESCRIPTION_KEY),
            stages=["current"],
            provider_name=name,
        )
        return Observed(meta, value=value_from_data(data.get("data")) or "", raw=info)

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
    ),
    # Vault reads the provider-side name as a path: 'a/./b' would be written to 'a/b'
    name_rule=NameRule(r"[A-Za-z0-9_.@+=-]+(/[A-Za-z0-9_.@+=-]+)*", 512, "path segments of letters, digits and _.@+=-",
                       "vibebox/", paths=True),
    max_value_bytes=1024 * 1024,
    detected_by="VAULT_ADDR",
    prefix_env="VAULT_PREFIX",
    package=PACKAGE,
)
