# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The one interface every provider implements.

Backends receive provider-side names (prefix already applied and checked by names.py) and raise
only core errors, never SDK exceptions, so that SecretManager and the plugins stay provider-blind.
"""
from __future__ import annotations

import abc
import datetime as _dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, TypeVar

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    ReadOnlyProvider,
    SecretDeleted,
    SecretError,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    Observed,
    Secret,
    SecretMetadata,
    SettingChange,
    VersionInfo,
    is_current,
)

T = TypeVar("T")
K = TypeVar("K")

#: guards the retry counts of every backend (held for a dict update only)
_COUNT_LOCK = threading.Lock()
#: most requests one fan_out() has in flight: enough to hide latency, few enough not to be throttled
FAN_OUT_WORKERS = 8


def fan_out(work: Callable[[K], T], items: Sequence[K]) -> Dict[K, T]:
    """``{item: work(item)}``, concurrently when there is more than one item.

    Reads one after another are what makes a run slow; every place that reads or checks many names
    at once uses this one pool, so the bound on requests in flight is the same everywhere. ``work``
    must return its errors rather than raise them, so one failing item does not hide the others.
    """
    if len(items) <= 1:
        return {item: work(item) for item in items}
    with ThreadPoolExecutor(max_workers=min(FAN_OUT_WORKERS, len(items))) as pool:
        return dict(zip(items, pool.map(work, items)))


class SecretBackend(abc.ABC):
    #: the provider's name as users type it (``provider: vault``)
    name = "abstract"
    read_only = False
    #: whether ``previous`` and version ids mean anything for this provider
    supports_versions = True
    #: whether delete() keeps the secret recoverable
    supports_restore = True
    #: how many names one get_many call may fetch at once when the service has a batch API
    batch_size = 0
    #: whether get() of an older version returns the secret's own (current) tags in its metadata, so
    #: the grace of 'previous' is judged without one more describe call
    version_reads_carry_tags = False
    #: the retry policy of the SecretManager that owns this backend (set by the manager); request()
    #: retries each request under it. None: no retry (a backend used without a manager)
    retry_policy: Optional[Any] = None
    #: whether the manager puts its prefix before a name; False where a name is an API path the user
    #: gives whole (a dynamic secret's ``database/creds/app``), so no prefix can misdirect it
    uses_prefix = True
    #: whether the service keeps an expiry date of its own (Azure ``exp``, GCP ``expire_time``); otherwise the
    #: expiry is the tag expiry.EXPIRY_TAG, written with the tags (see set_expiry)
    native_expiry = False
    #: set_expiry(name, None) removes an expiry (False: the service cannot, and the module refuses it first)
    clears_expiry = True

    def request(self, send: Callable[[], T], key: Optional[str] = None) -> T:
        """Send one request to the service, retried alone under the manager's policy.

        Every request a provider makes goes through here, and this is the only retry: an operation
        of several requests is never started over, because that multiplies the odds of giving up.
        ``key`` is the provider-side name the request is about (the first name for a batch, None for
        a request about no secret); the retries are counted under it until take_retries() reports
        them, so the audit entry of each name says how often its requests were retried.
        """
        policy = self.retry_policy
        if policy is None:
            return send()
        return policy.call(send, on_retry=lambda: self._count_retry(key))

    def _count_retry(self, key: Optional[str]) -> None:
        with _COUNT_LOCK:
            counts = self.__dict__.setdefault("_retry_counts", {})
            counts[key] = counts.get(key, 0) + 1

    def take_retries(self, key: Optional[str]) -> int:
        """Retries of the requests about ``key`` since the last call (for its audit entry), and reset."""
        with _COUNT_LOCK:
            return self.__dict__.get("_retry_counts", {}).pop(key, 0)

    def is_current(self, version: Optional[str]) -> bool:
        """Whether ``version`` means the current version (model.is_current plus the provider's own words)."""
        return is_current(version)

    @abc.abstractmethod
    def get(self, name: str, version: Optional[str] = None) -> Secret:
        """Value and metadata of ``version`` (None/'current', 'previous' or a provider id)."""

    def get_many(self, names: Iterable[str]) -> Dict[str, object]:
        """Current value of many names; each entry is a Secret or the SecretError it raised.

        The default fetches concurrently, because one-after-another is what makes a run slow; a
        provider with a batch API overrides it.
        """
        def one(item: str) -> object:
            try:
                return self.get(item)
            except SecretError as exc:
                return exc

        return fan_out(one, list(dict.fromkeys(names)))

    @abc.abstractmethod
    def set(
        self,
        name: str,
        value: str,
        description: Optional[str] = None,
        tags: Optional[Dict[str, str]] = None,
        expect_version: Optional[str] = None,
    ) -> SecretMetadata:
        """Create the secret or add a version; description/tags None means 'leave as is'.

        With ``expect_version`` the write is conditional: it is made only while the current version
        is that id (``""``: only while the secret does not exist), with the service's own
        check-and-set where it has one; otherwise SecretConflict is raised and nothing is written.
        The manager passes it only when set, so a backend without it still works unconditionally.
        """

    def update_metadata(
        self, name: str, description: Optional[str] = None, tags: Optional[Dict[str, str]] = None
    ) -> SecretMetadata:
        """Change description and/or tags without adding a version."""
        raise UnsupportedOperation(f"provider '{self.name}' cannot change metadata without a new value")

    def instance_id(self) -> Optional[str]:
        """An id of the server behind this backend that does not depend on how it is addressed (None: the provider
        has none). A move compares it so that one store reached at two addresses is never moved into itself."""
        return None

    def set_expiry(self, name: str, expires_at: Optional[_dt.datetime],
                   tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        """Store when the secret expires, or remove its expiry (``expires_at`` None). The default writes the
        tag expiry.EXPIRY_TAG with the tags: ``tags`` are the secret's current ones when the caller knows
        them (saves a read). A provider whose service has an expiry field (``native_expiry``) overrides this
        to write it there; every provider's describe() returns the date as ``expires_at`` from where it
        stored it."""
        if tags is None:
            tags = self.describe(name).tags
        return self.update_metadata(name, None, expiry.with_tag(tags, expiry.CLEAR if expires_at is None else expires_at))

    @abc.abstractmethod
    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        """Delete (soft where the service can, for ``recovery_days``); ``force`` deletes for good."""

    def restore(self, name: str) -> SecretMetadata:
        raise UnsupportedOperation(f"provider '{self.name}' cannot restore a deleted secret")

    @abc.abstractmethod
    def describe(self, name: str) -> SecretMetadata:
        """Metadata only, never the value."""

    def versions(self, name: str) -> List[VersionInfo]:
        meta = self.describe(name)
        return [VersionInfo(version=meta.version or "current", created_at=meta.updated_at, stages=["current"])]

    def delete_version(self, name: str, version: str) -> None:
        """Destroy one old version (cleanup after a rotation's grace)."""
        raise UnsupportedOperation(f"provider '{self.name}' keeps no old versions to delete")

    @abc.abstractmethod
    def list(self, prefix: str = "") -> List[str]:
        """Provider-side names starting with ``prefix`` (deleted ones excluded)."""

    def identity(self) -> Dict[str, str]:
        """Facts that tell this target from another one of the same provider: never a credential or value.

        A migration's backup records them, so that its rollback refuses to write into another store
        (another account, server, mount or file) than the one the migration changed. Providers add
        what addresses their store; two targets with equal identities are the same store.
        """
        return {"provider": self.name}

    def release_leases(self, lease_ids: List[str]) -> None:
        """Called by the run cache helper when the run ends, with the leases of the dynamic secrets it
        handed out through this backend; a backend whose options ask for it revokes them. Default: keep
        them (they end with their TTL)."""

    def close(self) -> None:
        """Release clients and connections; backends are cheap to make again."""

    def _read_only(self, name: str, alternative: str = "local") -> ReadOnlyProvider:
        return ReadOnlyProvider(
            "this provider is read-only",
            provider=self.name,
            provider_name=name,
            hint=f"Write with a provider that stores secrets (for example provider: {alternative}, vault or aws)",
        )

    # lean writes: one read before a write, then the write alone --------------------------------------
    def observe(self, name: str, value: Optional[str] = None, need_metadata: bool = True) -> Optional[Observed]:
        """What a write of ``value`` (None: metadata only) must know of the secret, or None when it is absent.

        The default reads the metadata, then the value when one is asked about and the secret is not
        deleted: two requests. A provider whose read returns value, version and metadata together (or
        can tell an equal value from the version id) overrides it to make that one request; then a
        module run is one request for an unchanged secret and two for a changed one.
        ``need_metadata`` False says the task gives neither description nor tags.
        """
        try:
            meta = self.describe(name)
        except SecretNotFound:
            return None
        current = None
        if value is not None and meta.deleted_at is None:
            current = self.get(name).value
        return Observed(meta, value=current)

    def write_observed(self, name: str, value: Optional[str], description: Optional[str],
                       tags: Optional[Dict[str, str]], observed: Optional[Observed]) -> SecretMetadata:
        """Write what observe() saw differ: ``value`` (None: only description and tags).

        The default is set() or update_metadata(), which read again; a provider that overrides
        observe() writes here with what that read saw (its version for check-and-set, its tags).
        """
        if value is None:
            return self.update_metadata(name, description, tags)
        return self.set(name, value, description, tags)

    def observe_many(self, wanted: Sequence[Tuple[str, Optional[str], bool]]) -> Dict[str, object]:
        """observe() of many (name, value, need_metadata): name -> Observed, None or its SecretError.

        Values with no metadata to compare come from get_many() (one batch request per page where the
        service has one, e.g. AWS BatchGetSecretValue); the others, and a secret the read says is
        deleted, are observed one by one, concurrently. A provider whose observe() is a single read
        that its write_observed() needs (Vault) observes every name instead.
        """
        batched = [name for name, value, need in wanted if value is not None and not need]
        results: Dict[str, object] = {}
        for name, outcome in (self.get_many(batched) if batched else {}).items():
            if isinstance(outcome, Secret):
                outcome.metadata.stages = ["current"]
                results[name] = Observed(outcome.metadata, value=outcome.value, metadata_known=False)
            elif isinstance(outcome, SecretNotFound) and not isinstance(outcome, VersionNotFound):
                results[name] = None
            elif not isinstance(outcome, SecretDeleted):
                results[name] = outcome
        rest = [entry for entry in wanted if entry[0] not in results]
        return {**results, **self._observe_each(rest)}

    def _observe_each(self, wanted: Sequence[Tuple[str, Optional[str], bool]]) -> Dict[str, object]:
        def one(entry: Tuple[str, Optional[str], bool]) -> object:
            try:
                return self.observe(*entry)
            except SecretError as exc:
                return exc

        return {entry[0]: outcome for entry, outcome in fan_out(one, list(wanted)).items()}

    # provider-side settings of a secret (replicas, the provider's own rotation) --------------------
    @property
    def manages_settings(self) -> bool:
        """Whether this backend's options ask for settings that the secret module keeps in step on every
        run (so its one read before a write must carry the metadata). Default: none."""
        return False

    def settings_changes(self, name: str, observed: Optional[Observed], creating: bool) -> List[SettingChange]:
        """The settings that differ from what the options ask for, decided before any write.

        ``creating``: the secret does not exist yet (compare with nothing). ``observed`` is the module's
        read, reused where it carries what the provider needs; bad option combinations raise here, so
        they fail before anything is written.
        """
        return []

    def apply_settings(self, name: str, changes: Sequence[SettingChange], creating: bool) -> None:
        """Write ``changes`` (from settings_changes), after the value; ``creating``: it was just created."""

    def existing(self, names: Sequence[str]) -> Optional[Set[str]]:
        """Which of ``names`` the store has (soft-deleted ones included), from listings, or None when the
        provider cannot tell cheaper than reading each name. A plan reads only the names listed: a name
        that is not there is created without a read (its write is conditional where the service can)."""
        return None
