# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Kubernetes provider: every secret is one key of a single Secret object.

Where a secret lives: key ``<name>`` of the Secret ``k8s_secret_name`` (default ``vibebox-secrets``)
in ``k8s_namespace`` (default ``default``), so a pod can mount or ``envFrom`` the whole set. There is
no prefix (the Secret is the namespace of the names); keys follow the API's rule ``[-._a-zA-Z0-9]+``,
at most 253 characters.

Storage layout (also in docs/providers/kubernetes.md):

* ``data[<name>]`` holds the current value, base64 as the API wants it; nothing else is needed to
  consume it, so Secrets written by other tools can be read too.
* ``data[<name>.previous]`` holds the value the last write replaced. It is kept in ``data`` and not
  in an annotation because annotations are not treated as secret material (they show in
  ``kubectl describe`` and in events). ``list()`` hides these keys and the suffix ``.previous`` is
  reserved: a secret cannot be named ``x.previous``, and names are at most 244 characters so that
  the companion still fits the 253-character key limit.
* the annotation ``vibebox.secrets/metadata`` holds one JSON object for the whole Secret:
  ``{"<name>": {"version": 3, "created_at": ..., "updated_at": ..., "description": ..., "tags":
  {...}, "previous_version": 2, "previous_updated_at": ...}}``. Metadata is not secret, so an
  annotation is the right place; keeping it out of ``data`` keeps it out of pods' environment.

Versions: only two exist, ``current`` and ``previous``; each also has a number (the per-key write
counter from the annotation), so a version id is ``current``, ``previous`` or one of those two
numbers. Any older number is gone and reads as VersionNotFound. A key written by another tool has no
metadata entry and reads as version 1.

Deletion removes the key, its previous copy and its metadata at once: Kubernetes has no soft delete,
so ``supports_restore`` is False and ``recovery_days`` is ignored. The Secret itself is kept even
when its last key goes (other objects may reference it); delete it with kubectl or kubernetes.core.

Every write is a merge patch of the keys it changes plus the metadata annotation, carrying the
``resourceVersion`` that was read: the API server refuses it with 409 when another writer got there
first, and the write is redone on a fresh read (jittered, bounded), so concurrent writers of
different keys never lose each other's update. After the attempts run out it is SecretConflict.
A missing Secret is created with the label ``app.kubernetes.io/managed-by: vibebox.secrets``.

Configuration: explicit ``kubeconfig``/``k8s_context`` win; otherwise in a pod
(``KUBERNETES_SERVICE_HOST`` set) the service account is used; otherwise ``~/.kube/config``.
The ``kubernetes`` package is imported on first use only.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    InvalidSecretName,
    InvalidSecretValue,
    ProviderNotInstalled,
    ProviderThrottled,
    ProviderUnavailable,
    SecretConflict,
    SecretDenied,
    SecretError,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.names import NameRule
from ansible_collections.vibebox.secrets.plugins.module_utils.core.registry import Option, ProviderSpec
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    CURRENT,
    PREVIOUS,
    Secret,
    SecretMetadata,
    VersionInfo,
    is_current,
    iso,
    parse_iso,
    utcnow,
)

