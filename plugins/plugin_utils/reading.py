# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The one read path of the lookups and the resolve filter: ``read``, then ``apply_policies``.

``read(options, items, bypass)`` asks, in this order, the run cache (one helper per run, shared by
every fork), else the provider directly from this process, then each step of the ``fallback`` chain
for what is still missing or unreachable. ``apply_policies`` turns what was read into the get
lookup's values (``default``, ``on_missing``, ``on_denied``, ``on_deleted``); the dotenv lookup and
the resolve filter hand ``read`` to core.references.Resolver instead.

Ansible imports a lookup afresh in every worker fork and loads the collection code it imports each
time (from bytecode.py's cache, or compiled from source by Ansible's loader), so what a fork imports is
paid for by every host. In the common case (the run cache is on and
has every secret) a fork therefore runs only this file and the run cache client: the answers stay
as they came over the socket (``Outcomes``) and the core (errors, options, factory, a provider SDK)
is imported only when something has to be decided about a failure, a fallback, the development
mode or a direct read.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from ansible.utils.display import Display

from ansible_collections.vibebox.secrets.plugins.plugin_utils import bytecode
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as _run_cache

display = Display()

Item = Tuple[str, Optional[str]]
Warn = Callable[[str], None]
#: the words that ask for the current version; the run cache and the manager's batch read key it as None
_CURRENT = (None, "", "current")
#: read in the asking process, never through the run cache (reading a variable costs nothing)
_IN_PROCESS = ("env", "environment")
#: one manager per Resolved.key in this process, so repeated direct reads share one client and cache
_MANAGERS: Dict[str, Any] = {}
_warned_fallback = False


def version_key(version: Optional[str]) -> Optional[str]:
    return None if version in _CURRENT else str(version)


class Outcomes(Mapping[Item, object]):
    """What one ``read`` found: item -> Secret or SecretError, plus the provider that answered.

    Answers from the run cache are kept as they came over the socket and decoded on first access,
    so a fork that only needs the values (``value``) never imports the core.
    """

    def __init__(self, provider: str, found: Dict[Item, object]) -> None:
        self.provider = provider
        self._found = found

    def __getitem__(self, item: Item) -> object:
        outcome = self._found[item]
        if isinstance(outcome, dict):
            from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache.wire import decode_outcome

            outcome = self._found[item] = decode_outcome(outcome)
        return outcome

    def __iter__(self) -> Iterator[Item]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)

    def has_value(self, item: Item) -> bool:
        outcome = self._found[item]
        if isinstance(outcome, dict):
            return "value" in outcome
        return not isinstance(outcome, BaseException)

    def value(self, item: Item) -> Any:
        """The value read for ``item`` (check ``has_value`` first)."""
        outcome = self._found[item]
        return outcome["value"] if isinstance(outcome, dict) else outcome.value  # type: ignore[attr-defined]

    def replace(self, item: Item, outcome: object) -> None:
        self._found[item] = outcome


# the steps of a read ------------------------------------------------------------------------------

def _provider_option(options: Mapping[str, Any]) -> str:
    return str(options.get("provider") or "").strip().lower()


def _development_mode(options: Mapping[str, Any]) -> Optional[str]:
    """ENABLE_SECRET_MANAGER=false (the seed's development mode) reads from env unless a provider is given."""
    if _provider_option(options) or not os.environ.get("ENABLE_SECRET_MANAGER", "").strip():
        return None
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options

    return None if _options.secret_manager_enabled() else "env"


def settle_provider(options: Mapping[str, Any], variables: Optional[Mapping[str, Any]] = None,
                    warn: Optional[Warn] = None) -> None:
    """Decide, before any read, what options that set no provider reach.

    Raises InvalidOption when nothing chose a provider and the run is an AWX/AAP job (``variables``
    hold ``awx_job_id`` or ``tower_job_id``, or the environment has ``JOB_ID`` and ``AWX_HOST``) and
    no ``local_path`` is given: the embedded store would live and die in the job's container.
    Otherwise warns which provider detection chose and from which variable; the text is the same in
    every fork, and Ansible shows a warning text once per run, so a run says it once (modules say it
    the same way). With a provider set this imports nothing.
    """
    if _provider_option(options):
        return
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options

    if not _options.secret_manager_enabled():
        return  # the development mode reads environment variables
    env = _options.automation_environment(variables)
    choice = _options.choose_provider(_options.with_environment(options, env), env)
    if choice.automatic:
        (warn or display.warning)(choice.notice)


