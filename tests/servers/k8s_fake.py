"""A small, honest fake of the Kubernetes REST API for namespaces and Secrets.

No API server can run on the test machines (no kube-apiserver, k3s or kind without Docker), so the
``kubernetes`` provider and its contract tests talk to this instead, through the unchanged official
client and a kubeconfig file written by ``write_kubeconfig``. It answers with the real API's object
and ``Status`` shapes so that the provider's error handling is exercised for real.

What it models
  * ``/version``, ``/healthz``, ``/readyz``, ``/livez`` (no authentication), and the discovery
    documents ``/api``, ``/api/v1`` and ``/apis`` (authenticated, no RBAC).
  * Namespaces: list, create, get, delete (deletion is immediate and removes the namespace's Secrets).
  * Secrets: get, list (per namespace and across namespaces), create (``generateName`` too), replace
    (PUT), patch (``merge-patch+json``; ``strategic-merge-patch+json`` handled as a merge patch, which
    is what it means for a Secret's maps; ``json-patch+json`` with add/remove/replace/test/move/copy),
    delete (with ``preconditions``), deletecollection.
  * ``metadata.uid``, ``creationTimestamp`` and a cluster-wide ``resourceVersion``; a write that
    carries a stale ``resourceVersion`` (in the body of PUT/PATCH, or DELETE preconditions) gets
    409 ``Conflict``; creating an existing object gets 409 ``AlreadyExists``.
  * ``stringData`` merged into ``data`` on every write and never returned.
  * Validation with the real reasons: ``data`` that is not base64 gets 400 ``BadRequest`` on
    create/replace ("cannot be handled as a Secret", as the real server fails while decoding) and
    422 ``Invalid`` on patch (the real server reports the patched object as an invalid ``patch``
    field, echoing it, values included); invalid data keys, names, labels, more than 1 MiB of data,
    more than 256 KiB of annotations, changing an immutable Secret or its type get 422 ``Invalid``;
    a missing namespace on create gets 404 ``namespaces "x" not found``; a missing Secret 404.
  * Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``;
    field selectors ``metadata.name`` and ``metadata.namespace`` (``=``, ``==``, ``!=``).
  * Bearer-token authentication and a tiny RBAC: each token maps to a user and rules of verbs,
    resources and namespaces; no or an unknown token gets 401, a missing grant 403 with the real
    message ("User "u" cannot patch resource "secrets" in API group "" in the namespace "n"").
  * HTTPS with a throw-away CA (the kubeconfig carries it as ``certificate-authority-data``), or
    plain HTTP with ``tls=False``.
  * ``TokenReview`` (``POST /apis/authentication.k8s.io/v1/tokenreviews``), what Vault's and OpenBao's
    kubernetes auth method call to check a pod's service-account token: service-account tokens
    registered with ``add_service_account_token`` are answered ``authenticated: true`` with the real
    ``system:serviceaccount:<namespace>:<name>`` user, uid, groups and audiences; any other token, or
    audiences that do not match, get ``authenticated: false`` with an ``error`` (201, as the real API).
    The caller needs a token allowed to ``create`` ``tokenreviews`` (``system:auth-delegator``).

What it does NOT model (a test that needs one of these needs a real cluster)
  * watch, server-side apply (``apply-patch+yaml`` gets 415), ``dryRun`` (400), ``limit``/``continue``
    paging (every list is one page), protobuf/CBOR (JSON only), ``fieldValidation=Strict``.
  * any resource other than namespaces and Secrets, API groups, CRDs, aggregated discovery.
  * ServiceAccount token Secrets and their controller, Secret types' required keys (every type is
    accepted as given), finalizers, owner references and garbage collection, namespace
    ``Terminating`` phase, admission webhooks, encryption at rest, audit logs, rate limiting
    (429/Retry-After) and priority & fairness, managedFields, generation.
  * token signatures, expiry and bound objects (a registered token is valid until the fake stops),
    the ServiceAccount objects themselves (a token is registered, not issued by ``TokenRequest``).
  * client certificates, OIDC/exec credentials, impersonation, ``SelfSubjectAccessReview``; RBAC is
    the fake's own token table, not Role/RoleBinding objects, and has no resourceNames.
  * immutable metadata checks on update (a changed uid/name/namespace/creationTimestamp in a body
    is silently replaced by the stored one).

Run by hand (``make servers``): ``python tests/servers/k8s_fake.py --kubeconfig /tmp/kubeconfig``
prints the URL and serves until interrupted; the kubeconfig's token has every right.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import copy
import datetime as _dt
import json
import os
import re
import secrets as _secrets
import socket
import ssl
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

MAX_DATA_BYTES = 1024 * 1024
MAX_ANNOTATION_BYTES = 256 * 1024
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


class ApiError(Exception):
    """An error answer: carried up to the handler, which turns it into a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _not_found(resource: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})


