# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Errors every provider raises, so plugins can turn them into one kind of Ansible failure.

The messages are built here, in one place, so that each one names the provider, the logical and
provider-side name and the next step, and so that no caller is tempted to put a value into one.
"""
from __future__ import annotations

import json
from typing import Optional


def scrub(text: object, secret_value: Optional[str]) -> str:
    """A service's message with the value we sent replaced by ``<hidden>``, then cut to 300 characters.

    Services echo a rejected request in their error (``Value '{...}' at 'secretString'``), and the
    message is shown to the user and written to the audit log: no message may carry the value. The
    value is hidden before the message is cut: cut first, a long value would be only partly in the
    message, match nowhere and stay readable up to the cut. It is searched as sent and as a JSON or
    Python string would echo it (quotes, backslashes, newlines escaped). Values shorter than 4
    characters are not searched for: hiding them would blank out ordinary words and point at the
    value instead of hiding it.
    """
    text = str(text)
    if secret_value and len(secret_value) >= 4:
        for form in _echoed_forms(secret_value):
            text = text.replace(form, "<hidden>")
    return text[:300]


def _echoed_forms(value: str) -> list:
    """The value as a service may quote it back, longest first (so no form is left half-replaced)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1]}
    return sorted(forms, key=len, reverse=True)


class SecretError(Exception):
    """Base of every error the collection raises about a secret or a provider."""

    #: short machine-readable kind, used by lookups' on_missing/on_denied/on_deleted and the audit log
    kind = "error"

    def __init__(
        self,
        reason: str,
        *,
        provider: Optional[str] = None,
        name: Optional[str] = None,
        provider_name: Optional[str] = None,
        hint: Optional[str] = None,
    ) -> None:
        self.reason = reason
        self.provider = provider
        self.name = name
        self.provider_name = provider_name
        self.hint = hint
        super().__init__(reason)

    def with_context(
        self, *, provider: Optional[str] = None, name: Optional[str] = None, provider_name: Optional[str] = None
    ) -> "SecretError":
        """Fill in what the raising layer did not know (a backend knows only the provider name)."""
        if provider and not self.provider:
            self.provider = provider
        if name and not self.name:
            self.name = name
        if provider_name and not self.provider_name:
            self.provider_name = provider_name
        return self

    def __str__(self) -> str:
        parts = []
        if self.provider:
            parts.append(f"[{self.provider}]")
        if self.name and self.provider_name and self.name != self.provider_name:
            parts.append(f"secret '{self.name}' ({self.provider_name}):")
        elif self.name or self.provider_name:
            parts.append(f"secret '{self.name or self.provider_name}':")
        parts.append(self.reason)
        text = " ".join(parts)
        if self.hint:
            text = f"{text}. {self.hint}"
        return text


class SecretNotFound(SecretError):
    kind = "missing"


class SecretDenied(SecretError):
    kind = "denied"


class SecretDeleted(SecretError):
    """The secret exists but is scheduled for deletion (soft-deleted); it can be restored."""

    kind = "deleted"


class SecretExpired(SecretError):
    """A read found the secret past the expiry stored with it, and ``on_expired: error`` was asked."""

    kind = "expired"


class InvalidSecretName(SecretError):
    kind = "invalid"


class InvalidSecretValue(SecretError):
    kind = "invalid"


class WeakSecretValue(InvalidSecretValue):
    """A value the strength policy refuses (core/strength.py); the message names the rule, never the value."""

    kind = "weak_value"


class InvalidOption(SecretError):
    kind = "invalid"


class VersionNotFound(SecretNotFound):
    kind = "missing"


class ProviderUnavailable(SecretError):
    """The service cannot be reached or is overloaded; ``retryable`` says whether trying again may help."""

    kind = "unavailable"

    def __init__(self, reason: str, *, retryable: bool = True, **kwargs: Optional[str]) -> None:
        super().__init__(reason, **kwargs)
        self.retryable = retryable


class ProviderThrottled(ProviderUnavailable):
    kind = "throttled"


class ProviderUnreachable(ProviderUnavailable):
    """No answer came back from the service: the connection was refused, timed out, failed TLS or DNS.

    Built by core/network.py ``unreachable()`` so every provider names the endpoint it tried and the
    kind of failure the same way.
    """

    def __init__(self, reason: str, *, endpoint: str = "", failure: str = "", retryable: bool = True,
                 **kwargs: Optional[str]) -> None:
        super().__init__(reason, retryable=retryable, **kwargs)
        self.endpoint = endpoint
        self.failure = failure


class ProviderNotInstalled(SecretError):
    kind = "not_installed"

    def __init__(self, provider: str, package: str, import_error: Optional[BaseException] = None) -> None:
        detail = f" ({import_error})" if import_error else ""
        super().__init__(
            f"the Python package '{package}' is not installed on this host{detail}",
            provider=provider,
            hint=f"Install it with 'pip install {package}' in the Python that runs Ansible"
            " (or add it to the execution environment)",
        )
        self.package = package


class ReadOnlyProvider(SecretError):
    kind = "read_only"


class SecretConflict(SecretError):
    """Somebody else changed the secret between our read and our write (check-and-set lost)."""

    kind = "conflict"


class UnsupportedOperation(SecretError):
    kind = "unsupported"


class DotenvSyntaxError(SecretError):
    """A ``.env`` line that no dotenv loader would accept.

    The message names the file, line and column, and never the text of the line: a malformed line is
    often the second half of a value that should have been quoted, i.e. part of a secret.
    """

    kind = "invalid"

    def __init__(self, reason: str, *, file: Optional[str], line: int, column: int,
                 hint: Optional[str] = None) -> None:
        super().__init__(reason, hint=hint)
        self.file = file
        self.line = line
        self.column = column

    @property
    def source(self) -> Optional[str]:
        """Same as ``file``; the name the reference parser uses for the same idea."""
        return self.file

    def __str__(self) -> str:
        text = f"{self.file or '<string>'}, line {self.line}, column {self.column}: {self.reason}"
        return f"{text}. {self.hint}" if self.hint else text
