"""plugins/plugin_utils/lookup.py: what a worker fork pays for a lookup: shipped option definitions and the
common read path, and importing and running the lookups imports only the chosen provider's SDK.

Ansible imports a lookup afresh in each fork, compiles the collection's code from source and parses
the plugin's documentation; these tests pin down what the collection does about each of those. The
import checks run in a fresh interpreter: the test process itself has imported every SDK by now.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.plugin_utils import lookup as base
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start as run_cache_start

COLLECTIONS_DIR = run_cache_start.collections_root()


REPO = os.path.join(COLLECTIONS_DIR, "ansible_collections", "vibebox", "secrets")


def test_shipped_option_definitions_are_what_ansible_parses():
    """hacking/render_option_definitions.py --check: the file equals a fresh parse by Ansible itself."""
    done = subprocess.run([sys.executable, os.path.join(REPO, "hacking", "render_option_definitions.py"), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_definitions_are_used_only_while_the_documentation_matches(monkeypatch, tmp_path):
    from ansible import constants as C

    module = type(sys)("vibebox_test_fake_lookup_" + uuid.uuid4().hex[:8])
    module.DOCUMENTATION = "name: fake\noptions:\n  strict:\n    type: bool\n"
    definitions = {"strict": {"type": "bool", "default": True}}
    shipped = tmp_path / "option_definitions.json"
    shipped.write_text(json.dumps({"ansible_core": [_this_core()], "plugins": {module.__name__: {
        "digest": base.documentation_digest(module.DOCUMENTATION, []), "fragments": [], "options": definitions,
    }}}))
    monkeypatch.setattr(base, "_DEFINITIONS_FILE", str(shipped))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        assert base.register_option_definitions(module.__name__) is True
        assert C.config.get_configuration_definitions("lookup", module.__name__) == definitions
        C.config._plugins["lookup"].pop(module.__name__)
        # documentation edited after the file was written: Ansible parses it, the stale file is ignored
        module.DOCUMENTATION += "# changed\n"
        assert base.register_option_definitions(module.__name__) is False
        assert not C.config.has_configuration_definition("lookup", module.__name__)
    finally:
        C.config._plugins.get("lookup", {}).pop(module.__name__, None)


def _this_core() -> str:
    from ansible.release import __version__

    return ".".join(__version__.split(".")[:2])


def test_definitions_are_used_only_on_the_ansible_core_releases_they_were_checked_on(monkeypatch, tmp_path):
    """Registering uses ansible-core's config manager (not a public API): on a release the file does not
    list, Ansible parses the documentation itself."""
    from ansible import constants as C

    module = type(sys)("vibebox_test_fake_lookup_" + uuid.uuid4().hex[:8])
    module.DOCUMENTATION = "name: fake\noptions:\n  strict:\n    type: bool\n"
    entry = {"digest": base.documentation_digest(module.DOCUMENTATION, []), "fragments": [],
             "options": {"strict": {"type": "bool", "default": True}}}
    shipped = tmp_path / "option_definitions.json"
    monkeypatch.setattr(base, "_DEFINITIONS_FILE", str(shipped))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        for listed in ([], ["2.16", "9.99"], None):
            data = {"plugins": {module.__name__: entry}}
            if listed is not None:
                data["ansible_core"] = listed
            shipped.write_text(json.dumps(data))
            assert base.register_option_definitions(module.__name__) is False, listed
            assert not C.config.has_configuration_definition("lookup", module.__name__)
        shipped.write_text(json.dumps({"ansible_core": [_this_core()], "plugins": {module.__name__: entry}}))
        assert base.register_option_definitions(module.__name__) is True
    finally:
        C.config._plugins.get("lookup", {}).pop(module.__name__, None)


def test_shipped_definitions_list_the_releases_of_the_version_matrix():
    with open(os.path.join(REPO, "plugins", "plugin_utils", "option_definitions.json"), encoding="utf-8") as handle:
        listed = json.load(handle)["ansible_core"]
    with open(os.path.join(REPO, "tests", "matrix", "versions.txt"), encoding="utf-8") as handle:
        matrix = [line.split()[0] for line in handle if line.strip() and not line.lstrip().startswith("#")]
    assert listed == matrix and _this_core() in listed


def test_fragment_files_names_only_this_collections_fragments():
    import importlib.util

    spec = importlib.util.spec_from_file_location("vibebox_render_option_definitions",
                                                  os.path.join(REPO, "hacking", "render_option_definitions.py"))
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    doc = {"extends_documentation_fragment": ["vibebox.secrets.provider.lookup", "vibebox.secrets.aws.lookup"]}
    assert render.fragment_files(doc) == ["plugins/doc_fragments/aws.py", "plugins/doc_fragments/provider.py"]
    assert render.fragment_files({"extends_documentation_fragment": ["amazon.aws.common"]}) is None


FORK = r"""
import json, multiprocessing, os, sys
collections, options = sys.argv[1], json.loads(sys.argv[2])
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[collections])._install()
from ansible import constants as C
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
import importlib
NAME = "ansible_collections.vibebox.secrets.plugins.lookup.get"
importlib.import_module(NAME)
registered = C.config.has_configuration_definition("lookup", NAME)  # before Ansible's loader looks
ours = lambda: sorted(name.split("secrets.plugins.")[1] for name in sys.modules
                      if name.startswith("ansible_collections.vibebox.secrets.plugins.")
                      and name.count(".") > 4)
