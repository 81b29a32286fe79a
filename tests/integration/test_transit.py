"""Encryption-key rotation with Vault's transit engine, on the real OpenBao: secret_rotate with
kind=encryption-key rotates the transit key, transit_rewrap re-wraps 1,000 ciphertexts to the new
version idempotently and in batches, check mode changes nothing, and the cleanup of the rotate role
stops the old version from decrypting once the grace period has passed (a v1 ciphertext then fails
with a message that says why). Plaintexts are canaries that never appear in a playbook's output.
"""
from __future__ import annotations

import json
import os
import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors, transit_rotation
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import RotationPolicy
from ansible_collections.vibebox.secrets.plugins.module_utils.core.transit import TransitKey
from ansible_run import REPO, run_playbook, state_env, write_playbook

CANARY = "CANARY-" + uuid.uuid4().hex
ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
CLEANUP = os.path.join(REPO, "playbooks", "cleanup.yml")
COUNT = 1000

PLAY = """
- name: Rotate the transit key and re-wrap
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/vibebox.secrets.secrets: "{{ opts }}"
  tasks:
    - name: Rotate the key
      vibebox.secrets.secret_rotate:
        name: encryption-key
        kind: encryption-key
        grace_period: 1h
      register: rotated

    - name: Re-wrap
      vibebox.secrets.transit_rewrap:
        ciphertexts: "{{ items }}"
        batch_size: 300
      register: first

    - name: Re-wrap again
      vibebox.secrets.transit_rewrap:
        ciphertexts: "{{ first.ciphertexts }}"
      register: second

    - name: Keep the results for the test
      ansible.builtin.copy:
        content: "{{ {'rotated': rotated, 'first': first, 'second': second} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      check_mode: false
      changed_when: false
"""


@pytest.fixture
def transit(openbao_server, vault_options):
    """A transit engine at a mount of its own with key 'app' (version 1); options that reach it."""
    mount = f"transit-{uuid.uuid4().hex[:8]}"
    base = {key: value for key, value in vault_options.items() if key.startswith("vault_")}
    if openbao_server is None:  # VIBEBOX_TEST_VAULT_REAL=1: the server and token of the environment
        base = {"vault_addr": os.environ["VAULT_ADDR"], "vault_token": os.environ["VAULT_TOKEN"]}
    options = {**base, "vault_transit_mount": mount, "vault_transit_key": "app"}
    key = TransitKey.from_options(options)
    key.backend._client.sys.enable_secrets_engine("transit", path=mount)
    key.create()
    try:
        yield {"provider": "vault", **options}, key
    finally:
        key.backend._client.sys.disable_secrets_engine(path=mount)
        key.close()


def _run(tmp_path, options, items, *args):
    out = tmp_path / f"out-{uuid.uuid4().hex[:6]}.json"
    play = write_playbook(tmp_path, PLAY)
    run = run_playbook(play, state_env(tmp_path), *args, extra_vars={"opts": options, "items": items, "out": str(out)})
    assert run.rc == 0, run.output[-4000:]
    return run, json.loads(out.read_text())


def test_rotate_rewrap_1000_idempotent_then_cleanup_retires_v1(tmp_path, transit):
    options, key = transit
    plaintexts = [f"{CANARY}-{index}" for index in range(COUNT)]
    v1 = key.encrypt(plaintexts)
    assert all(text.startswith("vault:v1:") for text in v1)

    run, result = _run(tmp_path, options, v1, "-v")
    rotated, first, second = result["rotated"], result["first"], result["second"]
    assert rotated["changed"] and rotated["rotated"] and (rotated["previous_version"], rotated["version"]) == ("1", "2")
    assert rotated["grace_until"]
    assert first["changed"] and first["rewrapped"] == COUNT and first["already_current"] == 0
    assert first["requests"] == 4  # 1,000 in batches of 300
    assert len(first["ciphertexts"]) == COUNT and all(text.startswith("vault:v2:") for text in first["ciphertexts"])
    assert key.decrypt(first["ciphertexts"]) == plaintexts
    # a second re-wrap changes nothing and sends no rewrap request
    assert not second["changed"] and second["rewrapped"] == 0 and second["requests"] == 0
    assert second["ciphertexts"] == first["ciphertexts"]
    assert key.state().latest_version == 2
    assert CANARY not in run.output

    # cleanup within the grace period: version 1 still decrypts
    items = [{"name": "encryption-key", "kind": "encryption_key", "vault_transit_key": "app",
              "vault_transit_mount": options["vault_transit_mount"], "grace_period": "30d"}]
    cleanup_vars = {key_: value for key_, value in options.items() if key_ not in ("vault_transit_key", "vault_transit_mount")}
    kept = run_playbook(CLEANUP, state_env(tmp_path), extra_vars={**cleanup_vars, "rotate_secrets": items})
    assert kept.rc == 0, kept.output[-4000:]
    assert "transit key app: nothing retired; version 2 is current; grace until" in kept.output
    assert key.decrypt(v1[:3]) == plaintexts[:3]
    assert key.state().min_decryption_version == 1

    # after the grace period (none left): version 1 stops decrypting, version 2 data still reads
    items[0]["grace_period"] = "0s"
    retired = run_playbook(CLEANUP, state_env(tmp_path), extra_vars={**cleanup_vars, "rotate_secrets": items})
    assert retired.rc == 0, retired.output[-4000:]
    assert "transit key app: versions 1 no longer decrypt" in retired.output
    assert key.state().min_decryption_version == 2
    with pytest.raises(errors.InvalidOption) as caught:
        key.decrypt(v1[:1])
    assert "made with version 1" in str(caught.value) and "no longer decrypts" in str(caught.value)
    assert "min_decryption_version" in str(caught.value)
    assert key.decrypt(first["ciphertexts"][:5]) == plaintexts[:5]
    again = run_playbook(CLEANUP, state_env(tmp_path), extra_vars={**cleanup_vars, "rotate_secrets": items})
    assert again.rc == 0 and again.changed() == 0, again.output[-4000:]


