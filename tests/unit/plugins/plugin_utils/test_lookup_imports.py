"""Importing and running the lookups imports only the chosen provider's SDK.

Run in a fresh interpreter: the test process itself has imported every SDK by now.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start as run_cache_start

COLLECTIONS_DIR = run_cache_start.collections_root()

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
