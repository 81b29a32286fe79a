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
    return _options.cache_key(resolved, provider)


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


def lookup_options(get_option: Callable[[str], Any]) -> Dict[str, Any]:
    """The provider options of a lookup (``get_option``)."""
    return _options.from_lookup(get_option)


def settle_provider(raw: Mapping[str, Any], forced: Optional[str] = None,
                    variables: Optional[Mapping[str, Any]] = None,
                    warn: Optional[Callable[[str], None]] = None) -> Optional[_options.ProviderChoice]:
    """Decide, before any read, what options that set no provider reach; None when one is set.

    Raises InvalidOption when nothing chose a provider and the run is an AWX/AAP job (``variables``
    hold ``awx_job_id`` or ``tower_job_id``, or the environment has ``JOB_ID`` and ``AWX_HOST``) and no
    ``local_path`` is given: the embedded store would live and die in the job's container. Otherwise
    warns which provider detection chose and from which variable; the text is the same in every fork,
    and Ansible shows a warning text once per run, so a run says it once (modules say it the same way).
    """
    if forced or str(raw.get("provider") or "").strip():
        return None
    if not _options.secret_manager_enabled():
        return None  # the development mode reads environment variables (forced_provider)
    env = _options.automation_environment(variables)
    choice = _options.choose_provider(_options.with_environment(raw, env), env)
    if choice.automatic:
        (warn or display.warning)(choice.notice)
    return choice


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


