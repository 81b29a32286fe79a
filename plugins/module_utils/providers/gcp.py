# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Google Cloud Secret Manager as a provider (``projects/P/secrets/vibebox-<name>``).

Model mapping, because Secret Manager's is not the collection's:

- ``current`` is the ``latest`` alias (the most recently created version, as Google defines it; if
  that version is disabled, reading ``current`` fails and says so). ``previous`` is the newest
  ENABLED version older than ``latest``, so a disabled bad rotation is skipped. Version ids are
  Google's version numbers; version aliases work too.
- Tags are labels. Label rules (lower-case, <= 63 characters, <= 64 labels) are checked here before
  any call, so a bad tag never leaves half a secret behind.
- The description is the annotation ``vibebox-description``: labels cannot hold free text, and
  annotations are meant for exactly this kind of tool-owned metadata.
- Values carry a CRC32C both ways: sent with AddSecretVersion (the service rejects a corrupted
  upload) and checked on every access (a corrupted download is retried, never returned).
- ``expires_at`` is the Secret's own ``expire_time`` (``set_expiry``; Secret Manager deletes the
  secret at that time). A value read (AccessSecretVersion) does not carry it, so the lookups judge an
  expiry on GCP only where describe() is called (secret_info, the compliance report, the writers).
- Secret Manager has no soft delete: ``delete`` removes the secret and all versions at once, guarded
  by the secret's etag; ``recovery_days`` is ignored and ``supports_restore`` is False.
- ``delete_version`` disables, then destroys, an old version (disabling first makes it unreadable at
  once even on secrets with delayed destruction). The current version is never destroyed.

