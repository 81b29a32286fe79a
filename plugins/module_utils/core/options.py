# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The provider options shared by every module and lookup, and the one adapter that reads them.

Modules get their argument spec from ``provider_argument_spec()``; lookups declare the same options
in doc fragments. Both hand a plain dict to factory.build_manager(), so provider construction is
written once (the community.hashi_vault habit).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.vibebox.secrets.plugins.module_utils.core import registry as _registry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption

PROVIDERS = _registry.PROVIDERS

#: the options of every provider (the providers' own are declared in their files, core/registry.py)
_COMMON: Tuple[_registry.Option, ...] = (
    _registry.Option("provider", dict(type="str"), ("SECRET_PROVIDER",)),
    _registry.Option("prefix", dict(type="str", no_log=False)),
    _registry.Option("cache_ttl", dict(type="float")),
    _registry.Option("audit_log", dict(type="str"), ("VIBEBOX_AUDIT_LOG",)),
    _registry.Option("fallback", dict(type="list", elements="str")),
)
COMMON_OPTIONS = tuple(option.name for option in _COMMON)
#: provider -> its prefix variable of the seed; looking one up imports only that provider's module
PREFIX_ENV: Mapping[str, str] = _registry.PerProvider(lambda item: item.prefix_env)
#: (environment variable, provider) whose presence selects a provider when none is set, in the seed's order
DETECTION: Sequence[Tuple[str, str]] = _registry.Detection()


def _all_options() -> Tuple[_registry.Option, ...]:
    """Common options, then each provider's in PROVIDERS order (from the option table: no provider
    module is imported)."""
    return _COMMON + _registry.all_options()


def _options_of(providers: Iterable[str]) -> Tuple[_registry.Option, ...]:
    return _COMMON + tuple(option for name in providers for option in _registry.spec(name).options)


def __getattr__(attribute: str) -> Any:
    """Tables over every provider's options, built on first use from the option table."""
    if attribute == "OPTION_NAMES":
        return tuple(option.name for option in _all_options())
    if attribute == "LIST_OPTIONS":
        #: options given as "a, b" by an environment variable or a lookup's ini entry
        return tuple(option.name for option in _all_options() if option.spec.get("type") == "list")
    if attribute == "SECRET_OPTIONS":
        #: options whose value is a credential; the lookup base hides them and modules mark them no_log
        return tuple(option.name for option in _all_options() if option.secret)
    if attribute == "PROVIDER_ALIASES":
        return _registry.aliases()
    raise AttributeError(attribute)


def provider_argument_spec() -> Dict[str, Dict[str, Any]]:
    """A fresh copy of the provider options for a module's argument spec."""
    spec = {option.name: dict(option.spec) for option in _all_options()}
    spec["provider"]["choices"] = list(PROVIDERS) + list(_registry.aliases())
    return spec


def env_names(option: str) -> tuple:
    for known in _all_options():
        if known.name == option:
            return known.env
    raise KeyError(option)


def from_module(params: Mapping[str, Any]) -> Dict[str, Any]:
    return {option.name: params.get(option.name) for option in _all_options()}


def reachable_providers(provider: Any, fallback: Any) -> Optional[List[str]]:
    """The providers options with this ``provider`` and ``fallback`` can read from; None: any of them
    (no provider set, so detection decides, or an entry that names none)."""
    chosen = _registry.canonical(provider) if provider not in (None, "") else None
    if chosen is None:
        return None
    reached = [chosen]
    entries = [fallback] if isinstance(fallback, str) else list(fallback or [])
    for entry in entries:
        for text in str(entry).split(","):
            owner = _entry_owner(text)
            if owner is None:
                return None
            if owner not in reached:
                reached.append(owner)
    return reached


def options_provider(options: Mapping[str, Any]) -> Optional[str]:
    """The provider the options name (None when they name none: SECRET_PROVIDER or detection decides)."""
    value = options.get("provider")
    return None if value in (None, "") else str(value)


def cache_key(resolved: Mapping[str, Any], provider: Optional[str]) -> tuple:
    """What tells apart two reads through these options: ``provider`` (a forced one, or None), the
    common options and the options of the provider they reach (all options when that is not known
    before detection). The values are repr()'d, so a
    list keys too; the key stays in memory (it may hold a credential, which must key: a token allowed
    fewer paths must not get another token's answers)."""
    asked = provider or options_provider(resolved)
    chosen = _registry.canonical(asked) if asked else None
    names = COMMON_OPTIONS + (_registry.key_options(chosen) if chosen else tuple(option.name for option in _all_options()))
    return (provider,) + tuple((key, repr(resolved.get(key))) for key in names)


def from_lookup(get_option) -> Dict[str, Any]:
    """``get_option`` of a lookup plugin -> options dict; unknown options read as None.

    Only the options of the providers this lookup can reach are read (all of them when no provider
    is set), so a lookup with ``provider: local`` never imports another provider's module.
    """
    def read(name: str) -> Any:
        try:
            return get_option(name)
        except KeyError:
            return None

    options: Dict[str, Any] = {name: read(name) for name in COMMON_OPTIONS}
    reached = reachable_providers(options["provider"] or os.environ.get("SECRET_PROVIDER"), options["fallback"])
    known = _all_options() if reached is None else _options_of(reached)
    for option in known:
        if option.name not in options:
            options[option.name] = read(option.name)
    return options


