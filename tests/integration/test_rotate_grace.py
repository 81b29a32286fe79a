"""A grace period ends, through every way a playbook reads a previous version.

After a rotation with a grace period the previous value is readable as ``version='previous'`` and
``${secret:name@previous}`` (get lookup, dotenv lookup, resolve filter) and secret_info says
"until"; once the grace has ended, those reads answer as a missing secret (``on_missing`` and
``default`` apply, references are unresolved) unless ``ignore_grace`` is given, and secret_info says
"ended". Instead of waiting two hours, the recorded end of the grace is moved into the past between
the two runs, which is what the passing of time does to it. The same rule is checked per provider in
contract/test_rotation_contract.py.
"""
from __future__ import annotations

import time
import uuid

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory
from ansible_collections.vibebox.secrets.plugins.module_utils.core.rotation import (
    TAG_GRACE_UNTIL,
    RotationPolicy,
    Rotator,
)
from ansible_run import run_playbook, state_env, write_playbook

CANARY = "CANARY-grace-" + uuid.uuid4().hex

HEADER = """
- name: Read the previous JWT key every way a playbook can
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    o: {provider: local, local_path: "{{ store }}", audit_log: false}
  module_defaults:
    group/vibebox.secrets.secrets: "{{ o }}"
  tasks:
"""

DURING = HEADER + """
    - name: Every reader gets the previous value while the grace runs
      ansible.builtin.assert:
        that:
          - lookup('vibebox.secrets.get', 'jwt-secret', version='previous', **o) == old
          - (lookup('vibebox.secrets.dotenv', env_file, **o)).JWT_PREVIOUS == old
          - ('${secret:jwt-secret@previous}' | vibebox.secrets.resolve(**o)) == old
        quiet: true
      no_log: true
    - name: Describe the grace
      vibebox.secrets.secret_info: {name: jwt-secret, versions: false}
      register: info
    - name: It runs
      ansible.builtin.assert:
        that:
          - info.secrets[0].grace.state == 'until'
          - info.secrets[0].grace.version == '1'
"""

AFTER = HEADER + """
    - name: After the grace, previous is a missing secret for the lookup
      ansible.builtin.assert:
        that:
          - query('vibebox.secrets.get', 'jwt-secret', version='previous', on_missing='skip', **o) == []
          - lookup('vibebox.secrets.get', 'jwt-secret', version='previous', default='gone', **o) == 'gone'
          - lookup('vibebox.secrets.get', 'jwt-secret', version='previous', ignore_grace=true, **o) == old
          - lookup('vibebox.secrets.get', 'jwt-secret', **o) == new
          - (lookup('vibebox.secrets.dotenv', env_file, ignore_grace=true, **o)).JWT_PREVIOUS == old
          - (lookup('vibebox.secrets.dotenv', env_file, strict=false, **o)).JWT_PREVIOUS == '${secret:jwt-secret@previous}'
          - ('${secret:jwt-secret@previous}' | vibebox.secrets.resolve(ignore_grace=true, **o)) == old
        quiet: true
      no_log: true
    - name: on_missing=error fails
      ansible.builtin.set_fact:
        attempt: "{{ lookup('vibebox.secrets.get', 'jwt-secret', version='previous', **o) }}"
      register: lookup_error
      ignore_errors: true
    - name: A strict reference fails
      ansible.builtin.set_fact:
        attempt: "{{ lookup('vibebox.secrets.dotenv', env_file, **o) }}"
      register: dotenv_error
      ignore_errors: true
    - name: The filter fails
      ansible.builtin.set_fact:
        attempt: "{{ '${secret:jwt-secret@previous}' | vibebox.secrets.resolve(**o) }}"
      register: filter_error
      ignore_errors: true
    - name: Describe the grace
      vibebox.secrets.secret_info: {name: jwt-secret, versions: false}
      register: info
    - name: Each failure says why, and secret_info says the grace ended
      ansible.builtin.assert:
        that:
          - lookup_error is failed and 'grace period of its previous version 1 ended' in lookup_error.msg
          - dotenv_error is failed and 'grace period' in dotenv_error.msg
          - filter_error is failed and 'grace period' in filter_error.msg
          - info.secrets[0].grace.state == 'ended'
"""


def test_previous_is_readable_during_the_grace_and_missing_after_unless_ignored(tmp_path):
    env = state_env(tmp_path)
    store = str(tmp_path / "store" / "secrets.db")
    manager = factory.build_manager({"provider": "local", "local_path": store, "audit_log": "false", "cache_ttl": 0},
                                    env={})
    manager.set("jwt-secret", CANARY + "-old")
    Rotator(manager).rotate("jwt-secret", RotationPolicy.from_options(grace_period="2h"), value=CANARY + "-new")
    env_file = tmp_path / "app.env"
    env_file.write_text("JWT_SECRET=${secret:jwt-secret}\nJWT_PREVIOUS=${secret:jwt-secret@previous}\n")
    variables = {"store": store, "env_file": str(env_file), "old": CANARY + "-old", "new": CANARY + "-new"}

    during = run_playbook(write_playbook(tmp_path, DURING, "during.yml"), env, extra_vars=variables)
    assert during.rc == 0, during.output[-4000:]

    tags = dict(manager.describe("jwt-secret").tags)
    tags[TAG_GRACE_UNTIL] = str(int(time.time()) - 60)  # the grace ran out a minute ago
    manager.update_metadata("jwt-secret", tags=tags)

    after = run_playbook(write_playbook(tmp_path, AFTER, "after.yml"), env, extra_vars=variables)
    assert after.rc == 0, after.output[-4000:]
    assert CANARY not in during.output + after.output
