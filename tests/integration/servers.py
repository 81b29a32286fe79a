"""The test servers and wire fakes of tests/servers, imported by path.

tests/servers holds scripts (each also runs on its own: ``python tests/servers/openbao.py``), not a
package, so tests and fixtures import them through ``load``: each file once per process, under one
module name, which dataclasses and pickling need to find it again.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "servers")


def load(stem: str) -> ModuleType:
    """tests/servers/<stem>.py as the module ``vibebox_servers_<stem>``."""
    name = f"vibebox_servers_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(FOLDER, f"{stem}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]
