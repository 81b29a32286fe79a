# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Base class of the collection's lookups: options -> reads -> Ansible errors.

Ansible imports a lookup afresh in every worker fork (one per host and task) and compiles
collection code from source each time, so what a fork imports is paid for by every host. This file
is all the get lookup needs in the common case, where the run cache (run_cache.py) has every secret:
it sends the options and names to the run cache helper and takes the plain answers
(``read_answers``). Anything else (a missing secret and its policy, ``fallback``, the development
mode, direct reads when the run cache is off, the dotenv lookup, the resolve filter) goes through
reading.py, imported on first need, which turns answers into Secret/SecretError objects.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.vibebox.secrets.plugins.plugin_utils import run_cache as _run_cache

display = Display()

Item = Tuple[str, Optional[str]]
_CURRENT = (None, "", "current")
#: providers read in the asking process, never through the run cache (reading a variable costs nothing)
_IN_PROCESS = ("env", "environment")


class RunCacheAnswers:
    """What the run cache said for one lookup call: the provider it used and one plain answer per item."""

    __slots__ = ("provider", "version", "by_item")

    def __init__(self, provider: str, version: Optional[str], by_item: Dict[Item, Dict[str, Any]]) -> None:
        self.provider = provider
        self.version = version
        self.by_item = by_item

    def values(self, names: Iterable[str]) -> Optional[List[Any]]:
        """The values of ``names`` in order, or None if any answer is not a value."""
        found = []
        for name in names:
            answer = self.by_item[(name, self.version)]
            if "value" not in answer:
                return None
            found.append(answer["value"])
        return found


def _reading():
    """reading.py, imported on first need (see the module docstring)."""
    from ansible_collections.vibebox.secrets.plugins.plugin_utils import reading

    return reading


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
        ``settle_provider``: an AWX job shows itself by its extra variables.
        """
        self._variables = var_options
        self._settled = False
        templar = getattr(self, "_templar", None)
        if var_options and templar is not None:
            templated = [key for key, value in var_options.items()
                         if key.startswith("vibebox_secrets_") and isinstance(value, str) and "{{" in value]
            if templated:
                var_options = dict(var_options)
                for key in templated:
                    var_options[key] = templar.template(var_options[key])
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)

    def settle_provider(self) -> None:
        """Before the first read of a call that sets no provider: refuse the throwaway local store of an
        AWX/AAP job and say (once per run) which provider detection chose (reading.settle_provider).

        With a provider set (option, variable, SECRET_PROVIDER, ansible.cfg) this imports nothing.
        """
        if getattr(self, "_settled", False):
            return
        self._settled = True
        if str(self.get_option("provider") or "").strip():
            return
        reading = _reading()
        from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors

        try:
            reading.settle_provider(reading.lookup_options(self.get_option), variables=getattr(self, "_variables", None))
        except _errors.SecretError as exc:
            raise self.fail(exc) from None

    # the common case: the run cache has every secret ----------------------------------------------
    def _run_cache_applies(self) -> bool:
        """Whether these options read through the run cache as they are, with nothing to decide first.

        False sends the read to reading.fetch, which knows every case; this only has to be sure.
        """
        if not _run_cache.enabled():
            return False
        provider = str(self.get_option("provider") or "").strip().lower()
        if provider in _IN_PROCESS:
            return False
        if not provider and os.environ.get("ENABLE_SECRET_MANAGER", "").strip():
            return False  # the development mode may read from env: reading.forced_provider decides
        ttl = self.get_option("cache_ttl")
        if ttl not in (None, ""):
            try:
                if float(ttl) <= 0:
                    return False  # cache_ttl: 0 asks for a fresh read every time
            except (TypeError, ValueError):
                return False  # reading.fetch reports it
        return True

    def read_answers(self, names: List[str], version: Optional[str] = None) -> Optional[RunCacheAnswers]:
        """The run cache's plain answers for ``names``, or None when the run cache does not apply here
        or is unavailable (then reading.py decides, and warns when it should)."""
        if not self._run_cache_applies():
            return None
        self.settle_provider()
        wanted = None if version in _CURRENT else str(version)
        items = list(dict.fromkeys((name, wanted) for name in names))
        try:
            provider, answers = _run_cache.client().fetch_raw(self._options, None, items)
        except (_run_cache.RunCacheUnavailable, OSError):
            return None
        display.vvvv(f"vibebox.secrets: {len(items)} secret(s) through the run cache ({provider})")
        return RunCacheAnswers(provider, wanted, dict(zip(items, answers)))

    # everything else: reading.py --------------------------------------------------------------------
    def reader(self):
        """reading.LookupReader for this lookup: policies, fallback, direct reads (imported on first need)."""
        return _reading().LookupReader(self)

    @staticmethod
    def fail(exc: BaseException) -> AnsibleLookupError:
        return AnsibleLookupError(f"vibebox.secrets: {exc}")
