"""The strength policy on write, through ansible-playbook and the embedded store, in one run.

It covers: check mode refuses a weak value as the real run would, each with its own assertion: enforce refuses with zero writes (single
and the secrets list, secret_rotate with a value), warn writes and warns, the vibebox_secrets_policy
variable reaches every call, a bad policy fails naming the field before any write, and the migrate role
blocks a weak .env line in its plan before any write. A canary value never appears in the output.
The rules themselves are unit-tested (tests/unit/.../test_strength.py).
"""
from __future__ import annotations

import uuid

from ansible_run import run_playbook, state_env, write_playbook

#: 23 characters: too short for min_length 30, long enough that "the value" is unmistakable in output
CANARY = "CANARY-" + uuid.uuid4().hex[:16]

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    vibebox_secrets_policy: {min_length: 30}
  module_defaults:
    group/vibebox.secrets.secrets: {provider: local, local_path: "{{ store }}/secrets.db",
                                    local_key_file: "{{ store }}/secrets.key"}
  tasks:
    - name: check mode refuses a weak value as the real run does
      vibebox.secrets.secret: {name: checked, value: "{{ canary }}"}
      check_mode: true
      register: refused_check
      ignore_errors: true
    - name: enforce (from the variable) refuses a short value
      vibebox.secrets.secret: {name: short-one, value: "{{ canary }}"}
      register: refused_single
      ignore_errors: true
    - name: enforce refuses the whole secrets list, naming each weak secret
      vibebox.secrets.secret:
        secrets: [{name: list-weak, value: changeme}, {name: list-strong, value: "{{ canary }}{{ canary }}"}]
      register: refused_list
      ignore_errors: true
    - name: secret_rotate refuses a weak given value
      vibebox.secrets.secret_rotate: {name: rotated, value: "{{ canary }}", create: true}
      register: refused_rotate
      ignore_errors: true
    - name: a bad policy fails naming the field
      vibebox.secrets.secret: {name: short-one, value: "{{ canary }}", policy: {min_length: -1}}
      register: bad_policy
      ignore_errors: true
    - name: a policy with an unknown key fails naming it
      vibebox.secrets.secret: {name: short-one, value: "{{ canary }}", policy: {max_length: 3}}
      register: unknown_key
      ignore_errors: true
    - name: the task's own policy wins over the variable
      vibebox.secrets.secret: {name: task-policy, value: "{{ canary }}", policy: {min_length: 8, min_entropy_bits: 0}}
      register: own_policy
    - name: warn mode writes and warns
      vibebox.secrets.secret: {name: warned, value: "{{ canary }}", policy_mode: warn}
      register: warned
    - name: a generated value passes the default policy
      vibebox.secrets.secret_rotate: {name: generated, create: true, generator: {type: password}, policy: {}}
      register: generated
    - name: migrate a .env file with one weak line, policy from the variable
      ansible.builtin.include_role:
        name: vibebox.secrets.migrate
        apply: {ignore_errors: true}
      vars:
        migrate_env_file: "{{ env_file }}"
        migrate_provider_options: {provider: local, local_path: "{{ store }}/secrets.db",
                                   local_key_file: "{{ store }}/secrets.key"}
        migrate_backup_dir: "{{ store }}/backups"
        migrate_backup_key_file: "{{ store }}/backup.key"
    - name: what the store holds now
      vibebox.secrets.secret_info: {versions: false}
      register: stored
    - name: the outcomes
      ansible.builtin.debug:
        msg:
          outcome: "{{ {'refused_check': [refused_check.failed, refused_check.msg],
                        'refused_single': [refused_single.failed, refused_single.error_kind | default(''), refused_single.msg],
                        'refused_list': [refused_list.failed, refused_list.msg],
                        'refused_rotate': [refused_rotate.failed, refused_rotate.msg],
                        'bad_policy': [bad_policy.failed, bad_policy.msg],
                        'unknown_key': [unknown_key.failed, unknown_key.msg],
                        'own_policy': own_policy.changed, 'warned': warned.changed,
                        'generated': generated.changed,
                        'plan': migrate_plan.plan | default([]) | map(attribute='action') | list,
                        'reasons': migrate_plan.plan | default([]) | map(attribute='reason') | list,
                        'stored': stored.secrets | map(attribute='name') | sort} | to_json }}"
"""


def _outcome(run) -> dict:
    import json
    import re

    match = re.search(r'"outcome": "(.*)"\n', run.stdout)
    assert match, run.output[-4000:]
    return json.loads(json.loads(f'"{match.group(1)}"'))


def test_policy_enforce_warn_variable_and_migration_plan(tmp_path):
    env = state_env(tmp_path)
    env_file = tmp_path / "app.env"
    env_file.write_text(f"API_TOKEN={CANARY}{CANARY}\nADMIN_PASSWORD=Password123!\n")
    (tmp_path / "store").mkdir()
    play = write_playbook(tmp_path, PLAY)
    extra = {"canary": CANARY, "store": str(tmp_path / "store"), "env_file": str(env_file)}

    done = run_playbook(play, env, extra_vars=extra)
    assert done.rc == 0, done.output[-4000:]
    assert CANARY not in done.output and "Password123!" not in done.output
    seen = _outcome(done)
    assert seen["refused_check"][0] and "secret 'checked'" in seen["refused_check"][1]
    failed, kind, msg = seen["refused_single"]
    assert failed and kind == "weak_value"
    assert "secret 'short-one'" in msg and "too short: 23 characters, min_length is 30" in msg
    failed, msg = seen["refused_list"]
    assert failed and "secret 'list-weak'" in msg and "forbidden" in msg and "list-strong" not in msg
    assert seen["refused_rotate"][0] and "secret 'rotated'" in seen["refused_rotate"][1]
    assert seen["bad_policy"][0] and "policy.min_length must be a whole number, 0 or more (got -1)" in seen["bad_policy"][1]
    assert seen["unknown_key"][0] and "policy has unknown keys ['max_length']" in seen["unknown_key"][1]
    assert seen["own_policy"] is True and seen["warned"] is True and seen["generated"] is True
    assert "secret 'warned' breaks the strength policy (too short: 23 characters, min_length is 30)" in done.output
    # the migration: the weak line is blocked in the plan (enforce, from the variable), so the role wrote nothing
    assert seen["plan"] == ["create", "blocked"]
    assert seen["reasons"][1].startswith("refused by the strength policy: forbidden")
    # zero writes for everything refused; the migration's strong line was not written either
    assert seen["stored"] == ["generated", "task-policy", "warned"]
