# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``vibebox.secrets.resolve``: ``${secret:...}`` / ``${env:...}`` references in a string.

The documentation is in resolve.yml next to this file (the form ansible-doc reads for filters).
Provider options are keyword arguments, since a filter has no lookup-style option sources; the read
goes through the same path as the lookups (reading.read: run cache, provider, fallback chain).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from jinja2 import pass_context

try:  # ansible-core 2.19 and later template only text the playbook wrote, never what a filter returns
    from ansible.template import trust_as_template as _data_tagging  # noqa: F401
    _untrusted = None
except ImportError:  # before 2.19 a fact's text is templated again whenever it is used, unless marked unsafe
    from ansible.utils.unsafe_proxy import wrap_var as _untrusted

from ansible_collections.vibebox.secrets.plugins.plugin_utils import bytecode

bytecode.install()  # before the collection's other imports: worker forks load them from __pycache__

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core import references as _references
from ansible_collections.vibebox.secrets.plugins.plugin_utils import reading as _reading

_OWN = ("strict", "bypass_cache", "ignore_grace", "on_expired")


def _text(value: Any, where: str) -> str:
    if isinstance(value, (bytes, str)):
        return to_text(value, errors="surrogate_or_strict")
    raise AnsibleFilterError(f"vibebox.secrets.resolve: {where} must be a string, not {type(value).__name__}")


def resolve(data: Any, strict: bool = True, bypass_cache: bool = False, ignore_grace: bool = False,
            **options: Any) -> Any:
    """Resolve every reference in a string (or in each string of a list or of a dict's values)."""
    return resolve_with(None, data, strict, bypass_cache, ignore_grace, **options)


@pass_context
def _resolve_in_template(context: Any, data: Any, strict: bool = True, bypass_cache: bool = False,
                         ignore_grace: bool = False, **options: Any) -> Any:
    """``resolve`` as templates call it: the template's variables show whether the run is an AWX job."""
    return resolve_with(context, data, strict, bypass_cache, ignore_grace, **options)


def resolve_with(variables: Optional[Mapping[str, Any]], data: Any, strict: bool = True, bypass_cache: bool = False,
                 ignore_grace: bool = False, **options: Any) -> Any:
    """``resolve``, with the variables of the template (None outside a template)."""
    unknown = sorted(set(options) - set(_options.OPTION_NAMES) - {"on_expired"})
    if unknown:
        raise AnsibleFilterError(
            f"vibebox.secrets.resolve: unknown option(s) {', '.join(unknown)}; the filter accepts strict, bypass_cache,"
            " ignore_grace, on_expired and the provider options (provider, prefix, cache_ttl, aws_region, vault_addr, ...)"
        )
    raw: Dict[str, Any] = {name: options.get(name) for name in _options.OPTION_NAMES}
    raw["on_expired"] = options.get("on_expired")
    if isinstance(strict, str):
        strict = strict.strip().lower() not in ("0", "false", "no", "off")
    seen = {"provider": ""}

    def read(items):
        try:
            outcomes = _reading.read(raw, items, bool(bypass_cache), variables=variables)
        except _errors.SecretError as exc:  # options that cannot work fail the filter, whatever strict says
            raise AnsibleFilterError(f"vibebox.secrets.resolve: {exc}") from None
        seen["provider"] = outcomes.provider or seen["provider"]
        return outcomes

    try:
        if isinstance(data, Mapping):
            keys: List[Any] = list(data)
            texts = [_text(data[key], f"the value of '{key}'") for key in keys]
        elif isinstance(data, (list, tuple)):
            keys = list(range(len(data)))
            texts = [_text(item, f"item {index}") for index, item in enumerate(data)]
        else:
            keys = []
            texts = [_text(data, "the input")]
        templates = [_references.parse(text) for text in texts]
        if isinstance(ignore_grace, str):
            ignore_grace = ignore_grace.strip().lower() in ("1", "true", "yes", "on")
        resolver = _references.Resolver(read, lambda: seen["provider"], strict=bool(strict), warn=_reading.display.warning,
                                        ignore_grace=bool(ignore_grace))
        values = resolver.resolve_all(templates)
    except _errors.SecretError as exc:
        raise AnsibleFilterError(f"vibebox.secrets.resolve: {exc}") from None
    if isinstance(data, Mapping):
        return _as_data(dict(zip(keys, values)))
    if isinstance(data, (list, tuple)):
        return _as_data(values)
    return _as_data(values[0])


def _as_data(result: Any) -> Any:
    """Mark the result unsafe where ansible-core would otherwise template it again (as it marks what lookups
    return): a secret holding ``{{ ... }}`` must stay text, not become code that runs on the controller."""
    return result if _untrusted is None else _untrusted(result)


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"resolve": _resolve_in_template}
