# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""SecretManager: the one path from a plugin to a backend.

Every operation goes name check -> cache -> backend (which retries each request) -> audit, so no plugin
can forget a step and no provider has to repeat them.
"""
from __future__ import annotations

import datetime as _dt
import time
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import names as _names
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend, fan_out
from ansible_collections.vibebox.secrets.plugins.module_utils.core.cache import SecretCache
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidSecretValue,
    SecretError,
    SecretNotFound,
    VersionNotFound,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import (
    PREVIOUS,
    Observed,
    Secret,
    SecretMetadata,
    SettingChange,
    VersionInfo,
)
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy, default_policy
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation_tags import (  # noqa: F401 (re-exported)
    PREVIOUS_IGNORING_GRACE,
    grace_for,
    to_moment,
)


class SecretManager:
    def __init__(
        self,
        backend: SecretBackend,
        prefix: Optional[str] = None,
        cache_ttl: float = 300.0,
        audit: Optional[AuditLog] = None,
        retry: Optional[RetryPolicy] = None,
        max_value_bytes: Optional[int] = None,
    ) -> None:
        self.backend = backend
        self.provider = backend.name
        self.prefix = _names.default_prefix(backend.name) if prefix is None else prefix
        if not backend.uses_prefix:
            self.prefix = ""  # the backend's names are whole API paths (SecretBackend.uses_prefix)
        self.cache = SecretCache(cache_ttl)
        self.audit = audit or AuditLog(None, backend.name)
        self.retry = retry or default_policy()
        self.max_value_bytes = max_value_bytes
        #: the clock grace periods are judged by (injectable for tests)
        self.clock: Callable[[], float] = time.time
        #: provider name -> end of the grace of the 'previous' version cached for it
        self._grace_until: Dict[str, Optional[float]] = {}

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        """The backend retries each single request under it (SecretBackend.request): the only retry."""
        self._retry = policy
        self.backend.retry_policy = policy

    # names ---------------------------------------------------------------------------------------
    def provider_name(self, name: str) -> str:
        return _names.to_provider_name(self.provider, name, self.prefix)

    def _run(self, op: str, name: str, call: Callable[[str], object], version: Optional[str] = None):
        try:
            provider_name = self.provider_name(name)
        except SecretError as exc:
            self.audit.record(op, str(name), ok=False, version=version, error=exc)
            raise
        try:
            result = call(provider_name)
        except SecretError as exc:
            exc.with_context(provider=self.provider, name=name, provider_name=provider_name)
            self.audit.record(op, name, ok=False, version=version, error=exc,
                              retries=self.backend.take_retries(provider_name))
            raise
        recorded = version
        if isinstance(result, Secret):
            recorded = result.metadata.version
        elif isinstance(result, SecretMetadata):
            recorded = result.version
        self.audit.record(op, name, ok=True, version=recorded, retries=self.backend.take_retries(provider_name))
        return result

    # reads ---------------------------------------------------------------------------------------
    def get(self, name: str, version: Optional[str] = None, bypass_cache: bool = False) -> Secret:
        """Value and metadata of a version.

        ``previous`` answers as a missing version once the grace period a rotation recorded for it
        has ended (so ``on_missing`` applies and an old JWT key stops verifying tokens);
        PREVIOUS_IGNORING_GRACE reads it anyway.
        """
        key = self._version_key(version)
        asked = PREVIOUS if key == PREVIOUS_IGNORING_GRACE else key
        if not bypass_cache:
            try:
                cached = self.cache.get(self.provider_name(name), key)
            except SecretError:
                cached = None
            if cached is not None:
                if key == PREVIOUS:
                    self._refuse_after_grace(name, cached, self._grace_until.get(self.provider_name(name)))
                return cached
        secret = self._run("get", name, lambda pn: self.backend.get(pn, asked), version=asked)
        if key == PREVIOUS:
            self._check_grace(name, secret)
        self.cache.put(self.provider_name(name), key, secret)
        return secret

    def any_version(self, version: Optional[str]) -> Optional[str]:
        """The version word that reads ``version`` whatever a grace period says (for rollbacks)."""
        return PREVIOUS_IGNORING_GRACE if self._version_key(version) == PREVIOUS else version

    def _version_key(self, version: Optional[str]) -> Optional[str]:
        """None for any word the provider reads as its current version (one cache entry), else the text."""
        return None if self.backend.is_current(version) else str(version)

    def _check_grace(self, name: str, secret: Secret) -> None:
        """Refuse a 'previous' whose grace has ended; the tags come with the read where the provider
        returns the secret's own tags with a version, else from one describe."""
        if self.backend.version_reads_carry_tags:
            tags = secret.metadata.tags
        else:
            try:
                tags = self.describe(name).tags
            except SecretNotFound:
                tags = {}
        applies = grace_for(tags, secret.metadata.version)
        self._grace_until[self.provider_name(name)] = applies  # what a cached copy is checked against later
        self._refuse_after_grace(name, secret, applies)

    def _refuse_after_grace(self, name: str, secret: Secret, grace_until: Optional[float]) -> None:
        if grace_until is None or grace_until > self.clock():
            return
        error = VersionNotFound(
            f"the grace period of its previous version {secret.metadata.version} ended at {to_moment(grace_until)},"
            " so 'previous' is no longer readable",
            provider=self.provider, name=name, provider_name=self.provider_name(name),
            hint="Use the current version; to read the old one anyway (for example to decrypt old data), pass"
                 " ignore_grace: true",
        )
        self.audit.record("get", name, ok=False, version=PREVIOUS, error=error)
        raise error

    def get_many(self, names: Iterable[str], bypass_cache: bool = False) -> Dict[str, object]:
        """Current values of many names in as few backend calls as the provider allows.

        Each result is a Secret or the SecretError for that name, so one missing secret does not
        hide the others (lookups decide per term what a failure means).
        """
        results: Dict[str, object] = {}
        wanted: Dict[str, str] = {}
        for name in dict.fromkeys(names):
            try:
                provider_name = self.provider_name(name)
            except SecretError as exc:
                self.audit.record("get", str(name), ok=False, error=exc)
                results[name] = exc
                continue
            cached = None if bypass_cache else self.cache.get(provider_name, None)
            if cached is not None:
                results[name] = cached
            else:
                wanted[provider_name] = name
        if wanted:
            fetched = self.backend.get_many(list(wanted))
            for provider_name, name in wanted.items():
                outcome = fetched.get(provider_name) or SecretNotFound("not returned by the batch read")
                # a batch request's retries are counted under its first name, so the audit log adds up
                retries = self.backend.take_retries(provider_name)
                if isinstance(outcome, SecretError):
                    outcome.with_context(provider=self.provider, name=name, provider_name=provider_name)
                    self.audit.record("get", name, ok=False, error=outcome, retries=retries)
                else:
                    self.cache.put(provider_name, None, outcome)
                    self.audit.record("get", name, ok=True, version=outcome.metadata.version, retries=retries)
                results[name] = outcome
        return results

    def describe(self, name: str) -> SecretMetadata:
        meta = self._run("describe", name, self.backend.describe)
        meta.name = name
        return meta

    def versions(self, name: str) -> List[VersionInfo]:
        return self._run("versions", name, self.backend.versions)

    def list(self) -> List[str]:
        try:
            found = self.backend.list(self.prefix)
        except SecretError as exc:
            exc.with_context(provider=self.provider)
            self.audit.record("list", self.prefix or "*", ok=False, error=exc, retries=self.backend.take_retries(None))
            raise
        self.audit.record("list", self.prefix or "*", ok=True, retries=self.backend.take_retries(None))
        logical = (_names.to_logical_name(self.provider, item, self.prefix) for item in found)
        return sorted(item for item in logical if item)

    # writes --------------------------------------------------------------------------------------
    def check_value(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise InvalidSecretValue(
                f"the value must be a string (got {type(value).__name__})",
                provider=self.provider,
                name=name,
                hint="Quote it in YAML or convert it with | string, or | to_json for structured data",
            )
        if value == "":
            raise InvalidSecretValue("the value is empty", provider=self.provider, name=name,
                                     hint="Give a value, or use state: absent to remove the secret")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidSecretValue("the value is not valid UTF-8 text", provider=self.provider, name=name,
                                     hint="Encode binary data, e.g. with | b64encode")
        if self.max_value_bytes and size > self.max_value_bytes:
            raise InvalidSecretValue(
                f"the value is {size} bytes; provider '{self.provider}' accepts at most {self.max_value_bytes}",
                provider=self.provider,
                name=name,
                hint="Store large data elsewhere and keep only a key or reference here",
            )
        return value

    def set(
        self, name: str, value: str, description: Optional[str] = None, tags: Optional[Dict[str, str]] = None,
        expect_version: Optional[str] = None,
    ) -> SecretMetadata:
        """Create the secret or add a version.

        ``expect_version`` makes the write conditional (check-and-set): it happens only while the
        current version is that one (``""``: only while the secret does not exist), else the backend
        raises SecretConflict and writes nothing. None writes unconditionally.
        """
        self.check_value(name, value)
        provider_name = self.provider_name(name)
        condition = {} if expect_version is None else {"expect_version": str(expect_version)}
        try:
            meta = self._run("set", name, lambda pn: self.backend.set(pn, value, description, tags, **condition))
        finally:
            self.cache.invalidate(provider_name)
        meta.name = name
        return meta

    def update_metadata(
        self, name: str, description: Optional[str] = None, tags: Optional[Dict[str, str]] = None
    ) -> SecretMetadata:
        provider_name = self.provider_name(name)
        try:
            meta = self._run("update", name, lambda pn: self.backend.update_metadata(pn, description, tags))
        finally:
            self.cache.invalidate(provider_name)
        meta.name = name
        return meta

    @property
    def native_expiry(self) -> bool:
        """Whether the provider keeps an expiry of its own (else it is a tag, written with the tags)."""
        return self.backend.native_expiry

    @property
    def clears_expiry(self) -> bool:
        """Whether set_expiry(name, None) can remove an expiry on this provider."""
        return self.backend.clears_expiry

    def set_expiry(self, name: str, expires_at: Optional[_dt.datetime],
                   tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        """Store when the secret expires, or remove its expiry with None (SecretBackend.set_expiry), audited
        as an ``update``."""
        provider_name = self.provider_name(name)
        try:
            meta = self._run("update", name, lambda pn: self.backend.set_expiry(pn, expires_at, tags))
        finally:
            self.cache.invalidate(provider_name)
        meta.name = name
        return meta

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        provider_name = self.provider_name(name)
        try:
            self._run("delete", name, lambda pn: self.backend.delete(pn, recovery_days, force))
        finally:
            self.cache.invalidate(provider_name)

    def restore(self, name: str) -> SecretMetadata:
        provider_name = self.provider_name(name)
        try:
            meta = self._run("restore", name, self.backend.restore)
        finally:
            self.cache.invalidate(provider_name)
        meta.name = name
        return meta

    def delete_version(self, name: str, version: str) -> None:
        provider_name = self.provider_name(name)
        try:
            self._run("delete_version", name, lambda pn: self.backend.delete_version(pn, version), version=version)
        finally:
            self.cache.invalidate(provider_name)

    # lean writes ---------------------------------------------------------------------------------
    def observe(self, name: str, value: Optional[str] = None, need_metadata: bool = True) -> Optional[Observed]:
        """The one read before a write (SecretBackend.observe): None when the secret does not exist.

        Audited as a ``get`` when a value was asked about, else as a ``describe``.
        """
        op = "describe" if value is None else "get"
        observed = self._run(op, name, lambda pn: self.backend.observe(pn, value, need_metadata))
        if observed is not None:
            observed.metadata.name = name
        return observed

    def observe_many(self, wanted: List[Tuple[str, Optional[str], bool]]) -> Dict[str, object]:
        """observe() of many (name, value, need_metadata) at once: name -> Observed, None (absent) or the
        SecretError of that name, so one failing secret does not hide the others. Concurrent, or in
        batch requests where the provider has them (SecretBackend.observe_many)."""
        results: Dict[str, object] = {}
        by_provider: Dict[str, Tuple[str, Optional[str], bool]] = {}
        for name, value, need in wanted:
            try:
                by_provider[self.provider_name(name)] = (name, value, need)
            except SecretError as exc:
                self.audit.record("get", str(name), ok=False, error=exc)
                results[name] = exc
        if not by_provider:
            return results
        found = self.backend.observe_many([(pn, value, need) for pn, (_n, value, need) in by_provider.items()])
        for provider_name, (name, value, _need) in by_provider.items():
            outcome = found.get(provider_name)
            op = "describe" if value is None else "get"
            retries = self.backend.take_retries(provider_name)
            if isinstance(outcome, SecretError):
                outcome.with_context(provider=self.provider, name=name, provider_name=provider_name)
                self.audit.record(op, name, ok=False, error=outcome, retries=retries)
            else:
                if outcome is not None:
                    outcome.metadata.name = name
                self.audit.record(op, name, ok=True, version=outcome.metadata.version if outcome else None,
                                  retries=retries)
            results[name] = outcome
        return results

    def existing(self, names: Iterable[str]) -> Optional[set]:
        """The logical names among ``names`` that the store has, from listings; None when the provider
        cannot tell without reading each (SecretBackend.existing). A failed listing also answers None."""
        by_provider = {}
        for name in names:
            try:
                by_provider[self.provider_name(name)] = name
            except SecretError:
                continue
        try:
            found = self.backend.existing(list(by_provider))
        except SecretError as exc:
            self.audit.record("list", self.prefix or "*", ok=False, error=exc, retries=self.backend.take_retries(None))
            return None
        if found is None:
            return None
        self.audit.record("list", self.prefix or "*", ok=True, retries=self.backend.take_retries(None))
        return {by_provider[item] for item in found if item in by_provider}

    def write_observed(self, name: str, value: Optional[str], description: Optional[str],
                       tags: Optional[Dict[str, str]], observed: Optional[Observed]) -> SecretMetadata:
        """The write alone, with what observe() saw; ``value`` None changes only description and tags."""
        if value is not None:
            self.check_value(name, value)
        provider_name = self.provider_name(name)
        op = "update" if value is None else "set"
        try:
            meta = self._run(op, name, lambda pn: self.backend.write_observed(pn, value, description, tags, observed))
        finally:
            self.cache.invalidate(provider_name)
        meta.name = name
        return meta

    # provider-side settings ------------------------------------------------------------------------
    @property
    def manages_settings(self) -> bool:
        return self.backend.manages_settings

    def settings_changes(self, name: str, observed: Optional[Observed] = None,
                         creating: bool = False) -> List[SettingChange]:
        """Which provider-side settings (SecretBackend.settings_changes) the task would change."""
        if not self.backend.manages_settings:
            return []
        return self._run("describe", name, lambda pn: self.backend.settings_changes(pn, observed, creating))

    def apply_settings(self, name: str, changes: List[SettingChange], creating: bool = False) -> None:
        """Write the settings ``changes`` after the value (audited as an ``update``)."""
        if not changes:
            return
        provider_name = self.provider_name(name)
        try:
            self._run("update", name, lambda pn: self.backend.apply_settings(pn, changes, creating))
        finally:
            self.cache.invalidate(provider_name)

    # housekeeping --------------------------------------------------------------------------------
    def close(self) -> None:
        self.backend.close()


def read_items(
    manager: "SecretManager",
    items: List[Tuple[str, Optional[str]]],
    bypass_cache: bool = False,
    unexpected: Optional[Callable[[BaseException], SecretError]] = None,
) -> Dict[Tuple[str, Optional[str]], object]:
    """(name, version) -> Secret or SecretError: current versions in one get_many (one batch call
    where the service has one), other versions concurrently, because one after another is what makes
    a run slow. The lookups' direct reads, the run cache helper and the fork that starts it all read
    this way. ``unexpected`` turns any other exception into an error outcome (the helper must answer
    every asker); without it such an exception propagates.
    """
    results: Dict[Tuple[str, Optional[str]], object] = {}
    current = [name for name, version in items if version is None]
    others = [item for item in dict.fromkeys(items) if item[1] is not None]
    if current:
        try:
            found = manager.get_many(current, bypass_cache=bypass_cache)
        except SecretError as exc:
            found = {name: exc for name in current}
        except Exception as exc:
            if unexpected is None:
                raise
            found = {name: unexpected(exc) for name in current}
        for name in current:
            outcome = found.get(name)
            results[(name, None)] = outcome if outcome is not None else SecretNotFound(
                "not returned by the batch read", name=name)

    def one(item: Tuple[str, Optional[str]]) -> object:
        try:
            return manager.get(item[0], version=item[1], bypass_cache=bypass_cache)
        except SecretError as exc:
            return exc
        except Exception as exc:
            if unexpected is None:
                raise
            return unexpected(exc)

    results.update(fan_out(one, others))
    return results
