# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The one interface every provider implements.

Backends receive provider-side names (prefix already applied and checked by names.py) and raise
only core errors, never SDK exceptions, so that SecretManager and the plugins stay provider-blind.
"""
from __future__ import annotations

import abc
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable, Dict, Iterable, List, Optional, TypeVar

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    ReadOnlyProvider,
    SecretError,
    UnsupportedOperation,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata, VersionInfo

T = TypeVar("T")


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
    #: the retry policy of the SecretManager that owns this backend (set by the manager), under which
    #: each_request() retries one request of a multi-request operation; None: no per-request retry
    request_retry: Optional[Any] = None

    def each_request(self, request: Callable[[], T]) -> T:
        """Run one request to the service under the manager's retry policy.

        A provider whose operation takes several requests calls this around each of them, so a
        throttled third request is retried alone instead of the whole operation starting over.
        """
        policy = self.request_retry
        return request() if policy is None else policy.call(request)

    @abc.abstractmethod
    def get(self, name: str, version: Optional[str] = None) -> Secret:
        """Value and metadata of ``version`` (None/'current', 'previous' or a provider id)."""

    def get_many(self, names: Iterable[str]) -> Dict[str, object]:
        """Current value of many names; each entry is a Secret or the SecretError it raised.

        The default fetches concurrently, because one-after-another is what makes a run slow; a
        provider with a batch API overrides it.
        """
        unique = list(dict.fromkeys(names))
        results: Dict[str, object] = {}
        policy = self.request_retry
        tally = policy.current_tally() if policy is not None else None

        def one(item: str) -> object:
            # retries made on the pool's threads count for the caller's call, so the audit log adds up
            with policy.share_tally(tally) if policy is not None else nullcontext():
                try:
                    return self.get(item)
                except SecretError as exc:
                    return exc

        if len(unique) <= 1:
            return {item: one(item) for item in unique}
        with ThreadPoolExecutor(max_workers=min(8, len(unique))) as pool:
            for item, result in zip(unique, pool.map(one, unique)):
                results[item] = result
        return results

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

    def close(self) -> None:
        """Release clients and connections; backends are cheap to make again."""

    def _read_only(self, name: str, alternative: str = "local") -> ReadOnlyProvider:
        return ReadOnlyProvider(
            "this provider is read-only",
            provider=self.name,
            provider_name=name,
            hint=f"Write with a provider that stores secrets (for example provider: {alternative}, vault or aws)",
        )
