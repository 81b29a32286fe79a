# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Options -> backend -> SecretManager, with the seed's provider auto-detection.

Provider modules are imported here one by one, inside the function that needs them, so a run
with provider vault never imports boto3 (and AnsiballZ still sees each import and ships the file).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog, resolve_audit_path
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager

DEFAULT_CACHE_TTL = 300.0

#: environment variable whose presence selects a provider, in the seed's order (kept here for callers)
_DETECT = _options.DETECTION

#: service limits on one value, checked before any write
MAX_VALUE_BYTES = {
    "aws": 65536,
    "gcp": 65536,
    "azure": 25 * 1024,
    "vault": 1024 * 1024,
    "kubernetes": 1024 * 1024,
    "local": 1024 * 1024,
}


normalise_provider = _options.normalise_provider


def provider_choice(raw_options: Mapping[str, Any], env: Optional[Mapping[str, str]] = None,
                    provider: Optional[str] = None) -> _options.ProviderChoice:
    """The provider these options reach and how it was chosen; ``provider`` forces one (a fallback step,
    the development mode). Raises InvalidOption for an unknown provider and for the throwaway local
    store in automation (options.choose_provider)."""
    forced = normalise_provider(provider)
    if forced:
        return _options.ProviderChoice(forced)
    return _options.choose_provider(_options.with_environment(raw_options, env), env)


def detect_provider(resolved: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> str:
    """provider option (or SECRET_PROVIDER, already merged) > environment detection > local."""
    return _options.choose_provider(resolved, env).provider


def build_backend(provider: str, resolved: Mapping[str, Any]) -> SecretBackend:
    if provider == "local":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import local

        return local.LocalBackend.from_options(resolved)
    if provider == "env":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import env

        return env.EnvBackend.from_options(resolved)
    if provider == "vault":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault

        return vault.VaultBackend.from_options(resolved)
    if provider == "aws":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws

        return aws.AwsBackend.from_options(resolved)
    if provider == "gcp":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import gcp

        return gcp.GcpBackend.from_options(resolved)
    if provider == "azure":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import azure

        return azure.AzureBackend.from_options(resolved)
    if provider == "kubernetes":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import kubernetes

        return kubernetes.KubernetesBackend.from_options(resolved)
    raise InvalidOption(f"unknown provider '{provider}'")


def resolve_prefix(provider: str, resolved: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    env = os.environ if env is None else env
    if resolved.get("prefix") is not None:
        return str(resolved["prefix"])
    variable = _options.PREFIX_ENV.get(provider)
    if variable and variable in env:
        return env[variable]
    return None  # the provider's default (names.py)


def cache_ttl_of(resolved: Mapping[str, Any]) -> float:
    """Seconds a value read with these (resolved) options may be reused; the run cache uses the same."""
    ttl = resolved.get("cache_ttl")
    try:
        return DEFAULT_CACHE_TTL if ttl in (None, "") else float(ttl)
    except (TypeError, ValueError):
        raise InvalidOption(f"cache_ttl must be a number of seconds (got '{ttl}')") from None


def build_manager(
    raw_options: Mapping[str, Any],
    env: Optional[Mapping[str, str]] = None,
    provider: Optional[str] = None,
) -> SecretManager:
    """The SecretManager for these options; ``provider`` forces one (fallback chain, dev mode)."""
    resolved: Dict[str, Any] = _options.with_environment(raw_options, env)
    chosen = normalise_provider(provider) or detect_provider(resolved, env)  # may refuse (choose_provider)
    cache_ttl = cache_ttl_of(resolved)
    backend = build_backend(chosen, resolved)
    return SecretManager(
        backend,
        prefix=resolve_prefix(chosen, resolved, env),
        cache_ttl=cache_ttl,
        audit=AuditLog(resolve_audit_path(resolved.get("audit_log")), chosen),
        max_value_bytes=MAX_VALUE_BYTES.get(chosen),
    )