# this process plays the fork that starts the helper: it reads here and hands the values over
starter = lookup_loader.get("vibebox.secrets.get", loader=DataLoader(), templar=None)
first = starter.run(["jwt-secret", "api-key"], variables={}, **options)

def later_fork(out):
    # a fork that imports the lookup afresh, as Ansible's workers do, and finds the helper running
    for name in [name for name in sys.modules if name.startswith("ansible_collections.vibebox")]:
        del sys.modules[name]
    lookup_loader._module_cache.clear()
    if lookup_loader._plugin_instance_cache is not None:
        lookup_loader._plugin_instance_cache.clear()
    lookup = lookup_loader.get("vibebox.secrets.get", loader=DataLoader(), templar=None)
    values = lookup.run(["jwt-secret", "api-key"], variables={}, **options)
    common = ours()
    skipped = lookup.run(["jwt-secret", "no-such-secret"], variables={}, on_missing="skip", **options)
    out.put({"values": values, "common": common, "skipped": skipped, "after_missing": ours()})

context = multiprocessing.get_context("fork")
out = context.Queue()
child = context.Process(target=later_fork, args=(out,))
child.start()
result = out.get(timeout=60)
child.join(60)
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as run_cache
stats = run_cache.client().stats()
run_cache.client().shutdown()
result.update(registered=registered, first=first, fetched=stats["fetched"], prefetched=stats["prefetched"],
              requests=stats["requests"])
print(json.dumps(result))
"""


def test_a_fork_reads_found_secrets_through_the_run_cache_without_the_core():
    """A fork that finds the helper running imports only lookup.py, reading.py and the run cache client
    and wire format, never the core; a missing secret brings in the core's errors for its policy. The
    fork that started the helper read its secrets itself and handed them over, so the run still read
    each secret once."""
    folder = tempfile.mkdtemp(prefix="vbfast-")
    options = {
        "provider": "local",
        "local_path": os.path.join(folder, "secrets.db"),
        "local_key_file": os.path.join(folder, "secrets.key"),
        "audit_log": "false",
    }
    from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory

    manager = factory.build_manager(options, env={})
    manager.set("jwt-secret", "jwt-value")
    manager.set("api-key", "api-value")
    env = dict(os.environ, VIBEBOX_RUN_CACHE="true", VIBEBOX_RUN_CACHE_DIR=os.path.join(folder, "rc"))
    env.pop("ENABLE_SECRET_MANAGER", None)
    try:
        done = subprocess.run([sys.executable, "-c", FORK, COLLECTIONS_DIR, json.dumps(options)],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["registered"] is True
    assert result["first"] == result["values"] == ["jwt-value", "api-value"]
    assert result["skipped"] == ["jwt-value"]
    assert not [name for name in result["common"] if name.startswith("module_utils.")], result["common"]
    assert "plugin_utils.run_cache.start" not in result["common"] and "plugin_utils.run_cache.server" not in result["common"]
    assert "module_utils.core.errors" in result["after_missing"]
    assert result["prefetched"] == 2  # jwt-secret and api-key, read by the starting process and handed over
    assert result["fetched"] == 3  # ... and no-such-secret, read by the helper: each secret read once
    assert result["requests"] == 2  # the later fork's two lookups; the missing secret was not asked for again


SCRIPT = r"""
import json, sys
collections, options, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[collections])._install()
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
factory.build_manager(options, env={}).set("jwt-secret", "value-1")
for name in list(sys.modules):
    if name.split(".")[0] in ("boto3", "botocore", "google", "azure", "hvac", "kubernetes"):
        del sys.modules[name]
lookup = lookup_loader.get("vibebox.secrets.get", loader=DataLoader(), templar=None)
got = lookup.run(["jwt-secret"], variables={}, **options)
assert got == ["value-1"], got
from ansible_collections.vibebox.secrets.plugins.filter.resolve import resolve as resolve_filter
assert resolve_filter("x=${secret:jwt-secret}", **options) == "x=value-1"
loaded = sorted({name.split(".")[0] + ("." + name.split(".")[1] if name.startswith("google.") else "")
                 for name in sys.modules
                 if name.split(".")[0] in ("boto3", "botocore", "azure", "hvac", "kubernetes")
                 or name.startswith("google.cloud")})
print(json.dumps(loaded))
"""


@pytest.mark.parametrize("run_cache", ["true", "false"])
def test_a_local_lookup_imports_no_cloud_sdk(run_cache):
    folder = tempfile.mkdtemp(prefix="vbimp-")
    options = {
        "provider": "local",
        "local_path": os.path.join(folder, "secrets.db"),
        "local_key_file": os.path.join(folder, "secrets.key"),
        "audit_log": "false",
    }
    env = dict(os.environ, VIBEBOX_RUN_CACHE=run_cache, VIBEBOX_RUN_CACHE_DIR=os.path.join(folder, "rc"))
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT, COLLECTIONS_DIR, json.dumps(options), run_cache],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"provider local imported {loaded}"
