"""Integration fixtures: one file per provider in fixtures/, gathered here.

Each tests/integration/fixtures/<provider>.py starts its real server or wire fake (or points at the
real service when VIBEBOX_TEST_<PROVIDER>_REAL=1) and defines a ``<provider>_manager`` fixture: a
function returning a fresh SecretManager whose prefix is unique to the calling test, so tests never
see each other's secrets and need no reset. The contract suite runs against every provider found.
A server that cannot start is an error, never a skip.
"""
from __future__ import annotations

import importlib.util
import os
import pkgutil
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
CONTRACT_PROVIDERS = []


def _is_fixture(value: object) -> bool:
    return type(value).__name__ == "FixtureFunctionDefinition" or hasattr(value, "_pytestfixturefunction")


for _info in sorted(pkgutil.iter_modules([os.path.join(_HERE, "fixtures")]), key=lambda i: i.name):
    _spec = importlib.util.spec_from_file_location(
        f"vibebox_fixtures_{_info.name}", os.path.join(_HERE, "fixtures", _info.name + ".py")
    )
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _module  # dataclasses and pickling look their module up here
    _spec.loader.exec_module(_module)
    globals().update({k: v for k, v in vars(_module).items() if not k.startswith("_") and _is_fixture(v)})
    if getattr(_module, "PROVIDER", None) and getattr(_module, "IN_CONTRACT", True):
        CONTRACT_PROVIDERS.append(_module.PROVIDER)


@pytest.fixture(params=CONTRACT_PROVIDERS)
def contract_provider(request) -> str:
    return request.param


@pytest.fixture
def manager_factory(request, contract_provider):
    """A function making fresh SecretManagers for the provider under test (same prefix each call)."""
    return request.getfixturevalue(f"{contract_provider}_manager")


@pytest.fixture
def manager(manager_factory):
    made = manager_factory()
    yield made
    made.close()
