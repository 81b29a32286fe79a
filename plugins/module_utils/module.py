# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What every module of the collection does the same way: argument spec, manager, failure.

Modules only describe their own options and decide what changes; everything about providers
comes from core, so a module reads the same options and fails the same way as a lookup.
"""
from __future__ import annotations

from typing import Any, Dict, NoReturn, Optional

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory as _factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager


#: the strength policy of a writing module (documented by the vibebox.secrets.policy doc fragment); a
#: free dict, checked by core/strength.py so that the error names the field and the rule
POLICY_ARGUMENTS: Dict[str, Dict[str, Any]] = dict(
    policy=dict(type="dict"),
    policy_mode=dict(type="str", choices=list(_strength.MODES), default=_strength.DEFAULT_MODE),
)


def build_module(own_spec: Dict[str, Dict[str, Any]], **kwargs: Any) -> AnsibleModule:
    spec = _options.provider_argument_spec()
    spec.update(own_spec)
    return AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)


def fail(module: AnsibleModule, exc: BaseException, *, msg: Optional[str] = None, **result: Any) -> NoReturn:
    """fail_json with the core error's message (which never holds a value), or ``msg`` built from it, and its kind."""
    kind = getattr(exc, "kind", "error")
    module.fail_json(msg=str(exc) if msg is None else msg, error_kind=kind, **result)
    raise AssertionError("unreachable")  # pragma: no cover


def manager_for(module: AnsibleModule, provider: Optional[str] = None) -> SecretManager:
    """The manager for the task's options; refuses the throwaway local store in automation.

    When nothing chose the provider, the module says which one was detected and from which variable.
    Every module and host says it in the same words, and Ansible shows a warning text once per run,
    so a run reads it once however many tasks and hosts it has.
    """
    raw = _options.from_module(module.params)
    try:
        resolved = _factory.resolve(raw, forced=provider)
        if resolved.choice is not None and resolved.choice.automatic:
            module.warn(resolved.choice.notice)
        throwaway = _options.throwaway_store_warning(raw, resolved.provider)
        if throwaway:
            module.warn(throwaway)
        return _factory.build_manager(resolved)
    except _errors.SecretError as exc:
        fail(module, exc)


def enforcer_for(module: AnsibleModule) -> _strength.Enforcer:
    """The strength policy of the task (``policy``, ``policy_mode``; the action plugin has filled them from
    the collection-wide sources); fails naming the bad field before any request."""
    try:
        return _strength.Enforcer.from_options(module.params.get("policy"), module.params.get("policy_mode"))
    except _errors.SecretError as exc:
        fail(module, exc, changed=False)