def _invalid(kind: str, name: str, causes: List[Tuple[str, str, str]]) -> ApiError:
    """422 with the real message layout: ``Kind "name" is invalid: field: Reason: detail``."""
    text = ", ".join(f"{fld}: {msg}" for fld, _reason, msg in causes)
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {text}' if len(causes) == 1 else f'{kind} "{name}" is invalid: [{text}]',
        {
            "name": name,
            "kind": kind,
            "causes": [{"reason": reason, "message": msg, "field": fld} for fld, reason, msg in causes],
        },
    )


# -- selectors -------------------------------------------------------------------------------------


@dataclass
class _Requirement:
    key: str
    op: str  # =, !=, in, notin, exists, !
    values: Tuple[str, ...] = ()

    def matches(self, labels: Dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # != and notin also match objects without the label, as in Kubernetes
        return not present or labels[self.key] not in self.values


def _split_selector(text: str) -> List[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def parse_label_selector(text: str) -> List[_Requirement]:
    """The subset of Kubernetes label-selector syntax that kubectl and clients send."""
    requirements = []
    for part in _split_selector(text or ""):
        match = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if match:
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(_Requirement(match.group(1), match.group(2), values))
            continue
        match = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", part)
        if match:
            op = "!=" if match.group(2) == "!=" else "="
            requirements.append(_Requirement(match.group(1), op, (match.group(3),)))
            continue
        match = re.fullmatch(r"(!?)([^=!\s()]+)", part)
        if match:
            requirements.append(_Requirement(match.group(2), "!" if match.group(1) else "exists"))
            continue
        raise ApiError(400, "BadRequest", f'unable to parse requirement: found \'{part}\', expected: in, notin, =, ==, !=, gt, lt')
    for req in requirements:
        if not _label_key_ok(req.key):
            raise ApiError(400, "BadRequest", f'unable to parse requirement: invalid label key "{req.key}"')
    return requirements


def parse_field_selector(text: str) -> List[Tuple[str, str, str]]:
    found = []
    for part in _split_selector(text or ""):
        match = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", part)
        if not match or match.group(1) not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", f'field label not supported: {part.split("=")[0].rstrip("!")}')
        found.append((match.group(1), "!=" if match.group(2) == "!=" else "=", match.group(3)))
    return found


def _label_key_ok(key: str) -> bool:
    prefix, _slash, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.fullmatch(name))


# -- patches ---------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> List[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc: Any, parts: List[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def json_patch(doc: Any, operations: Sequence[Dict[str, Any]]) -> Any:
    """RFC 6902 on a copy; raises ValueError/KeyError/IndexError for a failing operation."""
    doc = copy.deepcopy(doc)
    for operation in operations:
        op = operation.get("op")
        parts = _pointer(operation.get("path", ""))
        if op == "test":
            if _walk(doc, parts) != operation.get("value"):
                raise ValueError(f"testing value {operation.get('path')} failed")
            continue
        if op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_walk(doc, source))
            if op == "move":
                parent = _walk(doc, source[:-1])
                parent.pop(int(source[-1]) if isinstance(parent, list) else source[-1])
            op, operation = "add", {"value": value}
        if not parts:
            if op == "remove":
                raise ValueError("cannot remove the whole document")
            doc = copy.deepcopy(operation.get("value"))
            continue
        parent = _walk(doc, parts[:-1])
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, copy.deepcopy(operation.get("value")))
            elif op == "remove":
                parent.pop(index)
            elif op == "replace":
                parent[index] = copy.deepcopy(operation.get("value"))
            else:
                raise ValueError(f"unknown operation {op!r}")
        elif isinstance(parent, dict):
            if op in ("remove", "replace") and last not in parent:
                raise KeyError(last)
            if op == "remove":
                del parent[last]
            elif op in ("add", "replace"):
                parent[last] = copy.deepcopy(operation.get("value"))
            else:
                raise ValueError(f"unknown operation {op!r}")
        else:
            raise KeyError(last)
    return doc


