"""The collection's lookups as Ansible loads them, over an embedded local store in the test's folder."""
from __future__ import annotations

import pytest
import importlib

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory


@pytest.fixture
def store(tmp_path, monkeypatch):
    """(options selecting an embedded store of this test, its manager to fill it); no run cache helper."""
    monkeypatch.setenv("VIBEBOX_RUN_CACHE", "false")
    for name in ("VAULT_ADDR", "SECRET_PROVIDER", "VIBEBOX_AUTOMATION", "ENABLE_SECRET_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    options = {"provider": "local", "local_path": str(tmp_path / "store" / "secrets.db"),
               "local_key_file": str(tmp_path / "store" / "secrets.key"), "audit_log": "false", "cache_ttl": 0}
    manager = factory.build_manager(options, env={})
    yield options, manager
    manager.close()


@pytest.fixture
def lookup():
    """lookup("get") -> the vibebox.secrets.get lookup plugin with its options defined.

    Under ansible-test, Ansible's collection loader is installed and the plugin comes from Ansible's lookup
    loader, as in a playbook. Plain pytest has no collection loader: the plugin is made from its module, whose
    import registered its shipped option definitions (plugins/plugin_utils/lookup.py).
    """
    def make(name):
        if AnsibleCollectionConfig.collection_finder is not None:
            plugin = lookup_loader.get(f"vibebox.secrets.{name}", loader=DataLoader(), templar=None)
            assert plugin is not None, f"Ansible's lookup loader does not find vibebox.secrets.{name}"
            return plugin
        module = importlib.import_module(f"ansible_collections.vibebox.secrets.plugins.lookup.{name}")
        plugin = module.LookupModule(loader=DataLoader(), templar=None)
        plugin._load_name = module.__name__
        return plugin

    return make
