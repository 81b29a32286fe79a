"""The fallback chain: ``fallback: [env]`` reads from the next provider, writes never do.

What a user relies on: when Vault cannot be reached, or a secret is not in the local store, a lookup
with ``fallback: [env]`` reads ``JWT_SECRET`` from the environment and says so in a warning that
names both providers; a secret that exists but is denied is NOT read elsewhere (that would hide a
permission problem behind a stale copy); and a module that writes never writes somewhere else.
The fallback logic lives in plugin_utils/lookup.py (fall_through, shared by the lookups and the
resolve filter); these tests only drive it through ansible-playbook, as a user does.
"""
from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from ansible_run import run_playbook, state_env, write_playbook
import servers

CANARY = "CANARY-fallback-" + uuid.uuid4().hex


def _closed_port() -> int:
    return servers.load("fault_proxy").closed_port()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


READS = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Vault cannot be reached, so JWT_SECRET comes from the environment
      ansible.builtin.set_fact:
        jwt: "{{ lookup('vibebox.secrets.get', 'jwt-secret', provider='vault', vault_addr=dead_vault, vault_token='t0ken-fb', fallback=['env']) }}"
      no_log: true

    - name: api-key is not in the local store, so API_KEY comes from the environment
      ansible.builtin.set_fact:
        api: "{{ lookup('vibebox.secrets.get', 'api-key', provider='local', fallback=['env']) }}"
      no_log: true

    - name: a secret the local store has is read from it, not from the environment
      vibebox.secrets.secret:
        name: database-password
        value: "{{ local_value }}"
        provider: local
      no_log: true

    - name: read it with the same fallback
      ansible.builtin.set_fact:
        db: "{{ lookup('vibebox.secrets.get', 'database-password', provider='local', fallback=['env']) }}"
      no_log: true

    - name: a name that is nowhere fails, naming the last provider asked
      ansible.builtin.set_fact:
        nowhere: "{{ lookup('vibebox.secrets.get', 'not-anywhere', provider='local', fallback=['env']) }}"
      register: nowhere_result
      ignore_errors: true

    - name: engine=dynamic belongs to Vault; with another provider it is refused, not ignored (and never falls back)
      ansible.builtin.set_fact:
        dynamic: "{{ lookup('vibebox.secrets.get', 'database/creds/app', provider='local', engine='dynamic', fallback=['env']) }}"
      register: dynamic_result
      ignore_errors: true

    - name: the refusal names the option, the provider of the read and what to do
      ansible.builtin.assert:
        that:
          - dynamic_result is failed
          - "'engine=dynamic is an option of provider vault only' in dynamic_result.msg"
          - '"provider of this read is ''local''" in dynamic_result.msg'
          - "'provider: vault' in dynamic_result.msg"

    - name: compare without printing
      ansible.builtin.assert:
        that:
          - jwt | hash('sha256') == env_jwt_hash
          - api | hash('sha256') == env_api_hash
          - db | hash('sha256') == local_hash
          - nowhere_result is failed
        quiet: true
      no_log: true
"""


def test_reads_fall_through_to_env_with_a_warning_naming_both(tmp_path):
    local_value = f"{CANARY}-local"
    env = state_env(tmp_path, {"JWT_SECRET": f"{CANARY}-env-jwt", "API_KEY": f"{CANARY}-env-api",
                               "DATABASE_PASSWORD": f"{CANARY}-env-db"})
    play = write_playbook(tmp_path, READS)
    result = run_playbook(play, env, extra_vars={
        "dead_vault": f"http://127.0.0.1:{_closed_port()}", "local_value": local_value,
        "env_jwt_hash": _sha(f"{CANARY}-env-jwt"), "env_api_hash": _sha(f"{CANARY}-env-api"),
        "local_hash": _sha(local_value),
    })
    assert result.rc == 0, result.output[-4000:]
    text = " ".join(result.output.split())  # warnings are wrapped over several lines
    assert "'jwt-secret' was read from provider 'env' because provider 'vault'" in text, result.output[-3000:]
    assert "'api-key' was read from provider 'env' because provider 'local'" in text
    assert "'database-password' was read from provider 'env'" not in text, "a secret the first provider has fell through"
    assert CANARY not in result.output


DOTENV = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: a .env reference falls through too
      ansible.builtin.set_fact:
        app: "{{ lookup('vibebox.secrets.dotenv', env_file, provider='vault', vault_addr=dead_vault, vault_token='t0ken-fb', fallback=['env']) }}"
      no_log: true
    - name: compare without printing
      ansible.builtin.assert:
        that: app.JWT | hash('sha256') == env_jwt_hash
        quiet: true
      no_log: true
"""


def test_dotenv_references_fall_through_too(tmp_path):
    (tmp_path / "app.env").write_text("JWT=${secret:jwt-secret}\n")
    env = state_env(tmp_path, {"JWT_SECRET": f"{CANARY}-env-jwt"})
    result = run_playbook(write_playbook(tmp_path, DOTENV), env, extra_vars={
        "env_file": str(tmp_path / "app.env"), "dead_vault": f"http://127.0.0.1:{_closed_port()}",
        "env_jwt_hash": _sha(f"{CANARY}-env-jwt")})
    assert result.rc == 0, result.output[-3000:]
    assert CANARY not in result.output


RESOLVE = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: a reference resolved by the filter falls through too
      ansible.builtin.set_fact:
        url: >-
          {{ 'jwt=${secret:jwt-secret}' | vibebox.secrets.resolve(provider='vault', vault_addr=dead_vault,
                                                                  vault_token='t0ken-fb', fallback=['env']) }}
      no_log: true
    - name: compare without printing
      ansible.builtin.assert:
        that: url | hash('sha256') == expected_hash
        quiet: true
      no_log: true