# -- RBAC ------------------------------------------------------------------------------------------


@dataclass
class Rule:
    verbs: Tuple[str, ...] = ("*",)
    resources: Tuple[str, ...] = ("*",)
    #: namespaces the rule applies to; "*" also grants cluster-scoped requests (like a ClusterRole)
    namespaces: Tuple[str, ...] = ("*",)

    def allows(self, verb: str, resource: str, namespace: Optional[str]) -> bool:
        if "*" not in self.verbs and verb not in self.verbs:
            return False
        if "*" not in self.resources and resource not in self.resources:
            return False
        if "*" in self.namespaces:
            return True
        return namespace is not None and namespace in self.namespaces


@dataclass
class Identity:
    user: str
    rules: List[Rule] = field(default_factory=list)


# -- the cluster state -----------------------------------------------------------------------------


class Cluster:
    """Namespaces and Secrets behind one lock; every method returns JSON-ready copies."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.revision = 1
        self.namespaces: Dict[str, Dict[str, Any]] = {}
        self.secrets: Dict[Tuple[str, str], Dict[str, Any]] = {}
        for name in ("default", "kube-system", "kube-public"):
            self.create_namespace({"metadata": {"name": name}})

    def _bump(self) -> str:
        self.revision += 1
        return str(self.revision)

    # namespaces
    def create_namespace(self, body: Dict[str, Any]) -> Dict[str, Any]:
        meta = body.get("metadata") or {}
        name = meta.get("name") or ""
        with self.lock:
            if not name or len(name) > 63 or not _DNS_LABEL.fullmatch(name):
                raise _invalid("Namespace", name, [(
                    "metadata.name", "FieldValueInvalid",
                    f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case alphanumeric'
                    " characters or '-', and must start and end with an alphanumeric character",
                )])
            if name in self.namespaces:
                raise ApiError(409, "AlreadyExists", f'namespaces "{name}" already exists', {"name": name, "kind": "namespaces"})
            labels = dict(meta.get("labels") or {})
            labels["kubernetes.io/metadata.name"] = name
            obj = {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": self._bump(),
                    "creationTimestamp": _now(),
                    "labels": labels,
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
            if meta.get("annotations"):
                obj["metadata"]["annotations"] = dict(meta["annotations"])
            self.namespaces[name] = obj
            return copy.deepcopy(obj)

    def get_namespace(self, name: str) -> Dict[str, Any]:
        with self.lock:
            if name not in self.namespaces:
                raise _not_found("namespaces", name)
            return copy.deepcopy(self.namespaces[name])

    def delete_namespace(self, name: str) -> Dict[str, Any]:
        with self.lock:
            obj = self.get_namespace(name)
            del self.namespaces[name]
            for key in [key for key in self.secrets if key[0] == name]:
                del self.secrets[key]
            obj["metadata"]["resourceVersion"] = self._bump()
            obj["metadata"]["deletionTimestamp"] = _now()
            obj["status"]["phase"] = "Terminating"
            return obj

    # secrets
    def get_secret(self, namespace: str, name: str) -> Dict[str, Any]:
        with self.lock:
            obj = self.secrets.get((namespace, name))
            if obj is None:
                raise _not_found("secrets", name)
            return copy.deepcopy(obj)

    def list_secrets(self, namespace: Optional[str]) -> List[Dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(obj)
                for (ns, _name), obj in sorted(self.secrets.items())
                if namespace is None or ns == namespace
            ]

    def create_secret(self, namespace: str, body: Dict[str, Any]) -> Dict[str, Any]:
        with self.lock:
            body = _checked_body(body, "Secret", namespace)
            meta = body["metadata"]
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    _secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _index in range(5)
                )
            name = meta.get("name") or ""
            if namespace not in self.namespaces:
                raise _not_found("namespaces", namespace)
            if (namespace, name) in self.secrets:
                raise ApiError(409, "AlreadyExists", f'secrets "{name}" already exists', {"name": name, "kind": "secrets"})
            obj = _finish_secret(body, None, decode_error_status=400)
            obj["metadata"].update(
                {
                    "name": name,
                    "namespace": namespace,
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": self._bump(),
                    "creationTimestamp": _now(),
                }
            )
            obj["metadata"].pop("generateName", None)
            self.secrets[(namespace, name)] = obj
            return copy.deepcopy(obj)

    def replace_secret(self, namespace: str, name: str, body: Dict[str, Any], patch_error: bool = False) -> Dict[str, Any]:
        with self.lock:
            current = self.secrets.get((namespace, name))
            if current is None:
                raise _not_found("secrets", name)
            body = _checked_body(body, "Secret", namespace)
            meta = body["metadata"]
            if meta.get("name") not in (None, name):
                raise ApiError(400, "BadRequest",
                               f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
            wanted = meta.get("resourceVersion")
            if wanted not in (None, "") and str(wanted) != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on secrets "{name}": the object has been modified; please apply'
                    " your changes to the latest version and try again",
                    {"name": name, "kind": "secrets"},
                )
            obj = _finish_secret(body, current, decode_error_status=422 if patch_error else 400)
            for key in ("name", "namespace", "uid", "creationTimestamp"):
                obj["metadata"][key] = current["metadata"][key]
            if _same_content(obj, current):
                return copy.deepcopy(current)  # a no-op write keeps the resourceVersion, as the real server does
            obj["metadata"]["resourceVersion"] = self._bump()
            self.secrets[(namespace, name)] = obj
            return copy.deepcopy(obj)

    def patch_secret(self, namespace: str, name: str, patch: Any, content_type: str) -> Dict[str, Any]:
        with self.lock:
            current = self.get_secret(namespace, name)
            try:
                if content_type == "application/json-patch+json":
                    if not isinstance(patch, list):
                        raise ValueError("a JSON patch must be a list of operations")
                    patched = json_patch(current, patch)
                else:
                    if not isinstance(patch, dict):
                        raise ValueError("a merge patch must be a JSON object")
                    patched = merge_patch(current, patch)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}") from None
            if not isinstance(patched, dict):
                raise ApiError(422, "Invalid", "the patched object is not a JSON object")
            # a resourceVersion set by the patch is a precondition (checked by replace_secret); a patch
            # without one keeps the current resourceVersion and so applies to the latest object
            return self.replace_secret(namespace, name, patched, patch_error=True)

    def delete_secret(self, namespace: str, name: str, options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        with self.lock:
            current = self.secrets.get((namespace, name))
            if current is None:
                raise _not_found("secrets", name)
            pre = (options or {}).get("preconditions") or {}
            for key in ("resourceVersion", "uid"):
                if pre.get(key) not in (None, "") and str(pre[key]) != current["metadata"][key]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on secrets "{name}": Precondition failed: {key} in precondition:'
                        f" {pre[key]}, {key} in object meta: {current['metadata'][key]}",
                        {"name": name, "kind": "secrets"},
                    )
            del self.secrets[(namespace, name)]
            self._bump()
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "kind": "secrets", "uid": current["metadata"]["uid"]},
            }


def _checked_body(body: Any, kind: str, namespace: str) -> Dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", f'{kind} in version "v1" cannot be handled as a {kind}: expected an object')
    if body.get("kind") not in (None, kind) or body.get("apiVersion") not in (None, "v1"):
        raise ApiError(400, "BadRequest", f"the API version in the data ({body.get('apiVersion')}) does not match"
                       " the expected API version (v1)")
    body = copy.deepcopy(body)
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ApiError(400, "BadRequest", f'{kind} in version "v1" cannot be handled as a {kind}: metadata must be an object')
    if meta.get("namespace") not in (None, "", namespace):
        raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
    return body


def _same_content(left: Dict[str, Any], right: Dict[str, Any]) -> bool:
    def strip(obj):
        return {k: v for k, v in obj.items() if k != "metadata"}

    def meta(obj):
        return {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}

    return strip(left) == strip(right) and meta(left) == meta(right)


def _finish_secret(body: Dict[str, Any], current: Optional[Dict[str, Any]], decode_error_status: int) -> Dict[str, Any]:
    """stringData -> data, then the validations of the real API, with its error shapes."""
    meta = body.get("metadata") or {}
    name = meta.get("name") or (current or {}).get("metadata", {}).get("name") or meta.get("generateName") or ""
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ApiError(400, "BadRequest", 'Secret in version "v1" cannot be handled as a Secret: data must be an object')
    for value in data.values():
        try:
            if not isinstance(value, str):
                raise binascii.Error("expected a base64 string")
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            if decode_error_status == 422:
                # the real server echoes the whole patched object here (values included)
                raise ApiError(
                    422,
                    "Invalid",
                    f' "" is invalid: patch: Invalid value: "{json.dumps(body, sort_keys=True)}": illegal base64 data'
                    f" at input byte 0 ({exc})",
                    {"causes": [{"reason": "FieldValueInvalid", "message": "illegal base64 data", "field": "patch"}]},
                ) from None
            raise ApiError(
                400,
                "BadRequest",
                f'Secret in version "v1" cannot be handled as a Secret: v1.Secret.Data: decode base64: illegal'
                f" base64 data at input byte 0 ({exc})",
            ) from None
    string_data = body.pop("stringData", None) or {}
    if not isinstance(string_data, dict) or not all(isinstance(v, str) for v in string_data.values()):
        raise ApiError(400, "BadRequest", 'Secret in version "v1" cannot be handled as a Secret: stringData must map strings to strings')
    data = dict(data)
    for key, value in string_data.items():
        data[key] = base64.b64encode(value.encode("utf-8")).decode("ascii")
    causes: List[Tuple[str, str, str]] = []
    if not name or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        causes.append(("metadata.name", "FieldValueInvalid",
                       f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case'
                       " alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"))
    for key in data:
        if len(key) > 253 or not _CONFIG_KEY.fullmatch(key) or key in (".", "..") or key.startswith(".."):
            causes.append((f"data[{key}]", "FieldValueInvalid",
                           f'Invalid value: "{key}": a valid config key must consist of alphanumeric characters,'
                           " '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for"
                           " validation is '[-._a-zA-Z0-9]+')"))
    size = sum(len(base64.b64decode(v)) for v in data.values())
    if size > MAX_DATA_BYTES:
        causes.append(("data", "FieldValueTooLong", f"Too long: must have at most {MAX_DATA_BYTES} bytes"))
    for fld in ("labels", "annotations"):
        value = meta.get(fld) or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ApiError(400, "BadRequest",
                           f'Secret in version "v1" cannot be handled as a Secret: metadata.{fld} must map strings to strings')
    for key, value in (meta.get("labels") or {}).items():
        if not _label_key_ok(key) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            causes.append(("metadata.labels", "FieldValueInvalid", f'Invalid value: "{key}": invalid label key or value'))
    for key in meta.get("annotations") or {}:
        if not _label_key_ok(key):
            causes.append(("metadata.annotations", "FieldValueInvalid", f'Invalid value: "{key}": invalid annotation key'))
    annotation_bytes = sum(len(k) + len(v) for k, v in (meta.get("annotations") or {}).items())
    if annotation_bytes > MAX_ANNOTATION_BYTES:
        causes.append(("metadata.annotations", "FieldValueTooLong", f"Too long: must have at most {MAX_ANNOTATION_BYTES} bytes"))
    kind = body.get("type") or "Opaque"
    if current is not None:
        if current.get("immutable") and (data != (current.get("data") or {}) or not body.get("immutable")):
            causes.append(("data", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set"))
        if kind != current.get("type", "Opaque"):
            causes.append(("type", "FieldValueInvalid", f'Invalid value: "{kind}": field is immutable'))
    if causes:
        raise _invalid("Secret", name, causes)
    obj: Dict[str, Any] = {"kind": "Secret", "apiVersion": "v1", "metadata": {}, "type": kind}
    for key in ("labels", "annotations", "generateName"):
        if meta.get(key):
            obj["metadata"][key] = dict(meta[key]) if isinstance(meta[key], dict) else meta[key]
    if data:
        obj["data"] = data
    if body.get("immutable") is not None:
        obj["immutable"] = bool(body["immutable"])
    return obj


def _select(items: Iterable[Dict[str, Any]], query: Dict[str, List[str]]) -> List[Dict[str, Any]]:
    labels = parse_label_selector(query.get("labelSelector", [""])[0])
    fields = parse_field_selector(query.get("fieldSelector", [""])[0])
    chosen = []
    for item in items:
        meta = item["metadata"]
        if not all(req.matches(meta.get("labels") or {}) for req in labels):
            continue
        if not all((meta.get(fld.split(".")[1]) == value) == (op == "=") for fld, op, value in fields):
            continue
        chosen.append(item)
    return chosen


def _list(kind: str, items: List[Dict[str, Any]], revision: int) -> Dict[str, Any]:
    for item in items:  # list items carry no kind/apiVersion in the real API
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return {"kind": f"{kind}List", "apiVersion": "v1", "metadata": {"resourceVersion": str(revision)}, "items": items}


# -- TLS -------------------------------------------------------------------------------------------


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


def make_certificates(folder: str) -> Tuple[str, str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost; returns (ca, cert, key) paths."""
    issued = _certificates().issue(folder, name="kube-apiserver")
    return issued.ca_file, issued.cert_file, issued.key_file


