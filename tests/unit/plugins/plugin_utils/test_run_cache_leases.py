"""Run cache and leased secrets (dynamic secrets): one lease per run, kept for the lease, offered back at the end."""
from __future__ import annotations

import threading
import uuid

from ansible_collections.vibebox.secrets.plugins.module_utils.core import leases
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import server as run_cache_server
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import wire

CANARY = "CANARY-" + uuid.uuid4().hex
OPTIONS = {"provider": "local", "cache_ttl": 60.0}
ITEM = ("database/creds/app", None)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


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


def state_with(manager, clock):
    return run_cache_server.CacheState(build=lambda resolved: manager, clock=clock)


def read(state):
    return state.fetch(OPTIONS, None, [ITEM])[1][ITEM]


def test_a_lease_is_handed_out_for_most_of_its_life_whatever_cache_ttl_says():
    clock, manager = Clock(), LeasingManager(duration=3600)
    state = state_with(manager, clock)
    first = read(state)
    clock.now += 3000  # far beyond cache_ttl (60 s), within nine tenths of the lease
    assert read(state).value["lease_id"] == first.value["lease_id"]
    assert manager.reads == 1
    clock.now += 300  # 3300 s: past 0.9 x 3600
    assert read(state).value["lease_id"] != first.value["lease_id"]
    assert manager.reads == 2


def test_a_short_lease_is_not_handed_out_after_it_ends_even_if_cache_ttl_is_longer():
    clock, manager = Clock(), LeasingManager(duration=30)
    state = state_with(manager, clock)
    read(state)
    clock.now += 28
    read(state)
    assert manager.reads == 2


def test_many_askers_at_once_share_one_lease():
    gate = threading.Event()
    clock, manager = Clock(), LeasingManager(gate=gate)
    state = state_with(manager, clock)
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
    state = state_with(manager, clock)
    read(state)
    clock.now += 95
    read(state)
    assert state.release_leases() == 2
    assert manager.backend.released == [["database/creds/app/L1", "database/creds/app/L2"]]
    assert state.release_leases() == 0


def test_a_helper_that_handed_out_a_lease_says_so():
    clock, manager = Clock(), LeasingManager()
    state = state_with(manager, clock)
    assert not state.holds_leases()
    read(state)
    assert state.holds_leases()
    state.release_leases()
    assert not state.holds_leases()


def test_a_lease_the_starting_fork_read_is_offered_back_too():
    clock, manager = Clock(), LeasingManager()
    state = state_with(manager, clock)
    handed = manager.get_many([ITEM[0]])
    state.put(OPTIONS, None, {ITEM: handed[ITEM[0]]})
    assert read(state).value["lease_id"] == "database/creds/app/L1"
    state.release_leases()
    assert manager.backend.released == [["database/creds/app/L1"]]


def test_invalidating_a_lease_id_drops_the_entry_holding_it():
    clock, manager = Clock(), LeasingManager()
    state = state_with(manager, clock)
    first = read(state).value["lease_id"]
    assert state.invalidate(["database/creds/app/other"]) == 0
    assert state.invalidate([first]) == 1
    assert read(state).value["lease_id"] != first


def test_a_lease_survives_the_wire_as_a_dict():
    manager = LeasingManager()
    secret = manager.get_many(["x"])["x"]
    decoded = wire.decode_outcome(wire.encode_outcome(secret))
    assert decoded.value == secret.value
    assert leases.lease_of(decoded) == ("database/creds/app/L1", 3600.0)
    assert CANARY not in repr(decoded)


def test_what_is_a_lease():
    assert leases.lease_of(Secret("text", SecretMetadata(name="a"))) is None
    assert leases.lease_of(Secret({"lease_id": ""}, SecretMetadata(name="a"))) is None
    assert leases.lease_of(Secret({"lease_id": "x/y", "lease_duration": 0}, SecretMetadata(name="a"))) == ("x/y", 0.0)
    assert leases.reuse_for(Secret({"lease_id": "x/y", "lease_duration": 0}, SecretMetadata(name="a")), 60) == float("inf")
    assert leases.reuse_for(Secret("text", SecretMetadata(name="a")), 60) == 60
