"""JWT key rotation on every provider: what an application verifying tokens sees.

The application here is the usual one: it accepts a token signed with the current key or with the
previous key while one is readable. A token signed before the rotation must keep verifying during
the grace period and stop once cleanup has run after it; a hard cut (refresh keys) stops it at once.
Tokens are HS256 JWTs made with hmac, so the test needs no JWT library. A fake clock drives grace
and max_age; the provider is real (each one in CONTRACT_PROVIDERS).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, generators
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import (
    TAG_GRACE_UNTIL,
    RotationPolicy,
    Rotator,
)

T0 = 1_700_000_000.0
HOUR = 3600


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def sign(key: str, claims: dict) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def verifies(token: str, keys: list) -> bool:
    head, body, mac = token.split(".")
    for key in keys:
        expected = _b64(hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
        if hmac.compare_digest(expected, mac):
            return True
    return False


def application_keys(manager, name: str) -> list:
    """What a service loads: the current key and, while it is readable, the previous one."""
    keys = [manager.get(name, bypass_cache=True).value]
    try:
        keys.append(manager.get(name, version="previous", bypass_cache=True).value)
    except errors.SecretNotFound:
        pass
    return keys


def _hex() -> str:
    return generators.generate("hex", 64)


@pytest.fixture
def versioned(manager):
    if not manager.backend.supports_versions:
        pytest.skip(f"provider {manager.provider} keeps only the current value: no previous key to verify with")
    return manager


def test_previous_key_verifies_during_grace_and_not_after_cleanup(versioned):
    clock = FakeClock()
    rotator = Rotator(versioned, clock=clock)
    rotator.rotate("jwt-secret", RotationPolicy(), generator=_hex)
    old_token = sign(versioned.get("jwt-secret", bypass_cache=True).value, {"sub": "alice"})

    clock.now += 60
    result = rotator.rotate("jwt-secret", RotationPolicy.from_options(grace_period="2h"), generator=_hex)
    assert result.rotated and result.grace_until == int(clock.now) + 2 * HOUR
    assert versioned.describe("jwt-secret").tags[TAG_GRACE_UNTIL] == str(int(clock.now) + 2 * HOUR)
    new_token = sign(versioned.get("jwt-secret", bypass_cache=True).value, {"sub": "bob"})
    assert verifies(old_token, application_keys(versioned, "jwt-secret"))
    assert verifies(new_token, application_keys(versioned, "jwt-secret"))

    clock.now += HOUR  # cleanup inside the grace keeps the previous key
    report = rotator.cleanup("jwt-secret", keep=1)
    assert report["destroyed"] == []
    assert verifies(old_token, application_keys(versioned, "jwt-secret"))

    clock.now += 2 * HOUR  # grace over: cleanup destroys it
    report = rotator.cleanup("jwt-secret", keep=1)
    assert report["destroyed"] == [result.previous_version]
    keys = application_keys(versioned, "jwt-secret")
    assert not verifies(old_token, keys)
    assert verifies(new_token, keys)


def test_refresh_key_hard_cut_rejects_old_tokens_at_once(versioned):
    clock = FakeClock()
    rotator = Rotator(versioned, clock=clock)
    rotator.rotate("jwt-refresh-secret", RotationPolicy(), generator=_hex)
    rotator.rotate("jwt-refresh-secret", RotationPolicy(), generator=_hex)  # an older version exists too
    old_token = sign(versioned.get("jwt-refresh-secret", bypass_cache=True).value, {"sub": "alice"})

    result = rotator.rotate("jwt-refresh-secret", RotationPolicy(keep_previous=False), generator=_hex)
    assert result.rotated and result.destroyed_versions and result.grace_until is None
    with pytest.raises(errors.SecretNotFound):
        versioned.get("jwt-refresh-secret", version="previous", bypass_cache=True)
    assert not verifies(old_token, application_keys(versioned, "jwt-refresh-secret"))


def test_scheduled_rotation_waits_for_max_age(manager):
    clock = FakeClock()
    rotator = Rotator(manager, clock=clock)
    policy = RotationPolicy.from_options(max_age="30d", grace_period="2h" if manager.backend.supports_versions else None)
    first = rotator.rotate("jwt-secret", policy, generator=_hex)
    assert first.rotated
    version = manager.describe("jwt-secret").version

    clock.now += 86400  # the next daily run: not due
    daily = rotator.rotate("jwt-secret", policy, generator=_hex)
    assert not daily.rotated and not daily.due and daily.age == 86400
    assert manager.describe("jwt-secret").version == version

    clock.now += 30 * 86400
    due = rotator.rotate("jwt-secret", policy, generator=_hex)
    assert due.rotated and due.previous_version == version


def test_rollback_makes_the_old_key_current_again(versioned):
    rotator = Rotator(versioned, clock=FakeClock())
    rotator.rotate("jwt-secret", RotationPolicy(), generator=_hex)
    old = versioned.get("jwt-secret", bypass_cache=True).value
    rotated = rotator.rotate("jwt-secret", RotationPolicy.from_options(grace_period="1h"), generator=_hex)
    back = rotator.rollback("jwt-secret", rotated.previous_version)
    assert back.rolled_back and back.version != rotated.version
    assert versioned.get("jwt-secret", bypass_cache=True).value == old
    again = rotator.rollback("jwt-secret", back.version)
    assert not again.rotated and again.version == back.version  # already current: nothing to do
