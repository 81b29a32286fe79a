"""plugins/modules/secret_info.py on the embedded store: it describes without values and never writes."""
from __future__ import annotations

CANARY = "CANARY-module-info-0b7e"


def test_a_secret_is_described_without_its_value(run_module, store):
    run_module("secret", name="jwt", value=CANARY, **store)
    found = run_module("secret_info", name="jwt", **store)
    assert found["failed"] is False and found["changed"] is False and found["exists"] is True
    assert [entry["name"] for entry in found["secrets"]] == ["jwt"]
    assert CANARY not in repr(found)


def test_a_missing_secret_is_reported_not_failed(run_module, store):
    missing = run_module("secret_info", name="nope", **store)
    assert missing["failed"] is False and missing["exists"] is False and missing["secrets"] == []
    assert run_module("secret_info", **store)["secrets"] == []
