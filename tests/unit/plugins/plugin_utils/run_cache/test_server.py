"""run_cache/server.py: the helper's CacheState: single-flight, batching, TTL, invalidation, errors that never
leak their text, the starting fork's hand-over, and leased secrets (one lease per run, kept for the
lease, offered back at the end).
"""
from __future__ import annotations

import threading
import time
import uuid


from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server as run_cache_server

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


def test_a_name_held_for_an_async_write_is_read_but_not_kept_until_the_hold_ends():
    """An async job writes at any moment until its timeout: what is read of the name meanwhile may be the value
    from before the write, so it is answered but not kept; once the job can no longer write, caching resumes."""
    manager = FakeManager()
    manager.values = {("a", None): "old", ("b", None): "B"}
    clock = Clock()
    state = state_with(manager, clock)
    state.invalidate(["A"], hold=60.0)  # the job started; it has not written yet
    assert state.holding()
    assert get(state, OPTIONS, [("a", None), ("b", None)])[("a", None)].value == "old"
    manager.values[("a", None)] = "new"  # the job writes
    clock.now += 30
    assert get(state, OPTIONS, [("a", None), ("b", None)])[("a", None)].value == "new"
    assert manager.batches == [["a", "b"], ["a"]]  # other names are kept as usual
    assert state.put(OPTIONS, None, {("a", None): Secret("old", SecretMetadata(name="a", version="1"))}) == 0
    clock.now += 31
    assert not state.holding()
    get(state, OPTIONS, [("a", None)])
    get(state, OPTIONS, [("a", None)])
    assert manager.batches == [["a", "b"], ["a"], ["a"]]


def test_invalidating_everything_drops_every_entry_and_every_read_in_flight():
    """A write task that ended inside its module (its timeout) says nothing of what it wrote, nor under which
    names: everything goes, and a read that was in flight then does not keep what it found."""
    gate = threading.Event()
    manager = FakeManager(gate)
    manager.values = {("a", None): "old", ("b", None): "B"}
    state = state_with(manager)
    gate.set()
    get(state, OPTIONS, [("b", None)])
    gate.clear()
    thread = threading.Thread(target=state.fetch, args=(OPTIONS, None, [("a", None)]))
    thread.start()
    while len(manager.batches) < 2:
        time.sleep(0.005)
    assert state.invalidate_all() == 1
    gate.set()
    thread.join(5)
    manager.values[("a", None)] = "new"
    assert get(state, OPTIONS, [("a", None)])[("a", None)].value == "new"
    assert get(state, OPTIONS, [("b", None)])[("b", None)].value == "B"
    assert manager.batches == [["b"], ["a"], ["a"], ["b"]]
    assert state.put(OPTIONS, None, {("c", None): Secret("old", SecretMetadata(name="c", version="1"))}) == 0


def test_everything_held_for_an_async_write_is_read_but_not_kept_until_the_hold_ends():
    manager = FakeManager()
    manager.values = {("a", None): "old"}
    clock = Clock()
    state = state_with(manager, clock)
    state.invalidate_all(hold=60.0)  # an async migration started; its names come with its result
    assert state.holding()
    get(state, OPTIONS, [("a", None)])
    manager.values[("a", None)] = "new"  # the job writes
    assert get(state, OPTIONS, [("a", None)])[("a", None)].value == "new"
    clock.now += 61
    assert not state.holding()
    get(state, OPTIONS, [("a", None)])
    get(state, OPTIONS, [("a", None)])
    assert len(manager.batches) == 3


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


LEASE_OPTIONS = {"provider": "local", "cache_ttl": 60.0}


ITEM = ("database/creds/app", None)


class LeasingBackend:
    def __init__(self):
        self.released = []

    def release_leases(self, lease_ids):
        self.released.append(list(lease_ids))


class LeasingManager:
    """Each read is a new lease, as Vault's database engine does."""

    provider = "local"

    def __init__(self, duration=3600, gate=None):
        self.duration = duration
        self.reads = 0
        self.gate = gate
        self.backend = LeasingBackend()
        self.lock = threading.Lock()

    def get_many(self, names, bypass_cache=False):
        if self.gate is not None:
            assert self.gate.wait(10)
        with self.lock:
            self.reads += 1
            number = self.reads
        value = {"username": f"v-app-{number}", "password": f"{CANARY}-{number}", "lease_id": f"database/creds/app/L{number}",
                 "lease_duration": self.duration, "renewable": True}
        return {name: Secret(value, SecretMetadata(name=name)) for name in names}

    def close(self):
        pass


def lease_state(manager, clock):
    return run_cache_server.CacheState(build=lambda resolved: manager, clock=clock)


def read(state):
    return state.fetch(LEASE_OPTIONS, None, [ITEM])[1][ITEM]