The SDK is imported inside this file only, on first use, so other providers never pay for it.
Calls pass ``retry=None``: each request is retried by SecretBackend.request, the only retry, so
faults are not retried twice over and a run cannot stall inside the client's 60-second default.
"""
from __future__ import annotations

import datetime as _dt
import importlib
import ipaddress
import json
import re
import threading
import time
import unicodedata
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
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
    PREVIOUS,
    Secret,
    SecretMetadata,
    VersionInfo,
    is_current,
)

PROVIDER = "gcp"
PACKAGE = "google-cloud-secret-manager"
DESCRIPTION_ANNOTATION = "vibebox-description"
#: annotation of a conditional write: "<version it replaces>@<epoch seconds>", see _claim
CLAIM_ANNOTATION = "vibebox-writing-after"
#: how long a claim holds off other conditional writers (a writer that died leaves one behind)
CLAIM_SECONDS = 600
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CALL_TIMEOUT = 30.0
#: where the client goes when gcp_endpoint is not set (gRPC over TLS)
DEFAULT_ENDPOINT = "secretmanager.googleapis.com:443"
MAX_LABELS = 64
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
_LOCATION = re.compile(r"[a-z][a-z0-9-]{1,62}")
_CREDENTIAL_TYPES = ("service_account", "authorized_user", "external_account")


# --- pure helpers (unit-tested without the SDK) ---------------------------------------------------
def _crc_table() -> List[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _round in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) in pure Python: google-crc32c is not a dependency, and values are <= 64 KiB."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _lower_or_other_letter(ch: str) -> bool:
    return unicodedata.category(ch) in ("Ll", "Lo")


def _label_char(ch: str) -> bool:
    return _lower_or_other_letter(ch) or unicodedata.category(ch).startswith("N") or ch in "_-"


def check_labels(tags: Optional[Mapping[str, Any]]) -> Optional[Dict[str, str]]:
    """Tags -> labels, or InvalidOption naming the first tag that breaks Google's label rules.

    Keys: 1-63 characters, starting with a lower-case letter, then lower-case letters, digits, '_'
    or '-'; values: 0-63 of the same; at most 128 bytes each and 64 labels.
    """
    if tags is None:
        return None
    if not isinstance(tags, Mapping):
        raise InvalidOption("tags must be a mapping of label names to values", provider=PROVIDER)
    labels = {str(key): "" if value is None else str(value) for key, value in tags.items()}
    hint = "GCP labels are lower-case: use keys like 'team' and values like 'core-api' (letters, digits, '_', '-')"
    if len(labels) > MAX_LABELS:
        raise InvalidOption(f"{len(labels)} tags given; GCP allows at most {MAX_LABELS} labels", provider=PROVIDER, hint=hint)
    for key, value in labels.items():
        if not key or len(key) > 63 or len(key.encode("utf-8")) > 128 or not _lower_or_other_letter(key[0]) \
                or not all(_label_char(ch) for ch in key[1:]):
            raise InvalidOption(f"tag name '{key}' is not a valid GCP label key", provider=PROVIDER, hint=hint)
        if len(value) > 63 or len(value.encode("utf-8")) > 128 or not all(_label_char(ch) for ch in value):
            raise InvalidOption(f"the value of tag '{key}' is not a valid GCP label value", provider=PROVIDER, hint=hint)
    return labels


def check_description(description: Optional[str]) -> Optional[str]:
    if description is None:
        return None
    description = str(description)
    if len(description.encode("utf-8")) + len(DESCRIPTION_ANNOTATION) >= 16 * 1024:
        raise InvalidOption("the description is longer than GCP annotations allow (16 KiB)", provider=PROVIDER)
    return description


def parse_replication(value: Any) -> Optional[List[str]]:
    """``gcp_replication`` -> None (automatic) or the user-managed replica locations."""
    if value in (None, "", "automatic", ["automatic"]):
        return None
    items = [part.strip() for part in value.split(",")] if isinstance(value, str) else [str(part).strip() for part in value]
    locations = [item for item in items if item]
    if not locations or "automatic" in locations:
        raise InvalidOption(
            f"gcp_replication must be 'automatic' or a list of locations (got {value!r})", provider=PROVIDER,
            hint="For example gcp_replication: [europe-west1, europe-west4]",
        )
    for location in locations:
        if not _LOCATION.fullmatch(location):
            raise InvalidOption(f"'{location}' is not a GCP location id", provider=PROVIDER,
                                hint="Use ids such as us-east1 or europe-west1")
    return locations


def is_loopback(endpoint: Optional[str]) -> bool:
    """True for ``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``: an emulator or the project's fake."""
    if not endpoint:
        return False
    host = endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 or endpoint.startswith("[") else endpoint
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def version_ref(version: Optional[str]) -> Optional[str]:
    """A caller's version -> what goes after ``/versions/`` (None means 'resolve previous first')."""
    if is_current(version):
        return "latest"
    if version == PREVIOUS:
        return None
    text = str(version).strip()
    if text.isdigit() and int(text) > 0:
        return str(int(text))
    if _ALIAS.fullmatch(text) and text not in ("latest", "NEW"):
        return text
    raise VersionNotFound(
        f"version '{version}' is not a GCP version number or alias", provider=PROVIDER,
        hint="Use current, previous, a version number or an alias (see vibebox.secrets.secret_info)",
    )


def previous_of(states: Sequence[Tuple[int, str]]) -> Optional[int]:
    """Newest ENABLED version older than the latest one; ``states`` are (number, state name)."""
    if not states:
        return None
    latest = max(number for number, _state in states)
    older = [number for number, state in states if number < latest and state == "ENABLED"]
    return max(older) if older else None


def _moment(value: Any) -> Optional[_dt.datetime]:
    """Protobuf timestamps (proto-plus DatetimeWithNanoseconds) -> plain aware datetimes, None when unset."""
    if not value:
        return None
    if isinstance(value, _dt.datetime):
        return _dt.datetime.fromtimestamp(value.timestamp(), _dt.timezone.utc)
    return None


