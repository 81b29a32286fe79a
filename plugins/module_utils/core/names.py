# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Logical name -> provider name, checked against the provider's own rules before any call.

Checking here, not in the service, is what lets a bad name fail before anything is written and
gives the same message for every provider.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidSecretName


@dataclass(frozen=True)
class NameRule:
    pattern: str
    max_length: int
    allowed: str
    default_prefix: str

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


RULES: Dict[str, NameRule] = {
    "aws": NameRule(r"[A-Za-z0-9/_+=.@-]+", 512, "letters, digits and /_+=.@-", "vibebox/"),
    "gcp": NameRule(r"[A-Za-z0-9_-]+", 255, "letters, digits, '_' and '-'", "vibebox-"),
    "azure": NameRule(r"[A-Za-z0-9-]+", 127, "letters, digits and '-'", "vibebox-"),
    "vault": NameRule(r"[A-Za-z0-9_.@+=-]+(/[A-Za-z0-9_.@+=-]+)*", 512, "path segments of letters, digits and _.@+=-", "vibebox/"),
    "kubernetes": NameRule(r"[-._a-zA-Z0-9]+", 253, "letters, digits and -._", ""),
    "env": NameRule(r"[A-Za-z_][A-Za-z0-9_]*", 255, "letters, digits and '_' (not starting with a digit)", ""),
    "local": NameRule(r"[A-Za-z0-9_.@+=/-]+", 512, "letters, digits and _.@+=/-", ""),
}

_LOGICAL = re.compile(r"[A-Za-z0-9_.@+=/-]+")
#: path segments no name may have: Vault (and any HTTP path) folds ``a/./b`` and ``a//b`` into ``a/b`` and
#: ``a/../b`` into ``b``, so such a name would be written under another secret's name
_BAD_SEGMENTS = ("", ".", "..")
#: providers whose whole provider-side name (prefix included) is checked for such segments: Vault reads it as
#: a path; the local store does not, but it is where secrets wait before they move to a real secret manager,
#: and a prefix Vault would fold must be refused when it is typed, not when the move fails
PATH_PROVIDERS = ("vault", "local")


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


def default_prefix(provider: str) -> str:
    return RULES[provider].default_prefix if provider in RULES else ""


def env_var_name(logical: str) -> str:
    """``jwt-secret`` -> ``JWT_SECRET``: the seed's development mapping."""
    return re.sub(r"[^A-Za-z0-9]", "_", logical).upper()


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
    if provider == "env":
        provider_name = env_var_name(logical)
    else:
        provider_name = f"{default_prefix(provider) if prefix is None else prefix}{logical}"
    rule = RULES.get(provider)
    if rule:
        if provider in PATH_PROVIDERS:
            check_segments(provider, logical, provider_name)
        rule.check(provider, logical, provider_name)
    return provider_name


def to_logical_name(provider: str, provider_name: str, prefix: Optional[str] = None) -> Optional[str]:
    """Inverse of to_provider_name for listing; None when the name is not under the prefix."""
    used = default_prefix(provider) if prefix is None else prefix
    if provider == "env":
        return provider_name.lower().replace("_", "-")
    if used and not provider_name.startswith(used):
        return None
    return provider_name[len(used):] or None
