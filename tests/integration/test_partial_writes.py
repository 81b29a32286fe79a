"""A write that fails part-way says exactly what was written, and ``changed`` is true only when something was.

A change of value and tags is two or more requests for most providers. Here a real server refuses the
second one: OpenBao through a policy that allows the data path but not the metadata path (the tags and
description live there), and moto through the fault proxy answering TagResource with the real
AccessDeniedException. The secret module runs through ansible-playbook, as users run it; what the
server really holds afterwards is read from the server itself, not from the module's answer.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict

from ansible_run import run_playbook, state_env, write_playbook
import servers

CANARY = "CANARY-partial-" + uuid.uuid4().hex

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: the change under test
      vibebox.secrets.secret:
        name: "{{ secret_name }}"
        value: "{{ secret_value | default(omit) }}"
        state: "{{ secret_state | default('present') }}"
        description: "{{ secret_description | default(omit) }}"
        tags: "{{ secret_tags | default(omit) }}"
        provider: "{{ provider_options.provider }}"
        prefix: "{{ provider_options.prefix }}"
        vault_addr: "{{ provider_options.vault_addr | default(omit) }}"
        vault_token: "{{ provider_options.vault_token | default(omit) }}"
        aws_endpoint_url: "{{ provider_options.aws_endpoint_url | default(omit) }}"
        aws_region: "{{ provider_options.aws_region | default(omit) }}"
        aws_access_key_id: "{{ provider_options.aws_access_key_id | default(omit) }}"
        aws_secret_access_key: "{{ provider_options.aws_secret_access_key | default(omit) }}"
        audit_log: "false"
      register: outcome
      ignore_errors: true

    - name: keep the task's result for the test
      ansible.builtin.copy:
        content: "{{ outcome | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
"""


def _run(tmp_path, options: Dict[str, Any], **extra: Any) -> Dict[str, Any]:
    result_file = tmp_path / f"result-{uuid.uuid4().hex[:6]}.json"
    playbook = write_playbook(tmp_path, PLAY)
    done = run_playbook(playbook, state_env(tmp_path), "-vvvv",
                        extra_vars={"provider_options": options, "result_file": str(result_file), **extra})
    assert done.rc == 0, done.output[-3000:]
    assert CANARY not in done.output, "a value appeared in the output"
    return json.loads(result_file.read_text())


def _proxy_module():
    return servers.load("fault_proxy")


# Vault: a token that may write data but not metadata ---------------------------------------------------
def _token(server, prefix: str, data: list, metadata: list) -> str:
    policy = f"partial-{uuid.uuid4().hex[:8]}"
    server.write_policy(policy, f"""
path "secret/data/{prefix}*" {{ capabilities = {json.dumps(data)} }}
path "secret/metadata/{prefix}*" {{ capabilities = {json.dumps(metadata)} }}
""")
    return server.request("POST", "auth/token/create", {"policies": [policy], "ttl": "15m"})["auth"]["client_token"]


def _vault_state(server, prefix: str, name: str) -> Dict[str, Any]:
    """What OpenBao holds, read as root: current value and custom metadata."""
    try:
        data = server.request("GET", f"secret/data/{prefix}{name}")["data"]["data"]
    except Exception:  # 404: nothing there
        data = None
    try:
        custom = server.request("GET", f"secret/metadata/{prefix}{name}")["data"].get("custom_metadata") or {}
    except Exception:
        custom = None
    return {"data": data, "custom": custom}


def test_vault_value_written_tags_refused_says_which(tmp_path, openbao_server, vault_options):
    prefix = vault_options["prefix"]
    token = _token(openbao_server, prefix, ["create", "read", "update"], ["read", "list"])
    options = dict(vault_options, vault_token=token)
    got = _run(tmp_path, options, secret_name="api-key", secret_value=CANARY, secret_description="the API key",
               secret_tags={"team": "platform"})

    state = _vault_state(openbao_server, prefix, "api-key")
    assert state["data"] == {"value": CANARY}  # the value did land (as root sees it)
    assert "team" not in json.dumps(state["custom"])  # the tags did not
    assert got["failed"] and got["changed"] is True
    assert got["changes"] == ["state", "value"]
    assert got["not_written"] == ["description", "tags"]
    assert "Written: state, value (now version 1). Not written: description, tags" in got["msg"]
    assert "denied" in got["msg"] and "secret/metadata/" in got["msg"]


