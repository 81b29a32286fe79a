"""Run cache: single-flight, batching, TTL, invalidation, the helper process, and no values on disk."""
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

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as run_cache
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server as run_cache_server
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import start as run_cache_start
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import wire as run_cache_outcomes

CANARY = "CANARY-" + uuid.uuid4().hex


class FakeManager:
    """Counts backend calls; ``gate`` holds get_many until the test releases it."""

    provider = "local"

    def __init__(self, gate: threading.Event = None):
        self.gate = gate
        self.cache = None
        self.batches = []
        self.gets = []
        self.values = {}
        self.lock = threading.Lock()

    def get_many(self, names, bypass_cache=False):
        with self.lock:
            self.batches.append(list(names))
        if self.gate is not None:
            assert self.gate.wait(10)
        return {name: self._one(name, None) for name in names}

    def get(self, name, version=None, bypass_cache=False):
        with self.lock:
            self.gets.append((name, version))
        outcome = self._one(name, version)
        if isinstance(outcome, errors.SecretError):
            raise outcome
        return outcome

    def _one(self, name, version):
        value = self.values.get((name, version))
        if value is None:
            return errors.SecretNotFound("missing", name=name)
        if isinstance(value, errors.SecretError):
            return value
        return Secret(value, SecretMetadata(name=name, version=version or "1"))

    def close(self):
        pass


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


OPTIONS = {"provider": "local", "cache_ttl": 300.0}


def state_with(manager, clock=None):
    def build(resolved):
        return manager

    return run_cache_server.CacheState(build=build, clock=clock or Clock())


def decoded(client, options, items):
    """client.fetch with the answers decoded, as reading.Outcomes does on access."""
    provider, answers = client.fetch(options, None, items)
    return provider, {item: run_cache_outcomes.decode_outcome(answer) for item, answer in zip(items, answers)}


def get(state, options, items, bypass=False):
    provider, results = state.fetch(options, None, items, bypass)
    assert provider == "local"
    return results


# CacheState ------------------------------------------------------------------------------------