PROVIDER = "kubernetes"
PACKAGE = "kubernetes"
DEFAULT_NAMESPACE = "default"
DEFAULT_SECRET_NAME = "vibebox-secrets"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "vibebox.secrets"
METADATA_ANNOTATION = "vibebox.secrets/metadata"
PREVIOUS_SUFFIX = ".previous"
MAX_KEY_LENGTH = 253
MAX_NAME_LENGTH = MAX_KEY_LENGTH - len(PREVIOUS_SUFFIX)
#: read-modify-write rounds before giving up with SecretConflict; each lost round means another
#: writer succeeded, so this bounds the wait behind that many concurrent writers
WRITE_ATTEMPTS = 16
#: (connect, read) seconds for each API call
REQUEST_TIMEOUT = (10.0, 30.0)
_MERGE_PATCH = "application/merge-patch+json"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class _Status(Exception):
    """An API answer the caller handles itself (404 on read, 409 on write)."""

    def __init__(self, status: int, body: Dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass
class Entry:
    """Metadata of one key as kept in the annotation; never holds a value."""

    version: int = 1
    created_at: Optional[str] = None
    updated_at: Optional[str] = None
    description: Optional[str] = None
    tags: Dict[str, str] = field(default_factory=dict)
    previous_version: Optional[int] = None
    previous_updated_at: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Any) -> "Entry":
        if not isinstance(data, dict):
            return cls()
        try:
            version = int(data.get("version") or 1)
        except (TypeError, ValueError):
            version = 1
        previous = data.get("previous_version")
        try:
            previous = int(previous) if previous is not None else None
        except (TypeError, ValueError):
            previous = None
        tags = data.get("tags") if isinstance(data.get("tags"), dict) else {}
        return cls(
            version=version,
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
            description=data.get("description"),
            tags={str(k): str(v) for k, v in tags.items()},
            previous_version=previous,
            previous_updated_at=data.get("previous_updated_at"),
        )

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"version": self.version, "created_at": self.created_at, "updated_at": self.updated_at}
        if self.description is not None:
            data["description"] = self.description
        if self.tags:
            data["tags"] = dict(self.tags)
        if self.previous_version is not None:
            data["previous_version"] = self.previous_version
            data["previous_updated_at"] = self.previous_updated_at
        return data


def decode_metadata(annotations: Optional[Mapping[str, str]]) -> Dict[str, Entry]:
    """The annotation -> {key: Entry}; a missing or hand-broken annotation reads as empty."""
    text = (annotations or {}).get(METADATA_ANNOTATION)
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(key): Entry.from_dict(value) for key, value in raw.items()}


def encode_metadata(entries: Mapping[str, Entry]) -> Optional[str]:
    """{key: Entry} -> annotation text (sorted, compact), or None to remove the annotation."""
    if not entries:
        return None
    return json.dumps({key: entries[key].to_dict() for key in sorted(entries)}, sort_keys=True, separators=(",", ":"))


