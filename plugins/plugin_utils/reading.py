# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Reading secrets for the lookups and the resolve filter, with every option honoured.

Every read goes through ``fetch`` so the run cache (run_cache.py) sits in exactly one place. When the
run cache answers, the worker never imports the factory, the manager or a provider SDK (the helper
does, once per run): ``LazySecretManager`` stands in until something needs the real manager, which
is built in this process only when the run cache is off or cannot be used.

The get lookup's common case (the run cache on, every secret found) does not need this module at all
(lookup.py, ``SecretLookupBase.read_values``); everything else comes here: other lookups, the filter,
missing secrets and their policies, ``fallback``, the development mode and direct reads.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible.utils.display import Display

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret
from ansible_collections.vibebox.secrets.plugins.plugin_utils import run_cache as _run_cache

display = Display()

#: one manager per distinct option set in this process, so repeated lookups share one client and cache
_MANAGERS: Dict[tuple, Any] = {}

Item = Tuple[str, Optional[str]]
_CURRENT = (None, "", "current")
_warned_fallback = False


def _factory():
    """core.factory, imported on first need: it pulls in the manager and, later, a provider."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

    return factory


def _options_key(resolved: Mapping[str, Any], provider: Optional[str]) -> tuple:
    return (provider,) + tuple((key, repr(resolved.get(key))) for key in _options.OPTION_NAMES)


def version_key(version: Optional[str]) -> Optional[str]:
    return None if version in _CURRENT else str(version)


def direct_manager(raw: Mapping[str, Any], provider: Optional[str] = None):
    """The in-process SecretManager for these options (raises core errors)."""
    key = _options_key(raw, provider)
    found = _MANAGERS.get(key)
    if found is None:
        found = _factory().build_manager(raw, provider=provider)
        _MANAGERS[key] = found
    return found


def check_provider(raw: Mapping[str, Any]) -> None:
    """Fail early on a misspelt provider, as building the manager would (without building it)."""
    name = raw.get("provider")
    if name in (None, ""):
        return
    key = str(name).strip().lower()
    if key not in _options.PROVIDERS and key not in _options.PROVIDER_ALIASES:
        _factory().normalise_provider(name)  # raises InvalidOption with the usual message


def forced_provider(raw: Mapping[str, Any], provider: Optional[str] = None) -> Optional[str]:
    """ENABLE_SECRET_MANAGER=false (the seed's development mode) reads from env unless a provider is given."""
    if provider is None and not raw.get("provider") and not _options.secret_manager_enabled():
        return "env"
    return provider


class LazySecretManager:
    """Stands in for a SecretManager until something other than a read needs the real one.

    Reads go through fetch() (run cache first); ``provider`` is learnt from the run cache's answer
    or detected on demand; any other attribute builds the shared in-process manager.
    """

    def __init__(self, raw: Mapping[str, Any], forced: Optional[str] = None) -> None:
        self.raw = dict(raw)
        self.forced = forced
        self._provider: Optional[str] = None
        self._real = None

    @property
    def provider(self) -> str:
        if self._provider is None:
            factory = _factory()
            resolved = _options.with_environment(self.raw)
            self._provider = factory.normalise_provider(self.forced) or factory.detect_provider(resolved)
        return self._provider

    def real(self):
        if self._real is None:
            self._real = direct_manager(self.raw, self.forced)
        return self._real

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") or attribute in ("raw", "forced", "_provider", "_real"):
            raise AttributeError(attribute)
        return getattr(self.real(), attribute)

    def __repr__(self) -> str:
        return f"LazySecretManager(provider={self._provider or '?'})"


def _direct_only(raw: Mapping[str, Any], forced: Optional[str]) -> bool:
    """Cases where a helper process would cost more than it saves."""
    provider = str(forced or raw.get("provider") or "").strip().lower()
    if provider in ("env", "environment"):
        return True  # reading a variable costs nothing
    ttl = raw.get("cache_ttl")
    return ttl not in (None, "") and float(ttl) <= 0  # cache_ttl: 0 asks for a fresh read every time


def _warn_fallback(reason: str, warn: Callable[[str], None]) -> None:
    global _warned_fallback
    if not _warned_fallback:
        _warned_fallback = True
        warn(f"vibebox.secrets: the run cache is not available ({reason}); reading the provider directly"
             " from every fork. Set VIBEBOX_RUN_CACHE=false to silence this.")


def direct_reads(manager, items: List[Item], bypass: bool) -> Dict[Item, object]:
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
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(others))) as pool:
            for item, outcome in zip(others, pool.map(one, others)):
                results[item] = outcome
    return results


def fetch(raw: Mapping[str, Any], forced: Optional[str], items: Iterable[Item], bypass: bool = False,
          warn: Optional[Callable[[str], None]] = None) -> Tuple[Optional[str], Dict[Item, object]]:
    """(provider or None, {(name, version): Secret or SecretError}), through the run cache when it can.

    Raises core errors only for options that cannot work at all (unknown provider, bad cache_ttl).
    """
    wanted = list(dict.fromkeys((str(name), version_key(version)) for name, version in items))
    if not wanted:
        return None, {}
    check_provider(raw)
    try:
        direct = _direct_only(raw, forced)
    except (TypeError, ValueError):
        raise _errors.InvalidOption(f"cache_ttl must be a number of seconds (got '{raw.get('cache_ttl')}')") from None
    if not direct and _run_cache.enabled():
        sendable = {key: value for key, value in raw.items() if key != "fallback"}  # the asking side walks it
        try:
            provider, found = _run_cache.client().fetch(sendable, forced, wanted, bypass)
            display.vvvv(f"vibebox.secrets: {len(wanted)} secret(s) through the run cache ({provider})")
            return provider, found
        except (_run_cache.RunCacheUnavailable, OSError) as exc:
            _warn_fallback(str(exc), warn or display.warning)
    manager = direct_manager(raw, forced)
    return manager.provider, direct_reads(manager, wanted, bypass)


def fetch_items(raw: Mapping[str, Any], forced: Optional[str], items: Iterable[Item], bypass: bool = False,
                warn: Optional[Callable[[str], None]] = None) -> Dict[Item, object]:
    """``fetch`` without the provider name."""
    return fetch(raw, forced, items, bypass, warn)[1]


#: outcomes the next provider of ``fallback`` is asked about; a denial is never hidden that way
_FALLS_THROUGH = (_errors.SecretNotFound, _errors.ProviderUnavailable)


def fall_through(raw: Mapping[str, Any], primary: Callable[[], str], found: Dict[Item, object],
                 bypass: bool = False, warn: Optional[Callable[[str], None]] = None) -> Dict[Item, object]:
    """Ask each step of ``fallback`` for what is still missing or unreachable; warn for each answer.

    One walker for the lookups and the resolve filter, so every way of reading a secret honours the
    chain the same way. ``primary`` is called only to word a warning (naming the provider may mean
    detecting it).
    """
    for provider, options, label in _options.fallback_steps(raw):
        pending = [item for item, outcome in found.items() if isinstance(outcome, _FALLS_THROUGH)]
        if not pending:
            break
        for item, outcome in fetch_items(options, provider, pending, bypass, warn).items():
            if isinstance(outcome, Secret):
                (warn or display.warning)(
                    f"vibebox.secrets: '{item[0]}' was read from provider '{label}' because"
                    f" provider '{primary()}' said: {type(found[item]).__name__}"
                )
                found[item] = outcome
    return found
