"""plugin_utils/reading.py check_expiry: what the lookups and the resolve filter do with a secret past the
expiry its read returned (on_expired), on the local store; never a value in a message."""
from __future__ import annotations

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import expiry, factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import InvalidOption, SecretExpired
from ansible_collections.vibebox.secrets.plugins.plugin_utils import reading

CANARY = "CANARY-expiry-8a1f"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("ENABLE_SECRET_MANAGER", raising=False)
    monkeypatch.setenv("VIBEBOX_RUN_CACHE", "false")
    opts = {"provider": "local", "local_path": str(tmp_path / "s.db"), "local_key_file": str(tmp_path / "s.key"),
            "audit_log": "false"}
    reading._warned_expired.clear()
    return opts, factory.build_manager(opts, env={})


def test_reads_follow_on_expired_without_showing_the_value(store):
    opts, manager = store
    manager.set("old-key", CANARY, tags={expiry.EXPIRY_TAG: "2020-01-01T00:00:00Z"})
    manager.set("old-key", CANARY + "-2")  # version 2 keeps the tags, so the secret is still expired
    manager.set("fresh-key", CANARY, tags={expiry.EXPIRY_TAG: "2999-01-01T00:00:00Z"})
    said = []
    found = reading.read(dict(opts, on_expired="warn"), [("old-key", None), ("fresh-key", None)], warn=said.append)
    reading.read(dict(opts, on_expired="warn"), [("old-key", None)], warn=said.append)  # warned once only
    assert found.value(("old-key", None)) == CANARY + "-2"
    assert len(said) == 1 and "'old-key' expired at 2020-01-01T00:00:00Z" in said[0] and CANARY not in said[0]
    with pytest.raises(SecretExpired, match="expired at 2020-01-01T00:00:00Z") as caught:
        reading.read(dict(opts, on_expired="error"), [("old-key", None)])
    assert CANARY not in str(caught.value)
    quiet = []
    reading._warned_expired.clear()
    reading.read(dict(opts, on_expired="ignore"), [("old-key", None)], warn=quiet.append)
    reading.read(dict(opts, on_expired="error"), [("old-key", "previous")], warn=quiet.append)  # not the current
    assert quiet == []
    with pytest.raises(InvalidOption, match="on_expired"):
        reading.read(dict(opts, on_expired="explode"), [("fresh-key", None)])
