# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""The providers the collection knows: the one place that names their modules.

Everything that is true of one provider (its options, name rule, default prefix, size limit,
detection variable, prefix variable, run-cache key options, fallback forms, backend class) is
declared in its own file under ``providers/`` as ``SPEC``, a ``ProviderSpec``. This file only lists
the provider modules and loads one when it is needed, with a static import inside a function: the
run of a lookup with ``provider: local`` imports no other provider's module, and AnsiballZ, which
reads a module's imports, still finds and ships every provider file with a module that may use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

#: every provider, in the order users see them listed (messages, ``choices``, documentation)
PROVIDERS: Tuple[str, ...] = ("aws", "gcp", "azure", "vault", "kubernetes", "env", "local")
#: the provider used when none is set and none is detected: the embedded store needs no server
DEFAULT_PROVIDER = "local"
#: the providers an environment variable selects when no provider is set, in the original scripts' order
DETECTION_ORDER: Tuple[str, ...] = ("vault", "aws", "gcp", "azure", "kubernetes")


@dataclass(frozen=True)
class Option:
    """One provider option: its argument spec (type, no_log, choices) and the environment variables
    read, in order, when it is not set."""

    name: str
    spec: Dict[str, Any]
    env: Tuple[str, ...] = ()

    @property
    def secret(self) -> bool:
        return bool(self.spec.get("no_log"))


@dataclass(frozen=True)
class ProviderSpec:
    """What the rest of the collection may know about one provider, declared in the provider's file."""

    name: str
    #: ``SecretBackend`` subclass with ``from_options(options)``
    backend: Any
    aliases: Tuple[str, ...] = ()
    options: Tuple[Option, ...] = ()
    #: names.NameRule: the provider-side name rule and the default prefix (None: no rule)
    name_rule: Any = None
    #: the service's limit on one value, in bytes, checked before any write (None: no limit)
    max_value_bytes: Optional[int] = None
    #: environment variable whose presence selects this provider when none is set
    detected_by: Optional[str] = None
    #: environment variable of the original scripts that sets this provider's prefix
    prefix_env: Optional[str] = None
    #: options that decide what a read returns (which store, read as whom); None: every option of the
    #: provider. Credentials belong here: a token allowed fewer paths must not get another's answers
    cache_key_options: Optional[Tuple[str, ...]] = None
    #: ``fallback`` entries of its own: (entry, base options, resolved options) -> steps or None
    fallback: Optional[Callable[[str, Mapping[str, Any], Mapping[str, Any]], Optional[List[tuple]]]] = None
    #: how those entries are written, for the message about an unknown entry
    fallback_forms: Tuple[str, ...] = ()
    #: the option that says where its store lives on this host (a store that is a file), if any
    location_option: Optional[str] = None
    #: the pip package(s) its SDK comes from ('' for none)
    package: str = ""
    #: options that change what a name means rather than how the provider is reached, each with the values
    #: that mean what every provider does anyway (a stored secret); given with another provider they are
    #: refused instead of dropped (factory.resolve). A provider that declares any is listed in MEANING_PROVIDERS
    meaning_options: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()

    def build(self, options: Mapping[str, Any]) -> Any:
        """A backend for these (resolved) options."""
        return self.backend.from_options(options)


def _load(name: str) -> Any:
    """The provider's module; each import is written out so AnsiballZ sees it."""
    if name == "aws":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import aws as module
    elif name == "gcp":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import gcp as module
    elif name == "azure":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import azure as module
    elif name == "vault":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault as module
    elif name == "kubernetes":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import kubernetes as module
    elif name == "env":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import env as module
    elif name == "local":
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import local as module
    else:
        raise KeyError(name)
    return module


def spec(name: str) -> ProviderSpec:
    """The declaration of provider ``name`` (canonical name); KeyError for an unknown one."""
    return _load(name).SPEC


def specs() -> List[ProviderSpec]:
    """Every provider's declaration, in PROVIDERS order (imports every provider module, never an SDK)."""
    return [spec(name) for name in PROVIDERS]


