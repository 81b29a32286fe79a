# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Base class of the collection's lookups: options -> SecretManager, core errors -> Ansible errors.

Every lookup goes through ``fetch_many`` so the run cache (run_cache.py) sits in exactly one place.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory as _factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret

display = Display()

#: one manager per distinct option set in this process, so repeated lookups share one client and cache
_MANAGERS: Dict[tuple, SecretManager] = {}

ON_FAILURE_CHOICES = ("error", "warn", "skip")


def _options_key(resolved: Mapping[str, Any], provider: Optional[str]) -> tuple:
    return (provider,) + tuple((key, repr(resolved.get(key))) for key in _options.OPTION_NAMES)


class SecretLookupBase(LookupBase):
    def provider_options(self) -> Dict[str, Any]:
        return _options.from_lookup(self.get_option)

    def manager(self, provider: Optional[str] = None) -> SecretManager:
        """The shared manager for these options; ENABLE_SECRET_MANAGER=false reads from env."""
        raw = self.provider_options()
        if provider is None and not raw.get("provider") and not _options.secret_manager_enabled():
            provider = "env"
        key = _options_key(raw, provider)
        found = _MANAGERS.get(key)
        if found is None:
            try:
                found = _factory.build_manager(raw, provider=provider)
            except _errors.SecretError as exc:
                raise AnsibleLookupError(str(exc)) from None
            _MANAGERS[key] = found
        return found

    def fetch_many(self, manager: SecretManager, names: Iterable[str], version: Optional[str] = None,
                   bypass_cache: bool = False) -> Dict[str, object]:
        """name -> Secret or SecretError; current versions in one batch, others one by one."""
        names = list(dict.fromkeys(names))
        if version in (None, "", "current"):
            try:
                return manager.get_many(names, bypass_cache=bypass_cache)
            except _errors.SecretError as exc:
                return {name: exc for name in names}
        results: Dict[str, object] = {}
        for name in names:
            try:
                results[name] = manager.get(name, version=version, bypass_cache=bypass_cache)
            except _errors.SecretError as exc:
                results[name] = exc
        return results

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
