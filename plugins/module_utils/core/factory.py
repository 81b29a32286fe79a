# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Options -> ``Resolved`` -> SecretManager.

Options are resolved once (``resolve``): the environment fills what the caller did not set, the
provider is chosen (option > SECRET_PROVIDER > detection > local), and what the chosen provider
needs is kept in a frozen ``Resolved`` whose ``key`` names the backend those options reach. Every
reader keys on that one value (the run cache helper, the lookups' direct reads), so two callers
whose raw options differ only in what the provider ignores share one manager, and nobody resolves
the same options a second time to build it (``build_manager(resolved)``).

The backend comes from the provider registry (core/registry.py), which imports the chosen
provider's file only, so a run with provider vault never imports boto3.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core import registry as _registry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog, resolve_audit_path
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager

DEFAULT_CACHE_TTL = 300.0

normalise_provider = _options.normalise_provider


@dataclass(frozen=True)
class Resolved:
    """Everything that decides which backend a read reaches and how its manager behaves.

    ``options`` holds only the chosen provider's own options (sorted pairs, so the object is
    immutable and compares by value); credentials among them stay in memory, and ``key`` is a
    SHA-256 over all fields, so it can name a backend in logs or dictionaries without showing one.
    """

    provider: str
    prefix: Optional[str]
    ttl: float
    audit_path: Optional[str]
    options: Tuple[Tuple[str, Any], ...] = ()
    #: how the provider was chosen (a module or lookup warns when detection chose it); not part of the key
    choice: Optional[_options.ProviderChoice] = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        canonical = json.dumps([self.provider, self.prefix, self.ttl, self.audit_path, self.options], default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def provider_options(self) -> Dict[str, Any]:
        return dict(self.options)

    def __repr__(self) -> str:  # never the options: they may hold a credential
        return f"Resolved(provider={self.provider!r}, prefix={self.prefix!r}, ttl={self.ttl!r})"


def resolve(raw_options: Mapping[str, Any], env: Optional[Mapping[str, str]] = None,
            forced: Optional[str] = None) -> Resolved:
    """The one resolution of a caller's options; ``forced`` names the provider outright (a fallback
    step, the development mode). Raises InvalidOption for an unknown provider, a bad cache_ttl, and
    the throwaway local store in automation (options.choose_provider)."""
    env = os.environ if env is None else env
    merged: Dict[str, Any] = _options.with_environment(raw_options, env)
    provider = normalise_provider(forced)
    choice = _options.ProviderChoice(provider) if provider else _options.choose_provider(merged, env)
    # only what reaches the backend, so the key changes with nothing the provider ignores
    own = set(_registry.option_names(choice.provider))
    if provider is None and choice.provider not in _registry.MEANING_PROVIDERS:
        _refuse_foreign_meaning(choice, merged, own)
    specific = tuple(sorted((key, value) for key, value in merged.items() if key in own))
    return Resolved(
        provider=choice.provider,
        prefix=_prefix(choice.provider, merged, env),
        ttl=_ttl(merged),
        audit_path=resolve_audit_path(merged.get("audit_log")),
        options=specific,
        choice=choice,
    )


def _refuse_foreign_meaning(choice: _options.ProviderChoice, merged: Mapping[str, Any], own: set) -> None:
    """InvalidOption, before any request, for an option that changes what a name means (a provider's
    ``meaning_options``, such as Vault's dynamic secrets) given to a provider that does not have it: dropped
    like any other foreign option, the read would silently return something else than was asked for (a
    stored secret named like the path, or nothing at all).

    Not checked for a forced provider: a fallback step or the development mode reads the same names from
    another provider on purpose, and there the option is meant for the first provider only. The providers
    that declare such options are imported only when one of them is set.
    """
    foreign = {key for key in _registry.MEANING_OPTIONS if merged.get(key) not in (None, "") and key not in own}
    if not foreign:
        return
    for option, (owner, neutral) in _registry.meaning_options().items():
        value = merged.get(option)
        if option not in foreign or str(value).strip().lower() in neutral:
            continue
        how = f" (detected from {choice.detected_from})" if choice.detected_from else ""
        raise InvalidOption(
            f"{option}={value} is an option of provider {owner} only, and the provider of this read is"
            f" '{choice.provider}'{how}, which would ignore it and read the name as a stored secret",
            provider=choice.provider,
            hint=f"Set provider: {owner} to read with {option}={value}, or remove {option}",
        )


def _prefix(provider: str, merged: Mapping[str, Any], env: Mapping[str, str]) -> Optional[str]:
    """prefix option > the provider's prefix variable of the seed > None (the provider's default, names.py)."""
    if merged.get("prefix") is not None:
        return str(merged["prefix"])
    variable = _options.PREFIX_ENV.get(provider)
    if variable and variable in env:
        return env[variable]
    return None


def _ttl(merged: Mapping[str, Any]) -> float:
    ttl = merged.get("cache_ttl")
    try:
        return DEFAULT_CACHE_TTL if ttl in (None, "") else float(ttl)
    except (TypeError, ValueError):
        raise InvalidOption(f"cache_ttl must be a number of seconds (got '{ttl}')") from None


def build_backend(provider: str, resolved: Mapping[str, Any]) -> SecretBackend:
    """The backend of ``provider`` for its resolved options (the registry imports that provider only)."""
    if provider not in _registry.PROVIDERS:
        raise InvalidOption(f"unknown provider '{provider}'")
    return _registry.build_backend(provider, resolved)


def build_manager(
    target: Union[Resolved, Mapping[str, Any]],
    env: Optional[Mapping[str, str]] = None,
    provider: Optional[str] = None,
) -> SecretManager:
    """The SecretManager for resolved options; raw options are resolved first (``env`` and ``provider``
    are then passed to ``resolve``), which is what modules, scripts and tests do."""
    resolved = target if isinstance(target, Resolved) else resolve(target, env, provider)
    return SecretManager(
        build_backend(resolved.provider, resolved.provider_options()),
        prefix=resolved.prefix,
        cache_ttl=resolved.ttl,
        audit=AuditLog(resolved.audit_path, resolved.provider),
        max_value_bytes=_registry.max_value_bytes(resolved.provider),
    )
