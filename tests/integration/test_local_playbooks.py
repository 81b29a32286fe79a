"""Playbook-level behaviour on the embedded store: ansible-playbook runs for real.

check mode writes nothing (the store is byte-identical), a second run reports changed=0, a canary
value never appears in output at -vvvv, in --diff or in the audit log, bad names fail before any
write, and eight forks writing at once lose nothing.
"""
from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from ansible_run import run_playbook, state_env, write_playbook

CANARY = "CANARY-" + uuid.uuid4().hex

SET_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: store the canary
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}"
        description: JWT signing key
        tags: {team: platform}
    - name: store a JSON secret
      vibebox.secrets.secret:
        name: database
        # to_json: before ansible-core 2.19 a template that renders JSON text becomes a dict
        value: "{{ {'user': 'app', 'password': canary ~ '-db'} | to_json }}"
"""


def _store_digest(tmp_path) -> dict:
    folder = tmp_path / "data" / "vibebox"
    if not folder.exists():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def env(tmp_path):
    return state_env(tmp_path)


def test_second_run_reports_no_change(tmp_path, env):
    play = write_playbook(tmp_path, SET_PLAY)
    first = run_playbook(play, env, extra_vars={"canary": CANARY})
    assert first.rc == 0, first.output
    assert first.changed() == 2
    second = run_playbook(play, env, extra_vars={"canary": CANARY})
    assert second.rc == 0, second.output
    assert second.changed() == 0


def test_check_mode_writes_nothing_and_predicts_the_change(tmp_path, env):
    play = write_playbook(tmp_path, SET_PLAY)
    fresh = run_playbook(play, env, "--check", extra_vars={"canary": CANARY})
    assert fresh.rc == 0 and fresh.changed() == 2, fresh.output
    assert _store_digest(tmp_path) == {}, "a check run on an empty machine created the store"
    assert run_playbook(play, env, extra_vars={"canary": CANARY}).rc == 0
    before = _store_digest(tmp_path)
    predicted = run_playbook(play, env, "--check", "--diff", extra_vars={"canary": CANARY + "-new"})
    assert predicted.rc == 0 and predicted.changed() == 2, predicted.output
    assert _store_digest(tmp_path) == before
    assert "(changed)" in predicted.stdout


def test_canary_never_appears_at_vvvv_in_diff_or_audit(tmp_path, env):
    play = write_playbook(tmp_path, SET_PLAY + """
    - name: read it back
      ansible.builtin.set_fact:
        got: "{{ lookup('vibebox.secrets.get', 'jwt-secret') }}"
        pw: "{{ lookup('vibebox.secrets.get', 'database', json_key='password') }}"
      no_log: true
    - name: compare without printing
      ansible.builtin.assert:
        that: [got == canary, pw == canary ~ '-db']
        quiet: true
      no_log: true
    - name: describe
      vibebox.secrets.secret_info:
        audit_entries: 50
    - name: change it with diff
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}-rotated"
        tags: {team: security}
""")
    run = run_playbook(play, env, "-vvvv", "--diff", extra_vars={"canary": CANARY})
    assert run.rc == 0, run.output[-4000:]
    assert CANARY not in run.output
    audit = (tmp_path / "state" / "vibebox" / "audit.log").read_text()
    assert '"op": "set"' in audit and CANARY not in audit
    raw_store = b"".join(p.read_bytes() for p in (tmp_path / "data" / "vibebox").iterdir())
    assert CANARY.encode() not in raw_store, "the store holds a value in clear text"


def test_failure_messages_do_not_leak(tmp_path, env):
    play = write_playbook(tmp_path, """
- hosts: localhost
  gather_facts: false
  tasks:
    - vibebox.secrets.secret:
        name: "not a valid name"
        value: "{{ canary }}"
""")
    run = run_playbook(play, env, "-vvvv", extra_vars={"canary": CANARY})
    assert run.rc != 0
    assert "not a valid name" in run.output and "[local]" in run.output
    assert CANARY not in run.output
    assert _store_digest(tmp_path) == {}, "a bad name wrote to the store"


@pytest.mark.parametrize("bad", ["has space", "../up", "a/../b", "x" * 600, "tab\there"])
def test_bad_names_are_rejected_before_any_write(tmp_path, env, bad):
    play = write_playbook(tmp_path, """
