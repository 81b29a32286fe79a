# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What crosses the run cache socket for one secret: a value with its metadata, or an error.

Both ends in one file so they cannot drift; the helper encodes, the workers decode only when they
need Secret/SecretError objects (the lookups' common path reads the plain answers, see lookup.py).
An error travels as its type name and fields, never as its text, which is rebuilt from the fields.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata, parse_iso
from ansible_collections.vibebox.secrets.plugins.module_utils.core.options import OPTION_NAMES


def request_options(options: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The provider options of a request, as the helper and the fork that starts it both read them.

    Lookups send all their options; only provider options decide how a secret is read, and
    ``fallback`` is walked by the asker, never by the run cache.
    """
    return {key: value for key, value in (options or {}).items() if key in OPTION_NAMES and key != "fallback"}


def encode_outcome(outcome: object) -> Dict[str, Any]:
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
