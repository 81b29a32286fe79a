"""What the benchmarks share: the collection reachable by its full name, and the project's test servers
loaded from tests/servers/ (the benchmarks measure against the same servers the tests start)."""
from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collections_dir() -> str:
    """<dir>/ansible_collections/vibebox/secrets -> the checkout, as `make` builds it (collection code
    imports itself by its full name)."""
    base = os.path.join(REPO, ".build", "collections")
    link = os.path.join(base, "ansible_collections", "vibebox", "secrets")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    return base


def load_test_server(filename: str, name: str) -> ModuleType:
    """tests/servers/<filename> as a module named ``name`` (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tests", "servers", filename))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