def _truthy(text: Optional[str]) -> Optional[bool]:
    if text is None or text == "":
        return None
    return str(text).strip().lower() in ("1", "true", "yes", "on")


def _coerce(option: _registry.Option, value: Any) -> Any:
    """A provider option given as text (environment variable, ini entry) -> its declared type."""
    kind = option.spec.get("type")
    if kind == "list" and isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, str) or option.name in COMMON_OPTIONS:
        return value
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return _truthy(value)
    return value


def with_environment(options: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Fill every unset option from the seed's environment variables.

    Done here rather than with Ansible's env_fallback so a lookup and a module given the same
    environment build the same provider. SECRET_CACHE_TTL is milliseconds, as in the seed. When
    the provider is set, only its options (and those of its fallback entries) are filled, so a run
    of one provider imports no other provider's module.
    """
    env = os.environ if env is None else env
    resolved: Dict[str, Any] = dict(options)

    def fill(option: _registry.Option) -> None:
        if resolved.get(option.name) in (None, ""):
            resolved[option.name] = options.get(option.name)
            for variable in option.env:
                if env.get(variable):
                    resolved[option.name] = env[variable]
                    break
        if resolved[option.name] not in (None, ""):
            resolved[option.name] = _coerce(option, resolved[option.name])

    for option in _COMMON:
        fill(option)
    if resolved["cache_ttl"] in (None, "") and env.get("SECRET_CACHE_TTL"):
        resolved["cache_ttl"] = float(env["SECRET_CACHE_TTL"]) / 1000.0
    reached = reachable_providers(resolved["provider"], resolved["fallback"])
    for option in (_all_options() if reached is None else _options_of(reached)):
        if option.name not in COMMON_OPTIONS:
            fill(option)
    return resolved


def _entry_owner(entry: str) -> Optional[str]:
    """The provider a ``fallback`` entry belongs to: the provider itself, or the one whose own form it
    is: a provider's own form starts with the provider's name, as AWS's ``aws:<region>`` does)."""
    text = str(entry).strip().lower()
    if not text:
        return None
    direct = _registry.canonical(text)
    if direct is not None:
        return direct
    head = re.match(r"[a-z0-9]+", text)
    return head.group(0) if head and head.group(0) in PROVIDERS else None


def fallback_steps(options: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any], str]]:
    """(provider, options, label) for each entry of ``fallback``, in order; bad entries raise InvalidOption.

    An entry is a provider (``env``, ``local``, ...) or a form a provider defines for itself (AWS:
    ``aws:<region>`` and one for its replica regions, see its ``SPEC.fallback``); only that provider's
    module is imported. Each step's options are the caller's own (unresolved, without the chain), so
    they mean the same wherever they are read.
    """
    resolved = with_environment(options)
    base = dict(options, fallback=None)
    steps: List[Tuple[str, Dict[str, Any], str]] = []
    for entry in resolved["fallback"] or []:
        text = str(entry).strip()
        if _registry.canonical(text) is not None:
            steps.append((text, base, text))
            continue
        owner = _entry_owner(text)
        hook = _registry.spec(owner).fallback if owner else None
        own = hook(text, base, resolved) if hook else None
        if own is None:
            forms = [form for item in _registry.specs() for form in item.fallback_forms]
            raise InvalidOption(
                f"fallback entry '{text}' is not a provider; use one of {', '.join(PROVIDERS)}"
                f" or {' or '.join(forms)}"
            )
        steps.extend(own)
    return steps


def secret_manager_enabled(env: Optional[Mapping[str, str]] = None) -> bool:
    """ENABLE_SECRET_MANAGER=false is the seed's development mode: references come from env only."""
    env = os.environ if env is None else env
    flag = _truthy(env.get("ENABLE_SECRET_MANAGER"))
    return True if flag is None else flag


# choosing the provider ---------------------------------------------------------------------------------

#: extra variables AWX and Automation Controller give every job
AUTOMATION_VARS = ("awx_job_id", "tower_job_id")
#: set by the collection's action plugins in a module's environment when the run is automation (modules
#: do not see extra variables); an operator may set it too, for automation other than AWX
AUTOMATION_ENV = "VIBEBOX_AUTOMATION"
_AWX_ENV = ("JOB_ID", "AWX_HOST")


def normalise_provider(name: Optional[str]) -> Optional[str]:
    """``provider`` as typed -> its canonical name, None when unset; InvalidOption for an unknown one."""
    if name in (None, ""):
        return None
    key = _registry.canonical(name)
    if key is None:
        raise InvalidOption(
            f"unknown provider '{name}'",
            hint=f"Use one of {', '.join(PROVIDERS)}",
        )
    return key


