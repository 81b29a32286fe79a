# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Base class of the collection's lookups: option handling and Ansible errors.

Reading is not here: the lookups call reading.read and reading.apply_policies, the one read path
they share with the resolve filter. Ansible imports a lookup afresh in every worker fork (one per
host and task) and loads the collection code it imports each time (from bytecode.py's cache, or
compiled from source by Ansible's loader), so this file imports neither the collection's core nor a provider.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from typing import Any, Iterable, Iterator

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

display = Display()

_CORE_ERRORS = "ansible_collections.vibebox.secrets.plugins.module_utils.core.errors"

# Plugin option definitions, shipped with the collection ---------------------------------------------
#
# Before a worker can call a lookup, Ansible parses the plugin's DOCUMENTATION and every doc fragment it
# extends with its YAML loader, in each fork. Our lookups take ~50 provider options from fragments, so
# that parse costs more CPU than the lookup (about 60 ms per fork, measured; 10 forks at once at the
# start of a run). Ansible skips the parse when the plugin's definitions are already registered, so
# the lookups register the definitions hacking/render_option_definitions.py wrote with Ansible's own
# parser, when the digest of the documentation and its fragments still matches. Registering goes
# through ansible-core's config manager, which is not a public API: it is done only on the
# ansible-core releases the file lists (the version matrix checks, on each, that the definitions equal
# Ansible's own parse), and anything unexpected leaves Ansible to parse as usual.

_COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_DEFINITIONS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "option_definitions.json")


def documentation_digest(documentation: str, fragments: Iterable[str]) -> str:
    digest = hashlib.sha256(documentation.encode("utf-8"))
    for relative in fragments:
        with open(os.path.join(_COLLECTION_ROOT, relative), "rb") as handle:
            digest.update(b"\0" + relative.encode("utf-8") + b"\0" + handle.read())
    return digest.hexdigest()


def register_option_definitions(module_name: str) -> bool:
    """Register the shipped option definitions of lookup ``module_name`` if they are current."""
    try:
        from ansible import constants as C

        if C.config.has_configuration_definition("lookup", module_name):
            return False
        from ansible.release import __version__ as core_version

        documentation = getattr(sys.modules.get(module_name), "DOCUMENTATION", None)
        with open(_DEFINITIONS_FILE, encoding="utf-8") as handle:
            shipped = json.load(handle)
        if ".".join(core_version.split(".")[:2]) not in shipped.get("ansible_core", ()):
            return False  # not checked against this ansible-core release: Ansible parses the documentation
        entry = shipped["plugins"].get(module_name)
        if not isinstance(documentation, str) or not entry or entry.get("fragments") is None:
            return False
        if entry.get("digest") != documentation_digest(documentation, entry["fragments"]):
            return False  # documentation edited since the file was written: Ansible parses it
        C.config.initialize_plugin_configuration_definitions("lookup", module_name, entry["options"])
    except Exception:  # an optimisation only: Ansible parses the documentation as usual
        return False
    return True


class SecretLookupBase(LookupBase):
    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Runs while the lookup's module is being imported, i.e. before Ansible reads its options.
        super().__init_subclass__(**kwargs)
        register_option_definitions(cls.__module__)

    def set_options(self, task_keys=None, var_options=None, direct=None):
        """Render templates in ``vibebox_secrets_<option>`` variables before Ansible reads them.

        Ansible hands variables to plugin options as written, so a variable such as
        ``vibebox_secrets_local_path: "{{ state_dir }}/secrets.db"`` would otherwise arrive as text
        (and, for a path, be made absolute around the braces). The variables are also kept for
        reading.read: an AWX job shows itself by its extra variables.
        """
        self._variables = var_options
        templar = getattr(self, "_templar", None)
        if var_options and templar is not None:
            templated = [key for key, value in var_options.items()
                         if key.startswith("vibebox_secrets_") and isinstance(value, str) and "{{" in value]
            if templated:
                var_options = dict(var_options)
                for key in templated:
                    var_options[key] = templar.template(var_options[key])
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)

    @staticmethod
    def fail(exc: BaseException) -> AnsibleLookupError:
        return AnsibleLookupError(f"vibebox.secrets: {exc}")

    @contextlib.contextmanager
    def reporting(self) -> Iterator[None]:
        """Turn the core's errors (which never hold a value) into AnsibleLookupError.

        The core's errors module is looked up, not imported: one of its errors can only be raised once
        it is loaded, and a fork the run cache serves never loads it.
        """
        try:
            yield
        except Exception as exc:
            errors = sys.modules.get(_CORE_ERRORS)
            if errors is not None and isinstance(exc, errors.SecretError):
                raise self.fail(exc) from None
            raise
