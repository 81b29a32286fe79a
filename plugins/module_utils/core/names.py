# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Logical name -> provider name, checked against the provider's own rules before any call.

Checking here, not in the service, is what lets a bad name fail before anything is written and
gives the same message for every provider. Each provider declares its NameRule in its own file
(``SPEC.name_rule``, read through core/registry.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core import registry as _registry
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidSecretName


@dataclass(frozen=True)
class NameRule:
    pattern: str
    max_length: int
    allowed: str
    default_prefix: str
    #: the whole provider-side name (prefix included) is checked for empty, '.' and '..' segments: the
    #: service reads it as a path (Vault), or it is where secrets wait before moving to one (local)
    paths: bool = False
    #: the provider-side name is derived from the logical name (never prefixed), and back
    derive: Optional[Callable[[str], str]] = None
    underive: Optional[Callable[[str], str]] = None

    def check(self, provider: str, logical: str, provider_name: str) -> None:
        if not provider_name or len(provider_name) > self.max_length:
            raise InvalidSecretName(
                f"the provider name must be 1-{self.max_length} characters (got {len(provider_name)})",
                provider=provider,
                name=logical,
                provider_name=provider_name,
                hint="Use a shorter name or prefix",
            )
        if not re.fullmatch(self.pattern, provider_name):
            raise InvalidSecretName(
                f"the provider name may contain only {self.allowed}",
                provider=provider,
                name=logical,
                provider_name=provider_name,
                hint="Rename the secret (for example lower-case words joined by '-')",
            )


_LOGICAL = re.compile(r"[A-Za-z0-9_.@+=/-]+")
#: path segments no name may have: Vault (and any HTTP path) folds ``a/./b`` and ``a//b`` into ``a/b`` and
#: ``a/../b`` into ``b``, so such a name would be written under another secret's name
_BAD_SEGMENTS = ("", ".", "..")


def check_segments(provider: str, logical: str, path: str) -> None:
    """Refuse empty, ``.`` and ``..`` segments in ``path`` (a logical name, or a provider name of a
    provider that reads names as paths), the same way for every provider and before any call."""
    segments = path.split("/")
    bad = [segment for segment in segments if segment in _BAD_SEGMENTS]
    if not bad:
        return
    phrases = {"": "an empty path segment (a leading, trailing or doubled '/')", ".": "a '.' path segment",
               "..": "a '..' path segment"}
    kinds = [phrase for segment, phrase in phrases.items() if segment in bad]
    cleaned = "/".join(segment for segment in segments if segment not in ("", "."))
    where = "the secret name" if path == logical else f"the provider name '{path}' (prefix + name)"
    hint = "Use a name without empty, '.' or '..' segments"
    if ".." not in segments and cleaned and path == logical:
        hint = f"Use '{cleaned}'"
    elif path != logical:
        hint = "Check the prefix: it must not start with '/', contain '//' or a '.' or '..' segment"
    raise InvalidSecretName(
        f"{where} has {' and '.join(kinds)}; a provider that reads names as paths (Vault writes 'a/./b' to"
        " 'a/b') would store it under another name",
        provider=provider,
        name=logical,
        hint=hint,
    )


def rule_of(provider: str) -> Optional[NameRule]:
    """The provider's own NameRule (None for an unknown provider or one without a rule)."""
    return _registry.spec(provider).name_rule if provider in _registry.PROVIDERS else None


def __getattr__(attribute: str) -> Dict[str, NameRule]:
    """``RULES``: provider -> NameRule, built on first use (it imports every provider module)."""
    if attribute == "RULES":
        return {item.name: item.name_rule for item in _registry.specs() if item.name_rule is not None}
    raise AttributeError(attribute)


def default_prefix(provider: str) -> str:
    rule = rule_of(provider)
    return rule.default_prefix if rule is not None else ""


def env_var_name(logical: str) -> str:
    """``jwt-secret`` -> ``JWT_SECRET``: the seed's development mapping."""
    return re.sub(r"[^A-Za-z0-9]", "_", logical).upper()


def logical_name_of(variable: str) -> str:
    """``JWT_SECRET`` -> ``jwt-secret``: env_var_name backwards, for listing."""
    return variable.lower().replace("_", "-")


def to_provider_name(provider: str, logical: str, prefix: Optional[str] = None) -> str:
    """Apply the prefix and check both the logical name and the result; raises InvalidSecretName."""
    if not isinstance(logical, str) or not logical:
        raise InvalidSecretName("a secret name must be a non-empty string", provider=provider, name=str(logical))
    if not _LOGICAL.fullmatch(logical):
        raise InvalidSecretName(
            "a secret name may contain only letters, digits and _.@+=/- (no spaces)",
            provider=provider,
            name=logical,
            hint="Use lower-case words joined by '-', e.g. database-password",
        )
    check_segments(provider, logical, logical)
    rule = rule_of(provider)
    if rule is not None and rule.derive is not None:
        provider_name = rule.derive(logical)
    else:
        provider_name = f"{default_prefix(provider) if prefix is None else prefix}{logical}"
    if rule is not None:
        if rule.paths:
            check_segments(provider, logical, provider_name)
        rule.check(provider, logical, provider_name)
    return provider_name


def to_logical_name(provider: str, provider_name: str, prefix: Optional[str] = None) -> Optional[str]:
    """Inverse of to_provider_name for listing; None when the name is not under the prefix."""
    rule = rule_of(provider)
    if rule is not None and rule.underive is not None:
        return rule.underive(provider_name)
    used = default_prefix(provider) if prefix is None else prefix
    if used and not provider_name.startswith(used):
        return None
    return provider_name[len(used):] or None
