"""The lookup and the secret module against real servers (OpenBao, moto), check mode proven by the server.

Each server keeps its own record of requests (OpenBao's file audit device, the moto request log), so
"--check sent no write" is read from the server, not inferred from the module's answer.
"""
from __future__ import annotations

import uuid

import pytest

from ansible_run import run_playbook, state_env, write_playbook

CANARY = "CANARY-" + uuid.uuid4().hex

PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ provider_options }}"
  tasks:
    - name: write
      vibebox.secrets.secret:
        name: app/jwt-secret
        value: "{{ secret_value }}"
        tags: {team: platform}
    - name: read back through the lookup
      ansible.builtin.assert:
        that: lookup('vibebox.secrets.get', 'app/jwt-secret', **provider_options) == secret_value
        quiet: true
      no_log: true
"""


def _vault_writes(server, prefix):
    return [e for e in server.audit_entries("request")
            if e["request"]["operation"] in ("create", "update", "delete") and prefix.strip("/") in e["request"].get("path", "")]


@pytest.fixture(params=["vault", "aws"])
def server_case(request, tmp_path):
    if request.param == "vault":
        server = request.getfixturevalue("openbao_server")
        options = dict(request.getfixturevalue("vault_options"))
        if server is None:
            pytest.skip("real Vault: the audit device is not ours to read")  # only with VIBEBOX_TEST_VAULT_REAL=1

        def count():
            return len(_vault_writes(server, options["prefix"]))
    else:
        server = request.getfixturevalue("moto_server")
        options = dict(request.getfixturevalue("aws_options"))
        if server is None:
            pytest.skip("real AWS: the request log is not ours to read")  # only with VIBEBOX_TEST_AWS_REAL=1

        def count():
            return len(server.requests.writes())
    options["audit_log"] = str(tmp_path / "audit.log")
    return options, count


def test_module_and_lookup_against_the_server_and_check_sends_no_write(tmp_path, server_case):
    options, writes = server_case
    env = state_env(tmp_path)
    play = write_playbook(tmp_path, PLAY)
    first = run_playbook(play, env, "-vvvv", extra_vars={"provider_options": options, "secret_value": CANARY})
    assert first.rc == 0, first.output[-3000:]
    assert first.changed() == 1
    assert CANARY not in first.output
    before = writes()
    assert before >= 1
    check = run_playbook(play, env, "--check", "--diff", extra_vars={"provider_options": options, "secret_value": CANARY + "-next"})
    # the assert task reads the old value back in check mode, so it fails by design: only writes matter here
    assert "changed: [localhost]" in check.stdout, check.output[-3000:]
    assert writes() == before, "a --check run wrote to the server"
    again = run_playbook(play, env, extra_vars={"provider_options": options, "secret_value": CANARY})
    assert again.rc == 0 and again.changed() == 0, again.output[-3000:]
    assert writes() == before, "an unchanged second run wrote to the server"