- hosts: localhost
  gather_facts: false
  tasks:
    - vibebox.secrets.secret:
        name: "{{ bad }}"
        value: some-value
""")
    run = run_playbook(play, env, extra_vars={"bad": bad})
    assert run.rc != 0
    assert "InvalidSecretName" in run.output or "name" in run.output
    assert _store_digest(tmp_path) == {}


def test_lookup_versions_defaults_and_policies(tmp_path, env):
    play = write_playbook(tmp_path, """
- hosts: localhost
  gather_facts: false
  tasks:
    - vibebox.secrets.secret: {name: api-key, value: first}
      register: first
    - vibebox.secrets.secret: {name: api-key, value: second}
      register: second
    - name: many secrets in one task, each with its own line and a count of them
      vibebox.secrets.secret:
        secrets:
          - {name: api-key, value: second}
          - {name: db-key, value: third}
      register: many
    - ansible.builtin.assert:
        that:
          - "first.summary == 'api-key: created as version 1' and first.outcome == 'created'"
          - "second.summary == 'api-key: changed value (version 2)' and second.outcome == 'changed'"
          - "many.summary == '2 secrets: 1 created, 1 unchanged'"
          - "many.results | map(attribute='summary') | list == ['api-key: unchanged (version 2)', 'db-key: created as version 1']"
          - lookup('vibebox.secrets.get', 'api-key') == 'second'
          - lookup('vibebox.secrets.get', 'api-key', version='previous') == 'first'
          - lookup('vibebox.secrets.get', 'api-key', version='1') == 'first'
          - lookup('vibebox.secrets.get', 'nope', default='fallback') == 'fallback'
          - query('vibebox.secrets.get', 'api-key', 'nope', on_missing='skip') == ['second']
          - query('vibebox.secrets.get', 'api-key', 'nope', on_missing='warn') == ['second']
    - name: a missing secret is an error by default, naming provider and secret
      ansible.builtin.set_fact:
        x: "{{ lookup('vibebox.secrets.get', 'nope') }}"
      ignore_errors: true
      register: missing
    - ansible.builtin.assert:
        that:
          - missing is failed
          - "'nope' in missing.msg and 'local' in missing.msg"
""")
    run = run_playbook(play, env)
    assert run.rc == 0, run.output[-4000:]
    assert "skipped" in run.output  # the warn policy said what it skipped


def test_development_mode_reads_environment_variables(tmp_path):
    env = state_env(tmp_path, {"ENABLE_SECRET_MANAGER": "false", "JWT_SECRET": "from-env"})
    play = write_playbook(tmp_path, """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.assert:
        that: lookup('vibebox.secrets.get', 'jwt-secret') == 'from-env'
""")
    run = run_playbook(play, env)
    assert run.rc == 0, run.output[-3000:]


def test_env_provider_refuses_writes_and_names_an_alternative(tmp_path, env):
    play = write_playbook(tmp_path, """
- hosts: localhost
  gather_facts: false
  tasks:
    - vibebox.secrets.secret: {name: jwt-secret, value: x, provider: env}
""")
    run = run_playbook(play, env)
    assert run.rc != 0
    assert "read-only" in run.output and "provider: local" in run.output


def test_absent_then_present_restores_and_info_reports_versions(tmp_path, env):
    play = write_playbook(tmp_path, """
- hosts: localhost
  gather_facts: false
  tasks:
    - vibebox.secrets.secret: {name: api-key, value: v1}
    - vibebox.secrets.secret: {name: api-key, state: absent, recovery_days: 7}
      register: deleted
    - vibebox.secrets.secret: {name: api-key, state: absent}
      register: deleted_again
    - vibebox.secrets.secret: {name: api-key, value: v2}
      register: restored
    - vibebox.secrets.secret_info: {name: api-key}
      register: info
    - ansible.builtin.copy:
        content: "{{ {'deleted': deleted.changed, 'again': deleted_again.changed, 'restored': restored.changes, 'info': info} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
