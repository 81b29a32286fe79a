"""A wire-level fake of the Azure Key Vault secrets REST API (7.x / 2025+), with its own sign-in.

Why it exists: Microsoft ships no Key Vault emulator, and monkeypatching azure-keyvault-secrets would
test our guesses about the SDK rather than the SDK. This HTTPS server (standard library only, plus
``cryptography`` for a throw-away CA and server certificate) lets the unchanged ``SecretClient`` and
``ClientSecretCredential`` run their real code paths:

- an unauthenticated call gets ``401`` + ``WWW-Authenticate: Bearer authorization="<authority>/<tenant>",
  resource="https://vault.azure.net"``, which the SDK's challenge policy parses; the client must be
  built with ``verify_challenge_resource=False`` because 127.0.0.1 is not a subdomain of vault.azure.net;
- the same server is the Entra ID authority: ``/<tenant>/v2.0/.well-known/openid-configuration`` (what
  msal asks first), ``/common/discovery/instance`` (answered, though msal asks it only for public
  clouds) and ``/<tenant>/oauth2/v2.0/token`` (client-credentials grant, checked against registered
  service principals; tokens carry the requested audience and are checked on every vault call).

Modelled vault behaviour: secrets with versions (ids are 32 hex characters), current = newest
version, tags, contentType, enabled / nbf / exp, set (PUT), update of one version (PATCH), get by
version or current, list secrets and versions with paging through ``nextLink`` ($skiptoken,
maxresults 1-25), soft delete -> deleted collection -> recover / purge, each with the real service's
short delay (the object leaves its collection at once and appears in the other one a moment
later; names stay reserved meanwhile), access policies per principal (get / list / set / delete /
recover / purge), and the real error bodies: 400 BadParameter, 401 Unauthorized, 403 Forbidden
(AccessDenied, SecretDisabled), 404 SecretNotFound, 409 Conflict (ObjectIsDeletedButRecoverable,
ObjectIsBeingDeleted, ...), 429 Throttled and 5xx (injected). Test hooks: ``add_principal``,
``deny_secret``, ``fail_next``, ``calls`` and ``token_requests``.

NOT modelled (the collection does not use these): certificate- or key-backed (managed) secrets and
``kid``, backup / restore blobs, RBAC role assignments (access policies only), managed identity
endpoints (IMDS, App Service), claims challenges / CAE revocation, token signatures (tokens are opaque
random strings, not JWTs), purge protection and vaults without soft delete, the retention period
(fixed at 90 days and never reached), enforcement of ``nbf`` / ``exp`` (stored and returned only, as
the real service does for secrets in practice), request size limits other than the 25 KiB
value cap, throttling by request rate (only injected faults), HSM pools, private links, and persistence (memory only).
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import http.server
import json
import os
import re
import secrets as _secrets
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlencode, urlsplit

RESOURCE = "https://vault.azure.net"
PERMISSIONS = frozenset({"get", "list", "set", "delete", "recover", "purge"})
MAX_VALUE = 25 * 1024
_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
_API_VERSION = re.compile(r"(7\.\d|\d{4}-\d{2}-\d{2})(-preview)?")


def _now() -> float:
    return time.time()


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


def make_certificates(folder: str, hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> Tuple[str, str, str]:
    """A throw-away CA and a server certificate it signed; returns (key file, chain file, CA file)."""
    issued = _certificates().issue(folder, hosts)
    return issued.key_file, issued.chain_file, issued.ca_file


class _Reply(Exception):
    """An HTTP answer raised from deep inside a handler."""

    def __init__(self, status: int, body: Optional[Dict[str, Any]] = None, headers: Optional[Dict[str, str]] = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _kv_error(status: int, code: str, message: str, inner: Optional[str] = None) -> _Reply:
    error: Dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return _Reply(status, {"error": error})


def _aad_error(status: int, error: str, code: int, description: str) -> _Reply:
    return _Reply(status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}",
        "error_codes": [code],
        "timestamp": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    })


class _Version:
    def __init__(self, value: str, content_type: Optional[str], tags: Optional[Dict[str, str]],
                 attributes: Dict[str, Any]) -> None:
        now = int(_now())
        self.id = uuid.uuid4().hex
        self.value = value
        self.content_type = content_type
        self.tags = tags
        self.enabled = attributes.get("enabled", True) is not False
        self.nbf = attributes.get("nbf")
        self.exp = attributes.get("exp")
        self.created = now
        self.updated = now


class _Secret:
    def __init__(self, name: str) -> None:
        self.name = name
        self.versions: List[_Version] = []  # creation order: the last one is current

    @property
    def current(self) -> _Version:
        return self.versions[-1]


class _Deleted:
    def __init__(self, secret: _Secret, delay: float) -> None:
        self.secret = secret
        self.deleted = int(_now())
        self.purge_date = self.deleted + 90 * 86400
        self.visible_at = _now() + delay  # in the deleted collection from then on
        self.gone_at: Optional[float] = None  # set by purge


class AzureKeyVaultFake:
    """One vault plus its authority on one port; ``start()`` returns ``self``."""

    def __init__(self, tenant_id: str = "8ce7a1c2-7a2b-4c44-9a1e-5f0b7b1e0d11", delay: float = 0.15,
                 page_size: int = 25) -> None:
        self.tenant_id = tenant_id
        self.delay = delay
        self.page_size = page_size
        self.port = 0
        self.ca_file = ""
        self.calls: List[Tuple[str, str, Optional[str]]] = []  # (method, path?query, client id or None)
        self._target = ""
        self.token_requests: List[Dict[str, str]] = []  # form fields, client_secret removed
        self._principals: Dict[str, Tuple[str, Set[str]]] = {}
        self._tokens: Dict[str, Tuple[str, str, float]] = {}  # token -> (client id, audience, expiry)
        self._secrets: Dict[str, _Secret] = {}
        self._deleted: Dict[str, _Deleted] = {}
        self._recovering: Dict[str, Tuple[_Secret, float]] = {}
        self._denied_secrets: Set[str] = set()
        self._faults: List[Tuple[Optional[str], int, Optional[str]]] = []
        self._lock = threading.RLock()
        self._folder = ""
        self._httpd: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.client_id = "vibebox-test-app"
        self.client_secret = _secrets.token_urlsafe(24)
        self.add_principal(self.client_id, self.client_secret)

    # lifecycle --------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The vault URL and the authority host: one server plays both."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return self.url

    def start(self) -> "AzureKeyVaultFake":
        self._folder = tempfile.mkdtemp(prefix="vibebox-azure-fake-")
        key_file, chain_file, self.ca_file = make_certificates(self._folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(chain_file, key_file)
        fake = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def finish_request(self, request: socket.socket, client_address: Any) -> None:
                # TLS handshake in the connection's own thread, so one slow client cannot stall accept()
                request.settimeout(10)
                try:
                    conn = context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                try:
                    self.RequestHandlerClass(conn, client_address, self)
                except (ssl.SSLError, OSError):
                    pass
                finally:
                    try:
                        conn.close()
                    except OSError:
                        pass

        class Handler(_Handler):
            owner = fake

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="azure-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = ""

    def __enter__(self) -> "AzureKeyVaultFake":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # test hooks -------------------------------------------------------------------------------------
    def add_principal(self, client_id: str, client_secret: str, permissions: Iterable[str] = PERMISSIONS) -> None:
        """Register an app registration with a secret and its vault access policy."""
        with self._lock:
            self._principals[client_id] = (client_secret, set(permissions))

    def deny_secret(self, name: str) -> None:
        """Every call on this secret name gets 403 Forbidden, whoever asks."""
        with self._lock:
            self._denied_secrets.add(name)

    def fail_next(self, status: int, times: int = 1, path_contains: Optional[str] = None,
                  retry_after: Optional[str] = "0") -> None:
        """The next ``times`` vault calls (whose path contains ``path_contains``) answer ``status``."""
        with self._lock:
            self._faults.extend([(path_contains, status, retry_after)] * times)

    # time-driven transitions ------------------------------------------------------------------------
    def _tick(self) -> None:
        now = _now()
        for name, entry in list(self._deleted.items()):
            if entry.gone_at is not None and entry.gone_at <= now:
                del self._deleted[name]
        for name, (secret, ready_at) in list(self._recovering.items()):
            if ready_at <= now:
                del self._recovering[name]
                self._secrets[name] = secret

    # request handling -------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Any,
               body: bytes) -> Tuple[int, Optional[Dict[str, Any]], Dict[str, str]]:
        """One request (``target`` is the path with its query); returns (status, JSON body, headers)."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            with self._lock:
                self._tick()
                self._target = target
                return 200, self._route(method, split.path, query, headers, body), {}
        except _Reply as reply:
            return reply.status, reply.body, reply.headers

    def _route(self, method: str, path: str, query: Dict[str, List[str]], headers: Any, body: bytes) -> Any:
        parts = [part for part in path.split("/") if part != ""]
        trailing = path.endswith("/")
        if parts and parts[0] not in ("secrets", "deletedsecrets"):
            self.calls.append((method, self._target, None))
            return self._authority_route(method, parts, query, body)
        try:
            client_id = self._authenticate(headers)
        except _Reply:
            self.calls.append((method, self._target, None))
            raise
        self.calls.append((method, self._target, client_id))
        for index, (contains, status, retry_after) in enumerate(self._faults):
            if contains is None or contains in path:
                del self._faults[index]
                extra = {"Retry-After": retry_after} if retry_after is not None and status in (429, 503) else {}
                if status == 429:
                    raise _Reply(429, {"error": {"code": "Throttled", "message": "Request was not processed because"
                                                 " too many requests were received. Reason: injected by the test"}}, extra)
                raise _Reply(status, {"error": {"code": "ServiceUnavailable" if status == 503 else "InternalServerError",
                                                "message": "injected by the test"}}, extra)
        version = (query.get("api-version") or [""])[0]
        if not _API_VERSION.fullmatch(version):
            raise _kv_error(400, "BadParameter", "The api-version query parameter (?api-version=) is required for all"
                            " requests" if not version else f"The specified version ({version}) is not recognized.")
        self._api_version = version
        data = self._json(body) if method in ("PUT", "PATCH") else {}
        if parts == ["secrets"] and method == "GET":
            self._allow(client_id, "list")
            return self._list_secrets(query)
        if parts == ["deletedsecrets"] and method == "GET":
            self._allow(client_id, "list")
            return self._list_deleted(query)
        if len(parts) >= 2 and parts[0] == "secrets":
            name = self._name(parts[1])
            if name in self._denied_secrets:
                raise self._forbidden(client_id, "get" if method == "GET" else "set")
            rest = parts[2:]
            if method == "PUT" and not rest and not trailing:
                self._allow(client_id, "set")
                return self._set(name, data)
            if method == "DELETE" and not rest and not trailing:
                self._allow(client_id, "delete")
                return self._delete(name)
            if method == "GET" and rest == ["versions"]:
                self._allow(client_id, "list")
                return self._list_versions(name, query)
            if method == "GET" and len(rest) <= 1:
                self._allow(client_id, "get")
                return self._get(name, rest[0] if rest else "")
            if method == "PATCH" and len(rest) <= 1:
                self._allow(client_id, "set")
                return self._update(name, rest[0] if rest else "", data)
        if len(parts) >= 2 and parts[0] == "deletedsecrets":
            name = self._name(parts[1])
            if name in self._denied_secrets:
                raise self._forbidden(client_id, "get")
            if method == "GET" and len(parts) == 2:
                self._allow(client_id, "get")
                return self._get_deleted(name)
            if method == "DELETE" and len(parts) == 2:
                self._allow(client_id, "purge")
                self._purge(name)
                raise _Reply(204)
            if method == "POST" and parts[2:] == ["recover"]:
                self._allow(client_id, "recover")
                return self._recover(name)
        raise _kv_error(400, "BadParameter", f"The request URI is not supported: {method} {path}")

    @staticmethod
    def _json(body: bytes) -> Dict[str, Any]:
        try:
            data = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError):
            raise _kv_error(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(data, dict):
            raise _kv_error(400, "BadParameter", "The request body must be a JSON object.")
        return data

    @staticmethod
    def _name(text: str) -> str:
        if not _NAME.fullmatch(text):
            raise _kv_error(400, "BadParameter", f"The request URI contains an invalid name: {text}")
        return text

    # auth -------------------------------------------------------------------------------------------
    def _challenge(self, message: str) -> _Reply:
        header = f'Bearer authorization="{self.authority}/{self.tenant_id}", resource="{RESOURCE}"'
        return _Reply(401, {"error": {"code": "Unauthorized", "message": message}}, {"WWW-Authenticate": header})

    def _authenticate(self, headers: Any) -> str:
        value = headers.get("Authorization") or ""
        if not value.lower().startswith("bearer "):
            raise self._challenge("AKV10000: Request is missing a Bearer or PoP token.")
        found = self._tokens.get(value[7:].strip())
        if found is None:
            raise self._challenge("AKV10022: Invalid token: the token is not known to this vault.")
        client_id, audience, expiry = found
        if expiry <= _now():
            raise self._challenge("AKV10032: Token expired.")
        if audience.rstrip("/") != RESOURCE:
            raise self._challenge(f"AKV10022: Invalid audience. Expected {RESOURCE}, found: {audience}.")
        return client_id

    def _forbidden(self, client_id: str, permission: str) -> _Reply:
        return _kv_error(
            403, "Forbidden",
            f"The user, group or application 'appid={client_id};iss=https://sts.windows.net/{self.tenant_id}/' does"
            f" not have secrets {permission} permission on key vault 'fake;location=local'. For help resolving this"
            " issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
            "AccessDenied",
        )

    def _allow(self, client_id: str, permission: str) -> None:
        principal = self._principals.get(client_id)
        if principal is None or permission not in principal[1]:
            raise self._forbidden(client_id, permission)

    def _authority_route(self, method: str, parts: List[str], query: Dict[str, List[str]], body: bytes) -> Any:
        base = self.authority
        if parts == ["common", "discovery", "instance"] and method == "GET":
            return {
                "tenant_discovery_endpoint": f"{base}/{self.tenant_id}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": base[8:], "preferred_cache": base[8:], "aliases": [base[8:]]}],
            }
        tenant = parts[0] if parts else ""
        if tenant not in (self.tenant_id, "organizations", "common"):
            raise _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure you have"
                             " the correct tenant ID and are signing into the correct cloud.")
        if method == "GET" and parts[1:] in (["v2.0", ".well-known", "openid-configuration"],
                                             [".well-known", "openid-configuration"]):
            return {
                "token_endpoint": f"{base}/{self.tenant_id}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{self.tenant_id}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{self.tenant_id}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/{self.tenant_id}/v2.0",
                "jwks_uri": f"{base}/{self.tenant_id}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "EU",
            }
        if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(parse_qs(body.decode("utf-8")))
        raise _Reply(404, {"error": "not_found", "error_description": "This fake authority does not serve that path."})

    def _token(self, form: Dict[str, List[str]]) -> Dict[str, Any]:
        fields = {key: values[0] for key, values in form.items() if values}
        self.token_requests.append({key: value for key, value in fields.items() if key != "client_secret"})
        if fields.get("grant_type") != "client_credentials":
            raise _aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = fields.get("client_id", "")
        principal = self._principals.get(client_id)
        if principal is None:
            raise _aad_error(400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not"
                             f" found in the directory '{self.tenant_id}'.")
        if not _secrets.compare_digest(fields.get("client_secret", ""), principal[0]):
            raise _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being"
                             " sent in the request is the client secret value, not the client secret ID, for a secret"
                             f" added to app '{client_id}'.")
        scopes = fields.get("scope", "").split()
        audience = next((scope[: -len("/.default")] for scope in scopes if scope.endswith("/.default")), "")
        if not audience:
            raise _aad_error(400, "invalid_scope", 1002012, "The provided value for scope is not valid. Client"
                             " credential flows must have a scope value with /.default suffixed to the resource.")
        token = _secrets.token_urlsafe(32)
        self._tokens[token] = (client_id, audience, _now() + 3599)
        return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}

    # vault ------------------------------------------------------------------------------------------
    def _id(self, name: str, version: Optional[str] = None, collection: str = "secrets") -> str:
        return f"{self.url}/{collection}/{name}" + (f"/{version}" if version else "")

    @staticmethod
    def _attributes(version: _Version) -> Dict[str, Any]:
        attributes: Dict[str, Any] = {"enabled": version.enabled}
        if version.nbf is not None:
            attributes["nbf"] = version.nbf
        if version.exp is not None:
            attributes["exp"] = version.exp
        attributes.update(created=version.created, updated=version.updated,
                          recoveryLevel="Recoverable+Purgeable", recoverableDays=90)
        return attributes

    def _bundle(self, name: str, version: _Version, value: bool) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if value:
            out["value"] = version.value
        out["id"] = self._id(name, version.id)
        if version.content_type is not None:
            out["contentType"] = version.content_type
        out["attributes"] = self._attributes(version)
        if version.tags is not None:
            out["tags"] = dict(version.tags)
        return out

    def _item(self, item_id: str, version: _Version) -> Dict[str, Any]:
        out: Dict[str, Any] = {"id": item_id, "attributes": self._attributes(version)}
        if version.content_type is not None:
            out["contentType"] = version.content_type
        if version.tags is not None:
            out["tags"] = dict(version.tags)
        return out

    def _deleted_fields(self, name: str, entry: _Deleted) -> Dict[str, Any]:
        return {"recoveryId": self._id(name, collection="deletedsecrets"),
                "deletedDate": entry.deleted, "scheduledPurgeDate": entry.purge_date}

    def _page(self, path: str, items: List[Dict[str, Any]], query: Dict[str, List[str]]) -> Dict[str, Any]:
        try:
            size = int((query.get("maxresults") or [self.page_size])[0])
            start = int(base64.urlsafe_b64decode((query.get("$skiptoken") or [""])[0] + "==").decode() or 0)
        except ValueError:
            raise _kv_error(400, "BadParameter", "The request contains an invalid $skiptoken or maxresults value.")
        if not 1 <= size <= 25:
            raise _kv_error(400, "BadParameter", "invalid maxresults: must be between 1 and 25.")
        end = start + size
        following = None
        if end < len(items):
            token = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=")
            following = f"{self.url}{path}?" + urlencode(
                {"api-version": self._api_version, "$skiptoken": token, "maxresults": size})
        return {"value": items[start:end], "nextLink": following}

    def _live(self, name: str, version_id: str = "") -> Tuple[_Secret, _Version]:
        secret = self._secrets.get(name)
        if secret is None:
            raise _kv_error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault."
                            " If you recently deleted this secret you may be able to recover it using the correct"
                            " recovery command. For help resolving this issue, please see"
                            " https://go.microsoft.com/fwlink/?linkid=2125182")
        if not version_id:
            return secret, secret.current
        for version in secret.versions:
            if version.id == version_id:
                return secret, version
        raise _kv_error(404, "SecretNotFound", f"A secret with (name/id) {name}/{version_id} was not found in this key"
                        " vault. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")

    def _reserved(self, name: str) -> None:
        """409 while the name is held by the deleted collection, a purge or a recovery."""
        entry = self._deleted.get(name)
        if entry is not None:
            if entry.gone_at is not None:
                raise _kv_error(409, "Conflict", f"Secret {name} is currently being purged.", "ObjectIsBeingPurged")
            if entry.visible_at > _now():
                raise _kv_error(409, "Conflict", "Secret is currently being deleted.", "ObjectIsBeingDeleted")
            raise _kv_error(409, "Conflict", f"Secret {name} is currently in a deleted but recoverable state, and its"
                            " name cannot be reused; in this state, the secret can only be recovered or purged.",
                            "ObjectIsDeletedButRecoverable")
        if name in self._recovering:
            raise _kv_error(409, "Conflict", f"Secret {name} is currently being recovered.", "ObjectIsBeingRecovered")

    @staticmethod
    def _check_fields(data: Dict[str, Any]) -> None:
        tags = data.get("tags")
        if tags is not None:
            if not isinstance(tags, dict) or len(tags) > 15:
                raise _kv_error(400, "BadParameter", "Tags must be an object with at most 15 entries.")
            for key, value in tags.items():
                if not key or len(key) > 512 or not isinstance(value, str) or len(value) > 256:
                    raise _kv_error(400, "BadParameter", f"Invalid tag '{key}': names are 1-512 and values at most"
                                    " 256 characters.")
        content_type = data.get("contentType")
        if content_type is not None and (not isinstance(content_type, str) or len(content_type) > 255):
            raise _kv_error(400, "BadParameter", "contentType must be a string of at most 255 characters.")

    def _set(self, name: str, data: Dict[str, Any]) -> Dict[str, Any]:
        self._reserved(name)
        value = data.get("value")
        if not isinstance(value, str):
            raise _kv_error(400, "BadParameter", "Property 'value' is required.")
        if len(value.encode("utf-8")) > MAX_VALUE:
            raise _kv_error(400, "BadParameter", f"The secret value is too large: at most {MAX_VALUE} bytes.")
        self._check_fields(data)
        secret = self._secrets.setdefault(name, _Secret(name))
        version = _Version(value, data.get("contentType"), data.get("tags"), data.get("attributes") or {})
        secret.versions.append(version)
        return self._bundle(name, version, value=True)

    def _get(self, name: str, version_id: str) -> Dict[str, Any]:
        _secret, version = self._live(name, version_id)
        if not version.enabled:
            raise _kv_error(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
        return self._bundle(name, version, value=True)

    def _update(self, name: str, version_id: str, data: Dict[str, Any]) -> Dict[str, Any]:
        _secret, version = self._live(name, version_id)
        self._check_fields(data)
        if "contentType" in data:
            version.content_type = data["contentType"]
        if "tags" in data:
            version.tags = data["tags"]
        attributes = data.get("attributes") or {}
        for key in ("enabled", "nbf", "exp"):
            if key in attributes:
                setattr(version, key, attributes[key])
        version.updated = int(_now())
        return self._bundle(name, version, value=False)

    def _list_secrets(self, query: Dict[str, List[str]]) -> Dict[str, Any]:
        items = [self._item(self._id(name), self._secrets[name].current) for name in sorted(self._secrets)]
        return self._page("/secrets", items, query)

    def _list_versions(self, name: str, query: Dict[str, List[str]]) -> Dict[str, Any]:
        secret, _current = self._live(name)
        items = [self._item(self._id(name, v.id), v) for v in secret.versions]
        return self._page(f"/secrets/{name}/versions", items, query)

    def _delete(self, name: str) -> Dict[str, Any]:
        if name in self._recovering:
            self._reserved(name)
        secret, current = self._live(name)
        del self._secrets[name]
        entry = _Deleted(secret, self.delay)
        self._deleted[name] = entry
        return {**self._bundle(name, current, value=False), **self._deleted_fields(name, entry)}

    def _visible_deleted(self, name: str) -> _Deleted:
        entry = self._deleted.get(name)
        if entry is None or entry.visible_at > _now():
            raise _kv_error(404, "SecretNotFound", "Deleted Secret not found")
        return entry

    def _get_deleted(self, name: str) -> Dict[str, Any]:
        entry = self._visible_deleted(name)
        return {**self._bundle(name, entry.secret.current, value=False), **self._deleted_fields(name, entry)}

    def _list_deleted(self, query: Dict[str, List[str]]) -> Dict[str, Any]:
        now = _now()
        items = []
        for name in sorted(self._deleted):
            entry = self._deleted[name]
            if entry.visible_at <= now:
                items.append({**self._item(self._id(name, collection="deletedsecrets"), entry.secret.current),
                              **self._deleted_fields(name, entry)})
        return self._page("/deletedsecrets", items, query)

    def _purge(self, name: str) -> None:
        entry = self._deleted.get(name)
        if entry is not None and entry.visible_at > _now():
            raise _kv_error(409, "Conflict", "Secret is currently being deleted.", "ObjectIsBeingDeleted")
        entry = self._visible_deleted(name)
        if entry.gone_at is None:
            entry.gone_at = _now() + self.delay

    def _recover(self, name: str) -> Dict[str, Any]:
        entry = self._deleted.get(name)
        if entry is not None and entry.visible_at > _now():
            raise _kv_error(409, "Conflict", "Secret is currently being deleted.", "ObjectIsBeingDeleted")
        entry = self._visible_deleted(name)
        if entry.gone_at is not None:
            raise _kv_error(409, "Conflict", f"Secret {name} is currently being purged.", "ObjectIsBeingPurged")
        del self._deleted[name]
        self._recovering[name] = (entry.secret, _now() + self.delay)
        return self._bundle(name, entry.secret.current, value=False)


class _Handler(http.server.BaseHTTPRequestHandler):
    owner: AzureKeyVaultFake
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server_version = "vibebox-azure-fake"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet, tests read .calls instead
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, headers = self.owner.handle(self.command, self.path, self.headers, body)
        data = b"" if payload is None or status == 204 else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _serve


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the Azure Key Vault fake until killed.")
    parser.add_argument("--delay", type=float, default=0.15, help="seconds a delete, purge or recovery takes")
    args = parser.parse_args(argv)
    started = time.monotonic()
    fake = AzureKeyVaultFake(delay=args.delay).start()
    print(f"AZURE_KEYVAULT_URL={fake.url}")
    print(f"AZURE_AUTHORITY_HOST={fake.authority}")
    print(f"AZURE_TENANT_ID={fake.tenant_id}")
    print(f"AZURE_CLIENT_ID={fake.client_id}")
    print(f"AZURE_CLIENT_SECRET={fake.client_secret}")
    print(f"AZURE_CA_CERT={fake.ca_file}")
    print(f"# started in {time.monotonic() - started:.2f}s; use azure_verify_challenge_resource=false."
          " Ctrl-C or SIGTERM stops it", flush=True)
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
