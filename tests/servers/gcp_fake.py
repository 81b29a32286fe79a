"""A wire-level fake of google.cloud.secretmanager.v1.SecretManagerService, for the unchanged client.

Why it exists: Google ships no Secret Manager emulator, and monkeypatching the SDK would test our
guesses about it rather than the SDK itself. This server speaks real gRPC over TLS, using the
client package's own proto-plus message classes to (de)serialise, so the unchanged
``SecretManagerServiceClient`` (``api_endpoint`` + ``AnonymousCredentials`` or an access token,
TLS trusted through ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` or explicit channel credentials) talks to
it exactly as it talks to Google. A CA and a server certificate are made at start with
``cryptography``; the CA is written to ``ca_file``.

Modelled: one project (reachable by id and by its number; resource names come back with the number,
as Google's do), secrets (create / get / update labels, annotations, aliases, expiry / delete with
etag / list with paging), versions (add with crc32c check / get / access / list with paging /
enable / disable / destroy with etag), ``latest`` and version aliases, payload limit (64 KiB),
secret id and label rules, and the service's status codes and message shapes: ALREADY_EXISTS,
NOT_FOUND, FAILED_PRECONDITION (disabled or destroyed version), INVALID_ARGUMENT, ABORTED (etag
mismatch), PERMISSION_DENIED. Test hooks: ``deny_token`` / ``deny_secret`` (PERMISSION_DENIED),
``fail_next`` (inject RESOURCE_EXHAUSTED, UNAVAILABLE, ...), ``corrupt_checksum`` (access returns a
wrong data_crc32c), and ``calls`` (method names received, to count requests).

NOT modelled (the collection does not use these): IAM policies (Get/Set/TestIamPermissions) and real
authentication (any token or none is accepted unless denied), regional secrets
(projects/*/locations/*), list ``filter`` expressions (rejected with INVALID_ARGUMENT), rotation,
Pub/Sub topics, TTL-based expiry and delayed destruction (``ttl``, ``version_destroy_ttl``: stored,
never acted on), customer-managed encryption, replication status (the policy is stored and
checked for presence only), tags bindings, quota and per-project rate limits (only injected
faults), the REST transport, and persistence (state lives in memory).
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

import grpc
from google.cloud.secretmanager_v1.types import resources, service
from google.protobuf import empty_pb2

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
MAX_PAYLOAD = 64 * 1024
DEFAULT_PAGE_SIZE = 25
_State = resources.SecretVersion.State
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")


# --- helpers -------------------------------------------------------------------------------------
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
    """CRC-32C (Castagnoli), what Secret Manager uses for payload integrity."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _etag() -> str:
    return '"' + uuid.uuid4().hex[:14] + '"'


def _label_ok(key: str, value: str) -> bool:
    """Label rule from the API reference ([\\p{Ll}\\p{Lo}][\\p{Ll}\\p{Lo}\\p{N}_-]{0,62}), by character class."""
    import unicodedata

    def lower_or_other(ch: str) -> bool:
        return unicodedata.category(ch) in ("Ll", "Lo")

    def body(ch: str) -> bool:
        return lower_or_other(ch) or unicodedata.category(ch).startswith("N") or ch in "_-"

    if not key or len(key) > 63 or len(key.encode()) > 128 or not lower_or_other(key[0]):
        return False
    if not all(body(ch) for ch in key[1:]):
        return False
    return len(value) <= 63 and len(value.encode()) <= 128 and all(body(ch) for ch in value)