""")
    out = tmp_path / "result.json"
    run = run_playbook(play, env, extra_vars={"out": str(out)})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(out.read_text())
    assert result["deleted"] is True and result["again"] is False
    assert set(result["restored"]) == {"state", "value"}
    secret = result["info"]["secrets"][0]
    assert secret["version"] == "2" and [v["version"] for v in secret["versions"]] == ["2", "1"]
    assert "v1" not in json.dumps(result["info"]) and "v2" not in json.dumps(result["info"]["secrets"])


def test_eight_forks_writing_at_once_lose_nothing(tmp_path, env):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[fleet]\n" + "\n".join(f"host{i} ansible_connection=local" for i in range(8)) + "\n")
    play = write_playbook(tmp_path, """
- hosts: fleet
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: each host writes its own secret
      vibebox.secrets.secret: {name: "per-host/{{ inventory_hostname }}", value: "value-{{ inventory_hostname }}"}
    - name: every host adds a version to one shared secret
      vibebox.secrets.secret: {name: shared, value: "shared-{{ inventory_hostname }}"}
""")
    run = run_playbook(play, env, "-f", "8", inventory=str(inventory))
    assert run.rc == 0, run.output[-3000:]
    check = write_playbook(tmp_path, """
- hosts: localhost
  gather_facts: false
  tasks:
    - vibebox.secrets.secret_info: {}
      register: all_secrets
    - vibebox.secrets.secret_info: {name: shared}
      register: shared
    - ansible.builtin.assert:
        that:
          - all_secrets.secrets | length == 9
          - shared.secrets[0].versions | length == 8
          - lookup('vibebox.secrets.get', 'per-host/host3') == 'value-host3'
""", name="check.yml")
    verified = run_playbook(check, env)
    assert verified.rc == 0, verified.output[-3000:]


TAGGED_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: the deploy playbook's task - the key is made once and tagged
      vibebox.secrets.secret:
        name: jwt-secret
        value: "{{ canary }}-first"
        overwrite: false
        tags: {team: "{{ team }}"}
      register: deployed
"""

ROTATE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: rotate, keeping the old key readable for two hours
      vibebox.secrets.secret_rotate: {name: jwt-secret, value: "{{ canary }}-rotated", grace_period: 2h}
"""

AFTER_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: what the store holds
      vibebox.secrets.secret_info: {name: jwt-secret}
      register: info
    - name: what a cleanup would destroy
      vibebox.secrets.secret_cleanup: {names: [jwt-secret]}
      check_mode: true
      register: cleanup
    - name: report
      ansible.builtin.copy:
        dest: "{{ report }}"
        mode: "0600"
        content: >-
          {{ {'tags': info.secrets[0].tags, 'destroyed': cleanup.secrets[0].destroyed,
              'previous': lookup('vibebox.secrets.get', 'jwt-secret', version='previous', bypass_cache=true) | length}
             | to_json }}
"""


def test_a_tags_task_after_a_rotation_keeps_the_rotation_s_grace(tmp_path, env):
    """The deploy playbook that made and tagged a key runs again after a rotation: its tags must not take the
    rotation's own tags away (then a cleanup destroyed the old key inside its grace period, and every re-run
    reported a change)."""
    play = write_playbook(tmp_path, TAGGED_PLAY)
    assert run_playbook(play, env, extra_vars={"canary": CANARY, "team": "platform"}).rc == 0
    rotated = run_playbook(write_playbook(tmp_path, ROTATE_PLAY, "rotate.yml"), env, extra_vars={"canary": CANARY})
    assert rotated.rc == 0, rotated.output[-3000:]

    again = run_playbook(play, env, extra_vars={"canary": CANARY, "team": "platform"})
    assert again.rc == 0, again.output[-3000:]
    assert again.changed() == 0

    retagged = run_playbook(play, env, extra_vars={"canary": CANARY, "team": "payments"})
    assert retagged.rc == 0, retagged.output[-3000:]
    assert retagged.changed() == 1

    after = run_playbook(write_playbook(tmp_path, AFTER_PLAY, "after.yml"), env,
                         extra_vars={"report": str(tmp_path / "report.json")})
    assert after.rc == 0, after.output[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["tags"]["team"] == "payments"
    assert {"vibebox-rotated-at", "vibebox-grace-until", "vibebox-grace-version"} <= set(report["tags"])
    assert report["destroyed"] == []
    assert int(report["previous"]) == len(f"{CANARY}-first")
    assert CANARY not in after.output