def aliases() -> Dict[str, str]:
    """Other names users may type for a provider -> its name (from the option table: no import)."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import option_table

    return dict(option_table.ALIASES)


def all_options() -> Tuple[Option, ...]:
    """Every provider's own options in PROVIDERS order, read from the option table (a copy of the
    providers' SPECs that hacking/render_option_table.py keeps in step), so listing them imports no
    provider module: a module's argument spec needs them all in every run."""
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import option_table

    return tuple(Option(name, dict(spec), tuple(env)) for _provider, name, spec, env in option_table.OPTIONS)


def canonical(name: str) -> Optional[str]:
    """``name`` as typed (any case) -> the provider's name, None when it is no provider.

    A provider's own name is recognised without importing anything, so choosing one imports only
    that provider's module.
    """
    key = str(name).strip().lower()
    if key in PROVIDERS:
        return key
    return aliases().get(key)


def build_backend(provider: str, options: Mapping[str, Any]) -> Any:
    """The backend of ``provider`` (canonical name) for these resolved options."""
    return spec(provider).build(options)


def import_sdk(provider: str) -> None:
    """Import the SDK of ``provider`` (canonical name) now; ProviderNotInstalled names the pip package.

    Every provider module names its lazy import ``_sdk``; one that needs no SDK has none. Used where an
    import can be made ahead of the first read (the run cache helper started with the playbook).
    """
    load_sdk = getattr(_load(provider), "_sdk", None)
    if load_sdk is not None:
        load_sdk()


def max_value_bytes(provider: str) -> Optional[int]:
    return spec(provider).max_value_bytes if provider in PROVIDERS else None


def prefix_env(provider: str) -> Optional[str]:
    return spec(provider).prefix_env if provider in PROVIDERS else None


def option_names(provider: str) -> Tuple[str, ...]:
    """The names of the provider's own options (not the common ones: provider, prefix, ...)."""
    return tuple(option.name for option in spec(provider).options)


def key_options(provider: str) -> Tuple[str, ...]:
    """The provider's options that decide what a read returns, for the run cache's key."""
    own = spec(provider).cache_key_options
    return option_names(provider) if own is None else own


class PerProvider(Mapping):
    """provider -> one fact of its SPEC (providers without it left out), read on demand: looking up
    one provider imports only that provider's module; iterating imports them all."""

    def __init__(self, fact: Callable[[ProviderSpec], Any]) -> None:
        self._fact = fact

    def __getitem__(self, provider: str) -> Any:
        value = self._fact(spec(provider)) if provider in PROVIDERS else None
        if value is None:
            raise KeyError(provider)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter([name for name in PROVIDERS if self._fact(spec(name)) is not None])

    def __len__(self) -> int:
        return len(list(iter(self)))


class Detection(Sequence):
    """(environment variable, provider) pairs in DETECTION_ORDER, built on first use."""

    def _pairs(self) -> List[Tuple[str, str]]:
        return [(spec(name).detected_by, name) for name in DETECTION_ORDER if spec(name).detected_by]

    def __getitem__(self, index: Any) -> Any:
        return self._pairs()[index]

    def __len__(self) -> int:
        return len(self._pairs())


def meaning_options() -> Dict[str, Tuple[str, Tuple[str, ...]]]:
    """option -> (its provider, its neutral values), for every option some provider declares as changing what
    a name means (imports the MEANING_PROVIDERS' files, not their SDKs)."""
    return {option: (name, neutral) for name in __getattr__("MEANING_PROVIDERS") for option, neutral in spec(name).meaning_options}


def __getattr__(attribute: str) -> Tuple[str, ...]:
    """``MEANING_OPTIONS`` (options some provider's SPEC declares as changing what a name means) and
    ``MEANING_PROVIDERS`` (the providers that declare them), from the generated option table: a read of
    another provider is checked for them without importing any provider's file unless one is set. Read
    lazily so that hacking/render_option_table.py can import this file to write a table that lacks them."""
    if attribute in ("MEANING_OPTIONS", "MEANING_PROVIDERS"):
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import option_table

        return tuple(getattr(option_table, attribute, ()))
    raise AttributeError(attribute)