def _certificates():
    """tests/servers/certificates.py (this folder is scripts, not a package)."""
    import importlib.util

    name = "vibebox_test_certificates"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(os.path.dirname(os.path.abspath(__file__)), "certificates.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # the dataclass looks its module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


def make_certificates(folder: str, hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> Tuple[bytes, bytes, str]:
    """A throw-away CA and a server certificate it signed; returns (key PEM, chain PEM, CA file)."""
    issued = _certificates().issue(folder, hosts)
    return issued.read(issued.key_file), issued.read(issued.chain_file), issued.ca_file


class _Abort(Exception):
    """Raised inside a handler; turned into a gRPC status by the dispatcher."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- state ---------------------------------------------------------------------------------------
@dataclass
class _Version:
    number: int
    created: _dt.datetime
    data: Optional[bytes]
    crc: int
    client_crc: bool
    state: int = _State.ENABLED
    etag: str = field(default_factory=_etag)
    destroyed: Optional[_dt.datetime] = None


@dataclass
class _Stored:
    secret: resources.Secret
    versions: Dict[int, _Version] = field(default_factory=dict)
    next_number: int = 1


class GcpSecretManagerFake:
    """The service; ``start()`` binds 127.0.0.1 on a free port and returns ``self``."""

    def __init__(self, project: str = "vibebox-test", page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.project = project
        # Google answers with the project *number*; derive a stable one so both forms work here too.
        self.project_number = str(int(hashlib.sha256(project.encode()).hexdigest()[:10], 16) % 10**12).rjust(12, "1")
        self.page_size = page_size
        self.port = 0
        self.ca_file = ""
        self.calls: List[str] = []
        #: bearer tokens presented, in order of first use (to check which credentials the client used)
        self.tokens: List[str] = []
        self._folder = ""
        self._server: Optional[grpc.Server] = None
        self._lock = threading.RLock()
        self._secrets: Dict[str, _Stored] = {}
        self._denied_tokens: Set[str] = set()
        self._denied_secrets: Set[str] = set()
        self._faults: List[Tuple[Optional[str], grpc.StatusCode, str]] = []
        self._corrupt: Set[str] = set()

    # lifecycle --------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "GcpSecretManagerFake":
        self._folder = tempfile.mkdtemp(prefix="vibebox-gcp-fake-")
        key_pem, chain_pem, self.ca_file = make_certificates(self._folder)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="gcp-fake"))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, self._handlers()),))
        self.port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, chain_pem)]))
        if not self.port:
            raise RuntimeError("the GCP fake could not bind a port on 127.0.0.1")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = ""

    def __enter__(self) -> "GcpSecretManagerFake":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # test hooks -------------------------------------------------------------------------------------
    def deny_token(self, token: str) -> None:
        """Every call that presents ``Bearer <token>`` gets PERMISSION_DENIED."""
        with self._lock:
            self._denied_tokens.add(token)

    def deny_secret(self, secret_id: str) -> None:
        """Every call on this secret (and its versions) gets PERMISSION_DENIED."""
        with self._lock:
            self._denied_secrets.add(secret_id)

    def fail_next(self, code: grpc.StatusCode, times: int = 1, method: Optional[str] = None,
                  message: str = "injected by the test") -> None:
        """The next ``times`` calls (of ``method``, or any) fail with ``code``."""
        with self._lock:
            self._faults.extend([(method, code, message)] * times)

    def corrupt_checksum(self, secret_id: str) -> None:
        """Access of this secret returns a data_crc32c that does not match the data."""
        with self._lock:
            self._corrupt.add(secret_id)

    def reset(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._denied_tokens.clear()
            self._denied_secrets.clear()
            self._faults.clear()
            self._corrupt.clear()
            self.calls.clear()
            self.tokens.clear()

    # plumbing ---------------------------------------------------------------------------------------
    def _handlers(self) -> Dict[str, grpc.RpcMethodHandler]:
        table: Dict[str, Tuple[Callable, Callable, Callable]] = {
            "ListSecrets": (self._list_secrets, service.ListSecretsRequest.deserialize, service.ListSecretsResponse.serialize),
            "CreateSecret": (self._create_secret, service.CreateSecretRequest.deserialize, resources.Secret.serialize),
            "AddSecretVersion": (self._add_version, service.AddSecretVersionRequest.deserialize, resources.SecretVersion.serialize),
            "GetSecret": (self._get_secret, service.GetSecretRequest.deserialize, resources.Secret.serialize),
            "UpdateSecret": (self._update_secret, service.UpdateSecretRequest.deserialize, resources.Secret.serialize),
            "DeleteSecret": (self._delete_secret, service.DeleteSecretRequest.deserialize, empty_pb2.Empty.SerializeToString),
            "ListSecretVersions": (self._list_versions, service.ListSecretVersionsRequest.deserialize,
                                   service.ListSecretVersionsResponse.serialize),
            "GetSecretVersion": (self._get_version, service.GetSecretVersionRequest.deserialize, resources.SecretVersion.serialize),
            "AccessSecretVersion": (self._access_version, service.AccessSecretVersionRequest.deserialize,
                                    service.AccessSecretVersionResponse.serialize),
            "DisableSecretVersion": (self._disable_version, service.DisableSecretVersionRequest.deserialize,
                                     resources.SecretVersion.serialize),
            "EnableSecretVersion": (self._enable_version, service.EnableSecretVersionRequest.deserialize,
                                    resources.SecretVersion.serialize),
            "DestroySecretVersion": (self._destroy_version, service.DestroySecretVersionRequest.deserialize,
                                     resources.SecretVersion.serialize),
        }
        return {
            method: grpc.unary_unary_rpc_method_handler(
                self._dispatch(method, handler), request_deserializer=load, response_serializer=dump
            )
            for method, (handler, load, dump) in table.items()
        }

    def _dispatch(self, method: str, handler: Callable) -> Callable:
        def call(request, context: grpc.ServicerContext):
            token = ""
            for key, value in context.invocation_metadata() or ():
                if key == "authorization" and value.lower().startswith("bearer "):
                    token = value[7:]
            with self._lock:
                self.calls.append(method)
                if token and token not in self.tokens:
                    self.tokens.append(token)
                fault = next((f for f in self._faults if f[0] in (None, method)), None)
                if fault:
                    self._faults.remove(fault)
                denied_token = token and token in self._denied_tokens
            if fault:
                context.abort(fault[1], fault[2])
            if denied_token:
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              f"Permission denied on resource project {self.project} (the token is denied).")
            try:
                with self._lock:
                    return handler(request)
            except _Abort as exc:
                context.abort(exc.code, exc.message)

        return call

    # names ------------------------------------------------------------------------------------------
    def _project(self, parent: str) -> None:
        match = re.fullmatch(r"projects/([^/]+)", parent or "")
        if not match:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value in the request: parent '{parent}'.")
        if match.group(1) not in (self.project, self.project_number):
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"Permission denied on resource project {match.group(1)} (or it may not exist).")

    def _secret_name(self, secret_id: str) -> str:
        return f"projects/{self.project_number}/secrets/{secret_id}"

    def _split(self, name: str, versioned: bool) -> Tuple[str, Optional[str]]:
        pattern = r"projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)" if versioned else r"projects/([^/]+)/secrets/([^/]+)"
        match = re.fullmatch(pattern, name or "")
        if not match:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value in the request: name '{name}'.")
        self._project(f"projects/{match.group(1)}")
        secret_id = match.group(2)
        if secret_id in self._denied_secrets:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"Permission 'secretmanager.versions.access' denied for resource '{name}' (or it may not exist).")
        return secret_id, (match.group(3) if versioned else None)

    def _stored(self, secret_id: str, missing: str = "not found or has no versions") -> _Stored:
        stored = self._secrets.get(secret_id)
        if stored is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Secret [{self._secret_name(secret_id)}] {missing}.")
        return stored

    def _resolve(self, name: str) -> Tuple[_Stored, _Version]:
        secret_id, wanted = self._split(name, versioned=True)
        stored = self._stored(secret_id)
        number: Optional[int] = None
        if wanted == "latest":
            number = max(stored.versions) if stored.versions else None
        elif wanted.isdigit():
            number = int(wanted)
        elif wanted in stored.secret.version_aliases:
            number = int(stored.secret.version_aliases[wanted])
        version = stored.versions.get(number) if number is not None else None
        if version is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Secret Version [{self._secret_name(secret_id)}/versions/{wanted}] not found.")
        return stored, version

    def _version_message(self, secret_id: str, version: _Version) -> resources.SecretVersion:
        message = resources.SecretVersion(
            name=f"{self._secret_name(secret_id)}/versions/{version.number}",
            state=version.state,
            etag=version.etag,
            client_specified_payload_checksum=version.client_crc,
        )
        message.create_time = version.created
        if version.destroyed:
            message.destroy_time = version.destroyed
        return message

    @staticmethod
    def _copy(secret: resources.Secret) -> resources.Secret:
        return resources.Secret.deserialize(resources.Secret.serialize(secret))

    def _page(self, items: List, size: int, token: str) -> Tuple[List, str]:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except ValueError:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid page token.")
        if size < 0:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size must not be negative.")
        size = min(size or self.page_size, 25000)
        end = start + size
        following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else ""
        return items[start:end], following

    def _check_metadata(self, secret: resources.Secret) -> None:
        if len(secret.labels) > 64:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "A resource may have at most 64 labels.")
        for key, value in secret.labels.items():
            if not _label_ok(key, value):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f"Invalid label: key '{key}'. Keys and values may contain only lower-case letters,"
                             " digits, '_' and '-', keys must start with a letter, at most 63 characters.")
        size = 0
        for key, value in secret.annotations.items():
            if not _ANNOTATION_KEY.fullmatch(key):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid annotation key '{key}'.")
            size += len(key.encode()) + len(value.encode())
        if size >= 16 * 1024:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "The total size of annotation keys and values must be less than 16KiB.")
        for alias in secret.version_aliases:
            if not _ALIAS.fullmatch(alias) or alias in ("latest", "NEW"):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid version alias '{alias}'.")

    def _check_etag(self, given: str, current: str, what: str) -> None:
        if given and given != current:
            raise _Abort(grpc.StatusCode.ABORTED, f"The etag provided for {what} does not match the current etag.")

    # secrets ----------------------------------------------------------------------------------------
    def _create_secret(self, request: service.CreateSecretRequest) -> resources.Secret:
        self._project(request.parent)
        if not _SECRET_ID.fullmatch(request.secret_id or ""):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "Secret ID must be 1-255 characters of letters, digits, underscores and hyphens.")
        if request.secret_id in self._denied_secrets:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"Permission 'secretmanager.secrets.create' denied for resource '{request.parent}'.")
        replication = request.secret.replication
        if "automatic" not in replication and "user_managed" not in replication:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Secret.replication must be specified.")
        if "user_managed" in replication and not replication.user_managed.replicas:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Secret.replication.user_managed.replicas must not be empty.")
        if request.secret_id in self._secrets:
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{self._secret_name(request.secret_id)}] already exists.")
        secret = self._copy(request.secret)
        self._check_metadata(secret)
        secret.name = self._secret_name(request.secret_id)
        secret.create_time = _now()
        secret.etag = _etag()
        self._secrets[request.secret_id] = _Stored(secret)
        return self._copy(secret)

    def _get_secret(self, request: service.GetSecretRequest) -> resources.Secret:
        secret_id, _version = self._split(request.name, versioned=False)
        return self._copy(self._stored(secret_id, "not found").secret)

    def _update_secret(self, request: service.UpdateSecretRequest) -> resources.Secret:
        secret_id, _version = self._split(request.secret.name, versioned=False)
        stored = self._stored(secret_id, "not found")
        paths = list(request.update_mask.paths)
        if not paths:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "update_mask must be specified.")
        self._check_etag(request.secret.etag, stored.secret.etag, f"secret [{stored.secret.name}]")
        updated = self._copy(stored.secret)
        for path in paths:
            if path == "labels":
                updated.labels = dict(request.secret.labels)
            elif path == "annotations":
                updated.annotations = dict(request.secret.annotations)
            elif path == "version_aliases":
                aliases = dict(request.secret.version_aliases)
                missing = [alias for alias, number in aliases.items() if int(number) not in stored.versions]
                if missing:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Version alias '{missing[0]}' points to no version.")
                updated.version_aliases = aliases
            elif path == "expire_time":
                updated.expire_time = request.secret.expire_time
            else:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid update_mask path '{path}'.")
        self._check_metadata(updated)
        updated.etag = _etag()
        stored.secret = updated
        return self._copy(updated)

    def _delete_secret(self, request: service.DeleteSecretRequest) -> empty_pb2.Empty:
        secret_id, _version = self._split(request.name, versioned=False)
        stored = self._stored(secret_id, "not found")
        self._check_etag(request.etag, stored.secret.etag, f"secret [{stored.secret.name}]")
        del self._secrets[secret_id]
        return empty_pb2.Empty()

    def _list_secrets(self, request: service.ListSecretsRequest) -> service.ListSecretsResponse:
        self._project(request.parent)
        if request.filter:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "filter is not supported by this fake.")
        names = sorted(self._secrets)
        page, following = self._page(names, request.page_size, request.page_token)
        return service.ListSecretsResponse(
            secrets=[self._copy(self._secrets[name].secret) for name in page],
            next_page_token=following,
            total_size=len(names),
        )

    # versions ---------------------------------------------------------------------------------------
    def _add_version(self, request: service.AddSecretVersionRequest) -> resources.SecretVersion:
        secret_id, _version = self._split(request.parent, versioned=False)
        stored = self._stored(secret_id, "not found")
        data = request.payload.data
        if len(data) > MAX_PAYLOAD:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Secret payload data must be at most {MAX_PAYLOAD} bytes.")
        actual = crc32c(data)
        sent = "data_crc32c" in request.payload
        if sent and int(request.payload.data_crc32c) != actual:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "Checksum mismatch: the data_crc32c in the request does not match the payload data.")
        version = _Version(stored.next_number, _now(), data, actual, sent)
        stored.versions[version.number] = version
        stored.next_number += 1
        return self._version_message(secret_id, version)

    def _get_version(self, request: service.GetSecretVersionRequest) -> resources.SecretVersion:
        stored, version = self._resolve(request.name)
        return self._version_message(stored.secret.name.rsplit("/", 1)[-1], version)

    def _access_version(self, request: service.AccessSecretVersionRequest) -> service.AccessSecretVersionResponse:
        stored, version = self._resolve(request.name)
        secret_id = stored.secret.name.rsplit("/", 1)[-1]
        full = f"{stored.secret.name}/versions/{version.number}"
        if version.state != _State.ENABLED:
            state = _State(version.state).name
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, f"Secret Version [{full}] is in {state} state.")
        crc = version.crc ^ 0x1 if secret_id in self._corrupt else version.crc
        return service.AccessSecretVersionResponse(
            name=full, payload=resources.SecretPayload(data=version.data, data_crc32c=crc)
        )

    def _list_versions(self, request: service.ListSecretVersionsRequest) -> service.ListSecretVersionsResponse:
        secret_id, _version = self._split(request.parent, versioned=False)
        stored = self._stored(secret_id, "not found")
        if request.filter:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "filter is not supported by this fake.")
        ordered = [stored.versions[n] for n in sorted(stored.versions, reverse=True)]  # newest first, as Google
        page, following = self._page(ordered, request.page_size, request.page_token)
        return service.ListSecretVersionsResponse(
            versions=[self._version_message(secret_id, v) for v in page],
            next_page_token=following,
            total_size=len(ordered),
        )

    def _transition(self, name: str, etag: str, target: int) -> resources.SecretVersion:
        stored, version = self._resolve(name)
        secret_id = stored.secret.name.rsplit("/", 1)[-1]
        full = f"{stored.secret.name}/versions/{version.number}"
        self._check_etag(etag, version.etag, f"secret version [{full}]")
        if version.state == _State.DESTROYED:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, f"Secret Version [{full}] is in DESTROYED state.")
        version.state = target
        if target == _State.DESTROYED:
            version.data = None
            version.destroyed = _now()
            for alias, number in list(stored.secret.version_aliases.items()):
                if int(number) == version.number:
                    del stored.secret.version_aliases[alias]
        version.etag = _etag()
        return self._version_message(secret_id, version)

    def _disable_version(self, request: service.DisableSecretVersionRequest) -> resources.SecretVersion:
        return self._transition(request.name, request.etag, _State.DISABLED)

    def _enable_version(self, request: service.EnableSecretVersionRequest) -> resources.SecretVersion:
        return self._transition(request.name, request.etag, _State.ENABLED)

    def _destroy_version(self, request: service.DestroySecretVersionRequest) -> resources.SecretVersion:
        return self._transition(request.name, request.etag, _State.DESTROYED)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the GCP Secret Manager fake until killed.")
    parser.add_argument("--project", default=os.environ.get("GCP_PROJECT_ID", "vibebox-test"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    fake = GcpSecretManagerFake(project=args.project).start()
    print(f"GCP_SECRET_MANAGER_ENDPOINT={fake.endpoint}")
    print(f"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH={fake.ca_file}")
    print(f"GCP_PROJECT_ID={fake.project}")
    print(f"# started in {time.monotonic() - started:.2f}s; Ctrl-C or SIGTERM stops it", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