# -- HTTP ------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # eight forks connect at once in the concurrency tests; socketserver's queue of 5 made the sixth wait
    # for a SYN retry, long enough on a loaded machine for the client's TLS handshake to give up
    request_queue_size = 64
    fake: "K8sFake"
    tls_context: Optional[ssl.SSLContext] = None

    def get_request(self):  # type: ignore[override]
        sock, address = self.socket.accept()
        # headers and body go out as separate writes: without this, Nagle + delayed ACK add 40 ms a call
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_context is not None:
            # the handshake happens in the request's own thread, on first read
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that refuses the certificate (the tests of a wrong CA do) or hangs up mid-request is
        what those tests expect, not a fault of the fake: no traceback for it."""
        if isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            code, body = self.server.fake.handle(
                method, self.path, dict(self.headers.items()), raw
            )
        except ApiError as exc:
            code, body = exc.code, exc.status()
        except Exception as exc:  # a bug in the fake: say so like an API server would
            code, body = 500, ApiError(500, "InternalError", f"fake apiserver error: {exc!r}").status()
        payload = json.dumps(body).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)


class K8sFake:
    """The fake API server: ``start()``, ``url``, ``add_token()``, ``write_kubeconfig()``, ``stop()``."""

    def __init__(self, tls: bool = True, admin_token: Optional[str] = None) -> None:
        self.tls = tls
        self.cluster = Cluster()
        self.tokens: Dict[str, Identity] = {}
        self.admin_token = admin_token or "admin-" + _secrets.token_hex(16)
        self.add_token(self.admin_token, user="kubernetes-admin")
        #: service-account tokens TokenReview knows: token -> (namespace, name, uid, audiences)
        self.service_accounts: Dict[str, Tuple[str, str, str, Tuple[str, ...]]] = {}
        #: (method, path, user) of every request, for tests that count calls
        self.requests: List[Tuple[str, str, str]] = []
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._folder = tempfile.mkdtemp(prefix="k8s-fake-")
        self.ca_file: Optional[str] = None

    # configuration -------------------------------------------------------------------------------
    def add_token(
        self,
        token: str,
        user: str = "tester",
        verbs: Sequence[str] = ("*",),
        resources: Sequence[str] = ("*",),
        namespaces: Sequence[str] = ("*",),
        rules: Optional[Sequence[Rule]] = None,
    ) -> str:
        """Register a bearer token; ``rules`` replaces the single rule built from the other arguments."""
        self.tokens[token] = Identity(
            user, list(rules) if rules is not None else [Rule(tuple(verbs), tuple(resources), tuple(namespaces))]
        )
        return token

    def create_namespace(self, name: str) -> None:
        self.cluster.create_namespace({"metadata": {"name": name}})

    def add_service_account_token(
        self, token: str, namespace: str, name: str, uid: Optional[str] = None,
        audiences: Sequence[str] = ("https://kubernetes.default.svc.cluster.local",), may_review: bool = True,
    ) -> str:
        """Register a service account's token for TokenReview; returns the account's uid.

        ``may_review`` also lets the token itself call TokenReview (the ``system:auth-delegator`` binding
        Vault's kubernetes auth method needs when it reviews a login with the login's own token).
        """
        uid = uid or str(uuid.uuid4())
        self.service_accounts[token] = (namespace, name, uid, tuple(audiences))
        rules = [Rule(("create",), ("tokenreviews",), ("*",))] if may_review else []
        self.add_token(token, user=f"system:serviceaccount:{namespace}:{name}", rules=rules)
        return uid

    def review(self, spec: Dict[str, Any]) -> Dict[str, Any]:
        """The ``status`` of a TokenReview of ``spec`` (``token``, optional ``audiences``)."""
        known = self.service_accounts.get(str(spec.get("token") or ""))
        if known is None:
            return {"authenticated": False, "user": {}, "error": "[invalid bearer token, square/go-jose: error in"
                    " cryptographic primitive, token lookup failed]"}
        namespace, name, uid, audiences = known
        wanted = list(spec.get("audiences") or [])
        if wanted and not set(wanted) & set(audiences):
            return {"authenticated": False, "user": {},
                    "error": f"[invalid bearer token, token audiences {list(audiences)} is invalid for the target"
                    f" audiences {wanted}]"}
        return {
            "authenticated": True,
            "user": {"username": f"system:serviceaccount:{namespace}:{name}", "uid": uid,
                     "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]},
            "audiences": wanted or list(audiences),
        }

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "K8sFake":
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        if self.tls:
            self.ca_file, cert, key = make_certificates(self._folder)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.tls_context = context
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="k8s-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def write_kubeconfig(
        self, path: str, token: Optional[str] = None, namespace: str = "default",
        contexts: Optional[Dict[str, str]] = None,
    ) -> str:
        """A kubeconfig the unchanged client loads; ``contexts`` maps extra context names to tokens.

        Written as JSON, which is YAML, so the fake needs no YAML library.
        """
        cluster: Dict[str, Any] = {"server": self.url}
        if self.ca_file:
            with open(self.ca_file, "rb") as handle:
                cluster["certificate-authority-data"] = base64.b64encode(handle.read()).decode("ascii")
        every = {"fake-admin": token or self.admin_token}
        every.update(contexts or {})
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "vibebox-fake", "cluster": cluster}],
            "users": [{"name": f"user-{name}", "user": {"token": tok}} for name, tok in every.items()],
            "contexts": [
                {"name": name, "context": {"cluster": "vibebox-fake", "user": f"user-{name}", "namespace": namespace}}
                for name in every
            ],
            "current-context": "fake-admin",
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
        return path

    # request handling ----------------------------------------------------------------------------
    def _identity(self, headers: Dict[str, str]) -> Identity:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth.startswith("Bearer ") and auth[7:].strip() in self.tokens:
            return self.tokens[auth[7:].strip()]
        raise ApiError(401, "Unauthorized", "Unauthorized")

    @staticmethod
    def _authorize(who: Identity, verb: str, resource: str, namespace: Optional[str], name: Optional[str]) -> None:
        if any(rule.allows(verb, resource, namespace) for rule in who.rules):
            return
        subject = f'{resource} "{name}"' if name else resource
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{subject} is forbidden: User "{who.user}" cannot {verb} resource "{resource}" in API group "" {scope}',
            {"name": name, "kind": resource} if name else {"kind": resource},
        )

    def handle(self, method: str, raw_path: str, headers: Dict[str, str], raw: bytes) -> Tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        segments = [unquote(s) for s in path.strip("/").split("/")] if path != "/" else []
        if path in ("/healthz", "/readyz", "/livez"):
            return 200, "ok"
        if path == "/version":
            return 200, {
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-vibebox-fake", "gitCommit": "0" * 40,
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24",
                "compiler": "gc", "platform": "linux/amd64",
            }
        who = self._identity(headers)
        self.requests.append((method, path, who.user))
        if query.get("watch", ["false"])[0] in ("true", "1") or "watch" in segments[:3]:
            raise ApiError(400, "BadRequest", "watch is not modeled by the vibebox Kubernetes fake")
        if query.get("dryRun"):
            raise ApiError(400, "BadRequest", "dryRun is not modeled by the vibebox Kubernetes fake")
        if path == "/api":
            return 200, {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}],
            }
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if path == "/api/v1":
            return 200, {
                "kind": "APIResourceList", "groupVersion": "v1",
                "resources": [
                    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
                     "verbs": ["create", "delete", "get", "list"], "shortNames": ["ns"]},
                    {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
                     "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update"]},
                ],
            }
        body: Any = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ApiError(400, "BadRequest", f"the request body is not JSON: {exc}") from None
        if segments == ["apis", "authentication.k8s.io", "v1", "tokenreviews"]:
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            self._authorize(who, "create", "tokenreviews", None, None)
            spec = (body or {}).get("spec") if isinstance(body, dict) else None
            if not isinstance(spec, dict) or not spec.get("token"):
                raise ApiError(422, "Invalid", "TokenReview.authentication.k8s.io is invalid: spec.token: Required value")
            return 201, {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                         "metadata": {"creationTimestamp": None}, "spec": spec, "status": self.review(spec)}
        if segments[:2] != ["api", "v1"]:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        rest = segments[2:]
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "").split(";")[0].strip()
        return self._route(method, rest, query, body, content_type, who)

    def _route(self, method: str, rest: List[str], query: Dict[str, List[str]], body: Any,
               content_type: str, who: Identity) -> Tuple[int, Any]:
        cluster = self.cluster
        not_allowed = ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if rest == ["secrets"]:
            if method != "GET":
                raise not_allowed
            self._authorize(who, "list", "secrets", None, None)
            with cluster.lock:
                return 200, _list("Secret", _select(cluster.list_secrets(None), query), cluster.revision)
        if rest == ["namespaces"]:
            if method == "GET":
                self._authorize(who, "list", "namespaces", None, None)
                with cluster.lock:
                    items = [copy.deepcopy(ns) for _n, ns in sorted(cluster.namespaces.items())]
                    return 200, _list("Namespace", _select(items, query), cluster.revision)
            if method == "POST":
                self._authorize(who, "create", "namespaces", None, (body or {}).get("metadata", {}).get("name"))
                return 201, cluster.create_namespace(body if isinstance(body, dict) else {})
            raise not_allowed
        if len(rest) == 2 and rest[0] == "namespaces":
            name = rest[1]
            if method == "GET":
                self._authorize(who, "get", "namespaces", None, name)
                return 200, cluster.get_namespace(name)
            if method == "DELETE":
                self._authorize(who, "delete", "namespaces", None, name)
                return 200, cluster.delete_namespace(name)
            raise not_allowed
        if len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] == "secrets":
            namespace = rest[1]
            if len(rest) == 3:
                if method == "GET":
                    self._authorize(who, "list", "secrets", namespace, None)
                    with cluster.lock:
                        return 200, _list("Secret", _select(cluster.list_secrets(namespace), query), cluster.revision)
                if method == "POST":
                    name = (body or {}).get("metadata", {}).get("name") if isinstance(body, dict) else None
                    self._authorize(who, "create", "secrets", namespace, name)
                    return 201, cluster.create_secret(namespace, body)
                if method == "DELETE":
                    self._authorize(who, "deletecollection", "secrets", namespace, None)
                    with cluster.lock:
                        for item in _select(cluster.list_secrets(namespace), query):
                            cluster.delete_secret(namespace, item["metadata"]["name"], None)
                    return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
                raise not_allowed
            name = rest[3]
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
            if verb is None:
                raise not_allowed
            self._authorize(who, verb, "secrets", namespace, name)
            if method == "GET":
                return 200, cluster.get_secret(namespace, name)
            if method == "PUT":
                return 200, cluster.replace_secret(namespace, name, body)
            if method == "PATCH":
                if content_type not in (
                    "application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json",
                ):
                    raise ApiError(
                        415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include:"
                        " application/json-patch+json, application/merge-patch+json,"
                        f' application/strategic-merge-patch+json (got "{content_type}")',
                    )
                return 200, cluster.patch_secret(namespace, name, body, content_type)
            return 200, cluster.delete_secret(namespace, name, body if isinstance(body, dict) else None)
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the vibebox fake Kubernetes API until interrupted.")
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for the admin token")
    parser.add_argument("--plain-http", action="store_true", help="serve HTTP instead of HTTPS")
    args = parser.parse_args(argv)
    fake = K8sFake(tls=not args.plain_http).start()
    fake.write_kubeconfig(args.kubeconfig)
    print(f"k8s fake listening on {fake.url}; kubeconfig {args.kubeconfig}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
