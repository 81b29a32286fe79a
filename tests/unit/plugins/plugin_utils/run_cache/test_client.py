"""run_cache/client.py: the switch, what a request carries, and the helper process as the client starts and
reaches it: one read shared between processes, private directory and socket, no value on disk.
"""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, factory
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as run_cache
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start as run_cache_start
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import wire as run_cache_outcomes

CANARY = "CANARY-" + uuid.uuid4().hex


OPTIONS = {"provider": "local", "cache_ttl": 300.0}


def decoded(client, options, items):
    """client.fetch with the answers decoded, as reading.Outcomes does on access."""
    provider, answers = client.fetch(options, None, items)
    return provider, {item: run_cache_outcomes.decode_outcome(answer) for item, answer in zip(items, answers)}


def test_switch():
    # by default only inside Ansible's worker forks; true forces it anywhere, false turns it off
    assert not run_cache.enabled({})
    assert run_cache.enabled({}, worker=True)
    assert not run_cache.enabled({"VIBEBOX_RUN_CACHE": "false"}, worker=True)
    assert not run_cache.enabled({"VIBEBOX_RUN_CACHE": "0"}, worker=True)
    assert run_cache.enabled({"VIBEBOX_RUN_CACHE": "true"})


def test_an_idle_time_that_is_no_number_is_a_clear_refusal(monkeypatch):
    monkeypatch.setenv("VIBEBOX_RUN_CACHE_IDLE", "garbage")
    with pytest.raises(run_cache.RunCacheUnavailable, match="VIBEBOX_RUN_CACHE_IDLE is not a number of seconds"):
        run_cache.RunCacheClient()


def test_requests_carry_only_the_environment_that_resolves_options():
    env = {"VAULT_ADDR": "http://v", "AWS_REGION": "x", "SECRET_PROVIDER": "vault", "PATH": "/bin", "TERM": "xterm"}
    assert run_cache.relevant_environment(env) == {"VAULT_ADDR": "http://v", "AWS_REGION": "x", "SECRET_PROVIDER": "vault"}


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


@pytest.fixture
def helper(short_dir):
    clients = []

    def make(owner_pid=None):
        client = run_cache.RunCacheClient(owner_pid=owner_pid, directory=os.path.join(short_dir, "rc"))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown()


def test_helper_serves_and_shares_one_read_between_processes(store, helper):
    client = helper()
    provider, first = decoded(client, store, [("canary", None), ("other", None), ("nope", None)])
    assert provider == "local"
    assert first[("canary", None)].value == CANARY
    assert isinstance(first[("nope", None)], errors.SecretNotFound)
    # another process of the same run (a fork) gets the value without a backend read
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as rc;"
        "import json;"
        "c = rc.RunCacheClient(owner_pid=int(sys.argv[2]), directory=sys.argv[3]);"
        "out = c.fetch(json.loads(sys.argv[4]), None, [('canary', None)])[1];"
        "print(out[0]['value'] == sys.argv[5])"
    )
    import json

    root = run_cache_start.collections_root()
    done = subprocess.run([sys.executable, "-c", code, root, str(client.owner_pid), client.base, json.dumps(store), CANARY],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "True", done.stderr
    stats = client.stats()
    assert stats["fetched"] == 3 and stats["hits"] == 1


def test_helper_directory_and_socket_are_private(store, helper):
    client = helper()
    client.fetch(store, None, [("other", None)])
    for path in (client.base, client.folder):
        info = os.lstat(path)
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    assert stat.S_IMODE(os.lstat(client.socket_path).st_mode) & 0o077 == 0


def test_a_directory_open_to_others_is_refused(short_dir):
    base = os.path.join(short_dir, "open")
    os.mkdir(base)
    os.chmod(base, 0o755)
    client = run_cache.RunCacheClient(directory=base)
    with pytest.raises(run_cache.RunCacheUnavailable, match="accessible to other users"):
        client.fetch(OPTIONS, None, [("a", None)])


def test_invalidate_never_starts_a_helper(short_dir):
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    assert client.invalidate(["a"]) is False
    assert not os.path.exists(client.socket_path)


def test_an_async_write_starts_a_helper_that_keeps_nothing_of_its_names(store, helper):
    """A helper that a lookup started while an async job had not written yet would keep the value from before
    the write: so the job's announcement starts the helper itself, and the hold reaches it."""
    client = helper()
    assert client.invalidate(["canary"], hold=600) is True
    assert client.running()
    decoded(client, store, [("canary", None), ("other", None)])
    decoded(client, store, [("canary", None), ("other", None)])
    stats = client.stats()
    assert stats["fetched"] == 3 and stats["hits"] == 1  # 'canary' read each time, 'other' kept


def test_helper_exits_with_the_run_and_leaves_nothing(store, helper):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        client = helper(owner_pid=owner.pid)
        client.fetch(store, None, [("canary", None)])
        assert client.running()
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(client.folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(client.folder), "the run's directory is removed when the run ends"


def test_helper_writes_no_value_to_disk(store, helper, short_dir):
    client = helper()
    before = time.time()
    assert decoded(client, store, [("canary", None)])[1][("canary", None)].value == CANARY
    pid = client._exchange({"op": "ping"}, start=False)["pid"]
    # nothing the helper has open for writing is a regular file (no spill, no log, no swap file)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            flags = open(f"/proc/{pid}/fdinfo/{fd}").read().split("flags:")[1].split()[0]
        except OSError:
            continue
        writable = int(flags, 8) & 0o3 != 0
        if target.startswith("/") and os.path.isfile(target):
            assert not writable, f"helper holds {target} open for writing"
    # and no file under the run folder, the store folder or /tmp written since holds the value
    for top in (short_dir, tempfile.gettempdir()):
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    if os.path.getmtime(path) < before - 1 or os.path.getsize(path) > 10_000_000:
                        continue
                    with open(path, "rb") as handle:
                        assert CANARY.encode() not in handle.read(), f"value found in {path}"
                except (OSError, PermissionError):
                    continue


def test_a_helper_that_cannot_start_is_reported_once_per_run(store, short_dir, monkeypatch):
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    monkeypatch.setattr(run_cache_start, "_BOOTSTRAP", "import sys; sys.exit(3)")
    with pytest.raises(run_cache.RunCacheUnavailable, match="exited at start"):
        client.fetch(store, None, [("a", None)])
    with pytest.raises(run_cache.RunCacheUnavailable, match="exited at start"):
        run_cache.RunCacheClient(directory=client.base).fetch(store, None, [("a", None)])
    assert os.path.exists(os.path.join(client.folder, "failed"))


def test_a_fork_waits_for_room_in_a_full_connection_queue(tmp_path):
    """A listener whose backlog is full answers EAGAIN; the fork waits for it to accept instead of
    reading the backend itself (which would cost a request, or a lease of a dynamic secret)."""
    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    waiting = []
    for _attempt in range(8):  # fill the backlog (its size is the kernel's, at least one)
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        filler.setblocking(False)
        try:
            filler.connect(path)
        except BlockingIOError:
            filler.close()
            break
        waiting.append(filler)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(5)
    with pytest.raises(BlockingIOError):
        probe.connect(path)  # what a plain connect does with a full queue
    probe.close()

    def accept_later():
        time.sleep(0.3)
        for _waiting in range(len(waiting) + 1):
            listener.accept()[0].close()

    threading.Thread(target=accept_later, daemon=True).start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    run_cache._connect_when_accepted(sock, path)
    sock.close()
    for filler in waiting:
        filler.close()
    listener.close()
