"""A provider's own rotation is respected (moto): a secret with RotationEnabled is refused by
secret_rotate unless take_over is given, and secret_info's compliance fields say who rotates it.

moto does not run rotation Lambdas; turning rotation on with a rule (and no Lambda, which moto would
try to invoke) is enough for describe_secret to report RotationEnabled, which is all the collection
reads.
"""
from __future__ import annotations

import uuid

import pytest

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_run import run_playbook, state_env, write_playbook

CANARY = "CANARY-owner-" + uuid.uuid4().hex

PLAY = """
- name: Rotate a secret that AWS rotates itself
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ aws }}"
  tasks:
    - name: Refused without take_over
      vibebox.secrets.secret_rotate: {name: db-key}
      register: refused
      ignore_errors: true
    - name: Who rotates what
      vibebox.secrets.secret_info: {versions: false}
      register: info
    - name: Taken over
      vibebox.secrets.secret_rotate: {name: db-key, take_over: true}
      register: taken
    - name: Check
      ansible.builtin.assert:
        that:
          - "refused is failed and 'rotates it itself' in refused.msg and 'take_over: true' in refused.msg"
          - refused.rotated is false
          - taken is changed and taken.rotated
          - (info.secrets | selectattr('name', 'equalto', 'db-key') | first).rotated_by == 'aws-lambda'
          - (info.secrets | selectattr('name', 'equalto', 'db-key') | first).rotation.schedule == 'every 30 days'
          - (info.secrets | selectattr('name', 'equalto', 'plain') | first).rotated_by == 'none'
          - info.report | select('search', 'aws-lambda') | list | length == 1
"""


def test_a_secret_aws_rotates_is_refused_unless_taken_over(tmp_path, moto_server):
    if moto_server is None:
        pytest.skip("needs the local moto server: turning rotation on needs no Lambda there")
    env = moto_server.env()
    options = {"provider": "aws", "aws_endpoint_url": moto_server.url, "aws_region": env["AWS_SECRET_MANAGER_REGION"],
               "aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
               "prefix": f"vibebox/owner-{uuid.uuid4().hex[:6]}/", "audit_log": "false"}
    manager = factory.build_manager(options, env={})
    manager.set("db-key", CANARY)
    manager.set("plain", CANARY + "-plain")
    manager.backend._client.rotate_secret(SecretId=manager.provider_name("db-key"),
                                          RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    assert manager.describe("db-key").rotation["by"] == "aws-lambda"

    run = run_playbook(write_playbook(tmp_path, PLAY), state_env(tmp_path), extra_vars={"aws": options})
    assert run.rc == 0, run.output[-4000:]
    assert CANARY not in run.output
    assert manager.get("db-key", bypass_cache=True).value != CANARY