def test_a_lease_is_handed_out_for_most_of_its_life_whatever_cache_ttl_says():
    clock, manager = Clock(), LeasingManager(duration=3600)
    state = lease_state(manager, clock)
    first = read(state)
    clock.now += 3000  # far beyond cache_ttl (60 s), within nine tenths of the lease
    assert read(state).value["lease_id"] == first.value["lease_id"]
    assert manager.reads == 1
    clock.now += 300  # 3300 s: past 0.9 x 3600
    assert read(state).value["lease_id"] != first.value["lease_id"]
    assert manager.reads == 2


def test_a_short_lease_is_not_handed_out_after_it_ends_even_if_cache_ttl_is_longer():
    clock, manager = Clock(), LeasingManager(duration=30)
    state = lease_state(manager, clock)
    read(state)
    clock.now += 28
    read(state)
    assert manager.reads == 2


def test_many_askers_at_once_share_one_lease():
    gate = threading.Event()
    clock, manager = Clock(), LeasingManager(gate=gate)
    state = lease_state(manager, clock)
    got = []
    askers = [threading.Thread(target=lambda: got.append(read(state).value["lease_id"])) for _asker in range(20)]
    for asker in askers:
        asker.start()
    gate.set()
    for asker in askers:
        asker.join(10)
    assert len(got) == 20 and len(set(got)) == 1
    assert manager.reads == 1


def test_the_leases_handed_out_are_offered_back_once_at_the_end():
    clock, manager = Clock(), LeasingManager(duration=100)
    state = lease_state(manager, clock)
    read(state)
    clock.now += 95
    read(state)
    assert state.release_leases() == 2
    assert manager.backend.released == [["database/creds/app/L1", "database/creds/app/L2"]]
    assert state.release_leases() == 0


def test_a_helper_that_handed_out_a_lease_says_so():
    clock, manager = Clock(), LeasingManager()
    state = lease_state(manager, clock)
    assert not state.holds_leases()
    read(state)
    assert state.holds_leases()
    state.release_leases()
    assert not state.holds_leases()


def test_a_lease_the_starting_fork_read_is_offered_back_too():
    clock, manager = Clock(), LeasingManager()
    state = lease_state(manager, clock)
    handed = manager.get_many([ITEM[0]])
    state.put(LEASE_OPTIONS, None, {ITEM: handed[ITEM[0]]})
    assert read(state).value["lease_id"] == "database/creds/app/L1"
    state.release_leases()
    assert manager.backend.released == [["database/creds/app/L1"]]


def test_invalidating_a_lease_id_drops_the_entry_holding_it():
    clock, manager = Clock(), LeasingManager()
    state = lease_state(manager, clock)
    first = read(state).value["lease_id"]
    assert state.invalidate(["database/creds/app/other"]) == 0
    assert state.invalidate([first]) == 1
    assert read(state).value["lease_id"] != first


# a write announced under another name ---------------------------------------------------------------

def test_a_write_announced_by_its_stored_name_or_in_another_case_drops_the_copy_read_under_a_prefix():
    """A lookup read 'db' with prefix 'team/'; a task wrote the same stored secret as 'team/db' with no prefix
    (or as 'DB', a name Key Vault does not tell apart): the copy must go."""
    manager = FakeManager()
    manager.values = {("db", None): "old"}
    state = state_with(manager)
    prefixed = dict(OPTIONS, prefix="team/")
    assert get(state, prefixed, [("db", None)])[("db", None)].value == "old"
    manager.values[("db", None)] = "new"
    assert state.invalidate(["team/db"]) == 1
    assert get(state, prefixed, [("db", None)])[("db", None)].value == "new"
    manager.values[("db", None)] = "newer"
    assert state.invalidate(["DB"]) == 1
    assert get(state, prefixed, [("db", None)])[("db", None)].value == "newer"
    assert state.invalidate(["team/other"]) == 0  # other secrets stay


def test_a_request_after_a_write_does_not_get_the_answer_of_a_read_that_started_before_it():
    """The read in flight answers its own askers; one that asks after the write reads again."""
    gate = threading.Event()
    manager = FakeManager(gate)
    manager.values = {("a", None): "old"}
    state = state_with(manager)
    early = {}
    thread = threading.Thread(target=lambda: early.update(get(state, OPTIONS, [("a", None)])))
    thread.start()
    while not manager.batches:
        time.sleep(0.005)
    manager.values[("a", None)] = "new"
    state.invalidate(["a"])  # the write, announced while the read is in flight
    late = {}
    asker = threading.Thread(target=lambda: late.update(get(state, OPTIONS, [("a", None)])))
    asker.start()
    while len(manager.batches) < 2 and asker.is_alive():
        time.sleep(0.005)
    gate.set()
    thread.join(5)
    asker.join(5)
    assert late[("a", None)].value == "new", "the later request was given the read that started before the write"
    assert len(manager.batches) == 2


def test_a_fork_s_first_read_is_not_kept_when_a_write_under_another_name_came_first():
    manager = FakeManager()
    state = state_with(manager)
    state.invalidate(["team/db"])
    secret = Secret("old", SecretMetadata(name="db", version="1"))
    assert state.put(dict(OPTIONS, prefix="team/"), None, {("db", None): secret}) == 0