def test_vault_nothing_written_reports_changed_false(tmp_path, openbao_server, vault_options):
    prefix = vault_options["prefix"]
    openbao_server.request("POST", f"secret/data/{prefix}db-password", {"data": {"value": "before"}})
    token = _token(openbao_server, prefix, ["read"], ["read", "list"])
    got = _run(tmp_path, dict(vault_options, vault_token=token), secret_name="db-password", secret_value=CANARY)

    assert _vault_state(openbao_server, prefix, "db-password")["data"] == {"value": "before"}
    assert got["failed"] and got["changed"] is False
    assert got["changes"] == [] and got["not_written"] == ["value"]
    assert "Nothing was written" in got["msg"]


def test_vault_refused_delete_reports_changed_false(tmp_path, openbao_server, vault_options):
    prefix = vault_options["prefix"]
    openbao_server.request("POST", f"secret/data/{prefix}old-key", {"data": {"value": "kept"}})
    token = _token(openbao_server, prefix, ["read"], ["read", "list"])
    got = _run(tmp_path, dict(vault_options, vault_token=token), secret_name="old-key", secret_state="absent")

    assert _vault_state(openbao_server, prefix, "old-key")["data"] == {"value": "kept"}
    assert got["failed"] and got["changed"] is False
    assert got["not_written"] == ["state"] and "Nothing was written" in got["msg"]


# AWS: moto behind the fault proxy, which refuses TagResource -------------------------------------------
def _access_denied(request):
    body = json.dumps({"__type": "AccessDeniedException",
                       "message": f"User is not authorized to perform: secretsmanager:{request.action}"}).encode()
    return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": "AccessDeniedException",
                 "x-amzn-RequestId": "00000000-0000-0000-0000-0000denied00"}, body


def test_aws_value_written_tags_refused_says_which(tmp_path, moto_server, aws_options, aws_manager):
    direct = aws_manager()
    direct.set("api-key", "before", tags={"team": "old"})
    proxy = _proxy_module().FaultProxy(moto_server.url, fault_rate=1.0, answer=_access_denied,
                                       exempt=lambda request: request.action != "TagResource").start()
    try:
        got = _run(tmp_path, dict(aws_options, aws_endpoint_url=proxy.url), secret_name="api-key",
                   secret_value=CANARY, secret_tags={"team": "new"})
        refused = proxy.snapshot().faults_by_action
    finally:
        proxy.stop()

    held = direct.get("api-key", bypass_cache=True)
    assert held.value == CANARY and direct.describe("api-key").tags == {"team": "old"}  # moto's own state
    assert refused.get("TagResource"), "the proxy never refused TagResource"
    assert got["failed"] and got["changed"] is True
    assert got["changes"] == ["value"] and got["not_written"] == ["tags"]
    assert "Written: value (now version " in got["msg"] and "Not written: tags" in got["msg"]
    assert "AccessDenied" in got["msg"] or "not allowed" in got["msg"] or "denied" in got["msg"].lower()


def test_aws_server_gone_mid_write_says_it_cannot_tell(tmp_path, moto_server, aws_options, aws_manager):
    """The server stops answering after the value was written: the read-back fails too, so the task says
    which fields may have been written and reports changed (a write may have happened)."""
    direct = aws_manager()
    direct.set("jwt-secret", "before", tags={"team": "old"})
    proxy = _proxy_module().FaultProxy(moto_server.url).start()
    proxy.down_after(1, lambda request: request.is_write)  # PutSecretValue passes, then nothing does
    try:
        got = _run(tmp_path, dict(aws_options, aws_endpoint_url=proxy.url), secret_name="jwt-secret",
                   secret_value=CANARY, secret_tags={"team": "new"})
    finally:
        proxy.stop()

    assert direct.get("jwt-secret", bypass_cache=True).value == CANARY
    assert got["failed"] and got["changed"] is True
    assert got["unverified"] == ["value", "tags"] and got["changes"] == []
    assert "could not be read back" in got["msg"] and "secret_info" in got["msg"]
