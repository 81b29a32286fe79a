"""What the benchmarks share: the collection reachable by its full name, the project's test servers
loaded from tests/servers/ (the benchmarks measure against the same servers the tests start), and an
embedded local store filled through the collection's own manager."""
from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import Dict, Iterable, Optional, Tuple

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


def fill_local_store(local: Dict[str, str], items: Iterable[Tuple[str, str]], description: Optional[str] = None,
                     tags: Optional[Dict[str, str]] = None) -> None:
    """Writes (name, value) pairs into the embedded store ``local`` names (provider, local_path,
    local_key_file), with the collection's own manager, as a user's earlier runs would have left them.

    collections_dir() must be on sys.path (the collection imports itself by its full name).
    """
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

    manager = factory.build_manager({**local, "audit_log": "false", "cache_ttl": 0}, env={})
    try:
        for name, value in items:
            manager.set(name, value, description, tags)
    finally:
        manager.close()
