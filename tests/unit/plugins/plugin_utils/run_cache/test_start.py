"""run_cache/start.py: starting the helper, and what it does while the fork that started it reads."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
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


# the helper started with the playbook (the run_cache callback) -----------------------------------

def test_a_helper_started_with_the_playbook_serves_the_run_without_another_start(store, short_dir):
    """The controller does not wait for the helper: a fork that asks before it serves waits on the
    start lock the helper holds, then uses it; nobody starts a second one."""
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    spawned = len(run_cache_start._SPAWNED)
    try:
        assert run_cache_start.start_with_playbook(client) is True
        provider, found = decoded(client, store, [("canary", None)])
        assert provider == "local" and found[("canary", None)].value == CANARY
        assert len(run_cache_start._SPAWNED) == spawned + 1, "the asking process started no helper of its own"
        assert client.stats()["prefetched"] == 0  # the helper read the secret itself: no fork read first
        assert run_cache_start.start_with_playbook(client) is False  # a second playbook of the same run
    finally:
        client.shutdown()


def test_a_helper_started_with_the_playbook_that_dies_does_not_hold_up_the_run(store, short_dir, monkeypatch):
    """Its exit releases the start lock; the first fork then starts a helper as without the callback."""
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    bootstrap = run_cache_start._BOOTSTRAP
    monkeypatch.setattr(run_cache_start, "_BOOTSTRAP", "import sys, time; time.sleep(0.3); sys.exit(3)")
    try:
        assert run_cache_start.start_with_playbook(client) is True
        monkeypatch.setattr(run_cache_start, "_BOOTSTRAP", bootstrap)
        provider, found = decoded(client, store, [("canary", None)])
        assert provider == "local" and found[("canary", None)].value == CANARY
        assert not os.path.exists(os.path.join(client.folder, "failed"))
    finally:
        client.shutdown()


def test_preparing_imports_the_sdk_of_the_provider_the_environment_selects():
    """Only the import (checked in a fresh interpreter); a provider that does not resolve is left alone."""
    root = run_cache_start.collections_root()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server;"
        "before = 'botocore.session' in sys.modules;"
        "provider = server.prepare_provider({'SECRET_PROVIDER': 'aws'});"
        "print(before, provider, 'botocore.session' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, check=False)
    assert done.stdout.split() == ["False", "aws", "True"], done.stderr[-2000:]
    assert run_cache_server.prepare_provider({"SECRET_PROVIDER": "no-such-provider"}) is None
    assert run_cache_server.prepare_provider({"SECRET_PROVIDER": "local"}) == "local"


def test_a_helper_started_with_the_playbook_that_hangs_is_ended_and_replaced(store, short_dir, monkeypatch):
    """A helper that never serves (stopped, stuck in an import) would hold the start lock, and with it every
    fork of the run; once START_TIMEOUT has passed the waiting fork ends it and starts a helper itself."""
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    bootstrap = run_cache_start._BOOTSTRAP
    monkeypatch.setattr(run_cache_start, "START_TIMEOUT", 1.0)
    monkeypatch.setattr(run_cache_start, "_BOOTSTRAP", "import time; time.sleep(120)")
    try:
        assert run_cache_start.start_with_playbook(client) is True
        stalled = run_cache_start._SPAWNED[-1]
        monkeypatch.setattr(run_cache_start, "_BOOTSTRAP", bootstrap)
        answers = []
        asking = threading.Thread(target=lambda: answers.append(decoded(client, store, [("canary", None)])), daemon=True)
        asking.start()
        asking.join(60)  # a guard, not a measurement: without the fix the fork waits as long as the helper hangs
        assert not asking.is_alive(), "the fork was never let in"
        provider, found = answers[0]
        assert provider == "local" and found[("canary", None)].value == CANARY
        assert stalled.wait(10) == -9, "the stalled helper was ended"
        assert not os.path.exists(os.path.join(client.folder, run_cache_start.HANDED_NOTE))
    finally:
        client.shutdown()


def test_a_socket_path_that_is_too_long_leaves_no_directory(short_dir):
    base = os.path.join(short_dir, "x" * 90)
    client = run_cache.RunCacheClient(directory=base)
    with pytest.raises(run_cache.RunCacheUnavailable, match="too long for a Unix socket"):
        run_cache_start.start_with_playbook(client)
    assert not os.path.exists(base)


def test_only_a_listening_socket_counts_as_a_helper_that_came_up(short_dir):
    """A stale socket file (its helper killed with -9) must not keep a fork from ending a stalled helper."""
    import socket

    path = os.path.join(short_dir, "s")
    assert not run_cache_start._listening(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    assert not run_cache_start._listening(path), "bound but not listening: refuses, like a stale file"
    listener.listen(1)
    assert run_cache_start._listening(path)
    listener.close()
    assert os.path.exists(path) and not run_cache_start._listening(path)


def test_a_note_naming_another_process_ends_nothing_and_the_wait_is_bounded(short_dir, monkeypatch):
    """The note is only a hint: a process that is not this run's helper is never ended, and a fork never
    waits on the start lock for longer than twice START_TIMEOUT, whatever holds it."""
    import fcntl

    monkeypatch.setattr(run_cache_start, "START_TIMEOUT", 0.5)
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    run_cache_start.private_dir(client.base)
    run_cache_start.private_dir(client.folder)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    holder = open(os.path.join(client.folder, "lock"), "a", encoding="utf-8")
    try:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # a holder that never lets go
        with open(os.path.join(client.folder, run_cache_start.HANDED_NOTE), "w", encoding="utf-8") as note:
            note.write(f"{bystander.pid} {run_cache.process_start(bystander.pid)} {time.time() - 100}")
        with pytest.raises(run_cache.RunCacheUnavailable, match="did not answer within 1 s"):
            with run_cache_start._start_lock(client):
                pass
        assert bystander.poll() is None, "a process that is not the run's helper was ended"
    finally:
        holder.close()
        bystander.kill()
        bystander.wait(10)


# a helper that ends while the run goes on ----------------------------------------------------------

def test_a_fork_that_locked_a_removed_lock_file_locks_the_new_one(short_dir):
    """A helper ending on idle removes the lock file; a fork that was waiting on it must not go on
    holding a lock nobody else can see, or two forks start two helpers for one socket."""
    import fcntl

    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    run_cache_start.private_dir(client.base)
    run_cache_start.private_dir(client.folder)
    lock_path = os.path.join(client.folder, "lock")
    holder = open(lock_path, "a", encoding="utf-8")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    held = {}

    def take() -> None:
        with run_cache_start._start_lock(client) as (_failed, lock):
            held["current"] = run_cache_start.is_current(lock.fileno(), lock_path)

    taker = threading.Thread(target=take)
    taker.start()
    time.sleep(0.2)  # the taker has opened the file and waits on it
    os.unlink(lock_path)
    os.rmdir(client.folder)  # what an ending helper does once it holds the lock
    holder.close()
    taker.join(10)
    assert held == {"current": True}, "the fork went on with a lock on a file that is no longer there"


def test_is_current_tells_a_removed_or_replaced_file(short_dir):
    path = os.path.join(short_dir, "f")
    with open(path, "w", encoding="utf-8") as first:
        assert run_cache_start.is_current(first.fileno(), path)
        os.replace(path, path + ".old")
        assert not run_cache_start.is_current(first.fileno(), path)
        with open(path, "w", encoding="utf-8"):
            assert not run_cache_start.is_current(first.fileno(), path)


def _bound_socket(path: str):
    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    info = os.lstat(path)
    return listener, (info.st_dev, info.st_ino)


def test_an_ending_helper_removes_its_own_files(short_dir):
    folder = os.path.join(short_dir, "run")
    run_cache_start.private_dir(folder)
    open(os.path.join(folder, "lock"), "a", encoding="utf-8").close()
    listener, mine = _bound_socket(os.path.join(folder, "s"))
    listener.close()
    run_cache_start.remove_run_files(folder, os.path.join(folder, "s"), mine)
    assert not os.path.exists(folder)


def test_an_ending_helper_leaves_the_socket_of_the_helper_after_it(short_dir):
    """Its socket file removed under it, a later helper binds the same path: the first one's end must not
    take the second's socket (every fork after it would start yet another helper)."""
    folder = os.path.join(short_dir, "run")
    run_cache_start.private_dir(folder)
    open(os.path.join(folder, "lock"), "a", encoding="utf-8").close()
    socket_path = os.path.join(folder, "s")
    first, first_id = _bound_socket(socket_path)
    os.unlink(socket_path)
    second, _second_id = _bound_socket(socket_path)
    try:
        run_cache_start.remove_run_files(folder, socket_path, first_id)
        assert os.path.exists(socket_path) and os.path.exists(os.path.join(folder, "lock"))
    finally:
        first.close()
        second.close()


