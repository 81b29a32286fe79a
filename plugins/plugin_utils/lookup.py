# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Base class of the collection's lookups: options -> SecretManager, core errors -> Ansible errors.

Every read of a lookup or filter goes through ``fetch_items`` so the run cache (run_cache.py) sits in
exactly one place. ``manager()`` hands out a lazy manager: when the run cache answers, the worker
never builds a client, so it never imports the provider's SDK (the helper process does, once).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory as _factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import resolve_audit_path
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret
from ansible_collections.vibebox.secrets.plugins.plugin_utils import run_cache as _run_cache

display = Display()

#: one manager per distinct option set in this process, so repeated lookups share one client and cache
_MANAGERS: Dict[tuple, SecretManager] = {}

ON_FAILURE_CHOICES = ("error", "warn", "skip")

Item = Tuple[str, Optional[str]]
_CURRENT = (None, "", "current")
_warned_fallback = False


def _options_key(resolved: Mapping[str, Any], provider: Optional[str]) -> tuple:
    return (provider,) + tuple((key, repr(resolved.get(key))) for key in _options.OPTION_NAMES)


def _version(version: Optional[str]) -> Optional[str]:
    return None if version in _CURRENT else str(version)


class LazySecretManager:
    """A SecretManager that is built only when something other than a read needs it.

    ``provider`` is known at once (detection reads only the environment); everything else is
    delegated to the real manager, built on first use and shared through ``_MANAGERS``.
    """

    def __init__(self, raw: Mapping[str, Any], forced: Optional[str] = None) -> None:
        self.raw = dict(raw)
        self.forced = forced
        resolved = _options.with_environment(self.raw)
        self.provider = _factory.normalise_provider(forced) or _factory.detect_provider(resolved)
        self._real: Optional[SecretManager] = None

    def real(self) -> SecretManager:
        if self._real is None:
            self._real = direct_manager(self.raw, self.forced)
        return self._real

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") or attribute in ("raw", "forced", "provider", "_real"):
            raise AttributeError(attribute)
        return getattr(self.real(), attribute)

    def __repr__(self) -> str:
        return f"LazySecretManager(provider={self.provider!r})"


def direct_manager(raw: Mapping[str, Any], provider: Optional[str] = None) -> SecretManager:
    """The in-process manager for these options (raises core errors)."""
    key = _options_key(raw, provider)
    found = _MANAGERS.get(key)
    if found is None:
        found = _factory.build_manager(raw, provider=provider)
        _MANAGERS[key] = found
    return found


def forced_provider(raw: Mapping[str, Any], provider: Optional[str] = None) -> Optional[str]:
    """ENABLE_SECRET_MANAGER=false (the seed's development mode) reads from env unless a provider is given."""
    if provider is None and not raw.get("provider") and not _options.secret_manager_enabled():
        return "env"
    return provider


def cache_request(raw: Mapping[str, Any], forced: Optional[str]) -> Tuple[str, Dict[str, Any]]:
    """Provider and fully resolved options to send to the run cache helper.

    Everything the environment contributes is resolved here, in the asking process, so the helper
    builds exactly the manager this process would have built.
    """
    resolved = _options.with_environment(raw)
    provider = _factory.normalise_provider(forced) or _factory.detect_provider(resolved)
    resolved["provider"] = provider
    resolved["prefix"] = _factory.resolve_prefix(provider, resolved)
    resolved["audit_log"] = resolve_audit_path(resolved.get("audit_log")) or "false"
    ttl = resolved.get("cache_ttl")
    try:
        resolved["cache_ttl"] = _factory.DEFAULT_CACHE_TTL if ttl in (None, "") else float(ttl)
    except (TypeError, ValueError):
        raise _errors.InvalidOption(f"cache_ttl must be a number of seconds (got '{ttl}')") from None
    resolved.pop("fallback", None)  # the asking side walks the fallback chain
    return provider, resolved


def _use_run_cache(provider: str, ttl: float) -> bool:
    # env reads cost nothing; ttl 0 means "always ask the service"
    return provider != "env" and ttl > 0 and _run_cache.enabled()


def _warn_fallback(reason: str, warn: Callable[[str], None]) -> None:
    global _warned_fallback
    if not _warned_fallback:
        _warned_fallback = True
        warn(f"vibebox.secrets: the run cache is not available ({reason}); reading the provider directly"
             " from every fork. Set VIBEBOX_RUN_CACHE=false to silence this.")


