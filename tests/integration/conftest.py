"""Integration fixtures: one file per provider in fixtures/, gathered here.

Each tests/integration/fixtures/<provider>.py starts its real server or wire fake (or points at the
real service when VIBEBOX_TEST_<PROVIDER>_REAL=1) and defines a ``<provider>_manager`` fixture: a
function returning a fresh SecretManager whose prefix is unique to the calling test, so tests never
see each other's secrets and need no reset. The contract suite runs against every provider found.
A server that cannot start is an error, never a skip.
"""
from __future__ import annotations

import importlib
import os
import pkgutil

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
#: every module of fixtures/, registered as a pytest plugin (tests/integration is on sys.path: pytest puts a
#: conftest's folder there when the folder is no package)
_FIXTURE_MODULES = sorted(info.name for info in pkgutil.iter_modules([os.path.join(_HERE, "fixtures")]))
pytest_plugins = [f"fixtures.{name}" for name in _FIXTURE_MODULES]
#: the providers whose fixture module takes part in the contract suite (read here, before pytest imports the
#: plugins, so their asserts are rewritten as a plugin's would be)
pytest.register_assert_rewrite("fixtures")
CONTRACT_PROVIDERS = [module.PROVIDER for module in map(importlib.import_module, pytest_plugins)
                      if getattr(module, "PROVIDER", None) and getattr(module, "IN_CONTRACT", True)]


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


#: the files whose playbook runs take longest, in that order. ``make pytest`` spreads whole files over two
#: workers (--dist loadfile) in the order they are collected; when one of these came last, one worker sat idle
#: for its whole length at the end. Started first, the short files fill in around them.
LONGEST_FIRST = (
    "test_leaks.py", "test_migrate_playbook.py", "test_migrate_safety.py", "test_provider_choice.py",
    "test_rotate_playbooks.py", "test_external_secrets.py", "test_local_playbooks.py", "test_move_playbook.py",
    "test_fresh_clone.py", "test_migrate_kill_and_lock.py", "test_rekey_playbook.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))  # stable: the rest as collected