def test_check_mode_changes_nothing_and_counts_what_would_change(tmp_path, transit):
    options, key = transit
    plaintexts = [f"{CANARY}-c{index}" for index in range(50)]
    v1 = key.encrypt(plaintexts)
    key.rotate()  # version 2: every v1 ciphertext would be re-wrapped
    run, result = _run(tmp_path, options, v1, "--check")
    rotated, first = result["rotated"], result["first"]
    assert rotated["changed"] and rotated["due"] and not rotated["rotated"]
    assert key.state().latest_version == 2  # the key was not rotated
    assert first["changed"] and first["rewrapped"] == 50 and first["requests"] == 0
    assert first["changed_items"] == list(range(50))
    assert first["ciphertexts"] == v1  # nothing re-wrapped
    assert key.decrypt(v1[:2]) == plaintexts[:2]


def test_named_secrets_are_rewrapped_by_the_rotate_role_and_max_age_is_idempotent(tmp_path, transit, vault_manager,
                                                                                  vault_options):
    options, key = transit
    manager = vault_manager()
    secrets = {"customer-iban": CANARY + "-iban", "customer-ssn": CANARY + "-ssn"}
    for name, plaintext in secrets.items():
        manager.set(name, key.encrypt([plaintext])[0])
    extra = {**{k: v for k, v in options.items() if k not in ("vault_transit_key", "vault_transit_mount")},
             "prefix": vault_options["prefix"],
             "rotate_secrets": [{"name": "encryption-key", "kind": "encryption_key", "vault_transit_key": "app",
                                 "vault_transit_mount": options["vault_transit_mount"], "max_age": "365d",
                                 "rewrap_names": sorted(secrets)}]}
    run = run_playbook(ROTATE, state_env(tmp_path, {"ANSIBLE_SHOW_CUSTOM_STATS": "1"}), "-vvvv",
                       "-e", "rotate_secret=encryption-key", extra_vars=extra)
    assert run.rc == 0, run.output[-4000:]
    assert key.state().latest_version == 2
    assert "transit key app rotated to version 2" in run.output
    assert "Re-wrapped 2 of 2 ciphertext(s) to version 2" in run.output
    # what AWX hands to the next node: the key version before the rotation too, not null
    stats, _end = json.JSONDecoder().raw_decode(run.stdout[run.stdout.rindex("\tRUN: ") + 6:])
    assert stats["vibebox_rotate"]["versions"]["encryption-key"] == {"before": "1", "after": "2", "grace_until": None}
    for name, plaintext in secrets.items():
        stored = manager.get(name, bypass_cache=True).value
        assert stored.startswith("vault:v2:")
        assert key.decrypt([stored]) == [plaintext]
    assert CANARY not in run.output
    # a scheduled run: the key is younger than max_age, nothing changes
    scheduled = run_playbook(ROTATE, state_env(tmp_path), "-e", "rotate_secret=all", extra_vars=extra)
    assert scheduled.rc == 0 and scheduled.changed() == 0, scheduled.output[-4000:]
    assert key.state().latest_version == 2


