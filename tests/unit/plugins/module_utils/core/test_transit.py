"""core/transit.py: transit keys without a server: reading ciphertext versions, the key's state and rewrapping
over a small in-memory key (the real engine is in tests/integration/test_transit.py).

What matters here: a ciphertext already on the newest version is never sent (idempotence), a bad item
fails before any request and is named by position, never by content, check mode sends nothing.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core.transit import (
    KeyState,
    TransitKey,
    check_key_name,
    ciphertext_version,
)

CANARY = "CANARY-plaintext-7f3a"


DAY = 86400.0


NOW = 1_800_000_000.0


class FakeKey(TransitKey):
    """A TransitKey whose requests are answered from memory; counts the rewrap requests."""

    def __init__(self, versions: Optional[Dict[int, float]] = None, exists: bool = True) -> None:
        super().__init__(None, "app", "transit")
        self.versions: Dict[int, float] = dict(versions or {1: NOW - 400 * DAY})
        self.exists = exists
        self.min_decryption = 1
        self.batches: List[int] = []

    def state(self, missing_ok: bool = False) -> Optional[KeyState]:
        if not self.exists:
            if missing_ok:
                return None
            raise errors.SecretNotFound(f"the {self.label} does not exist", provider="vault")
        kept = {number: born for number, born in self.versions.items() if number >= self.min_decryption}
        return KeyState("app", max(self.versions), self.min_decryption, 0, kept)

    def create(self) -> KeyState:
        self.exists = True
        self.versions = {1: NOW}
        return self.state()

    def rotate(self) -> KeyState:
        self.versions[max(self.versions) + 1] = NOW
        return self.state()

    def raise_min_decryption_version(self, version: int) -> KeyState:
        self.min_decryption = max(self.min_decryption, version)
        return self.state()

    def _call(self, call, api, capability, explain=None, suffix=""):
        assert api == "rewrap"

        fake = self

        class Transit:
            def rewrap_data(self, name, ciphertext, batch_input, mount_point):
                fake.batches.append(len(batch_input))
                latest = max(fake.versions)
                return {"data": {"batch_results": [
                    {"ciphertext": f"vault:v{latest}:" + item["ciphertext"].split(":", 2)[2]} for item in batch_input]}}

        class Client:
            secrets = type("S", (), {"transit": Transit()})()

        return call(Client())


def test_ciphertext_version_reads_the_prefix_and_never_echoes_a_bad_item():
    assert ciphertext_version("vault:v12:QUJD", "x") == 12
    with pytest.raises(errors.InvalidOption) as caught:
        ciphertext_version(CANARY, "ciphertext 3")
    assert "ciphertext 3 is not a transit ciphertext" in str(caught.value)
    assert CANARY not in str(caught.value) + str(caught.value.hint)
    with pytest.raises(errors.InvalidOption):
        ciphertext_version(None, "ciphertext 1")


@pytest.mark.parametrize("key", [None, "", "a/b", "../x"])
def test_a_missing_or_bad_key_name_is_refused_naming_the_option(key):
    with pytest.raises(errors.InvalidOption, match="vault_transit_key"):
        check_key_name(key)


def test_key_state_reads_epoch_rfc3339_and_asymmetric_creation_times():
    state = KeyState.from_read("app", {
        "latest_version": 3, "min_decryption_version": 2,
        "keys": {"1": 1700000000, "2": "2024-01-01T00:00:00.123456789Z", "3": {"creation_time": "2024-02-01T00:00:00Z"}},
    })
    assert state.latest_version == 3 and state.min_decryption_version == 2
    assert state.created[1] == 1700000000.0
    assert state.created[2] == pytest.approx(1704067200.123456)
    assert state.created_at(3).isoformat().startswith("2024-02-01")


def test_rewrap_sends_only_stale_items_in_batches_and_a_second_run_sends_nothing():
    key = FakeKey({1: NOW - 10 * DAY, 2: NOW - DAY})
    items = ["vault:v1:AAAA"] * 5 + ["vault:v2:BBBB"] * 2 + ["vault:v1:CCCC"] * 3
    first = key.rewrap(items, batch_size=3)
    assert (first.rewrapped, first.already_current, first.requests) == (8, 2, 3)
    assert key.batches == [3, 3, 2]
    assert all(text.startswith("vault:v2:") for text in first.ciphertexts)
    assert first.ciphertexts[5] is items[5]  # an item on the newest version is returned as it was
    second = key.rewrap(first.ciphertexts)
    assert (second.rewrapped, second.requests) == (0, 0)
    assert second.ciphertexts == first.ciphertexts


def test_rewrap_in_check_mode_counts_and_sends_nothing():
    key = FakeKey({1: NOW - 10 * DAY, 2: NOW - DAY})
    result = key.rewrap(["vault:v1:AAAA", "vault:v2:BBBB"], check_mode=True)
    assert (result.rewrapped, result.changed_items, result.requests) == (1, [0], 0)
    assert key.batches == []
    assert result.ciphertexts == ["vault:v1:AAAA", "vault:v2:BBBB"]


def test_rewrap_fails_before_any_request_on_a_bad_retired_or_foreign_item():
    key = FakeKey({1: NOW - 10 * DAY, 2: NOW - DAY})
    with pytest.raises(errors.InvalidOption, match="ciphertext 2 is not"):
        key.rewrap(["vault:v1:AAAA", CANARY])
    with pytest.raises(errors.InvalidOption, match="version 7 of the transit key"):
        key.rewrap(["vault:v7:AAAA"])
    key.min_decryption = 2
    with pytest.raises(errors.InvalidOption, match="no longer decrypts"):
        key.rewrap(["vault:v2:BBBB", "vault:v1:AAAA"])
    with pytest.raises(errors.InvalidOption, match="batch_size"):
        key.rewrap(["vault:v2:BBBB"], batch_size=0)
    assert key.batches == []


def test_the_rewrap_summary_says_what_was_retired_or_rewrapped():
    from ansible_collections.vibebox.secrets.plugins.module_utils.core.transit_rotation import summary

    key = dict(name="app", latest_version=2)
    retired = dict(key=key, rewrapped=2, retired=dict(destroyed=["1"], grace_until=None))
    assert summary(retired, "encryption-key") == (
        "encryption-key: transit key app: versions 1 no longer decrypt; version 2 is current; re-wrapped 2 secret(s)")
    kept = dict(key=key, rewrapped=0, retired=dict(destroyed=[], grace_until="2026-12-04T00:00:00Z"))
    assert summary(kept) == "transit key app: nothing retired; version 2 is current; grace until 2026-12-04T00:00:00Z"
    assert summary(dict(key=key, rewrapped=3, total=5, already_current=2)) == (
        "transit key app: re-wrapped 3 of 5 ciphertext(s) to version 2 (2 already on it)")