def _through_run_cache(options: Mapping[str, Any], forced: Optional[str]) -> bool:
    """Whether a helper process is worth asking: not for ``env``, not for ``cache_ttl: 0`` (a fresh
    read every time, and a ttl that is not a number is reported by the direct read)."""
    if not _run_cache.enabled() or str(forced or _provider_option(options)).strip().lower() in _IN_PROCESS:
        return False
    ttl = options.get("cache_ttl")
    if ttl in (None, ""):
        return True
    try:
        return float(ttl) > 0
    except (TypeError, ValueError):
        return False


def _from_run_cache(options: Mapping[str, Any], forced: Optional[str], items: List[Item], bypass: bool,
                    warn: Optional[Warn]) -> Optional[Outcomes]:
    global _warned_fallback
    try:
        provider, answers = _run_cache.client().fetch(options, forced, items, bypass)
    except (_run_cache.RunCacheUnavailable, OSError) as exc:
        if not _warned_fallback:
            _warned_fallback = True
            (warn or display.warning)(
                f"vibebox.secrets: the run cache is not available ({exc}); reading the provider directly"
                " from every fork. Set VIBEBOX_RUN_CACHE=false to silence this.")
        return None
    display.vvvv(f"vibebox.secrets: {len(items)} secret(s) through the run cache ({provider})")
    found = Outcomes(provider, dict(zip(items, answers)))
    for item, answer in zip(items, answers):
        if (answer.get("error") or {}).get("type") == "InvalidOption":
            raise found[item]  # type: ignore[misc]  # options that cannot work, as a direct read raises them
    return found


def _direct(options: Mapping[str, Any], forced: Optional[str], items: List[Item], bypass: bool) -> Outcomes:
    """Read in this process through the manager these options resolve to (raises core errors for
    options that cannot work)."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import read_items

    resolved = factory.resolve(options, forced=forced)
    manager = _MANAGERS.get(resolved.key)
    if manager is None:
        manager = _MANAGERS[resolved.key] = factory.build_manager(resolved)
    return Outcomes(resolved.provider, read_items(manager, items, bypass))


def read(options: Mapping[str, Any], items: Iterable[Tuple[str, Optional[str]]], bypass: bool = False, *,
         forced: Optional[str] = None, variables: Optional[Mapping[str, Any]] = None,
         warn: Optional[Warn] = None, judge_expiry: bool = True) -> Outcomes:
    """(name, version) -> Secret or SecretError for every item: the run cache, else the provider from
    this process, then the ``fallback`` chain for what is missing or unreachable.

    ``options`` are the caller's (a lookup's ``_options``, the filter's keyword arguments); keys that
    are not provider options are ignored. ``forced`` names the provider outright (a fallback step).
    Raises core errors only for options that cannot work at all (unknown provider, bad cache_ttl, the
    throwaway local store of an automation job); a secret's own failure is its outcome. An expired secret
    follows ``options['on_expired']`` (check_expiry); a fallback step is judged once, by the read that asked it.
    """
    bytecode.install()  # a lookup loaded by the controller (the run_cache callback) did not install it
    wanted = list(dict.fromkeys((str(name), version_key(version)) for name, version in items))
    if not wanted:
        return Outcomes("", {})
    if forced is None:
        forced = _development_mode(options)
        if forced is None:
            settle_provider(options, variables, warn)
    found = None
    if _through_run_cache(options, forced):
        found = _from_run_cache(options, forced, wanted, bypass, warn)
    if found is None:
        found = _direct(options, forced, wanted, bypass)
    if options.get("fallback"):
        _fall_through(options, found, bypass, warn)
    if judge_expiry:
        check_expiry(found, options.get("on_expired"), warn)
    return found


def _fall_through(options: Mapping[str, Any], found: Outcomes, bypass: bool, warn: Optional[Warn]) -> None:
    """Ask each step of ``fallback`` for what is still missing or unreachable (never for a denial,
    which a fallback must not hide); warn for each answer it gives."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options

    falls_through = (_errors.SecretNotFound, _errors.ProviderUnavailable)
    for provider, step_options, label in _options.fallback_steps(options):
        pending = [item for item in found if not found.has_value(item) and isinstance(found[item], falls_through)]
        if not pending:
            break
        answered = read(step_options, pending, bypass, forced=provider, warn=warn, judge_expiry=False)
        for item in pending:
            if answered.has_value(item):
                (warn or display.warning)(
                    f"vibebox.secrets: '{item[0]}' was read from provider '{label}' because"
                    f" provider '{found.provider}' said: {type(found[item]).__name__}")
                found.replace(item, answered[item])


