"""Replica regions and AWS's own rotation kept in step by vibebox.secrets.secret, against the moto server.

One playbook run covers: create with a replica and rotation, an unchanged re-run, a check-mode change
with its diff, adding and purging regions on the existing secret, changing and turning off the rotation,
and bad input refused (every rule of the decisions is unit-tested in tests/unit/plugins/module_utils/providers/test_aws.py; here the few
module runs that prove the server path). The server's request log then proves which writes each step made (so check mode
and the unchanged re-runs sent none, and bad input failed before any write).

What moto cannot do: run a rotation Lambda. Its Lambda emulation without Docker (``use_docker: false``,
set through the server's ``/moto-api/config``) accepts the function and answers every invocation with
success, so the test proves the configuration (RotateSecret, CancelRotateSecret, what DescribeSecret
reports) and that the value is not rotated by configuring it, not a rotation by a real function.
"""
from __future__ import annotations

import io
import json
import urllib.request
import uuid
import zipfile

import pytest

from ansible_run import run_playbook, state_env, write_playbook

CANARY = "CANARY-" + uuid.uuid4().hex
ACCOUNT = "123456789012"

PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/vibebox.secrets.secrets: "{{ provider_options }}"
  vars:
    lambda_arn: "{{ rotation_lambda }}"
  tasks:
    - name: create with one replica and AWS rotation every 30 days
      vibebox.secrets.secret:
        name: db
        value: "{{ secret_value }}"
        aws_replica_regions: [eu-west-1]
        aws_rotation_lambda_arn: "{{ lambda_arn }}"
        aws_rotation_days: 30
      register: created

    - name: the same again
      vibebox.secrets.secret:
        name: db
        value: "{{ secret_value }}"
        aws_replica_regions: [eu-west-1]
        aws_rotation_lambda_arn: "{{ lambda_arn }}"
        aws_rotation_days: 30
      register: same

    - name: check mode, move the replica to us-west-2
      vibebox.secrets.secret:
        name: db
        value: "{{ secret_value }}"
        aws_replica_regions: [us-west-2]
        aws_replica_purge: true
      check_mode: true
      diff: true
      register: checked

    - name: add us-west-2 (eu-west-1 is kept without purge) and rotate every 7 days (the Lambda is kept)
      vibebox.secrets.secret:
        name: db
        aws_replica_regions: [us-west-2]
        aws_rotation_days: 7
      diff: true
      register: added

    - name: purge eu-west-1 and turn AWS rotation off
      vibebox.secrets.secret:
        name: db
        aws_replica_regions: [us-west-2]
        aws_replica_purge: true
        aws_rotation_enabled: false
      diff: true
      register: purged

    - name: the same again, unchanged
      vibebox.secrets.secret:
        name: db
        aws_replica_regions: [us-west-2]
        aws_replica_purge: true
        aws_rotation_enabled: false
      register: purged_again

    - name: bad input is refused before any write (when the options are read; when the plan is made)
      vibebox.secrets.secret:
        name: "{{ item.name }}"
        value: "{{ secret_value }}"
        aws_replica_regions: "{{ item.regions | default(omit) }}"
        aws_rotation_lambda_arn: "{{ item.arn | default(omit) }}"
        aws_rotation_days: "{{ item.days | default(omit) }}"
      loop:
        - {name: bad-days, arn: "{{ lambda_arn }}", days: 0}
        - {name: own-region, regions: [us-east-1]}
      loop_control:
        label: "{{ item.name }}"
      register: refused
      ignore_errors: true

    - name: the outcome of each step
      ansible.builtin.assert:
        quiet: true
        that:
          - created is changed
          - created.changes == ['state', 'value', 'aws_replica_regions', 'aws_rotation']
          - created.metadata.rotation.by == 'aws-lambda'
          - created.metadata.rotation.lambda == lambda_arn
          - same is not changed
          - checked is changed
          - checked.changes == ['aws_replica_regions']
          - checked.diff.before.aws_replica_regions == ['eu-west-1']
          - checked.diff.after.aws_replica_regions == ['us-west-2']
          - checked.diff.after.value == '(hidden)'
          - added is changed and added.changes == ['aws_replica_regions', 'aws_rotation']
          - added.diff.before.aws_replica_regions == ['eu-west-1']
          - added.diff.after.aws_replica_regions == ['eu-west-1', 'us-west-2']
          - "added.diff.before.aws_rotation == {'enabled': true, 'lambda_arn': lambda_arn, 'days': 30}"
          - "added.diff.after.aws_rotation == {'enabled': true, 'lambda_arn': lambda_arn, 'days': 7}"
          - added.metadata.rotation.schedule == 'every 7 days'
          - purged is changed and purged.changes == ['aws_replica_regions', 'aws_rotation']
          - purged.diff.after.aws_replica_regions == ['us-west-2']
          - purged.diff.after.aws_rotation.enabled == false
          - purged.metadata.rotation is none
          - purged_again is not changed
          - refused.results | map(attribute='failed') | list == [true, true]
          - "'aws_rotation_days must be 1-1000' in refused.results[0].msg"
          - "'own region (aws_region)' in refused.results[1].msg"
          - refused.results | map(attribute='msg') | select('search', 'aws') | list | length == 2

    - name: configuring rotation did not replace the value
      ansible.builtin.assert:
        that: lookup('vibebox.secrets.get', 'db', **provider_options) == secret_value
        quiet: true
      no_log: true
"""


def _moto_call(url: str, path: str, body: dict) -> None:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(request, timeout=10).read()


def _rotation_function(server, options) -> str:
    """A Lambda function in moto (its Docker-less emulation), for RotateSecret to accept; returns its ARN."""
    import botocore.session

    _moto_call(server.url, "/moto-api/config", {"lambda": {"use_docker": False}})
    session = botocore.session.get_session()
    common = dict(region_name=options["aws_region"], endpoint_url=server.url,
                  aws_access_key_id=options["aws_access_key_id"], aws_secret_access_key=options["aws_secret_access_key"])
    iam = session.create_client("iam", **common)
    role = "vibebox-rotation-" + uuid.uuid4().hex[:8]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    functions = session.create_client("lambda", **common)
    answer = functions.create_function(FunctionName=role, Runtime="python3.11", Role=role_arn,
                                       Handler="handler.handler", Code={"ZipFile": package.getvalue()})
    return answer["FunctionArn"]


def test_replicas_and_rotation_on_existing_secrets(tmp_path, moto_server, aws_options):
    if moto_server is None:
        pytest.skip("real AWS: replicas in other regions and a rotation Lambda are not ours to create")
    options = dict(aws_options, audit_log=str(tmp_path / "audit.log"))
    arn = _rotation_function(moto_server, options)
    assert f":{ACCOUNT}:function:" in arn
    moto_server.requests.clear()
    run = run_playbook(write_playbook(tmp_path, PLAY), state_env(tmp_path), "--diff",
                       extra_vars={"provider_options": options, "secret_value": CANARY, "rotation_lambda": arn})
    assert run.rc == 0, run.output[-4000:]
    assert CANARY not in run.output
    assert run.changed() == 4, run.output[-4000:]  # created, check mode, added, purged
    # every write the run sent, in order: none from the unchanged re-runs, check mode or the refused input
    assert moto_server.requests.writes() == [
        "CreateSecret", "RotateSecret",                       # created (the replica came with CreateSecret)
        "ReplicateSecretToRegions", "RotateSecret",           # added
        "RemoveRegionsFromReplication", "CancelRotateSecret",  # purged
    ]