def _manager_module():
    """core.manager, imported on first need: a read the run cache answers never builds a manager here."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import manager

    return manager


def _warn_fallback(reason: str, warn: Callable[[str], None]) -> None:
    global _warned_fallback
    if not _warned_fallback:
        _warned_fallback = True
        warn(f"vibebox.secrets: the run cache is not available ({reason}); reading the provider directly"
             " from every fork. Set VIBEBOX_RUN_CACHE=false to silence this.")


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
        try:
            provider, found = _run_cache.client().fetch(raw, forced, wanted, bypass)
            display.vvvv(f"vibebox.secrets: {len(wanted)} secret(s) through the run cache ({provider})")
            return provider, found
        except (_run_cache.RunCacheUnavailable, OSError) as exc:
            _warn_fallback(str(exc), warn or display.warning)
    manager = direct_manager(raw, forced)
    return manager.provider, _manager_module().read_items(manager, wanted, bypass)


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


class LookupReader:
    """The read side of a lookup beyond the run cache's plain values (lookup.py, ``read_answers``).

    Kept out of the lookup base class so that a fork the run cache serves never compiles it: the get
    lookup comes here for defaults, ``on_*`` policies, ``fallback``, the development mode and direct
    reads; the dotenv lookup always does.
    """

    def __init__(self, lookup: Any) -> None:
        self.lookup = lookup

    @staticmethod
    def fail(exc: BaseException):
        from ansible.errors import AnsibleLookupError

        return AnsibleLookupError(f"vibebox.secrets: {exc}")

    def provider_options(self) -> Dict[str, Any]:
        return _options.from_lookup(self.lookup.get_option)

    def manager(self, provider: Optional[str] = None) -> LazySecretManager:
        """The manager for these options; ENABLE_SECRET_MANAGER=false reads from env.

        A lazy stand-in: reads through fetch_many/fetch_items never build a client in this process
        when the run cache answers.
        """
        from ansible.errors import AnsibleLookupError

        raw = self.provider_options()
        try:
            check_provider(raw)
            check_provider({"provider": provider})
        except _errors.SecretError as exc:
            raise AnsibleLookupError(str(exc)) from None
        return LazySecretManager(raw, forced_provider(raw, provider))

    def fetch_items(self, manager, items: Iterable[Item], bypass_cache: bool = False) -> Dict[Item, object]:
        """(name, version) -> Secret or SecretError for any mix of versions, one batch where possible."""
        if isinstance(manager, LazySecretManager):
            if manager.forced is None:
                self.lookup.settle_provider()
            try:
                provider, found = fetch(manager.raw, manager.forced, items, bypass_cache)
            except _errors.SecretError as exc:
                raise self.fail(exc) from None
            if provider and manager._provider is None:
                manager._provider = provider
            return found
        wanted = list(dict.fromkeys((str(name), version_key(version)) for name, version in items))
        return _manager_module().read_items(manager, wanted, bypass_cache)

    def fetch_items_with_fallback(self, manager, items: Iterable[Item], bypass_cache: bool = False) -> Dict[Item, object]:
        """fetch_items, then each step of the ``fallback`` option for what was missing or unreachable."""
        return self._fall_through(manager, self.fetch_items(manager, items, bypass_cache), bypass_cache)

    def _fall_through(self, manager, found: Dict[Item, object], bypass_cache: bool) -> Dict[Item, object]:
        try:
            return fall_through(self.provider_options(), lambda: manager.provider, found, bypass_cache)
        except _errors.SecretError as exc:
            raise self.fail(exc) from None

    def fetch_many(self, manager, names: Iterable[str], version: Optional[str] = None,
                   bypass_cache: bool = False) -> Dict[str, object]:
        """name -> Secret or SecretError; current versions in one batch, others concurrently."""
        names = list(dict.fromkeys(str(name) for name in names))
        found = self.fetch_items(manager, [(name, version) for name in names], bypass_cache)
        return {name: found[(name, version_key(version))] for name in names}

    def decode_answers(self, manager, answers: Any, names: Iterable[str]) -> Dict[str, object]:
        """name -> Secret or SecretError from the run cache's plain answers (lookup.RunCacheAnswers), as
        ``fetch_many`` would return them: a lookup that got an answer other than a value goes on from
        there without asking again."""
        from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache_outcomes import decode_outcome

        if answers.provider and getattr(manager, "_provider", "") is None:
            manager._provider = answers.provider
        return {name: decode_outcome(answers.by_item[(name, answers.version)]) for name in names}

    def with_fallback(self, manager, results: Dict[str, object], version: Optional[str],
                      bypass_cache: bool) -> Dict[str, object]:
        """``fetch_many``'s answer after the ``fallback`` chain (see fall_through)."""
        wanted = version_key(version)
        found = self._fall_through(manager, {(name, wanted): outcome for name, outcome in results.items()}, bypass_cache)
        return {name: found[(name, wanted)] for name in results}

    @staticmethod
    def failure_policy(exc: _errors.SecretError, on_missing: str, on_denied: str, on_deleted: str) -> str:
        if isinstance(exc, _errors.SecretDeleted):
            return on_deleted
        if isinstance(exc, _errors.SecretNotFound):
            return on_missing
        if isinstance(exc, _errors.SecretDenied):
            return on_denied
        return "error"

    def values_with_policies(self, names: List[str], version: Optional[str], bypass: bool, answers: Any = None,
                             select: Callable[[str, str], Any] = lambda name, value: value) -> List[Any]:
        """The get lookup's result for every case the run cache's plain values do not settle.

        ``answers`` (lookup.RunCacheAnswers) are used as given when the run cache already answered, so
        nothing is read twice, even a failure; ``default`` stands in for a missing secret, then
        ``on_missing``/``on_denied``/``on_deleted`` decide, after the ``fallback`` chain.
        """
        get_option = self.lookup.get_option
        default = get_option("default")
        policies = {key: get_option(key) for key in ("on_missing", "on_denied", "on_deleted")}
        manager = self.manager()
        if answers is None:
            results = self.fetch_many(manager, names, version, bypass)
        else:
            results = self.decode_answers(manager, answers, dict.fromkeys(names))
        results = self.with_fallback(manager, results, version, bypass)
        values = []
        for name in names:
            outcome = results[name]
            if isinstance(outcome, _errors.SecretError):
                if default is not None and isinstance(outcome, _errors.SecretNotFound):
                    values.append(default)
                    continue
                policy = self.failure_policy(outcome, **policies)
                if policy == "error":
                    raise self.fail(outcome)
                if policy == "warn":
                    display.warning(f"vibebox.secrets.get: skipped: {outcome}")
                continue
            values.append(select(name, outcome.value))
        return values