# expired secrets ----------------------------------------------------------------------------------

#: (provider, name) already warned about in this process: a lookup in a loop warns once per secret
_warned_expired: set = set()


def _expiry_text(outcomes: Outcomes, item: Item) -> Optional[str]:
    """The expiry the read returned with the value of ``item`` (ISO text), without decoding the answer."""
    outcome = outcomes._found[item]
    if isinstance(outcome, dict):
        return (outcome.get("metadata") or {}).get("expires_at") or None
    moment = getattr(getattr(outcome, "metadata", None), "expires_at", None)
    return moment.isoformat() if moment is not None else None


def _passed(text: str, now: _dt.datetime) -> bool:
    try:
        moment = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return False  # an unreadable date never blocks a read
    return (moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)) <= now


def check_expiry(outcomes: Outcomes, on_expired: Any, warn: Optional[Warn] = None) -> None:
    """``on_expired`` for every current value read whose metadata says it has expired: ``error`` raises
    SecretExpired (the name and the time, never the value), ``warn`` warns once per secret, ``ignore`` says
    nothing. Only what the read already returned is judged: no request is added per read, so providers whose
    value read carries no expiry (AWS, GCP) are judged by secret_info and the compliance report instead.
    The core is imported only when a secret has expired or the option is not one of its words."""
    choice = str(on_expired).strip().lower() if on_expired not in (None, "") else "warn"
    if choice not in ("error", "warn", "ignore"):
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry

        _expiry.on_expired_option(on_expired)  # raises InvalidOption naming the option
    if choice == "ignore":
        return
    now = _dt.datetime.now(_dt.timezone.utc)
    for item in outcomes:
        if item[1] is not None or not outcomes.has_value(item):
            continue  # only the current value: an older version's expiry is not the secret's
        text = _expiry_text(outcomes, item)
        if not text or not _passed(text, now):
            continue
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry as _expiry
        from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import parse_iso

        message = _expiry.judge_read(item[0], parse_iso(text), choice, provider=outcomes.provider or None, now=now)
        key = (outcomes.provider, item[0])
        if message and key not in _warned_expired:
            _warned_expired.add(key)
            (warn or display.warning)(message)


# what the get lookup makes of it --------------------------------------------------------------------

def apply_policies(outcomes: Outcomes, default: Any, on_missing: str, on_denied: str, on_deleted: str, *,
                   items: Optional[Iterable[Item]] = None, select: Optional[Callable[[str, Any], Any]] = None,
                   warn: Optional[Warn] = None) -> List[Any]:
    """One value per item (default: every item read, in order): the secret's value (through
    ``select``), ``default`` for a missing one, or what the ``on_*`` policy says: ``error`` raises the
    SecretError, ``warn`` and ``skip`` leave the item out (``warn`` says so)."""
    values = []
    for item in outcomes if items is None else items:
        if outcomes.has_value(item):
            value = outcomes.value(item)
            values.append(value if select is None else select(item[0], value))
            continue
        failure = outcomes[item]
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors

        if default is not None and isinstance(failure, _errors.SecretNotFound):
            values.append(default)
            continue
        if isinstance(failure, _errors.SecretDeleted):
            policy = on_deleted
        elif isinstance(failure, _errors.SecretNotFound):
            policy = on_missing
        elif isinstance(failure, _errors.SecretDenied):
            policy = on_denied
        else:
            policy = "error"
        if policy == "error":
            raise failure  # type: ignore[misc]
        if policy == "warn":
            (warn or display.warning)(f"vibebox.secrets.get: skipped: {failure}")
    return values
