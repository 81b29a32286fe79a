# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The provider-neutral shape of a secret, so plugins never see an SDK object."""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry

#: versions a caller may ask for besides a provider's own version id
CURRENT = "current"
PREVIOUS = "previous"
#: every word that means "the current version" whatever the provider ('latest' is GCP's alias and
#: what many users type); a provider adds its own (AWS: AWSCURRENT) in SecretBackend.is_current
CURRENT_WORDS = (None, "", CURRENT, "latest")


def is_current(version: Optional[str]) -> bool:
    """Whether ``version`` asks for the current version: one list for every provider, the cache and
    the lookups' batching, so that 'latest' is read (and batched) like 'current'."""
    return version in CURRENT_WORDS


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso(moment: Optional[_dt.datetime]) -> Optional[str]:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_iso(text: Optional[str]) -> Optional[_dt.datetime]:
    if not text:
        return None
    value = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


#: the key of fingerprint(): random per process, so a fingerprint compares values within one message and
#: cannot be checked against a guess (a bare hash of a short value can be found by trying values)
_FINGERPRINT_KEY = os.urandom(32)


def fingerprint(value: str) -> str:
    """A short tag of a value, for telling two values apart in one message without showing either (HMAC-SHA256
    under a key of this process, 12 hex): equal values give equal tags here, and nothing outside can test a guess."""
    return hmac.new(_FINGERPRINT_KEY, value.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


@dataclass
class VersionInfo:
    version: str
    created_at: Optional[_dt.datetime] = None
    stages: List[str] = field(default_factory=list)
    enabled: bool = True
    destroyed: bool = False

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["created_at"] = iso(self.created_at)
        return data


@dataclass
class SecretMetadata:
    name: str
    version: Optional[str] = None
    created_at: Optional[_dt.datetime] = None
    updated_at: Optional[_dt.datetime] = None
    expires_at: Optional[_dt.datetime] = None
    tags: Dict[str, str] = field(default_factory=dict)
    description: Optional[str] = None
    stages: List[str] = field(default_factory=list)
    provider_name: Optional[str] = None
    deleted_at: Optional[_dt.datetime] = None
    versions_count: Optional[int] = None
    #: the provider's own rotation of this secret when it has one, e.g. {"by": "aws-lambda",
    #: "lambda": ARN, "next": ISO time}; None when the provider does not rotate it
    rotation: Optional[Dict[str, Any]] = None

    def __post_init__(self) -> None:
        # a provider without an expiry field of its own keeps it as the expiry tag (core/expiry.py): every
        # metadata built from tags answers expires_at from them, so no provider has to remember to
        if self.expires_at is None and self.tags:
            self.expires_at = _expiry.from_tags(self.tags)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly form for module results; holds no value by construction."""
        data = asdict(self)
        for key in ("created_at", "updated_at", "expires_at", "deleted_at"):
            data[key] = iso(getattr(self, key))
        return data


@dataclass
class Secret:
    value: str
    metadata: SecretMetadata

    def __repr__(self) -> str:  # never show the value, even in a traceback's locals
        return f"Secret(name={self.metadata.name!r}, version={self.metadata.version!r}, value=<hidden>)"

    __str__ = __repr__


@dataclass
class SettingChange:
    """One provider-side setting of a secret that the task's provider options ask to change.

    Settings are what a provider keeps about a secret besides value, description and tags (AWS replica
    regions, AWS's own rotation schedule). The provider decides and applies them; the module only lists
    ``field`` in its changes and shows ``before``/``after`` in the diff, so neither may hold a value.
    """

    field: str
    before: Any
    after: Any


@dataclass
class Observed:
    """What one read before a write saw of a secret, so the write needs no read of its own.

    A module run compares the task with this and writes only what differs; the backend's
    write_observed() then sends the write alone (check-and-set against ``metadata.version`` where the
    service has it). Fields a provider could not learn from the one read say so: ``value`` is None when
    the value was not read (``same_value`` may still tell, from a version id derived from the value),
    and ``metadata_known`` is False when description and tags were not part of the answer.
    """

    metadata: SecretMetadata
    #: the current value when the read returned it (never shown: see __repr__)
    value: Optional[str] = None
    #: True when the provider knows the current value equals the one asked about without reading it
    same_value: Optional[bool] = None
    #: whether metadata.description and metadata.tags are what the provider holds
    metadata_known: bool = True
    #: the provider's own answer, for its write_observed() (private to the provider)
    raw: Any = None

    @property
    def deleted(self) -> bool:
        return self.metadata.deleted_at is not None

    def __repr__(self) -> str:  # never show the value, even in a traceback's locals
        return f"Observed(name={self.metadata.name!r}, version={self.metadata.version!r}, value=<hidden>)"

    __str__ = __repr__