def credentials_file_type(path: str) -> str:
    """The ``type`` of a Google credentials JSON file, or InvalidOption when it cannot be one."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            info = json.load(handle)
    except OSError as exc:
        raise InvalidOption(f"gcp_credentials {path} cannot be read: {exc.strerror}", provider=PROVIDER)
    except ValueError:
        raise InvalidOption(f"gcp_credentials {path} is not JSON", provider=PROVIDER,
                            hint="Point it at a service-account key or another Google credentials JSON file")
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in _CREDENTIAL_TYPES:
        raise InvalidOption(
            f"gcp_credentials {path} is not a supported credentials file (type {kind!r})", provider=PROVIDER,
            hint="Use a service_account key, authorized_user file (gcloud auth application-default login) or"
                 " external_account file (workload identity federation)",
        )
    return kind


def load_credentials_file(path: str) -> Any:
    """Credentials from the file the user named, loaded by its declared type.

    The type-specific loaders validate what they load; google.auth's generic loader is deprecated
    because it would accept any credential kind a file claims to be.
    """
    kind = credentials_file_type(path)
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(path, scopes=SCOPES)
        if kind == "authorized_user":
            from google.oauth2 import credentials as user_credentials

            return user_credentials.Credentials.from_authorized_user_file(path, scopes=SCOPES)
        with open(path, "r", encoding="utf-8") as handle:
            source = (json.load(handle).get("credential_source") or {})
        if str(source.get("environment_id", "")).startswith("aws"):
            from google.auth import aws as external
        elif "executable" in source:
            from google.auth import pluggable as external
        else:
            from google.auth import identity_pool as external
        return external.Credentials.from_file(path, scopes=SCOPES)
    except (ValueError, KeyError) as exc:
        raise InvalidOption(f"gcp_credentials {path} is not a usable {kind} file ({exc})", provider=PROVIDER)


def translate(exc: BaseException, name: Optional[str], version: Optional[str] = None, project: str = "",
              endpoint: Optional[str] = None) -> SecretError:
    """A google.api_core / google.auth exception -> the core error a user can act on.

    Messages say what happened to *the secret* (the manager adds its logical name); the service's
    own text is added only where it names a permission or a rule, never a status number alone.
    ``endpoint`` is gcp_endpoint (None: the public endpoint), named when no answer came back.
    """
    from google.api_core import exceptions as gexc  # the caller has already imported the SDK

    context = dict(provider=PROVIDER, provider_name=name)
    message = str(getattr(exc, "message", "") or exc).strip()
    where = f" in project {project}" if project else ""
    if isinstance(exc, gexc.NotFound):
        if version and version != "latest" and "Secret Version" in message:
            return VersionNotFound(f"version {version} does not exist", **context,
                                   hint="List the versions with vibebox.secrets.secret_info")
        return SecretNotFound(f"it does not exist{where}", **context,
                              hint="Create it with vibebox.secrets.secret (state: present), or check gcp_project and the prefix")
    if isinstance(exc, (gexc.PermissionDenied, gexc.Unauthenticated)):
        return SecretDenied(f"Secret Manager refused access: {message}", **context,
                            hint="Grant the caller roles/secretmanager.secretAccessor (read) or roles/secretmanager.admin"
                                 " (write), or check gcp_credentials / gcp_access_token")
    if isinstance(exc, gexc.FailedPrecondition):
        state = "destroyed" if "DESTROYED" in message else "disabled" if "DISABLED" in message else None
        label = "the current version" if is_current(version) else f"version {version}"
        if state == "destroyed":
            return VersionNotFound(f"{label} is destroyed; its value is gone for good", **context,
                                   hint="Read another version, or set a new value")
        if state == "disabled":
            return VersionNotFound(f"{label} is disabled and cannot be read", **context,
                                   hint="Enable it again (gcloud secrets versions enable) or read another version")
        return SecretConflict(f"Secret Manager refused the operation: {message}", **context)
    if isinstance(exc, (gexc.Aborted, gexc.AlreadyExists)):
        return SecretConflict("it was changed by someone else during this operation", **context,
                              hint="Run the task again; it reads the new state first")
    if isinstance(exc, (gexc.ResourceExhausted, gexc.TooManyRequests)):
        return ProviderThrottled("Secret Manager is throttling requests (RESOURCE_EXHAUSTED)", retryable=True, **context,
                                 hint="Lower forks or request rate, or raise the project's quota")
    if isinstance(exc, (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.Unknown)):
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import network

        # gRPC says UNAVAILABLE both for "no connection" and for a server that is up but busy: only the
        # first names the endpoint and the kind of failure
        failure = network.TIMED_OUT if isinstance(exc, gexc.DeadlineExceeded) else network.network_failure(exc)
        if failure != network.NETWORK:
            return network.unreachable(
                "Secret Manager", network.endpoint_label(endpoint or DEFAULT_ENDPOINT), exc, failure=failure,
                address="gcp_endpoint (GCP_SECRET_MANAGER_ENDPOINT)", ca="gcp_ca_cert (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH)",
                **context,
            )
    if isinstance(exc, (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
                        gexc.GatewayTimeout, gexc.BadGateway, gexc.Unknown)):
        tls = any(word in message.lower() for word in ("handshake", "certificate", "ssl"))
        return ProviderUnavailable(
            f"Secret Manager could not be reached: {message}", retryable=not tls, **context,
            hint="Check the endpoint's certificate (gcp_ca_cert / GRPC_DEFAULT_SSL_ROOTS_FILE_PATH)" if tls
            else "Check network access to Secret Manager (gcp_endpoint)",
        )
    if isinstance(exc, gexc.InvalidArgument):
        if "checksum" in message.lower():
            return ProviderUnavailable("the value was corrupted on its way to Secret Manager (CRC32C mismatch)",
                                       retryable=True, **context)
        return InvalidOption(f"Secret Manager rejected the request: {message}", **context)
    if isinstance(exc, gexc.GoogleAPICallError):
        return ProviderUnavailable(f"Secret Manager failed: {message}", retryable=False, **context)
    try:
        from google.auth import exceptions as auth_exc
    except ImportError:  # pragma: no cover - google-auth comes with the client
        auth_exc = None
    if auth_exc is not None:
        if isinstance(exc, auth_exc.DefaultCredentialsError):
            return ProviderUnavailable(
                "no Google credentials were found", retryable=False, **context,
                hint="Set gcp_credentials (GOOGLE_APPLICATION_CREDENTIALS) or gcp_access_token, or run"
                     " 'gcloud auth application-default login' / use Workload Identity",
            )
        if isinstance(exc, auth_exc.RefreshError):
            return SecretDenied(f"the Google credentials could not be refreshed: {message}", **context,
                                hint="Check the service-account key or access token")
        if isinstance(exc, auth_exc.TransportError):
            from ansible_collections.vibebox.secrets.plugins.module_utils.core import network

            return network.unreachable(
                "the Google token endpoint", network.tried_endpoint(exc, "https://oauth2.googleapis.com"), exc,
                address="gcp_credentials (its token_uri) and the network", **context,
            )
    return ProviderUnavailable(f"unexpected error from the Secret Manager client: {type(exc).__name__}",
                               retryable=False, **context)


def _sdk() -> Any:
    """The client package, imported on first need; ProviderNotInstalled names the pip package."""
    try:
        return importlib.import_module("google.cloud.secretmanager_v1")
    except ImportError as exc:
        raise ProviderNotInstalled(PROVIDER, PACKAGE, exc)


# --- the backend -------------------------------------------------------------------------------------
class GcpBackend(SecretBackend):
    name = PROVIDER
    supports_versions = True
    supports_restore = False  # Secret Manager deletes at once; there is nothing to restore
    native_expiry = True  # the Secret's expire_time (set_expiry)

    def __init__(
        self,
        project: str,
        credentials_file: Optional[str] = None,
        access_token: Optional[str] = None,
        endpoint: Optional[str] = None,
        ca_cert: Optional[str] = None,
        replication: Optional[List[str]] = None,
        client: Any = None,
    ) -> None:
        self.project = project
        self.credentials_file = credentials_file
        self.access_token = access_token
        self.endpoint = endpoint
        self.ca_cert = ca_cert
        self.replication = replication
        self._client_obj = client
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "GcpBackend":
        project = options.get("gcp_project")
        if not project:
            raise InvalidOption(
                "gcp_project is required for provider gcp", provider=PROVIDER,
                hint="Set gcp_project or the GCP_PROJECT_ID environment variable to the project id",
            )
        _sdk()  # a host without the SDK fails when the provider is chosen, not halfway through a run
        return cls(
            project=str(project),
            credentials_file=options.get("gcp_credentials") or None,
            access_token=options.get("gcp_access_token") or None,
            endpoint=options.get("gcp_endpoint") or None,
            ca_cert=options.get("gcp_ca_cert") or None,
            replication=parse_replication(options.get("gcp_replication")),
        )

    def __repr__(self) -> str:  # never the token
        return f"GcpBackend(project={self.project!r}, endpoint={self.endpoint!r})"

    # client -----------------------------------------------------------------------------------------
    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                self._client_obj = self._build_client()
            return self._client_obj

    def _build_client(self) -> Any:
        secretmanager_v1 = _sdk()
        try:
            credentials = self._credentials()
            if self.endpoint and self.ca_cert:
                import grpc
                from google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc import (
                    SecretManagerServiceGrpcTransport,
                )

                try:
                    with open(self.ca_cert, "rb") as handle:
                        roots = handle.read()
                except OSError as exc:
                    raise InvalidOption(f"gcp_ca_cert {self.ca_cert} cannot be read: {exc.strerror}", provider=PROVIDER)
                transport = SecretManagerServiceGrpcTransport(
                    host=self.endpoint, credentials=credentials,
                    ssl_channel_credentials=grpc.ssl_channel_credentials(root_certificates=roots),
                    always_use_jwt_access=True,  # as the client does: service accounts sign their own JWTs
                )
                return secretmanager_v1.SecretManagerServiceClient(transport=transport)
            client_options = {"api_endpoint": self.endpoint} if self.endpoint else None
            return secretmanager_v1.SecretManagerServiceClient(credentials=credentials, client_options=client_options)
        except SecretError:
            raise
        except Exception as exc:  # credentials and channel set-up errors
            raise translate(exc, None, project=self.project, endpoint=self.endpoint)

    def _credentials(self) -> Any:
        """Explicit token > credentials file > anonymous for a loopback endpoint > ADC."""
        if self.access_token:
            from google.oauth2.credentials import Credentials

            return Credentials(token=self.access_token)
        if self.credentials_file:
            return load_credentials_file(self.credentials_file)
        if is_loopback(self.endpoint):
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()
        import google.auth

        credentials, _project = google.auth.default(scopes=SCOPES)
        return credentials

    def identity(self) -> Dict[str, str]:
        """The project (and a non-default endpoint): what a rollback must find again."""
        found = {"provider": PROVIDER, "project": str(self.project)}
        if self.endpoint:
            found["endpoint"] = str(self.endpoint)
        return found

    def close(self) -> None:
        with self._lock:
            client, self._client_obj = self._client_obj, None
        if client is not None:
            try:
                client.transport.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass

    # paths and calls --------------------------------------------------------------------------------
    def _parent(self) -> str:
        return f"projects/{self.project}"

    def _path(self, name: str) -> str:
        return f"projects/{self.project}/secrets/{name}"

    def _call(self, name: Optional[str], operation: Callable[[Any], Any], version: Optional[str] = None) -> Any:
        """One request (retried alone by SecretBackend.request); SDK errors become core errors here."""
        def send() -> Any:
            client = self._client()
            try:
                return operation(client)
            except SecretError:
                raise
            except Exception as exc:
                raise translate(exc, name, version, self.project, self.endpoint) from None

        return self.request(send, name)

    def _get_secret(self, name: str) -> Any:
        return self._call(name, lambda c: c.get_secret(request={"name": self._path(name)}, retry=None, timeout=CALL_TIMEOUT))

    def _list_versions(self, name: str) -> List[Any]:
        return self._call(name, lambda c: list(c.list_secret_versions(
            request={"parent": self._path(name)}, retry=None, timeout=CALL_TIMEOUT)))

    @staticmethod
    def _number(resource_name: str) -> int:
        return int(resource_name.rsplit("/", 1)[-1])

    @staticmethod
    def _state(version: Any) -> str:
        state = version.state
        return getattr(state, "name", str(state))

    def _resolve_previous(self, name: str) -> str:
        versions = self._list_versions(name)
        found = previous_of([(self._number(v.name), self._state(v)) for v in versions])
        if found is None:
            raise VersionNotFound(
                "it has no previous enabled version", provider=PROVIDER, provider_name=name,
                hint="A previous version exists only after the secret has been changed or rotated",
            )
        return str(found)

    def _meta(self, name: str, secret: Any, versions: Optional[List[Any]] = None,
              version: Any = None) -> SecretMetadata:
        if version is None and versions:
            version = max(versions, key=lambda v: self._number(v.name))
        count = None if versions is None else len([v for v in versions if self._state(v) != "DESTROYED"])
        return SecretMetadata(
            name=name,
            version=str(self._number(version.name)) if version is not None else None,
            created_at=_moment(secret.create_time),
            updated_at=_moment(version.create_time) if version is not None else _moment(secret.create_time),
            expires_at=_moment(secret.expire_time),
            tags=dict(secret.labels),
            description=secret.annotations.get(DESCRIPTION_ANNOTATION),
            stages=["current"] if version is not None else [],
            provider_name=name,
            versions_count=count,
        )

    # SecretBackend ----------------------------------------------------------------------------------
    def get(self, name: str, version: Optional[str] = None) -> Secret:
        ref = version_ref(version)
        if ref is None:
            ref = self._resolve_previous(name)

        def access(client: Any) -> Any:
            answer = client.access_secret_version(
                request={"name": f"{self._path(name)}/versions/{ref}"}, retry=None, timeout=CALL_TIMEOUT)
            # checked inside the request, so a corrupted download is retried like a lost one
            if "data_crc32c" in answer.payload and int(answer.payload.data_crc32c) != crc32c(bytes(answer.payload.data)):
                raise ProviderUnavailable(
                    "the value was corrupted on its way from Secret Manager (CRC32C mismatch)", retryable=True,
                    provider=PROVIDER, provider_name=name,
                )
            return answer

        response = self._call(name, access, version=ref)
        data = bytes(response.payload.data)
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSecretValue(
                "the stored value is binary, not UTF-8 text", provider=PROVIDER, provider_name=name,
                hint="Store text (for example base64) to read it through this collection",
            )
        stages = ["current"] if is_current(version) else ["previous"] if version == PREVIOUS else []
        meta = SecretMetadata(name=name, version=str(self._number(response.name)), stages=stages, provider_name=name)
        return Secret(value, meta)

    def describe(self, name: str) -> SecretMetadata:
        secret = self._get_secret(name)
        return self._meta(name, secret, self._list_versions(name))

    def versions(self, name: str) -> List[VersionInfo]:
        listed = self._list_versions(name)
        states = [(self._number(v.name), self._state(v)) for v in listed]
        latest = max((number for number, _s in states), default=None)
        previous = previous_of(states)
        found = []
        for item in sorted(listed, key=lambda v: self._number(v.name), reverse=True):
            number = self._number(item.name)
            stages = ["current"] if number == latest else ["previous"] if number == previous else []
            state = self._state(item)
            found.append(VersionInfo(str(number), _moment(item.create_time), stages,
                                     enabled=state == "ENABLED", destroyed=state == "DESTROYED"))
        return found

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        labels = check_labels(tags)  # before any call: a bad tag must not leave an empty secret behind
        description = check_description(description)
        data = value.encode("utf-8")
        if expect_version is None:
            secret = self._ensure_secret(name, labels, description)
        else:
            secret = self._claim(name, labels, description, expect_version)
        version = self._call(name, lambda c: c.add_secret_version(
            request={"parent": self._path(name), "payload": {"data": data, "data_crc32c": crc32c(data)}},
            retry=None, timeout=CALL_TIMEOUT))
        return self._meta(name, secret, version=version)

    def _conflict(self, name: str, why: str) -> SecretConflict:
        return SecretConflict(
            f"another writer changed it first ({why}); nothing was written",
            provider=PROVIDER, provider_name=name,
            hint="Read the secret again and repeat the change if it is still needed",
        )

    def _claim(self, name: str, labels: Optional[Dict[str, str]], description: Optional[str], expected: str) -> Any:
        """Make the next version ours before writing it, or raise SecretConflict.

        AddSecretVersion has no precondition, but UpdateSecret takes the etag read: the writer that
        records "<expected>@<now>" in the annotation CLAIM_ANNOTATION first wins (the others' etag is
        stale, ABORTED), and a writer that reads after the claim sees it and stops. Only then is the
        version added, so a losing writer never makes a version that could be read as current.
        """
        try:
            secret = self._get_secret(name)
        except SecretNotFound:
            secret = None
        now = int(time.time())
        claim = f"{expected or 'none'}@{now}"
        if secret is None:
            if expected:
                raise self._conflict(name, "it no longer exists")
            body: Dict[str, Any] = {"replication": self._replication(), "labels": labels or {},
                                    "annotations": {CLAIM_ANNOTATION: claim}}
            if description:
                body["annotations"][DESCRIPTION_ANNOTATION] = description
            try:
                return self._call(name, lambda c: c.create_secret(
                    request={"parent": self._parent(), "secret_id": name, "secret": body},
                    retry=None, timeout=CALL_TIMEOUT))
            except SecretConflict:
                raise self._conflict(name, "another writer created it first") from None
        numbers = [self._number(item.name) for item in self._list_versions(name)]
        latest = str(max(numbers)) if numbers else ""
        if latest != expected:
            raise self._conflict(name, f"its current version is {latest or 'none'}, not {expected or 'none'}")
        held_for, _sep, since = str(secret.annotations.get(CLAIM_ANNOTATION) or "").partition("@")
        if held_for == (expected or "none") and since.isdigit() and now - int(since) < CLAIM_SECONDS:
            raise self._conflict(name, f"another writer is writing the version after {expected or 'none'} since"
                                       f" {_dt.datetime.fromtimestamp(int(since), _dt.timezone.utc).isoformat()}")
        annotations = dict(secret.annotations)
        annotations[CLAIM_ANNOTATION] = claim
        if description is not None:
            if description:
                annotations[DESCRIPTION_ANNOTATION] = description
            else:
                annotations.pop(DESCRIPTION_ANNOTATION, None)
        body = {"name": secret.name, "etag": secret.etag, "annotations": annotations}
        paths = ["annotations"]
        if labels is not None and dict(secret.labels) != labels:
            body["labels"] = labels
            paths.append("labels")
        try:
            return self._call(name, lambda c: c.update_secret(
                request={"secret": body, "update_mask": {"paths": paths}}, retry=None, timeout=CALL_TIMEOUT))
        except SecretConflict:
            raise self._conflict(name, "its etag changed between our read and our claim") from None

    def _ensure_secret(self, name: str, labels: Optional[Dict[str, str]], description: Optional[str]) -> Any:
        """The secret with the wanted labels/description, created when missing (a lost create race is fine)."""
        try:
            secret = self._get_secret(name)
        except SecretNotFound:
            secret = None
        if secret is None:
            body: Dict[str, Any] = {"replication": self._replication(), "labels": labels or {}}
            if description:
                body["annotations"] = {DESCRIPTION_ANNOTATION: description}
            try:
                return self._call(name, lambda c: c.create_secret(
                    request={"parent": self._parent(), "secret_id": name, "secret": body},
                    retry=None, timeout=CALL_TIMEOUT))
            except SecretConflict:  # created by a concurrent fork between our get and create
                secret = self._get_secret(name)
        return self._update_if_changed(name, secret, labels, description)

    def _replication(self) -> Dict[str, Any]:
        if not self.replication:
            return {"automatic": {}}
        return {"user_managed": {"replicas": [{"location": location} for location in self.replication]}}

    def _update_if_changed(self, name: str, secret: Any, labels: Optional[Dict[str, str]],
                           description: Optional[str]) -> Any:
        paths = []
        body: Dict[str, Any] = {"name": secret.name, "etag": secret.etag}
        if labels is not None and dict(secret.labels) != labels:
            paths.append("labels")
            body["labels"] = labels
        annotations = dict(secret.annotations)
        if description is not None and annotations.get(DESCRIPTION_ANNOTATION) != (description or None):
            if description:
                annotations[DESCRIPTION_ANNOTATION] = description
            else:
                annotations.pop(DESCRIPTION_ANNOTATION, None)
            paths.append("annotations")
            body["annotations"] = annotations
        if not paths:
            return secret
        return self._call(name, lambda c: c.update_secret(
            request={"secret": body, "update_mask": {"paths": paths}}, retry=None, timeout=CALL_TIMEOUT))

    def update_metadata(self, name: str, description: Optional[str] = None,
                        tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        labels = check_labels(tags)
        description = check_description(description)
        secret = self._update_if_changed(name, self._get_secret(name), labels, description)
        return self._meta(name, secret, self._list_versions(name))

    def set_expiry(self, name: str, expires_at: Optional[_dt.datetime],
                   tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        """The Secret's own ``expire_time`` (Secret Manager deletes the secret then), guarded by the etag;
        None removes it (the field named in the update mask and left out of the body)."""
        secret = self._get_secret(name)
        body: Dict[str, Any] = {"name": secret.name, "etag": secret.etag}
        if expires_at is not None:
            body["expire_time"] = expires_at
        updated = self._call(name, lambda c: c.update_secret(
            request={"secret": body, "update_mask": {"paths": ["expire_time"]}}, retry=None, timeout=CALL_TIMEOUT))
        return self._meta(name, updated)

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        """Delete for good (Secret Manager has no recovery window), guarded by the etag just read."""
        secret = self._get_secret(name)
        self._call(name, lambda c: c.delete_secret(
            request={"name": self._path(name), "etag": secret.etag}, retry=None, timeout=CALL_TIMEOUT))

    def delete_version(self, name: str, version: str) -> None:
        listed = self._list_versions(name)
        by_number = {self._number(v.name): v for v in listed}
        ref = self._resolve_previous(name) if version == PREVIOUS else version_ref(version)
        if ref == "latest" or (ref and ref.isdigit() and by_number and int(ref) == max(by_number)):
            raise UnsupportedOperation(
                "the current version cannot be destroyed", provider=PROVIDER, provider_name=name,
                hint="Rotate first, then clean up the old version",
            )
        target = by_number.get(int(ref)) if ref and ref.isdigit() else None
        if target is None:
            raise VersionNotFound(f"version {version} does not exist", provider=PROVIDER, provider_name=name)
        state = self._state(target)
        if state == "DESTROYED":
            return
        etag = target.etag
        path = target.name
        if state == "ENABLED":
            disabled = self._call(name, lambda c: c.disable_secret_version(
                request={"name": path, "etag": etag}, retry=None, timeout=CALL_TIMEOUT), version=ref)
            etag = disabled.etag
        self._call(name, lambda c: c.destroy_secret_version(
            request={"name": path, "etag": etag}, retry=None, timeout=CALL_TIMEOUT), version=ref)

    def list(self, prefix: str = "") -> List[str]:
        secrets = self._call(None, lambda c: list(c.list_secrets(
            request={"parent": self._parent()}, retry=None, timeout=CALL_TIMEOUT)))
        names = (item.name.rsplit("/", 1)[-1] for item in secrets)
        return sorted(item for item in names if item.startswith(prefix))


# what the rest of the collection knows about this provider (core/registry.py) -----------------------
SPEC = ProviderSpec(
    name=PROVIDER,
    backend=GcpBackend,
    options=(
        Option("gcp_project", dict(type="str"), ("GCP_PROJECT_ID", "GOOGLE_CLOUD_PROJECT")),
        Option("gcp_credentials", dict(type="path", no_log=False), ("GOOGLE_APPLICATION_CREDENTIALS",)),
        Option("gcp_access_token", dict(type="str", no_log=True), ("GCP_ACCESS_TOKEN",)),
        Option("gcp_endpoint", dict(type="str"), ("GCP_SECRET_MANAGER_ENDPOINT",)),
        Option("gcp_ca_cert", dict(type="path"), ("GCP_CA_CERT", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")),
        Option("gcp_replication", dict(type="list", elements="str"), ("GCP_SECRET_REPLICATION",)),
    ),
    name_rule=NameRule(r"[A-Za-z0-9_-]+", 255, "letters, digits, '_' and '-'", "vibebox-"),
    max_value_bytes=65536,
    detected_by="GCP_PROJECT_ID",
    prefix_env="GCP_SECRET_PREFIX",
    package=PACKAGE,
)
