"""core/backend.py: every request goes through ``request()``, which retries it and reports the retries, and the
thread-pool fan-out keeps order and bounds its pool (a backend that fails on command, no server).
"""
from __future__ import annotations

import json
import threading

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import backend as backend_module
from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.audit import AuditLog, read_tail
from ansible_collections.vibebox.secrets.plugins.module_utils.core.backend import SecretBackend
from ansible_collections.vibebox.secrets.plugins.module_utils.core.manager import SecretManager
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.module_utils.core.retry import RetryPolicy


class FlakyBackend(SecretBackend):
    """Throttles the first ``throttle`` requests for each name; every request goes through request()."""

    name = "aws"

    def __init__(self, throttle: int = 2):
        self.throttle = throttle
        self.seen = {}
        self.data = {}
        self._lock = threading.Lock()

    def _request(self, name):
        with self._lock:
            self.seen[name] = self.seen.get(name, 0) + 1
            count = self.seen[name]
        if count <= self.throttle:
            raise errors.ProviderThrottled("429", provider_name=name)

    def get(self, name, version=None):
        self.request(lambda: self._request(name), name)
        return Secret(self.data[name], SecretMetadata(name=name, version="1"))

    def set(self, name, value, description=None, tags=None):
        # a write is two requests (like Vault's data and metadata): each is retried on its own
        self.request(lambda: self._request(name), name)
        self.request(lambda: self._request(name + "#meta"), name)
        self.data[name] = value
        return SecretMetadata(name=name, version="1")

    def delete(self, name, recovery_days=None, force=False):
        self.data.pop(name)

    def describe(self, name):
        return SecretMetadata(name=name, version="1")

    def list(self, prefix=""):
        return sorted(self.data)


def _manager(tmp_path, backend):
    manager = SecretManager(backend, cache_ttl=0, audit=AuditLog(str(tmp_path / "audit.log"), "aws"))
    manager.retry.sleep = lambda _s: None
    return manager


def test_retries_on_fan_out_threads_are_counted_per_name():
    backend = FlakyBackend(throttle=2)
    backend.retry_policy = RetryPolicy(sleep=lambda _s: None)
    backend.data = {name: name.upper() for name in ("a", "b", "c")}
    found = backend.get_many(["a", "b", "c"])
    assert {name: secret.value for name, secret in found.items()} == {"a": "A", "b": "B", "c": "C"}
    assert [backend.take_retries(name) for name in ("a", "b", "c")] == [2, 2, 2]
    assert backend.take_retries("a") == 0, "taking the count resets it"


def test_fan_out_keeps_the_order_and_bounds_the_pool():
    seen = []

    def work(item):
        seen.append(threading.get_ident())
        return item * 2

    items = list(range(20))
    assert backend_module.fan_out(work, items) == {item: item * 2 for item in items}
    assert len(set(seen)) <= backend_module.FAN_OUT_WORKERS
    assert backend_module.fan_out(work, []) == {}


def test_retries_are_written_to_the_audit_log(tmp_path):
    backend = FlakyBackend(throttle=2)
    manager = _manager(tmp_path, backend)
    manager.set("jwt-secret", "v")
    results = manager.get_many(["jwt-secret"])
    assert results["jwt-secret"].value == "v"
    entries = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(entry["op"], entry.get("retries")) for entry in entries] == [("set", 4), ("get", None)]
    assert read_tail(str(tmp_path / "audit.log"), 5)[0]["retries"] == 4
    assert manager.retry.retries == 4


def test_a_batch_reports_the_retries_of_its_threads_once(tmp_path):
    backend = FlakyBackend(throttle=0)
    manager = _manager(tmp_path, backend)
    for name in ("a", "b", "c"):
        manager.set(name, name.upper())
    backend.throttle, backend.seen = 1, {}
    found = manager.get_many(["a", "b", "c"], bypass_cache=True)
    assert {name: secret.value for name, secret in found.items()} == {"a": "A", "b": "B", "c": "C"}
    gets = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()][-3:]
    assert sum(entry.get("retries", 0) for entry in gets) == 3, gets


def test_an_operation_is_never_retried_as_a_whole(tmp_path):
    """Retry is at one level, the request: a backend that sends a request outside request() gets one attempt."""

    class NoRetryBackend(FlakyBackend):
        def get(self, name, version=None):
            self._request(name)
            return Secret(self.data[name], SecretMetadata(name=name, version="1"))

    backend = NoRetryBackend(throttle=0)
    manager = _manager(tmp_path, backend)
    manager.set("a", "A")
    backend.throttle, backend.seen = 1, {}
    with pytest.raises(errors.ProviderThrottled):
        manager.get("a", bypass_cache=True)
    found = manager.get_many(["a"], bypass_cache=True)
    assert found["a"].value == "A", "the second request is the second attempt of nobody: it simply succeeds"
    assert backend.seen == {"vibebox/a": 2}


def test_replacing_the_policy_reaches_the_backend(tmp_path):
    backend = FlakyBackend()
    manager = _manager(tmp_path, backend)
    policy = RetryPolicy(attempts=2, sleep=lambda _s: None)
    manager.retry = policy
    assert backend.retry_policy is policy
    with pytest.raises(errors.ProviderThrottled):
        manager.set("x", "y")
    assert policy.retries == 1
