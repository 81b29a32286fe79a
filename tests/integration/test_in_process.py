"""A module answered in the controller's worker gives the result the module path gives.

On the controller, with the controller's own Python, the collection's modules run inside the task's
worker (plugins/plugin_utils/in_process.py). The same playbook runs once that way and once with
``VIBEBOX_SECRETS_IN_PROCESS=false`` (the module path a remote host gets), each on its own fresh
store, and every registered result must be the same: changed, failed, messages, warnings, diff,
check mode, a loop, a failure before any write, the task's ``environment:``, the automation marker.
At -vvv the in-process run starts no command at all (no EXEC line), the module path starts some,
and a canary value appears in neither output.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Dict

from ansible_run import run_playbook, state_env, write_playbook

CANARY = "CANARY-" + uuid.uuid4().hex + "-Zq9!"

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/vibebox.secrets.secrets: {provider: local, local_path: "{{ store }}/secrets.db",
                                    local_key_file: "{{ store }}/secrets.key"}
  tasks:
    - name: a loop writes three secrets
      vibebox.secrets.secret: {name: "{{ item }}", value: "{{ canary }}-{{ item }}", tags: {team: core}}
      loop: [one, two, three]
      register: written
    - name: the same value again changes nothing
      vibebox.secrets.secret: {name: one, value: "{{ canary }}-one", tags: {team: core}}
      register: again
    - name: check mode and diff show a change without writing it
      vibebox.secrets.secret: {name: one, value: "{{ canary }}-changed", tags: {team: ops}}
      check_mode: true
      diff: true
      register: checked
    - name: a bad name fails before any write
      vibebox.secrets.secret: {name: "bad name!", value: "{{ canary }}"}
      register: bad_name
      ignore_errors: true
    - name: the provider chosen from the task's environment, with the notice as a warning
      vibebox.secrets.secret_info: {provider: "{{ omit }}", name: one}
      environment: {SECRET_PROVIDER: local}
      register: from_environment
    - name: the automation marker refuses the throwaway store
      vibebox.secrets.secret: {provider: "{{ omit }}", local_path: "{{ omit }}", local_key_file: "{{ omit }}", name: four,
                               value: "{{ canary }}"}
      environment: {LOCAL_SECRETS_PATH: "{{ store }}/other.db"}
      vars: {awx_job_id: 42}
      register: automation
      ignore_errors: true
    - name: a missing secret is reported, not failed
      vibebox.secrets.secret_info: {name: missing}
      register: missing
    - name: rotation reports versions and a summary
      vibebox.secrets.secret_rotate: {name: two, generator: {type: hex, length: 32}}
      register: rotated
    - name: record every result
      ansible.builtin.copy:
        dest: "{{ store }}/results.json"
        content: "{{ {'written': written, 'again': again, 'checked': checked, 'bad_name': bad_name,
                      'from_environment': from_environment, 'automation': automation, 'missing': missing,
                      'rotated': rotated} | to_json }}"
"""

#: what differs between any two runs whatever the path (time, the store's own path, generated ids; the traceback
#: ansible-core before 2.19 adds to a failure names the module's file, which is inside AnsiballZ's zip on one path)
VOLATILE = {"invocation", "exception", "created_at", "updated_at", "last_rotation", "age_days", "fingerprint", "path",
            "local_path", "audit", "version", "version_before", "summary", "next_due", "rotated_at"}

MOMENT = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?\S*")


def _normalised(value: Any, store: str) -> Any:
    if isinstance(value, dict):
        return {key: _normalised(item, store) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [_normalised(item, store) for item in value]
    if isinstance(value, str):
        return MOMENT.sub("<time>", value.replace(store, "<store>"))
    return value


def _run(tmp_path, name: str, in_process: bool) -> Dict[str, Any]:
    store = tmp_path / name
    store.mkdir()
    env = state_env(store, {"VIBEBOX_SECRETS_IN_PROCESS": "true" if in_process else "false"})
    playbook = write_playbook(tmp_path, PLAY, name=f"{name}.yml")
    run = run_playbook(playbook, env, "-vvv", extra_vars={"store": str(store), "canary": CANARY})
    assert run.rc == 0, run.output[-3000:]
    assert CANARY not in run.output
    results = json.loads((store / "results.json").read_text())
    return dict(output=run.output, results=_normalised(results, str(store)))


def test_in_process_and_module_path_give_the_same_results(tmp_path):
    here = _run(tmp_path, "here", in_process=True)
    module = _run(tmp_path, "module", in_process=False)

    # the in-process run started no command for the collection's modules; the module path did
    assert "runs in this worker" in here["output"]
    assert "runs in this worker" not in module["output"]
    assert "AnsiballZ_secret" not in here["output"]
    assert "AnsiballZ_secret" in module["output"]

    results = here["results"]
    assert [item["changed"] for item in results["written"]["results"]] == [True, True, True]
    assert results["again"]["changed"] is False
    assert results["checked"]["changed"] is True and results["checked"]["diff"]
    assert results["bad_name"]["failed"] is True and "bad name!" in results["bad_name"]["msg"]
    assert results["from_environment"]["exists"] is True
    assert results["automation"]["failed"] is True
    assert results["missing"]["exists"] is False
    assert results["rotated"]["changed"] is True
    # and every one of them is what the module path gave
    for key, value in results.items():
        assert value == module["results"][key], key
