# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What crosses the run cache socket: framing (4-byte length + JSON) and one secret's answer.

Both ends in one file so they cannot drift. An answer is ``{"value": ..., "metadata": {...}}`` or
``{"error": {...}}``; an error travels as its type name and fields, never as its text, which is
rebuilt from the fields. The core is imported only inside the functions that need it: a worker fork
whose secrets all came back as values never decodes anything (reading.Outcomes).

This file must not import ``ansible``: the helper runs with only the collection on sys.path.
"""
from __future__ import annotations

import json
import socket
import struct
from typing import Any, Dict, Mapping, Optional, Tuple

PROTOCOL = 4
MAX_MESSAGE = 64 * 1024 * 1024

Item = Tuple[str, Optional[str]]


def send(sock: socket.socket, message: Mapping[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
    sock.sendall(struct.pack("!I", len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> Optional[bytes]:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> Optional[Dict[str, Any]]:
    header = _recv_exact(sock, 4)
    if header is None:
        return None
    (size,) = struct.unpack("!I", header)
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes is larger than {MAX_MESSAGE}")
    body = _recv_exact(sock, size)
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def peer_ids(sock: socket.socket) -> Optional[Tuple[int, int]]:
    """(pid, uid) of the process at the other end (Linux SO_PEERCRED); None where the OS cannot say."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    data = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", data)
    return pid, uid


def peer_uid(sock: socket.socket) -> Optional[int]:
    """uid of the process at the other end; None where the OS cannot say."""
    ids = peer_ids(sock)
    return None if ids is None else ids[1]


def request_options(options: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The provider options of a request: lookups send all their options, but only provider options
    decide how a secret is read, and ``fallback`` is walked by the asker, never by the run cache."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.options import OPTION_NAMES

    return {key: value for key, value in (options or {}).items() if key in OPTION_NAMES and key != "fallback"}


def encode_outcome(outcome: object) -> Dict[str, Any]:
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret

    if isinstance(outcome, Secret):
        return {"value": outcome.value, "metadata": outcome.metadata.to_dict()}
    if isinstance(outcome, _errors.SecretError):
        return {"error": {
            "type": type(outcome).__name__,
            "reason": outcome.reason,
            "provider": outcome.provider,
            "name": outcome.name,
            "provider_name": outcome.provider_name,
            "hint": outcome.hint,
            "retryable": getattr(outcome, "retryable", None),
            "package": getattr(outcome, "package", None),
        }}
    # never str(outcome): an unexpected object might carry a value
    return {"error": {"type": "ProviderUnavailable", "reason": f"unexpected {type(outcome).__name__} from the provider"}}


_METADATA_FIELDS = ("name", "version", "created_at", "updated_at", "expires_at", "tags", "description",
                    "stages", "provider_name", "deleted_at", "versions_count")
_DATE_FIELDS = ("created_at", "updated_at", "expires_at", "deleted_at")


def decode_outcome(data: Mapping[str, Any]) -> object:
    """An answer -> Secret or SecretError (imports the core: only askers that need objects call it)."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata, parse_iso

    if "value" in data:
        raw = data.get("metadata") or {}
        meta = {key: raw.get(key) for key in _METADATA_FIELDS if key in raw}
        for key in _DATE_FIELDS:
            if meta.get(key):
                meta[key] = parse_iso(meta[key])
        meta["tags"] = dict(meta.get("tags") or {})
        meta["stages"] = list(meta.get("stages") or [])
        return Secret(data["value"], SecretMetadata(**meta))
    error = data.get("error") or {}
    cls = getattr(_errors, str(error.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, _errors.SecretError)):
        cls = _errors.ProviderUnavailable
    exc = cls.__new__(cls)
    _errors.SecretError.__init__(exc, error.get("reason") or "unknown error", provider=error.get("provider"),
                                 name=error.get("name"), provider_name=error.get("provider_name"),
                                 hint=error.get("hint"))
    if error.get("retryable") is not None:
        exc.retryable = error["retryable"]
    if error.get("package") is not None:
        exc.package = error["package"]
    return exc