def _direct(manager: SecretManager, items: Sequence[Item], bypass: bool) -> Dict[Item, object]:
    """Current versions in one get_many; other versions concurrently, not one after another."""
    results: Dict[Item, object] = {}
    current = [name for name, version in items if version is None]
    others = [item for item in items if item[1] is not None]
    if current:
        try:
            found = manager.get_many(current, bypass_cache=bypass)
        except _errors.SecretError as exc:
            found = {name: exc for name in current}
        for name in current:
            results[(name, None)] = found.get(name) or _errors.SecretNotFound("not returned by the batch read", name=name)

    def one(item: Item) -> object:
        try:
            return manager.get(item[0], version=item[1], bypass_cache=bypass)
        except _errors.SecretError as exc:
            return exc

    if len(others) == 1:
        results[others[0]] = one(others[0])
    elif others:
        with ThreadPoolExecutor(max_workers=min(8, len(others))) as pool:
            for item, outcome in zip(others, pool.map(one, others)):
                results[item] = outcome
    return results


def fetch_items(raw: Mapping[str, Any], forced: Optional[str], items: Iterable[Item], bypass: bool = False,
                warn: Optional[Callable[[str], None]] = None) -> Dict[Item, object]:
    """(name, version) -> Secret or SecretError, through the run cache when it can be used.

    Raises core errors only for bad options (unknown provider, bad cache_ttl).
    """
    wanted = list(dict.fromkeys((str(name), _version(version)) for name, version in items))
    if not wanted:
        return {}
    provider, resolved = cache_request(raw, forced)
    if _use_run_cache(provider, resolved["cache_ttl"]):
        try:
            found = _run_cache.client().fetch(provider, resolved, wanted, bypass)
            display.vvvv(f"vibebox.secrets: {len(wanted)} secret(s) from the run cache ({provider})")
            return found
        except (_run_cache.RunCacheUnavailable, OSError) as exc:
            _warn_fallback(str(exc), warn or display.warning)
    return _direct(direct_manager(raw, forced), wanted, bypass)


class SecretLookupBase(LookupBase):
    def provider_options(self) -> Dict[str, Any]:
        return _options.from_lookup(self.get_option)

    def manager(self, provider: Optional[str] = None) -> SecretManager:
        """The manager for these options; ENABLE_SECRET_MANAGER=false reads from env.

        Returns a lazy stand-in: reads through fetch_many/fetch_items never build the client when
        the run cache answers; any other use builds the shared in-process manager.
        """
        raw = self.provider_options()
        try:
            return LazySecretManager(raw, forced_provider(raw, provider))  # type: ignore[return-value]
        except _errors.SecretError as exc:
            raise AnsibleLookupError(str(exc)) from None

    def fetch_items(self, manager: SecretManager, items: Iterable[Item], bypass_cache: bool = False) -> Dict[Item, object]:
        """(name, version) -> Secret or SecretError for any mix of versions, one batch where possible."""
        if isinstance(manager, LazySecretManager):
            try:
                return fetch_items(manager.raw, manager.forced, items, bypass_cache)
            except _errors.SecretError as exc:
                raise self.fail(exc) from None
        wanted = list(dict.fromkeys((str(name), _version(version)) for name, version in items))
        return _direct(manager, wanted, bypass_cache)

    def fetch_many(self, manager: SecretManager, names: Iterable[str], version: Optional[str] = None,
                   bypass_cache: bool = False) -> Dict[str, object]:
        """name -> Secret or SecretError; current versions in one batch, others concurrently."""
        names = list(dict.fromkeys(str(name) for name in names))
        found = self.fetch_items(manager, [(name, version) for name in names], bypass_cache)
        return {name: found[(name, _version(version))] for name in names}

    def with_fallback(self, manager: SecretManager, results: Dict[str, object], version: Optional[str],
                      bypass_cache: bool) -> Dict[str, object]:
        """Retry missing/unreachable names on each provider of the ``fallback`` option, in order."""
        chain: List[str] = list(self.provider_options().get("fallback") or [])
        for provider in chain:
            pending = [name for name, outcome in results.items()
                       if isinstance(outcome, (_errors.SecretNotFound, _errors.ProviderUnavailable))]
            if not pending:
                break
            backup = self.manager(provider=provider)
            found = self.fetch_many(backup, pending, version, bypass_cache)
            for name, outcome in found.items():
                if isinstance(outcome, Secret):
                    display.warning(
                        f"vibebox.secrets: '{name}' was read from provider '{backup.provider}' because"
                        f" provider '{manager.provider}' said: {type(results[name]).__name__}"
                    )
                    results[name] = outcome
        return results

    @staticmethod
    def failure_policy(exc: _errors.SecretError, on_missing: str, on_denied: str, on_deleted: str) -> str:
        if isinstance(exc, _errors.SecretDeleted):
            return on_deleted
        if isinstance(exc, _errors.SecretNotFound):
            return on_missing
        if isinstance(exc, _errors.SecretDenied):
            return on_denied
        return "error"

    @staticmethod
    def fail(exc: BaseException) -> AnsibleLookupError:
        return AnsibleLookupError(f"vibebox.secrets: {exc}")