def automation_marker(variables: Optional[Mapping[str, Any]] = None,
                      env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """What shows that this run is an AWX/AAP job (or other automation), or None.

    The value is what an action plugin puts in a module's ``VIBEBOX_AUTOMATION``: the extra variable's
    name, ``JOB_ID`` for AWX's job environment, or the operator's own ``VIBEBOX_AUTOMATION``.
    """
    env = os.environ if env is None else env
    for name in AUTOMATION_VARS:
        if variables and variables.get(name) not in (None, ""):
            return name
    if all(env.get(variable) for variable in _AWX_ENV):
        return _AWX_ENV[0]
    own = str(env.get(AUTOMATION_ENV) or "").strip()
    if own and own.lower() not in ("0", "false", "no", "off"):
        return own
    return None


def automation_reason(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The words for why this run counts as automation, from the environment (see automation_marker)."""
    marker = automation_marker(None, env)
    if marker is None:
        return None
    if marker in AUTOMATION_VARS:
        return f"this run is an AWX/AAP job (the extra variable {marker} is set)"
    if marker == _AWX_ENV[0]:
        return f"this run is an AWX/AAP job ({' and '.join(_AWX_ENV)} are set)"
    return f"this run is automation ({AUTOMATION_ENV} is set)"


def automation_environment(variables: Optional[Mapping[str, Any]] = None,
                           env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """``env`` (default: this process's) with VIBEBOX_AUTOMATION set when ``variables`` show a job."""
    env = dict(os.environ if env is None else env)
    marker = automation_marker(variables, env)
    if marker and not env.get(AUTOMATION_ENV):
        env[AUTOMATION_ENV] = marker
    return env


@dataclass(frozen=True)
class ProviderChoice:
    """The provider a run uses and how it was chosen (never any variable's value)."""

    provider: str
    #: None: set by the provider option or SECRET_PROVIDER; a variable name: detected from it;
    #: "": nothing set and nothing detected, so the embedded store
    detected_from: Optional[str] = None

    @property
    def automatic(self) -> bool:
        return self.detected_from is not None

    @property
    def notice(self) -> str:
        """Said once per run when the choice was automatic, so an exported variable never silently decides."""
        if self.detected_from:
            why = f"provider '{self.provider}' was chosen because {self.detected_from} is set in the environment"
        else:
            detection = ", ".join(_registry.spec(name).detected_by or name for name in _registry.DETECTION_ORDER)
            why = (f"none of {detection} is set, so the embedded"
                   " 'local' store was chosen")
        return (f"vibebox.secrets: no provider is set; {why}. Set the provider option (or SECRET_PROVIDER) to"
                " choose it yourself.")


def choose_provider(resolved: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> ProviderChoice:
    """provider option (or SECRET_PROVIDER, already merged) > environment detection > the embedded store.

    The embedded store is refused when nothing chose it and the run is automation, unless the option
    that places it (its SPEC.location_option) is given: in a job's container it would be created,
    written and thrown away with the container, and a later job (a rollback) would find nothing.
    """
    env = os.environ if env is None else env
    chosen = normalise_provider(resolved.get("provider"))
    if chosen:
        return ProviderChoice(chosen)
    for provider in _registry.DETECTION_ORDER:
        variable = _registry.spec(provider).detected_by
        if variable and env.get(variable):
            return ProviderChoice(provider, variable)
    default = _registry.spec(_registry.DEFAULT_PROVIDER)
    place = default.location_option
    reason = automation_reason(env)
    if reason and not (place and resolved.get(place)):
        variables = ", ".join(env_names(place)) if place else ""
        raise InvalidOption(
            f"no provider is set and {reason}: the embedded {default.name} store would be created inside the job's"
            " container and lost when the job ends, and a later job (a rollback) would find nothing",
            provider=default.name,
            hint="Attach a vibebox.secrets credential to the job template (Vault, AWS Secrets Manager, GCP Secret"
                 " Manager, Azure Key Vault or Kubernetes; each sets SECRET_PROVIDER), or set the provider option."
                 f" To keep a {default.name} store on storage that outlives the job, set {place} ({variables},"
                 f" or attach the 'vibebox.secrets {default.name} store' credential)",
        )
    return ProviderChoice(default.name, "")


def throwaway_store_warning(raw: Mapping[str, Any], provider: str,
                            env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """A store that is a file (its SPEC.location_option), chosen on purpose in automation without that option:
    allowed (the job's storage may be mounted at the default path), but said, because a plain job container
    throws the store away when the job ends."""
    place = _registry.spec(provider).location_option if provider in _registry.PROVIDERS else None
    if not place or with_environment(raw, env).get(place):
        return None
    reason = automation_reason(env)
    if not reason:
        return None
    variables = ", ".join(env_names(place))
    return (f"vibebox.secrets: provider '{provider}' without {place} while {reason}: the store is written at its"
            " default path inside the job's environment, which a job container throws away when the job ends, and a"
            f" later job (a rollback, a rotation) would not find it. Set {place} ({variables}, or the 'vibebox.secrets"
            f" {provider} store' credential) to storage that outlives the job, or use a secret manager.")