def encode_value(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def previous_key(name: str) -> str:
    return name + PREVIOUS_SUFFIX


def is_companion(key: str) -> bool:
    return key.endswith(PREVIOUS_SUFFIX)


@dataclass
class Change:
    """What one write does: data keys to set (None removes) and metadata entries (None removes)."""

    data: Dict[str, Optional[str]] = field(default_factory=dict)
    entries: Dict[str, Optional[Entry]] = field(default_factory=dict)
    result: Any = None


def _sdk() -> Tuple[Any, Any, Any]:
    """(kubernetes, kubernetes.client, kubernetes.config), imported on first use so that other
    providers never pay for them; ProviderNotInstalled names the package when it is missing."""
    try:
        import kubernetes
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
    except ImportError as exc:
        raise ProviderNotInstalled(PROVIDER, PACKAGE, exc) from None
    return kubernetes, k8s_client, k8s_config


class KubernetesBackend(SecretBackend):
    name = PROVIDER
    supports_versions = True
    supports_restore = False
    #: current and previous share one metadata entry, tags included
    version_reads_carry_tags = True

    def __init__(
        self,
        namespace: Optional[str] = None,
        secret_name: Optional[str] = None,
        kubeconfig: Optional[str] = None,
        context: Optional[str] = None,
        in_cluster: Optional[bool] = None,
        request_timeout: Tuple[float, float] = REQUEST_TIMEOUT,
        write_attempts: int = WRITE_ATTEMPTS,
    ) -> None:
        self.namespace = namespace or DEFAULT_NAMESPACE
        self.secret_name = secret_name or DEFAULT_SECRET_NAME
        self.kubeconfig = kubeconfig or None
        self.context = context or None
        if in_cluster is None:
            in_cluster = not self.kubeconfig and not self.context and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        self.in_cluster = in_cluster
        self.request_timeout = request_timeout
        self.write_attempts = max(1, int(write_attempts))
        self._lock = threading.Lock()
        self._api_client: Any = None
        self._package: Any = None
        self._check_location()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "KubernetesBackend":
        kubeconfig = options.get("kubeconfig")
        if kubeconfig:
            kubeconfig = os.pathsep.join(os.path.expanduser(part) for part in str(kubeconfig).split(os.pathsep))
        return cls(
            namespace=options.get("k8s_namespace"),
            secret_name=options.get("k8s_secret_name"),
            kubeconfig=kubeconfig,
            context=options.get("k8s_context"),
        )

    def _check_location(self) -> None:
        if len(self.namespace) > 63 or not _DNS_LABEL.fullmatch(self.namespace):
            raise InvalidOption(
                f"k8s_namespace '{self.namespace}' is not a valid namespace name",
                provider=PROVIDER,
                hint="Use lower-case letters, digits and '-', at most 63 characters",
            )
        if len(self.secret_name) > 253 or not _DNS_SUBDOMAIN.fullmatch(self.secret_name):
            raise InvalidOption(
                f"k8s_secret_name '{self.secret_name}' is not a valid Secret name",
                provider=PROVIDER,
                hint="Use lower-case letters, digits, '-' and '.', at most 253 characters",
            )

    @property
    def where(self) -> str:
        return f"Secret '{self.secret_name}' in namespace '{self.namespace}'"

    # client ----------------------------------------------------------------------------------------
    def _client(self) -> Tuple[Any, Any]:
        """(ApiClient, the kubernetes package), made once per backend; the SDK is imported here only."""
        with self._lock:
            if self._api_client is not None:
                return self._api_client, self._package
            kubernetes, k8s_client, k8s_config = _sdk()
            try:
                if self.in_cluster:
                    configuration = k8s_client.Configuration()
                    k8s_config.load_incluster_config(client_configuration=configuration)
                    api_client = k8s_client.ApiClient(configuration)
                else:
                    api_client = k8s_config.new_client_from_config(
                        config_file=self.kubeconfig, context=self.context, persist_config=False
                    )
            except (k8s_config.ConfigException, OSError, ValueError, TypeError) as exc:
                source = "the pod's service account" if self.in_cluster else (
                    f"kubeconfig {self.kubeconfig}" if self.kubeconfig
                    else "the default kubeconfig (~/.kube/config or KUBECONFIG)"
                )
                raise ProviderUnavailable(
                    f"cannot load the Kubernetes configuration from {source}"
                    f"{' (context ' + repr(self.context) + ')' if self.context else ''}: {exc}",
                    retryable=False,
                    provider=PROVIDER,
                    hint="Set kubeconfig (or KUBECONFIG) and k8s_context, or run inside a pod with a service account",
                ) from None
            self._api_client = api_client
            self._package = kubernetes
            return self._api_client, self._package

    def identity(self) -> Dict[str, str]:
        """Cluster server, namespace and Secret name, from the loaded configuration (no request)."""
        api_client, _sdk = self._client()
        server = str(getattr(api_client.configuration, "host", "") or "").rstrip("/")
        return {"provider": PROVIDER, "server": server, "namespace": self.namespace, "secret_name": self.secret_name}

    def close(self) -> None:
        with self._lock:
            if self._api_client is not None:
                try:
                    self._api_client.close()
                except Exception:  # noqa: BLE001 - closing must never fail a run
                    pass
            self._api_client = None

    def _send(self, op: str, body: Optional[Dict[str, Any]]) -> Tuple[int, bytes]:
        """One of the three calls this provider makes (read, create, patch) -> (HTTP status, JSON bytes).

        Clients made by openapi-generator 7 (kubernetes >= 35) build a pydantic model class for every
        core/v1 kind when CoreV1Api is imported, which costs more than a second in every Ansible
        worker; their ApiClient (configuration, auth, TLS, token refresh) is used directly instead.
        Older clients go through CoreV1Api as usual. Both return raw JSON, independent of models.
        """
        api, sdk = self._client()
        collection = f"/api/v1/namespaces/{self.namespace}/secrets"
        item = f"{collection}/{self.secret_name}"
        if hasattr(api, "param_serialize"):
            method, path, content_type = {
                "read": ("GET", item, None),
                "create": ("POST", collection, "application/json"),
                "patch": ("PATCH", item, _MERGE_PATCH),
            }[op]
            headers = {"Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            method, url, headers, payload, post = api.param_serialize(
                method=method, resource_path=path, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = api.call_api(method, url, header_params=headers, body=payload, post_params=post,
                                    _request_timeout=self.request_timeout)
            return int(response.status), response.read() or b""
        core = sdk.client.CoreV1Api(api)
        kwargs: Dict[str, Any] = {"_preload_content": False, "_request_timeout": self.request_timeout}
        try:
            if op == "read":
                response = core.read_namespaced_secret(self.secret_name, self.namespace, **kwargs)
            elif op == "create":
                response = core.create_namespaced_secret(self.namespace, body, **kwargs)
            else:
                try:
                    response = core.patch_namespaced_secret(
                        self.secret_name, self.namespace, body, _content_type=_MERGE_PATCH, **kwargs
                    )
                except TypeError:
                    # clients older than _content_type send a strategic merge patch: the same for a Secret's maps
                    response = core.patch_namespaced_secret(self.secret_name, self.namespace, body, **kwargs)
        except sdk.client.ApiException as exc:
            text = exc.body if isinstance(exc.body, (bytes, bytearray)) else str(exc.body or "").encode("utf-8")
            return int(exc.status or 0), text
        return int(response.status), response.data or b""

    def _call(self, verb: str, op: str, body: Optional[Dict[str, Any]] = None, key: Optional[str] = None,
              expect: Tuple[int, ...] = (), count_as: Optional[str] = None) -> Dict[str, Any]:
        """Run one API call, retried alone by SecretBackend.request (its retries counted for
        ``count_as`` or ``key``); a 2xx answer's JSON comes back, others become core errors (or _Status)."""
        return self.request(lambda: self._call_once(verb, op, body, key, expect), count_as or key)

    def _call_once(self, verb: str, op: str, body: Optional[Dict[str, Any]], key: Optional[str],
                   expect: Tuple[int, ...]) -> Dict[str, Any]:
        try:
            status, payload = self._send(op, body)
        except SecretError:
            raise
        except Exception as exc:  # urllib3 and socket errors: the cluster cannot be reached
            if not _is_network_error(exc):
                raise
            from ansible_collections.vibebox.secrets.plugins.module_utils.core import network  # only once a request failed

            host = getattr(getattr(self._api_client, "configuration", None), "host", None)
            raise network.unreachable(
                "the Kubernetes API", network.tried_endpoint(exc, host), exc, provider=PROVIDER, provider_name=key,
                address="the cluster's server in the kubeconfig (kubeconfig, k8s_context)",
                ca="the cluster's certificate-authority in the kubeconfig",
            ) from None
        try:
            parsed = json.loads(payload.decode("utf-8")) if payload else {}
        except ValueError:
            parsed = None
        if 200 <= status < 300:
            if not isinstance(parsed, dict):
                raise ProviderUnavailable(
                    "the Kubernetes API answered with something that is not a JSON object",
                    provider=PROVIDER,
                    provider_name=key,
                    hint="Check that kubeconfig points at a Kubernetes API server and not at a proxy or web page",
                )
            return parsed
        body_dict = parsed if isinstance(parsed, dict) else {}
        if status in expect:
            raise _Status(status, body_dict)
        raise self.translate(status, body_dict, verb, key)

    def translate(self, status: int, body: Dict[str, Any], verb: str, key: Optional[str]) -> SecretError:
        message = str(body.get("message") or "")
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        if status == 401:
            return SecretDenied(
                "the Kubernetes API rejected the credentials (401 Unauthorized)",
                provider=PROVIDER,
                provider_name=key,
                hint="Renew the token or certificate of the kubeconfig user (or the pod's service account token)",
            )
        if status == 403:
            return SecretDenied(
                f"not allowed to {verb} secrets in namespace '{self.namespace}' (403 Forbidden: {message})",
                provider=PROVIDER,
                provider_name=key,
                hint=f"Grant the verb '{verb}' on resource 'secrets' in namespace '{self.namespace}' to this identity"
                " (a Role and a RoleBinding), or use a context that has it",
            )
        if status == 404:
            if details.get("kind") == "namespaces":
                return SecretNotFound(
                    f"namespace '{self.namespace}' does not exist",
                    provider=PROVIDER,
                    provider_name=key,
                    hint=f"Create it (kubectl create namespace {self.namespace}) or set k8s_namespace to an existing one",
                )
            return self._missing_secret(key)
        if status == 409:
            return SecretConflict(
                f"another writer changed {self.where} at the same time ({body.get('reason') or 'Conflict'})",
                provider=PROVIDER,
                provider_name=key,
                hint="Run the task again; it re-reads the Secret",
            )
        if status == 422:
            # only field names: the real server echoes the whole patched object (values!) in some messages
            fields = sorted({str(c.get("field")) for c in details.get("causes") or [] if isinstance(c, dict) and c.get("field")})
            return InvalidSecretValue(
                f"the API server refused the change to {self.where} as invalid"
                f"{' (fields: ' + ', '.join(fields) + ')' if fields else ''}",
                provider=PROVIDER,
                provider_name=key,
                hint="A Secret holds at most 1 MiB and 256 KiB of annotations; an immutable Secret cannot change",
            )
        if status == 429:
            return ProviderThrottled(
                "the Kubernetes API is throttling requests (429)", provider=PROVIDER, provider_name=key,
            )
        if status >= 500 or status == 0:
            return ProviderUnavailable(
                f"the Kubernetes API answered {status} {body.get('reason') or ''}".rstrip(),
                provider=PROVIDER,
                provider_name=key,
                hint="The API server or its storage is unhealthy; the call is retried",
            )
        return ProviderUnavailable(
            f"unexpected answer {status} {body.get('reason') or ''} from the Kubernetes API while trying to {verb} {self.where}",
            retryable=False,
            provider=PROVIDER,
            provider_name=key,
        )

    def _missing_secret(self, key: Optional[str]) -> SecretNotFound:
        return SecretNotFound(
            f"the {self.where} does not exist (or the namespace does not)",
            provider=PROVIDER,
            provider_name=key,
            hint="Create it by writing a secret with vibebox.secrets.secret, or check k8s_namespace and k8s_secret_name",
        )

    # reads -----------------------------------------------------------------------------------------
    def _read(self, key: Optional[str] = None, count_as: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """The Secret as JSON, or None when it does not exist."""
        try:
            return self._call("get", "read", None, key, expect=(404,), count_as=count_as)
        except _Status:
            return None

    def _check_name(self, name: str, for_write: bool = False) -> None:
        if is_companion(name):
            raise InvalidSecretName(
                f"names ending in '{PREVIOUS_SUFFIX}' are reserved for the previous copy of a secret",
                provider=PROVIDER,
                provider_name=name,
                hint=f"Read the previous value with version='previous', or rename the secret without '{PREVIOUS_SUFFIX}'",
            )
        if for_write and len(name) > MAX_NAME_LENGTH:
            raise InvalidSecretName(
                f"the name must be at most {MAX_NAME_LENGTH} characters so that its previous copy"
                f" '<name>{PREVIOUS_SUFFIX}' fits the 253-character key limit (got {len(name)})",
                provider=PROVIDER,
                provider_name=name,
                hint="Use a shorter name",
            )

    def _not_found(self, name: str) -> SecretNotFound:
        return SecretNotFound(
            f"there is no key '{name}' in the {self.where}",
            provider=PROVIDER,
            provider_name=name,
            hint="Create it with vibebox.secrets.secret (state: present), or check the name, k8s_namespace and k8s_secret_name",
        )

    def _entry(self, obj: Dict[str, Any], name: str) -> Entry:
        entries = decode_metadata((obj.get("metadata") or {}).get("annotations"))
        entry = entries.get(name) or Entry()
        data = obj.get("data") or {}
        if previous_key(name) in data and entry.previous_version is None:
            entry.previous_version = max(entry.version - 1, 0)  # written by hand: give it a number anyway
        if previous_key(name) not in data:
            entry.previous_version = None
            entry.previous_updated_at = None
        return entry

    def _meta(self, name: str, entry: Entry, which: str = CURRENT, count: Optional[int] = None) -> SecretMetadata:
        previous = which == PREVIOUS
        return SecretMetadata(
            name=name,
            version=str(entry.previous_version if previous else entry.version),
            created_at=parse_iso(entry.created_at),
            updated_at=parse_iso(entry.previous_updated_at if previous else entry.updated_at),
            tags=dict(entry.tags),
            description=entry.description,
            stages=[which],
            provider_name=name,
            versions_count=count if count is not None else (2 if entry.previous_version is not None else 1),
        )

    def _decode(self, name: str, encoded: Any) -> str:
        try:
            return base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidSecretValue(
                f"the value of key '{name}' in the {self.where} is not UTF-8 text",
                provider=PROVIDER,
                provider_name=name,
                hint="This provider reads text values; binary data written by another tool cannot be returned",
            ) from None

    def _from_object(self, obj: Optional[Dict[str, Any]], name: str, version: Optional[str]) -> Secret:
        data = (obj or {}).get("data") or {}
        if name not in data:
            raise self._not_found(name)
        entry = self._entry(obj or {}, name)
        which = self._which(name, entry, version)
        if which == PREVIOUS:
            return Secret(self._decode(name, data[previous_key(name)]), self._meta(name, entry, PREVIOUS))
        return Secret(self._decode(name, data[name]), self._meta(name, entry))

    def _which(self, name: str, entry: Entry, version: Optional[str]) -> str:
        """'current' or 'previous' for a requested version; VersionNotFound for anything else."""
        wanted = None if version is None else str(version)
        if is_current(wanted) or wanted == str(entry.version):
            return CURRENT
        if wanted == PREVIOUS or (entry.previous_version is not None and wanted == str(entry.previous_version)):
            if entry.previous_version is None:
                raise VersionNotFound(
                    "it has no previous version",
                    provider=PROVIDER,
                    provider_name=name,
                    hint="A previous copy exists only after the secret has been changed or rotated (and until it is cleaned up)",
                )
            return PREVIOUS
        kept = f"current ({entry.version})" + (
            f" and previous ({entry.previous_version})" if entry.previous_version is not None else ""
        )
        raise VersionNotFound(
            f"version '{wanted}' is not kept: this provider keeps only {kept}",
            provider=PROVIDER,
            provider_name=name,
            hint="Use version current or previous",
        )

    def get(self, name: str, version: Optional[str] = None) -> Secret:
        self._check_name(name)
        return self._from_object(self._read(name), name, version)

    def get_many(self, names: Iterable[str]) -> Dict[str, object]:
        """All names from one read of the Secret: one request however many keys a play needs."""
        unique = list(dict.fromkeys(names))
        results: Dict[str, object] = {}
        try:
            obj = self._read(count_as=unique[0] if unique else None)  # the batch's retries go with its first name
        except SecretError as exc:
            return {item: exc for item in unique}
        for item in unique:
            try:
                self._check_name(item)
                results[item] = self._from_object(obj, item, None)
            except SecretError as exc:
                results[item] = exc
        return results

    def describe(self, name: str) -> SecretMetadata:
        self._check_name(name)
        obj = self._read(name)
        if name not in ((obj or {}).get("data") or {}):
            raise self._not_found(name)
        return self._meta(name, self._entry(obj or {}, name))

    def versions(self, name: str) -> List[VersionInfo]:
        self._check_name(name)
        obj = self._read(name)
        if name not in ((obj or {}).get("data") or {}):
            raise self._not_found(name)
        entry = self._entry(obj or {}, name)
        found = [VersionInfo(str(entry.version), parse_iso(entry.updated_at), [CURRENT])]
        if entry.previous_version is not None:
            found.append(VersionInfo(str(entry.previous_version), parse_iso(entry.previous_updated_at), [PREVIOUS]))
        return found

    def list(self, prefix: str = "") -> List[str]:
        obj = self._read()
        data = (obj or {}).get("data") or {}
        return sorted(key for key in data if not is_companion(key) and key.startswith(prefix or ""))

    # writes ----------------------------------------------------------------------------------------
    def _update(self, verb: str, name: str, plan: Callable[[Optional[Dict[str, Any]]], Change]) -> Any:
        """Read, plan, write with the read's resourceVersion; on 409 start again from a fresh read."""
        for attempt in range(self.write_attempts):
            obj = self._read(name)
            change = plan(obj)
            try:
                if obj is None:
                    self._create(change, name)
                else:
                    self._patch(obj, change, verb, name)
                return change.result
            except _Status:
                # 409: somebody else wrote (or created the Secret) between our read and our write
                time.sleep(random.uniform(0, min(0.5, 0.01 * (2 ** attempt))))
        raise SecretConflict(
            f"the {self.where} kept changing under us: {self.write_attempts} attempts to {verb} lost to other writers",
            provider=PROVIDER,
            provider_name=name,
            hint="Fewer writers at once (lower forks or serial) or run the task again",
        )

    def _create(self, change: Change, name: str) -> None:
        entries = {key: entry for key, entry in change.entries.items() if entry is not None}
        metadata: Dict[str, Any] = {
            "name": self.secret_name,
            "namespace": self.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        }
        annotation = encode_metadata(entries)
        if annotation:
            metadata["annotations"] = {METADATA_ANNOTATION: annotation}
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "Opaque",
            "data": {key: value for key, value in change.data.items() if value is not None},
        }
        self._call("create", "create", body, name, expect=(409,))

    def _patch(self, obj: Dict[str, Any], change: Change, verb: str, name: str) -> None:
        meta = obj.get("metadata") or {}
        entries = decode_metadata(meta.get("annotations"))
        for key, entry in change.entries.items():
            if entry is None:
                entries.pop(key, None)
            else:
                entries[key] = entry
        body = {
            "metadata": {
                "resourceVersion": meta.get("resourceVersion"),
                "annotations": {METADATA_ANNOTATION: encode_metadata(entries)},
            },
            "data": dict(change.data),
        }

        try:
            self._call(verb, "patch", body, name, expect=(409, 404))
        except _Status as status:
            if status.status == 404:  # deleted between our read and our write: start again
                raise _Status(409, status.body) from None
            raise

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        self._check_name(name, for_write=True)
        encoded = encode_value(value)

        def plan(obj: Optional[Dict[str, Any]]) -> Change:
            now = iso(utcnow())
            data = (obj or {}).get("data") or {}
            if expect_version is not None:
                # checked on every read of the retry loop, and the patch carries that read's
                # resourceVersion: a write between the two is refused by the API server (409)
                actual = str(self._entry(obj or {}, name).version) if name in data else ""
                if actual != expect_version:
                    raise SecretConflict(
                        f"another writer changed it first (its version is {actual or 'none'}, not"
                        f" {expect_version or 'none'}); nothing was written",
                        provider=PROVIDER, provider_name=name,
                        hint="Read the secret again and repeat the change if it is still needed",
                    )
            change = Change()
            if name in data:
                old = self._entry(obj or {}, name)
                entry = Entry(
                    version=old.version + 1,
                    created_at=old.created_at,
                    updated_at=now,
                    description=old.description if description is None else description,
                    tags=dict(old.tags) if tags is None else dict(tags),
                    previous_version=old.version,
                    previous_updated_at=old.updated_at,
                )
                change.data[previous_key(name)] = data[name]
            else:
                # a fresh key; drop any stale companion left by hand so 'previous' cannot lie
                entry = Entry(version=1, created_at=now, updated_at=now, description=description, tags=dict(tags or {}))
                if previous_key(name) in data:
                    change.data[previous_key(name)] = None
            change.data[name] = encoded
            change.entries[name] = entry
            change.result = self._meta(name, entry)
            return change

        return self._update("patch", name, plan)

    def update_metadata(self, name: str, description: Optional[str] = None,
                        tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        self._check_name(name)

        def plan(obj: Optional[Dict[str, Any]]) -> Change:
            if name not in ((obj or {}).get("data") or {}):
                raise self._not_found(name)
            entry = self._entry(obj or {}, name)
            if description is not None:
                entry.description = description
            if tags is not None:
                entry.tags = dict(tags)
            return Change(entries={name: entry}, result=self._meta(name, entry))

        return self._update("patch", name, plan)

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        """Remove the key, its previous copy and its metadata; the Secret object stays."""
        self._check_name(name)

        def plan(obj: Optional[Dict[str, Any]]) -> Change:
            data = (obj or {}).get("data") or {}
            if name not in data:
                raise self._not_found(name)
            change = Change(data={name: None}, entries={name: None})
            if previous_key(name) in data:
                change.data[previous_key(name)] = None
            return change

        self._update("patch", name, plan)

    def delete_version(self, name: str, version: str) -> None:
        """Drop the previous copy (the end of a rotation's grace period); the current one stays."""
        self._check_name(name)

        def plan(obj: Optional[Dict[str, Any]]) -> Change:
            if name not in ((obj or {}).get("data") or {}):
                raise self._not_found(name)
            entry = self._entry(obj or {}, name)
            if self._which(name, entry, version) == CURRENT:
                raise UnsupportedOperation(
                    "the current version cannot be destroyed",
                    provider=PROVIDER,
                    provider_name=name,
                    hint="Rotate first, then clean up the previous version, or delete the secret",
                )
            entry.previous_version = None
            entry.previous_updated_at = None
            return Change(data={previous_key(name): None}, entries={name: entry})

        self._update("patch", name, plan)


def _is_network_error(exc: BaseException) -> bool:
    """urllib3's errors (unreachable, TLS, timeouts) without importing urllib3 at module load."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    module = type(exc).__module__ or ""
    return module.startswith("urllib3") or module.startswith("ssl")


# what the rest of the collection knows about this provider (core/registry.py) -----------------------
SPEC = ProviderSpec(
    name=PROVIDER,
    backend=KubernetesBackend,
    aliases=("k8s",),
    options=(
        Option("k8s_namespace", dict(type="str"), ("K8S_SECRET_NAMESPACE",)),
        Option("k8s_secret_name", dict(type="str"), ("K8S_SECRET_NAME",)),
        Option("kubeconfig", dict(type="path"), ("KUBECONFIG",)),
        Option("k8s_context", dict(type="str"), ("K8S_CONTEXT",)),
    ),
    name_rule=NameRule(r"[-._a-zA-Z0-9]+", 253, "letters, digits and -._", ""),
    max_value_bytes=1024 * 1024,
    detected_by="KUBERNETES_SERVICE_HOST",
    package=PACKAGE,
)
