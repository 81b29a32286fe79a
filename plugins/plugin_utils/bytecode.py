# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Let Ansible's worker forks import this collection's helper code from Python's bytecode cache.

Ansible's collection loader compiles every collection module it imports from source, in every worker
fork, and keeps no ``.pyc`` (the lookup file itself is loaded by path and does get one). A lookup in a
``set_fact`` runs in one fork per host, so the code it imports is compiled once per host: measured on the
fleet benchmark, compiling ``plugin_utils`` (lookup, reading, the run cache client and its wire format)
was about 16 ms of the 38 ms of CPU a fork spent loading and calling the ``get`` lookup, and the fork that reads the
provider itself compiles about 100 ms of core and provider code.

``install()`` puts a finder in front of Ansible's that answers only for plain ``.py`` files under this
collection's ``plugins/plugin_utils`` and ``plugins/module_utils`` (never a package, never another
collection, never a module that is not a file of this copy of the collection) with Python's own
``SourceFileLoader``: same module names, same files, same code, but the compiled code is cached in
``__pycache__`` next to the source (checked against the source's modification time and size, as Python
always does; where the directory is not writable, or bytecode writing is off, Python compiles from source
as before). It is installed only in Ansible's worker forks, which are short-lived copies of the
controller, so the controller process and anything else that imports the collection (ansible-test, unit
tests, the run cache helper) import exactly as before.

The lookups and the resolve filter call ``install()`` before they import the rest of the collection.
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import sys
from importlib.machinery import ModuleSpec
from typing import Optional, Sequence

_PREFIX = "ansible_collections.vibebox.secrets.plugins."
_SUBPACKAGES = ("plugin_utils", "module_utils")
#: .../ansible_collections/vibebox/secrets/plugins: the copy of the collection this file belongs to
_PLUGINS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CachedSourceFinder:
    """A meta path finder for this collection's helper modules, loading them with bytecode caching."""

    plugins_dir = _PLUGINS_DIR

    @classmethod
    def find_spec(cls, fullname: str, path: Optional[Sequence[str]] = None, target: object = None) -> Optional[ModuleSpec]:
        if not fullname.startswith(_PREFIX):
            return None
        parts = fullname[len(_PREFIX):].split(".")
        if len(parts) < 2 or parts[0] not in _SUBPACKAGES or not all(part.isidentifier() for part in parts):
            return None
        source = os.path.join(cls.plugins_dir, *parts) + ".py"
        if not os.path.isfile(source):
            return None  # a package, a redirect or anything unusual: Ansible's loader decides
        return importlib.util.spec_from_file_location(fullname, source)


def in_ansible_worker() -> bool:
    """True in a fork made by ansible-playbook's strategy (the same test as the run cache client's)."""
    worker = sys.modules.get("ansible.executor.process.worker")
    if worker is None:
        return False
    if hasattr(worker, "current_worker"):
        return worker.current_worker is not None
    return multiprocessing.parent_process() is not None


def install(force: bool = False) -> bool:
    """Put the finder first on ``sys.meta_path`` in a worker fork (or anywhere with ``force``).

    Returns whether it is installed. Modules already imported stay as they are.
    """
    if CachedSourceFinder in sys.meta_path:
        return True
    if not (force or in_ansible_worker()):
        return False
    sys.meta_path.insert(0, CachedSourceFinder)
    return True


def uninstall() -> None:
    """Take the finder off ``sys.meta_path`` (tests)."""
    while CachedSourceFinder in sys.meta_path:
        sys.meta_path.remove(CachedSourceFinder)