"""


def test_the_resolve_filter_falls_through_too(tmp_path):
    env = state_env(tmp_path, {"JWT_SECRET": f"{CANARY}-env-jwt"})
    result = run_playbook(write_playbook(tmp_path, RESOLVE), env, extra_vars={
        "dead_vault": f"http://127.0.0.1:{_closed_port()}", "expected_hash": _sha(f"jwt={CANARY}-env-jwt")})
    assert CANARY not in result.output
    assert result.rc == 0, result.output[-3000:]


DENIED = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: a denied secret must not be read from the environment instead
      ansible.builtin.set_fact:
        jwt: >-
          {{ lookup('vibebox.secrets.get', 'jwt-secret', provider='vault', vault_addr=vault_addr, vault_token=vault_token,
                    prefix=prefix, fallback=['env']) }}
      no_log: true
"""


def test_a_denied_secret_does_not_fall_back(tmp_path, openbao_server, vault_manager, vault_options):
    if openbao_server is None:
        pytest.skip("needs the local OpenBao server to make a token without access")
    vault_manager().set("jwt-secret", f"{CANARY}-vault")
    openbao_server.write_policy("fallback-nothing", 'path "sys/nothing" { capabilities = ["read"] }')
    token = openbao_server.request("POST", "auth/token/create",
                                   {"policies": ["fallback-nothing"], "no_default_policy": True, "ttl": "1h"})
    env = state_env(tmp_path, {"JWT_SECRET": f"{CANARY}-env-jwt"})
    result = run_playbook(write_playbook(tmp_path, DENIED), env, extra_vars={
        "vault_addr": openbao_server.addr, "vault_token": token["auth"]["client_token"], "prefix": vault_options["prefix"]})
    assert result.rc != 0, "a permission problem was hidden by the environment's copy"
    text = " ".join(result.output.split())
    assert "[vault]" in text and "was read from provider 'env'" not in text
    assert CANARY not in result.output


WRITES = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: a write to an unreachable Vault fails, whatever the fallback says
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}"
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: t0ken-fb
        fallback: [local, env]
      register: vault_write
      ignore_errors: true

    - name: a write to the read-only env provider fails, whatever the fallback says
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}"
        provider: env
        fallback: [local]
      register: env_write
      ignore_errors: true

    - name: rotating against an unreachable Vault fails too
      vibebox.secrets.secret_rotate:
        name: jwt-secret
        provider: vault
        vault_addr: "{{ dead_vault }}"
        vault_token: t0ken-fb
        fallback: [local]
      register: vault_rotate
      ignore_errors: true

    - name: what each write said
      ansible.builtin.assert:
        that:
          - vault_write is failed and '[vault]' in vault_write.msg
          - env_write is failed and '[env]' in env_write.msg
          - vault_rotate is failed and '[vault]' in vault_rotate.msg
"""


def test_writes_never_fall_back(tmp_path):
    env = state_env(tmp_path)
    result = run_playbook(write_playbook(tmp_path, WRITES), env, extra_vars={
        "canary": CANARY, "dead_vault": f"http://127.0.0.1:{_closed_port()}"})
    assert result.rc == 0, result.output[-4000:]
    assert result.recap()["ignored"] == 3
    store = tmp_path / "data" / "vibebox"
    assert not store.exists() or not any(store.iterdir()), "a write went to the local store instead"
    assert CANARY not in result.output


REPLICA = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: the secret is not in the primary region, so it is read from the replica region
      ansible.builtin.set_fact:
        replicated: "{{ lookup('vibebox.secrets.get', 'replica-only', fallback=['aws_replica_region']) }}"
      no_log: true
    - name: compare without printing
      ansible.builtin.assert:
        that: replicated | hash('sha256') == expected_hash
        quiet: true
      no_log: true
    - name: a name that is in no region still fails
      ansible.builtin.set_fact:
        nowhere: "{{ lookup('vibebox.secrets.get', 'in-no-region', fallback=['aws_replica_region']) }}"
      register: nowhere_result
      ignore_errors: true
    - name: the failure names the secret
      ansible.builtin.assert:
        that:
          - nowhere_result is failed
          - "'in-no-region' in nowhere_result.msg"
"""


def test_aws_replica_region_fallback_reads_the_replica(tmp_path, aws_options, aws_manager):
    """fallback: [aws_replica_region] asks AWS again in each region of aws_replica_regions."""
    primary_region = aws_options.get("aws_region") or os.environ.get("AWS_SECRET_MANAGER_REGION", "us-east-1")
    replica_region = "us-west-2" if primary_region != "us-west-2" else "us-east-2"
    replica = aws_manager(aws_region=replica_region)
    replica.set("replica-only", f"{CANARY}-replica")
    extra = {f"vibebox_secrets_{key}": value for key, value in aws_options.items() if value is not None}
    extra.update(vibebox_secrets_aws_replica_regions=[replica_region],
                 expected_hash=_sha(f"{CANARY}-replica"))
    env = state_env(tmp_path, {})
    result = run_playbook(write_playbook(tmp_path, REPLICA), env, "-vvvv", extra_vars=extra)
    assert result.rc == 0, result.output[-3000:]
    text = " ".join(result.output.split())  # warnings are wrapped over several lines
    assert f"'replica-only' was read from provider 'aws ({replica_region})' because provider 'aws' said: SecretNotFound" in text
    assert CANARY not in result.output