def test_an_ending_helper_leaves_the_folder_of_a_fork_starting_the_next(short_dir):
    import fcntl

    folder = os.path.join(short_dir, "run")
    run_cache_start.private_dir(folder)
    socket_path = os.path.join(folder, "s")
    listener, mine = _bound_socket(socket_path)
    listener.close()
    with open(os.path.join(folder, "lock"), "a", encoding="utf-8") as starting:
        fcntl.flock(starting.fileno(), fcntl.LOCK_EX)
        with open(os.path.join(folder, "error"), "w", encoding="utf-8") as note:
            note.write("the next helper's reason")
        run_cache_start.remove_run_files(folder, socket_path, mine)
    assert not os.path.exists(socket_path), "its own socket goes"
    assert sorted(os.listdir(folder)) == ["error", "lock"], "the starting fork's lock and note stay"


def test_a_helper_whose_socket_file_is_removed_ends(store, short_dir):
    """Nobody can reach it any more; it must not keep the run's values in memory until the run ends."""
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    assert run_cache_start.start(client) is None
    process = run_cache_start._SPAWNED[-1]
    try:
        assert decoded(client, store, [("canary", None)])[1][("canary", None)].value == CANARY
        os.unlink(client.socket_path)
        process.wait(10 * run_cache_server.WATCH_INTERVAL)
        assert process.returncode == 0
        assert not os.path.exists(client.folder)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_fork_gives_up_on_a_stopped_helper_ends_it_and_the_next_read_starts_another(store, short_dir, monkeypatch):
    """A helper stopped while it serves (SIGSTOP, a debugger) held each fork for the whole request timeout
    (600 s); now the first fork that waited STOPPED_LIMIT on it ends it and reads the provider itself, and the
    next read starts a new helper instead of waiting again."""
    import signal

    monkeypatch.setattr(run_cache, "STOPPED_LIMIT", 1.0)
    monkeypatch.setattr(run_cache, "_STALL_CHECK", 0.1)
    monkeypatch.setattr(run_cache, "REQUEST_TIMEOUT", 6.0)  # without the check: "timed out" after it
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    assert run_cache_start.start(client) is None
    helper = run_cache_start._SPAWNED[-1]
    try:
        assert decoded(client, store, [("canary", None)])[1][("canary", None)].value == CANARY
        os.kill(helper.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(run_cache.RunCacheUnavailable, match=f"helper \\(pid {helper.pid}\\) is stopped"):
            client.fetch(store, None, [("canary", None)])
        assert time.monotonic() - started < 10
        assert helper.wait(10) == -signal.SIGKILL
        started = time.monotonic()
        assert decoded(client, store, [("canary", None)])[1][("canary", None)].value == CANARY
        assert time.monotonic() - started < run_cache.STOPPED_LIMIT + 5
        assert run_cache_start._SPAWNED[-1].pid != helper.pid, "a new helper serves the run"
    finally:
        if helper.poll() is None:
            os.kill(helper.pid, signal.SIGKILL)
        client.shutdown()


def test_a_helper_that_cannot_be_told_of_a_write_is_ended_and_the_next_read_sees_the_write(store, short_dir, monkeypatch):
    """Told nothing, a stopped helper that runs again would serve the value from before the write."""
    import signal

    monkeypatch.setattr(run_cache, "STOPPED_LIMIT", 0.5)
    monkeypatch.setattr(run_cache, "_STALL_CHECK", 0.1)
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    assert run_cache_start.start(client) is None
    helper = run_cache_start._SPAWNED[-1]
    try:
        assert decoded(client, store, [("canary", None)])[1][("canary", None)].value == CANARY
        factory.build_manager(store, env={}).set("canary", CANARY + "-new")
        os.kill(helper.pid, signal.SIGSTOP)
        assert client.invalidate(["canary"]) is False
        assert helper.wait(10) == -signal.SIGKILL
        assert client.start() is None  # what the next lookup does when nothing answers
        assert decoded(client, store, [("canary", None)])[1][("canary", None)].value == CANARY + "-new"
    finally:
        if helper.poll() is None:
            os.kill(helper.pid, signal.SIGKILL)
        client.shutdown()


def test_a_write_announced_while_the_helper_starts_is_not_lost(store, short_dir):
    """The fork starting the helper read the secret before the write, and hands that read over once the helper
    listens; the write's announcement came before anything listened. It must wait for the hand-over and drop it."""
    client = run_cache.RunCacheClient(directory=os.path.join(short_dir, "rc"))
    request = {"op": "get", "options": dict(store), "forced": None, "items": [("canary", None)], "bypass": False,
               "env": run_cache.relevant_environment({})}
    read_before_the_write = threading.Event()

    def starting_fork() -> None:
        with run_cache_start._start_lock(client):
            answered = run_cache_start.read_here(request)
            read_before_the_write.set()
            time.sleep(0.5)  # the write and its announcement happen now
            process = run_cache_start._spawn(client, reader_pid=os.getpid())
            run_cache_start._wait_until_serving(client, process)
            run_cache_start._hand_over(client, request, answered)

    starter = threading.Thread(target=starting_fork)
    starter.start()
    try:
        assert read_before_the_write.wait(10)
        factory.build_manager(store, env={}).set("canary", CANARY + "-new")
        assert client.invalidate(["canary"]) is True
        starter.join(20)
        assert decoded(client, store, [("canary", None)])[1][("canary", None)].value == CANARY + "-new"
    finally:
        starter.join(20)
        client.shutdown()