def test_bad_input_fails_before_any_change(tmp_path, transit):
    options, key = transit
    good = key.encrypt([CANARY])
    key.rotate()
    play = write_playbook(tmp_path, """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Re-wrap a list with a plaintext in it
      vibebox.secrets.transit_rewrap:
        ciphertexts: "{{ good + [canary] }}"
        provider: vault
        vault_addr: "{{ opts.vault_addr }}"
        vault_token: "{{ opts.vault_token }}"
        vault_transit_mount: "{{ opts.vault_transit_mount }}"
        vault_transit_key: app
      ignore_errors: true
    - name: Rotate the key with an expiry, which a key version has nowhere to keep
      vibebox.secrets.secret_rotate:
        name: encryption-key
        kind: encryption-key
        expires_in: 90d
        provider: vault
        vault_addr: "{{ opts.vault_addr }}"
        vault_token: "{{ opts.vault_token }}"
        vault_transit_mount: "{{ opts.vault_transit_mount }}"
        vault_transit_key: app
""", name="bad.yml")
    versions = key.state().latest_version
    run = run_playbook(play, state_env(tmp_path), "-vvvv", extra_vars={"opts": options, "good": good, "canary": CANARY})
    assert run.rc != 0
    assert "ciphertext 2 is not a transit ciphertext" in run.output
    assert "expires_in does not apply to a transit key" in run.output
    assert key.state().latest_version == versions  # refused before the key was rotated
    assert CANARY not in run.output
    with pytest.raises(errors.InvalidOption, match="vault_transit_key is required"):
        TransitKey.from_options({k: v for k, v in options.items() if k != "vault_transit_key"})
    with pytest.raises(errors.SecretNotFound, match="does not exist"):
        TransitKey.from_options({**options, "vault_transit_key": "nothing-here"}).state()


def _policy(mount: str) -> str:
    """The least-privilege policy of docs/providers.md (Transit), for the key 'app' at ``mount``."""
    return f"""
path "{mount}/keys/app" {{ capabilities = ["read", "create", "update"] }}
path "{mount}/keys/app/rotate" {{ capabilities = ["update"] }}
path "{mount}/keys/app/config" {{ capabilities = ["update"] }}
path "{mount}/rewrap/app" {{ capabilities = ["update"] }}
"""


def test_the_documented_policy_is_enough_and_a_rewrap_only_job_cannot_rotate(openbao_server, transit):
    if openbao_server is None:
        pytest.skip("writes policies and AppRoles with the test server's root token")
    options, root_key = transit
    mount = options["vault_transit_mount"]
    v1 = root_key.encrypt([CANARY + "-approle"])
    openbao_server.enable_approle()
    openbao_server.write_policy(f"transit-full-{mount}", _policy(mount))
    openbao_server.write_policy(f"transit-rewrap-{mount}", f"""
path "{mount}/keys/app" {{ capabilities = ["read"] }}
path "{mount}/rewrap/app" {{ capabilities = ["update"] }}
""")
    base = {key_: value for key_, value in options.items() if key_ not in ("vault_token", "provider")}

    role_id, secret_id = openbao_server.approle(f"transit-full-{mount}", [f"transit-full-{mount}"])
    full = TransitKey.from_options({**base, "vault_role_id": role_id, "vault_secret_id": secret_id})
    assert transit_rotation.rotate(full, "encryption-key", RotationPolicy()).version == "2"
    rewrapped = full.rewrap(v1)
    assert rewrapped.rewrapped == 1 and rewrapped.ciphertexts[0].startswith("vault:v2:")
    assert transit_rotation.retire(full, "encryption-key", None)["destroyed"] == ["1"]
    assert full.backend.logins == 1  # one AppRole login for every request of the key
    full.close()

    role_id, secret_id = openbao_server.approle(f"transit-rewrap-{mount}", [f"transit-rewrap-{mount}"])
    limited = TransitKey.from_options({**base, "vault_role_id": role_id, "vault_secret_id": secret_id})
    assert limited.rewrap(rewrapped.ciphertexts).rewrapped == 0
    with pytest.raises(errors.SecretDenied) as caught:
        transit_rotation.rotate(limited, "encryption-key", RotationPolicy())
    assert f"'{mount}/keys/app/rotate'" in str(caught.value) and "update" in str(caught.value)
    assert secret_id not in str(caught.value) + str(caught.value.hint)
    limited.close()


def test_a_failed_rewrap_in_the_role_reports_the_key_state_and_no_value(tmp_path, transit, vault_manager, vault_options):
    options, key = transit
    manager = vault_manager()
    manager.set("not-a-ciphertext", CANARY + "-plain")  # a plaintext where a ciphertext belongs
    extra = {**{k: v for k, v in options.items() if k not in ("vault_transit_key", "vault_transit_mount")},
             "prefix": vault_options["prefix"],
             "rotate_secrets": [{"name": "encryption-key", "kind": "encryption_key", "vault_transit_key": "app",
                                 "vault_transit_mount": options["vault_transit_mount"],
                                 "rewrap_names": ["not-a-ciphertext"]}]}
    run = run_playbook(ROTATE, state_env(tmp_path), "-e", "rotate_secret=encryption-key", extra_vars=extra)
    assert run.rc != 0
    assert "secret 'not-a-ciphertext' is not a transit ciphertext" in run.output
    assert "was rotated from version 1 to version 2" in run.output and "no data is lost" in run.output
    assert CANARY not in run.output
    assert manager.get("not-a-ciphertext", bypass_cache=True).value == CANARY + "-plain"
