"""tests/unit/plugins/ mirrors plugins/: each plugin and each module_utils/plugin_utils module has its own
test module, ``test_<module>.py`` in the same folder, so a module's tests are found from its path, and a
new module cannot land without one.
"""
from __future__ import annotations

import os
from typing import List, Tuple

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(TESTS)))  # .../tests/unit/plugins -> the collection
PLUGINS = os.path.join(ROOT, "plugins")

#: plugin folders and files that need no test module of their own, and why
NO_TEST = {
    "doc_fragments": "documentation only: YAML text, no logic (make lint checks the rendered lookup fragments)",
    "module_utils/core/option_table.py": "generated from the provider modules; test_registry.py checks it is current",
}

#: test modules that test no single plugin module, and why
NOT_A_MIRROR = {
    "test_mirror.py": "this file: checks the layout itself",
}


def _modules(base: str, prefix: str = "test_") -> List[Tuple[str, str]]:
    """(folder relative to base, file name) of every Python module under base, __init__ and conftest left out."""
    found = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        relative = os.path.relpath(folder, base)
        for name in sorted(files):
            if name.endswith(".py") and name not in ("__init__.py", "conftest.py"):
                found.append(("" if relative == "." else relative, name))
    return found


def _exempt(folder: str, name: str) -> bool:
    path = os.path.join(folder, name).replace(os.sep, "/")
    return path in NO_TEST or any(path.startswith(key + "/") for key in NO_TEST)


def test_every_plugin_module_has_its_test_module():
    missing = [os.path.join(folder, f"test_{name}") for folder, name in _modules(PLUGINS)
               if not _exempt(folder, name) and not os.path.isfile(os.path.join(TESTS, folder, f"test_{name}"))]
    assert not missing, "plugin modules without their unit test module (tests/unit/plugins/...): " + ", ".join(missing)


def test_every_test_module_names_a_plugin_module():
    strays = []
    for folder, name in _modules(TESTS):
        path = os.path.join(folder, name).replace(os.sep, "/")
        if path in NOT_A_MIRROR:
            continue
        if not name.startswith("test_") or not os.path.isfile(os.path.join(PLUGINS, folder, name[len("test_"):])):
            strays.append(path)
    assert not strays, "test modules that mirror no plugin module (name them test_<module>.py next to it): " + ", ".join(strays)


def test_the_exceptions_still_exist():
    """An exception for a module that is gone would let a new module of that name land untested."""
    for path in NO_TEST:
        assert os.path.exists(os.path.join(PLUGINS, path)), path
    for path in NOT_A_MIRROR:
        assert os.path.isfile(os.path.join(TESTS, path)), path
