# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Environment variables as a read-only provider: ``jwt-secret`` reads ``JWT_SECRET``.

It is the seed's development mode (ENABLE_SECRET_MANAGER=false) and a fallback for reads; it cannot
write, because a process cannot change its parent's environment.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import SecretNotFound, VersionNotFound
from ansible_collections.vibebox.secrets.plugins.module_utils.core.names import NameRule, env_var_name, logical_name_of
from ansible_collections.vibebox.secrets.plugins.module_utils.core.registry import ProviderSpec
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata, is_current

PROVIDER = "env"


class EnvBackend(SecretBackend):
    name = PROVIDER
    read_only = True
    supports_versions = False
    supports_restore = False

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        self.environ = os.environ if environ is None else environ

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "EnvBackend":
        return cls()

    def get(self, name: str, version: Optional[str] = None) -> Secret:
        if not is_current(version):
            raise VersionNotFound(
                "environment variables have no versions", provider=PROVIDER, provider_name=name,
                hint="Ask for the current value, or keep versions in a provider such as local, vault or aws",
            )
        return Secret(self._value(name), self.describe(name))

    def _value(self, name: str) -> str:
        value = self.environ.get(name)
        if value is None:
            raise SecretNotFound(
                f"the environment variable {name} is not set", provider=PROVIDER, provider_name=name,
                hint=f"Export {name} for ansible-playbook, or choose another provider",
            )
        return value

    def describe(self, name: str) -> SecretMetadata:
        self._value(name)
        return SecretMetadata(name=name, version="current", stages=["current"], provider_name=name,
                              updated_at=_dt.datetime.now(_dt.timezone.utc))

    def set(self, name: str, value: str, description: Optional[str] = None,
            tags: Optional[Dict[str, str]] = None, expect_version: Optional[str] = None) -> SecretMetadata:
        raise self._read_only(name)

    def update_metadata(self, name: str, description: Optional[str] = None,
                        tags: Optional[Dict[str, str]] = None) -> SecretMetadata:
        raise self._read_only(name)

    def delete(self, name: str, recovery_days: Optional[int] = None, force: bool = False) -> None:
        raise self._read_only(name)

    def restore(self, name: str) -> SecretMetadata:
        raise self._read_only(name)

    def list(self, prefix: str = "") -> List[str]:
        return sorted(key for key in self.environ if key.startswith(prefix))


# what the rest of the collection knows about this provider (core/registry.py) -----------------------
SPEC = ProviderSpec(
    name=PROVIDER,
    backend=EnvBackend,
    aliases=("environment",),
    # jwt-secret is read from JWT_SECRET: the name is derived, never prefixed
    name_rule=NameRule(r"[A-Za-z_][A-Za-z0-9_]*", 255, "letters, digits and '_' (not starting with a digit)", "",
                       derive=env_var_name, underive=logical_name_of),
)
