"""plugins/modules/transit_rewrap.py: bad input fails before any request, and never echoes a ciphertext."""
from __future__ import annotations


def test_a_bad_grace_period_fails_before_any_request(run_module):
    result = run_module("transit_rewrap", retire=True, grace_period="soon", ciphertexts=["vault:v1:CANARY"],
                        vault_addr="http://127.0.0.1:9", vault_token="t")
    assert result["failed"] is True and "grace_period" in result["msg"] and "CANARY" not in repr(result)


def test_a_missing_key_name_is_refused_naming_the_option(run_module):
    result = run_module("transit_rewrap", ciphertexts=["vault:v1:CANARY"], vault_addr="http://127.0.0.1:9", vault_token="t")
    assert result["failed"] is True and "transit" in result["msg"] and "CANARY" not in repr(result)
