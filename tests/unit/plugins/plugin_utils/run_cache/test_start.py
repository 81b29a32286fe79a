"""run_cache/start.py: starting the helper, and what it does while the fork that started it reads."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as run_cache
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server as run_cache_server
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start as run_cache_start
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import wire as run_cache_outcomes

CANARY = "CANARY-" + uuid.uuid4().hex


def decoded(client, options, items):
    """client.fetch with the answers decoded, as reading.Outcomes does on access."""
    provider, answers = client.fetch(options, None, items)
    return provider, {item: run_cache_outcomes.decode_outcome(answer) for item, answer in zip(items, answers)}


# the helper process ----------------------------------------------------------------------------

@pytest.fixture
def short_dir():
    # Unix socket paths are limited to ~100 bytes, pytest's tmp_path can be longer
    path = tempfile.mkdtemp(prefix="vbrc-")
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def store(short_dir):
    options = {
        "provider": "local",
        "local_path": os.path.join(short_dir, "store", "secrets.db"),
        "local_key_file": os.path.join(short_dir, "store", "secrets.key"),
        "audit_log": "false",
        "cache_ttl": 300.0,
    }
    manager = factory.build_manager(options, env={})
    manager.set("canary", CANARY)
    manager.set("other", "x")
    return options


def test_a_starting_fork_that_exits_without_handing_over_lets_requests_in(store, short_dir):
    """The helper waits for the fork reading for it only while that fork lives."""
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    run_cache_start.private_dir(client.base)
    run_cache_start.private_dir(client.folder)
    reader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.0)"])
    try:
        process = run_cache_start._spawn(client, reader_pid=reader.pid)
        run_cache_start._wait_until_serving(client, process)
        started = time.monotonic()
        provider, found = decoded(client, store, [("canary", None)])
        waited = time.monotonic() - started
        assert found[("canary", None)].value == CANARY and provider == "local"
        assert reader.poll() is not None and waited < run_cache_server.PREFETCH_TIMEOUT
        assert client.stats()["prefetched"] == 0
    finally:
        reader.wait(10)
        client.shutdown()