def test_concurrent_requests_for_the_same_secrets_wait_for_one_fetch():
    gate = threading.Event()
    manager = FakeManager(gate)
    manager.values = {(f"s{i}", None): f"v{i}" for i in range(10)}
    state = state_with(manager)
    items = [(f"s{i}", None) for i in range(10)]
    results = []

    def ask():
        results.append(get(state, OPTIONS, items))

    threads = [threading.Thread(target=ask) for _index in range(20)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while state.stats["requests"] < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert len(manager.batches) == 1, "single-flight: one batch for twenty simultaneous askers"
    assert sorted(manager.batches[0]) == sorted(name for name, _version in items)
    assert len(results) == 20
    assert all(result[("s3", None)].value == "v3" for result in results)
    assert state.stats["waits"] == 19 * 10


def test_current_versions_come_in_one_batch_and_other_versions_concurrently():
    manager = FakeManager()
    manager.values = {("a", None): "A", ("b", None): "B", ("a", "previous"): "A0", ("b", "2"): "B2"}
    state = state_with(manager)
    out = get(state, OPTIONS, [("a", None), ("b", None), ("a", "previous"), ("b", "2")])
    assert [out[k].value for k in [("a", None), ("b", None), ("a", "previous"), ("b", "2")]] == ["A", "B", "A0", "B2"]
    assert manager.batches == [["a", "b"]]
    assert sorted(manager.gets) == [("a", "previous"), ("b", "2")]


def test_ttl_still_applies():
    clock = Clock()
    manager = FakeManager()
    manager.values = {("a", None): "A"}
    state = state_with(manager, clock)
    options = dict(OPTIONS, cache_ttl=60.0)
    get(state, options, [("a", None)])
    clock.now += 59
    get(state, options, [("a", None)])
    assert len(manager.batches) == 1
    clock.now += 2
    manager.values[("a", None)] = "A2"
    assert get(state, options, [("a", None)])[("a", None)].value == "A2"
    assert len(manager.batches) == 2


def test_ttl_zero_stores_nothing():
    manager = FakeManager()
    manager.values = {("a", None): "A"}
    state = state_with(manager)
    options = dict(OPTIONS, cache_ttl=0)
    get(state, options, [("a", None)])
    get(state, options, [("a", None)])
    assert len(manager.batches) == 2
    assert len(state) == 0


def test_invalidation_drops_every_version_of_the_name():
    manager = FakeManager()
    manager.values = {("a", None): "A", ("a", "previous"): "A0", ("b", None): "B"}
    state = state_with(manager)
    get(state, OPTIONS, [("a", None), ("a", "previous"), ("b", None)])
    assert state.invalidate(["a"]) == 2
    manager.values[("a", None)] = "A-new"
    out = get(state, OPTIONS, [("a", None), ("b", None)])
    assert out[("a", None)].value == "A-new"
    assert manager.batches == [["a", "b"], ["a"]]


def test_an_invalidation_during_a_fetch_is_not_overwritten_by_the_old_value():
    gate = threading.Event()
    manager = FakeManager(gate)
    manager.values = {("a", None): "old"}
    state = state_with(manager)
    thread = threading.Thread(target=state.fetch, args=(OPTIONS, None, [("a", None)]))
    thread.start()
    while not manager.batches:
        time.sleep(0.005)
    state.invalidate(["a"])  # the write happened while the read was in flight
    gate.set()
    thread.join(5)
    manager.values[("a", None)] = "new"
    assert get(state, OPTIONS, [("a", None)])[("a", None)].value == "new"


def test_definite_errors_are_cached_transient_ones_are_not():
    manager = FakeManager()
    manager.values = {("busy", None): errors.ProviderUnavailable("503")}
    state = state_with(manager)
    for _attempt in range(2):
        out = get(state, OPTIONS, [("missing", None), ("busy", None)])
        assert isinstance(out[("missing", None)], errors.SecretNotFound)
        assert isinstance(out[("busy", None)], errors.ProviderUnavailable)
    assert manager.batches == [["missing", "busy"], ["busy"]]


def test_bypass_reads_again_and_refreshes():
    manager = FakeManager()
    manager.values = {("a", None): "A"}
    state = state_with(manager)
    get(state, OPTIONS, [("a", None)])
    manager.values[("a", None)] = "A2"
    assert get(state, OPTIONS, [("a", None)], bypass=True)[("a", None)].value == "A2"
    assert get(state, OPTIONS, [("a", None)])[("a", None)].value == "A2"
    assert len(manager.batches) == 2


def test_option_sets_do_not_share_entries():
    built = []

    def build(resolved):
        manager = FakeManager()
        manager.values = {("a", None): resolved.prefix}
        built.append(manager)
        return manager

    state = run_cache_server.CacheState(build=build)
    one = get(state, dict(OPTIONS, prefix="x/"), [("a", None)])
    two = get(state, dict(OPTIONS, prefix="y/"), [("a", None)])
    assert (one[("a", None)].value, two[("a", None)].value) == ("x/", "y/")
    assert len(built) == 2


def test_options_a_provider_does_not_use_do_not_split_the_cache():
    manager = FakeManager()
    manager.values = {("a", None): "A"}
    state = state_with(manager)
    get(state, dict(OPTIONS, vault_kv_version=2, azure_auth="auto"), [("a", None)])
    get(state, dict(OPTIONS, vault_kv_version=None), [("a", None)])
    assert len(manager.batches) == 1


def test_a_manager_that_cannot_be_built_fails_each_item_with_its_error():
    def build(resolved):
        raise errors.ProviderNotInstalled("aws", "boto3")

    provider, out = run_cache_server.CacheState(build=build).fetch(dict(OPTIONS, provider="aws"), None, [("a", None)])
    assert provider == "aws"
    assert isinstance(out[("a", None)], errors.ProviderNotInstalled)


def test_unexpected_exceptions_never_leak_their_text():
    class Broken(FakeManager):
        def get_many(self, names, bypass_cache=False):
            raise RuntimeError("boom " + CANARY)

    out = get(state_with(Broken()), OPTIONS, [("a", None)])
    assert isinstance(out[("a", None)], errors.ProviderUnavailable)
    assert CANARY not in str(out[("a", None)])


# wire format -----------------------------------------------------------------------------------

def test_outcomes_survive_the_wire():
    meta = SecretMetadata(name="a", version="3", tags={"t": "1"}, stages=["current"])
    back = run_cache_outcomes.decode_outcome(run_cache_outcomes.encode_outcome(Secret(CANARY, meta)))
    assert back.value == CANARY and back.metadata.version == "3" and back.metadata.tags == {"t": "1"}
    error = errors.SecretDenied("denied", provider="aws", name="a", provider_name="vibebox/a", hint="ask")
    again = run_cache_outcomes.decode_outcome(run_cache_outcomes.encode_outcome(error))
    assert again.__class__.__name__ == "SecretDenied" and str(again) == str(error)
    missing = run_cache_outcomes.decode_outcome(run_cache_outcomes.encode_outcome(errors.ProviderNotInstalled("aws", "boto3")))
    assert isinstance(missing, errors.ProviderNotInstalled) and missing.package == "boto3"


def test_switch():
    # by default only inside Ansible's worker forks; true forces it anywhere, false turns it off
    assert not run_cache.enabled({})
    assert run_cache.enabled({}, worker=True)
    assert not run_cache.enabled({"VIBEBOX_RUN_CACHE": "false"}, worker=True)
    assert not run_cache.enabled({"VIBEBOX_RUN_CACHE": "0"}, worker=True)
    assert run_cache.enabled({"VIBEBOX_RUN_CACHE": "true"})


def test_requests_carry_only_the_environment_that_resolves_options():
    env = {"VAULT_ADDR": "http://v", "AWS_REGION": "x", "SECRET_PROVIDER": "vault", "PATH": "/bin", "TERM": "xterm"}
    assert run_cache.relevant_environment(env) == {"VAULT_ADDR": "http://v", "AWS_REGION": "x", "SECRET_PROVIDER": "vault"}


def test_the_helper_resolves_options_with_the_askers_environment():
    seen = []

    def build(resolved):
        seen.append(resolved)
        manager = FakeManager()
        manager.values = {("a", None): resolved.provider_options()["vault_addr"]}
        return manager

    state = run_cache_server.CacheState(build=build)
    vault = {"provider": "vault"}
    one = state.fetch(vault, None, [("a", None)], env={"VAULT_ADDR": "one"})[1]
    two = state.fetch(vault, None, [("a", None)], env={"VAULT_ADDR": "two"})[1]
    assert (one[("a", None)].value, two[("a", None)].value) == ("one", "two")
    assert len(seen) == 2


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


# the fork that starts the helper reads its own secrets (run_cache_start.py) ------------------------

def _no_manager(resolved):
    raise AssertionError("the helper built a manager (and imported an SDK) for values it was handed")


def test_what_the_starting_fork_read_is_served_without_a_manager():
    state = run_cache_server.CacheState(build=_no_manager, clock=Clock())
    handed = {("a", None): Secret("A", SecretMetadata(name="a", version="1")),
              ("gone", None): errors.SecretNotFound("missing", name="gone")}
    assert state.put(OPTIONS, None, handed) == 2
    found = get(state, OPTIONS, [("a", None), ("gone", None)])
    assert found[("a", None)].value == "A"
    assert isinstance(found[("gone", None)], errors.SecretNotFound)
    assert state.stats["prefetched"] == 2 and state.stats["hits"] == 2


def test_requests_wait_for_the_starting_forks_values():
    state = run_cache_server.CacheState(build=_no_manager, clock=Clock())
    state.ready.clear()  # serve() does this when a fork is reading for it
    answers = {}
    asker = threading.Thread(target=lambda: answers.update(get(state, OPTIONS, [("a", None)])))
    asker.start()
    asker.join(0.3)
    assert asker.is_alive(), "a request was answered before the starting fork handed its values over"
    state.put(OPTIONS, None, {("a", None): Secret("A", SecretMetadata(name="a", version="1"))})
    asker.join(10)
    assert answers[("a", None)].value == "A"
    assert state.stats["fetched"] == 1  # read once, by the starting fork


def test_an_invalidation_before_the_hand_over_wins():
    manager = FakeManager()
    manager.values = {("a", None): "new"}
    state = state_with(manager)
    state.invalidate(["a"])  # a module wrote 'a' while the starting fork was still reading the old value
    assert state.put(OPTIONS, None, {("a", None): Secret("old", SecretMetadata(name="a", version="1"))}) == 0
    assert get(state, OPTIONS, [("a", None)])[("a", None)].value == "new"
    assert len(manager.batches) == 1


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
