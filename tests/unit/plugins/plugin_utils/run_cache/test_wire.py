"""run_cache/wire.py: outcomes (secrets, errors, leases) survive the wire between fork and helper."""
from __future__ import annotations

import threading
import uuid

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, leases
from ansible_collections.vibebox.secrets.plugins.module_utils.core.model import Secret, SecretMetadata
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import wire


CANARY = "CANARY-" + uuid.uuid4().hex


# wire format -----------------------------------------------------------------------------------

def test_outcomes_survive_the_wire():
    meta = SecretMetadata(name="a", version="3", tags={"t": "1"}, stages=["current"])
    back = wire.decode_outcome(wire.encode_outcome(Secret(CANARY, meta)))
    assert back.value == CANARY and back.metadata.version == "3" and back.metadata.tags == {"t": "1"}
    error = errors.SecretDenied("denied", provider="aws", name="a", provider_name="vibebox/a", hint="ask")
    again = wire.decode_outcome(wire.encode_outcome(error))
    assert again.__class__.__name__ == "SecretDenied" and str(again) == str(error)
    missing = wire.decode_outcome(wire.encode_outcome(errors.ProviderNotInstalled("aws", "boto3")))
    assert isinstance(missing, errors.ProviderNotInstalled) and missing.package == "boto3"


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


def test_a_lease_survives_the_wire_as_a_dict():
    manager = LeasingManager()
    secret = manager.get_many(["x"])["x"]
    decoded = wire.decode_outcome(wire.encode_outcome(secret))
    assert decoded.value == secret.value
    assert leases.lease_of(decoded) == ("database/creds/app/L1", 3600.0)
    assert CANARY not in repr(decoded)
