"""plugins/plugin_utils/bytecode.py: Ansible's worker forks import the collection's helper code from
Python's bytecode cache instead of compiling it from source in every fork, and nothing else changes."""
from __future__ import annotations

import ast
import importlib
import os
import sys
from importlib.machinery import SourceFileLoader

import pytest

from ansible_collections.vibebox.secrets.plugins.plugin_utils import bytecode

PLUGINS = bytecode.CachedSourceFinder.plugins_dir
PREFIX = "ansible_collections.vibebox.secrets.plugins."


@pytest.fixture
def clean_meta_path():
    bytecode.uninstall()
    yield
    bytecode.uninstall()


@pytest.mark.parametrize("name", ["plugin_utils.reading", "plugin_utils.run_cache.client", "module_utils.core.errors"])
def test_the_finder_loads_the_collections_own_helper_files_with_pythons_source_loader(name):
    spec = bytecode.CachedSourceFinder.find_spec(PREFIX + name)
    assert spec is not None and isinstance(spec.loader, SourceFileLoader)
    assert spec.origin == os.path.join(PLUGINS, *name.split(".")) + ".py"
    assert spec.submodule_search_locations is None


@pytest.mark.parametrize("fullname", [
    PREFIX + "plugin_utils",  # a package: Ansible's loader
    PREFIX + "plugin_utils.run_cache",  # a package
    PREFIX + "module_utils.core",
    PREFIX + "lookup.get",  # plugins are Ansible's to load (by path, with their own cache)
    PREFIX + "plugin_utils.no_such_module",
    "ansible_collections.other.collection.plugins.plugin_utils.reading",
    "ansible_collections.vibebox.secrets.plugins.plugin_utils.../../x",
    "json",
])
def test_the_finder_leaves_everything_else_to_the_other_finders(fullname):
    assert bytecode.CachedSourceFinder.find_spec(fullname) is None


def test_installed_only_in_an_ansible_worker_unless_forced(clean_meta_path, monkeypatch):
    worker = importlib.import_module("ansible.executor.process.worker")
    monkeypatch.setattr(worker, "current_worker", None)
    assert bytecode.install() is False
    assert bytecode.CachedSourceFinder not in sys.meta_path
    monkeypatch.setattr(worker, "current_worker", object())
    assert bytecode.install() is True and bytecode.install() is True
    assert sys.meta_path[0] is bytecode.CachedSourceFinder
    assert sys.meta_path.count(bytecode.CachedSourceFinder) == 1


def test_a_second_import_comes_from_the_bytecode_cache(clean_meta_path, monkeypatch, tmp_path):
    """The source is changed behind Python's back (same size, same modification time): a module compiled
    from source, as Ansible's loader does, would show the new text; one loaded from __pycache__ the old."""
    (tmp_path / "plugin_utils").mkdir()
    source = tmp_path / "plugin_utils" / "vibebox_bytecode_probe.py"
    source.write_text('VALUE = "first"\n')
    stamp = os.stat(source).st_mtime_ns
    monkeypatch.setattr(bytecode.CachedSourceFinder, "plugins_dir", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    name = PREFIX + "plugin_utils.vibebox_bytecode_probe"
    bytecode.install(force=True)
    try:
        first = importlib.import_module(name)
        assert first.VALUE == "first" and isinstance(first.__loader__, SourceFileLoader)
        assert os.path.isfile(first.__cached__)
        del sys.modules[name]
        source.write_text('VALUE = "other"\n')
        os.utime(source, ns=(stamp, stamp))
        assert importlib.import_module(name).VALUE == "first"
    finally:
        sys.modules.pop(name, None)


@pytest.mark.parametrize("plugin", ["lookup/get.py", "lookup/dotenv.py", "filter/resolve.py"])
def test_the_plugins_install_the_finder_before_importing_the_collection(plugin):
    with open(os.path.join(PLUGINS, plugin), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    ours = [index for index, node in enumerate(tree.body)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ansible_collections.vibebox")]
    first = tree.body[ours[0]]
    assert [alias.name for alias in first.names] == ["bytecode"], plugin
    call = tree.body[ours[0] + 1]
    assert isinstance(call, ast.Expr) and ast.unparse(call.value) == "bytecode.install()", plugin
