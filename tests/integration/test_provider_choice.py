"""Which provider a run uses when none is set: never a throwaway store in a job, never a silent surprise.

- In an AWX/AAP job (extra variable ``awx_job_id`` or ``tower_job_id``, or ``JOB_ID`` with ``AWX_HOST`` in
  the environment) with no provider set, the embedded local store is refused unless ``local_path`` is
  given: it would be created in the job's container and lost with it. Every plugin refuses, before any
  file is written: both lookups, the filter, and every module (modules do not see extra variables; the
  action plugins pass the marker on).
- A run whose provider came from detection says so once, naming the variable and never its value,
  however many hosts, forks, tasks and terms it has (the run cache helper resolves the options in its
  own process; the lookups decide and warn in the fork, Ansible shows a warning text once per run).

``make demo`` and the molecule scenarios pin ``provider: local``, so an exported ``VAULT_ADDR`` or a pod's
``KUBERNETES_SERVICE_HOST`` cannot send their secrets elsewhere: test_fresh_clone.py runs the demo, and
``make molecule`` the scenarios, with both exported and pointing at a closed port.
"""
from __future__ import annotations

import json
import uuid

import pytest

from ansible_run import run_playbook, state_env, write_playbook
import servers

CANARY = "CANARY-choice-" + uuid.uuid4().hex
NOTICE = "vibebox.secrets: no provider is set;"


def _closed_port() -> int:
    return servers.load("fault_proxy").closed_port()


# 13: automation ------------------------------------------------------------------------------------------
EVERY_PLUGIN = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/vibebox.secrets.secrets: "{{ given_options }}"
  tasks:
    - name: secret
      vibebox.secrets.secret: {name: jwt-secret, value: "{{ canary }}"}
      register: r_secret
      ignore_errors: true
    - name: get lookup
      ansible.builtin.set_fact:
        got: "{{ lookup('vibebox.secrets.get', 'jwt-secret', on_missing='skip', **given_options) }}"
      register: r_get
      ignore_errors: true
    - name: dotenv lookup
      ansible.builtin.set_fact:
        got: "{{ lookup('vibebox.secrets.dotenv', env_file, **given_options) }}"
      register: r_dotenv
      ignore_errors: true
    - name: resolve filter
      ansible.builtin.set_fact:
        got: "{{ 'x=${secret:jwt-secret}' | vibebox.secrets.resolve(strict=false, **given_options) }}"
      register: r_filter
      ignore_errors: true
    - name: secret_info
      vibebox.secrets.secret_info: {}
      register: r_secret_info
      ignore_errors: true
    - name: secret_rotate
      vibebox.secrets.secret_rotate: {name: jwt-secret, generator: {type: hex, length: 16}}
      register: r_secret_rotate
      ignore_errors: true
    - name: secret_cleanup
      vibebox.secrets.secret_cleanup: {names: [jwt-secret]}
      register: r_secret_cleanup
      ignore_errors: true
    - name: secret_migrate
      vibebox.secrets.secret_migrate: {action: plan, env_file: "{{ env_file }}"}
      register: r_secret_migrate
      ignore_errors: true
    - name: postgres_rotate
      vibebox.secrets.postgres_rotate: {role: app, login_host: 127.0.0.1, login_port: "{{ dead_port }}"}
      register: r_postgres_rotate
      ignore_errors: true
    - name: keep every outcome for the test
      ansible.builtin.copy:
        dest: "{{ out }}"
        mode: "0600"
        content: >-
          {{ {'failed': dict(plugins | zip(outcomes | map(attribute='failed', default=false))),
              'msg': dict(plugins | zip(outcomes | map(attribute='msg', default='')))} | to_json }}
      vars:
        outcomes: "{{ [r_secret, r_get, r_dotenv, r_filter, r_secret_info, r_secret_rotate, r_secret_cleanup,
                       r_secret_migrate, r_postgres_rotate] }}"
"""
PLUGINS = ["secret", "get", "dotenv", "resolve", "secret_info", "secret_rotate", "secret_cleanup", "secret_migrate",
           "postgres_rotate"]


def _every_plugin(tmp_path, extra_vars=None, env=None, options=None):
    env_file = tmp_path / "app.env"
    env_file.write_text(f"JWT_SECRET=${{secret:jwt-secret}}\nAPI_KEY={CANARY}\n")
    out = tmp_path / f"out-{uuid.uuid4().hex[:6]}.json"
    playbook = write_playbook(tmp_path, EVERY_PLUGIN)
    done = run_playbook(playbook, state_env(tmp_path, env), extra_vars={
        "plugins": PLUGINS, "out": str(out), "env_file": str(env_file), "canary": CANARY,
        "dead_port": _closed_port(), "given_options": options or {}, **(extra_vars or {})})
    assert done.rc == 0, done.output[-3000:]
    assert CANARY not in done.output
    found = json.loads(out.read_text())
    return {plugin: found["msg"][plugin] if found["failed"][plugin] else "(no failure)" for plugin in PLUGINS}, done


# tower_job_id is the other name of awx_job_id in the same list every plugin reads (options.AUTOMATION_VARS); the
# unit tests of that list cover it, so the playbook runs here take one extra variable and the environment pair.
@pytest.mark.parametrize("marker", ["awx_job_id", "JOB_ID+AWX_HOST"])
def test_a_job_without_provider_refuses_the_throwaway_store_everywhere(marker, tmp_path):
    if marker == "JOB_ID+AWX_HOST":
        messages, _done = _every_plugin(tmp_path, env={"JOB_ID": "42", "AWX_HOST": "https://awx.example.com"})
        why = "JOB_ID and AWX_HOST are set"
    else:
        messages, _done = _every_plugin(tmp_path, extra_vars={marker: 42})
        why = f"the extra variable {marker} is set"
    for plugin in PLUGINS:
        message = messages[plugin]
        assert why in message, f"{plugin}: {message}"
        assert "no provider is set" in message and "credential" in message and "local_path" in message, plugin
    data = tmp_path / "data"
    assert not data.exists() or not any(data.rglob("*")), f"files were written: {list(data.rglob('*'))}"


# provider: local with local_path is the first case with one more option that every plugin takes alike
@pytest.mark.parametrize("how", ["local_path option", "VIBEBOX_LOCAL_PATH"])
def test_a_job_may_use_a_local_store_it_names(how, tmp_path):
    store = tmp_path / "kept" / "secrets.db"
    options, env = {}, {}
    if how == "local_path option":
        options = {"local_path": str(store)}
    else:
        env = {"VIBEBOX_LOCAL_PATH": str(store)}
    messages, _done = _every_plugin(tmp_path, extra_vars={"awx_job_id": 42}, env=env, options=options)
    for plugin in ("get", "dotenv", "resolve", "secret", "secret_info", "secret_rotate", "secret_cleanup",
                   "secret_migrate"):
        assert messages[plugin] == "(no failure)", f"{plugin}: {messages[plugin]}"
    assert "no provider is set and" not in messages["postgres_rotate"]  # it fails on the dead database instead
    assert store.exists()


# 14: the choice is said once per run ---------------------------------------------------------------------
FLEET = """
- hosts: fleet
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: two terms of the get lookup on every host
      ansible.builtin.set_fact:
        got: "{{ query('vibebox.secrets.get', 'jwt-secret', 'api-key') }}"
      no_log: true
    - name: the dotenv lookup and the filter on every host
      ansible.builtin.set_fact:
        env_values: "{{ lookup('vibebox.secrets.dotenv', env_file) }}"
        url: "{{ 'k=${secret:api-key}' | vibebox.secrets.resolve }}"
      no_log: true
    - name: a module on every host
      vibebox.secrets.secret_info: {name: jwt-secret}
    - name: a write on every host
      vibebox.secrets.secret: {name: "host-{{ inventory_hostname }}", value: "{{ canary }}"}
"""


@pytest.mark.parametrize("run_cache", ["auto", "false"])
def test_a_detected_provider_is_named_once_per_run(run_cache, tmp_path, openbao_server, vault_manager):
    if openbao_server is None:
        pytest.skip("needs the local OpenBao server (the address is set through VAULT_ADDR)")
    manager = vault_manager()
    manager.set("jwt-secret", CANARY)
    manager.set("api-key", CANARY + "-api")
    token = openbao_server.request("POST", "auth/token/create", {"policies": ["root"], "ttl": "1h"})["auth"]["client_token"]
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[fleet]\n" + "\n".join(f"h{index}" for index in range(4)) + "\n")
    env_file = tmp_path / "app.env"
    env_file.write_text("JWT=${secret:jwt-secret}\n")
    env = {"VAULT_ADDR": openbao_server.addr, "VAULT_TOKEN": token, "VAULT_PREFIX": manager.prefix,
           "VIBEBOX_RUN_CACHE": run_cache, "ANSIBLE_FORKS": "4", "VIBEBOX_AUDIT_LOG": "false"}
    done = run_playbook(write_playbook(tmp_path, FLEET), state_env(tmp_path, env), inventory=str(inventory),
                        extra_vars={"env_file": str(env_file), "canary": CANARY})
    assert done.rc == 0, done.output[-3000:]
    assert done.output.count(NOTICE) == 1, done.output
    line = next(text for text in done.output.splitlines() if NOTICE in text)
    assert "provider 'vault' was chosen because VAULT_ADDR is set" in line
    assert openbao_server.addr not in done.output and token not in done.output and CANARY not in done.output


def test_a_set_provider_is_not_announced(tmp_path):
    playbook = write_playbook(tmp_path, """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: read with the provider set through SECRET_PROVIDER
      ansible.builtin.debug:
        msg: "{{ lookup('vibebox.secrets.get', 'x', on_missing='skip') | length }}"
    - name: a module with the provider set through SECRET_PROVIDER
      vibebox.secrets.secret_info: {}
""")
    done = run_playbook(playbook, state_env(tmp_path, {"SECRET_PROVIDER": "local", "VAULT_ADDR": "http://127.0.0.1:9"}))
    assert done.rc == 0, done.output[-3000:]
    assert NOTICE not in done.output


THROWAWAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: a write to the local store chosen on purpose, at its default path
      vibebox.secrets.secret: {name: jwt-secret, value: "{{ canary }}", provider: local}
    - name: the same with a path that outlives the job
      vibebox.secrets.secret: {name: jwt-secret, value: "{{ canary }}", provider: local, local_path: "{{ kept }}"}
"""


def test_a_job_that_chose_the_local_store_without_a_path_is_warned(tmp_path):
    """Chosen on purpose, the store is allowed (storage may be mounted at the default path), but a job container
    would throw it away with the job: the run says so, once, and a named local_path is not warned about."""
    playbook = write_playbook(tmp_path, THROWAWAY)
    done = run_playbook(playbook, state_env(tmp_path, {"JOB_ID": "42", "AWX_HOST": "https://awx.example.com"}),
                        extra_vars={"canary": CANARY, "kept": str(tmp_path / "kept" / "secrets.db")})
    assert done.rc == 0, done.output[-3000:]
    assert done.output.count("provider 'local' without local_path while this run is an AWX/AAP job") == 1
    assert "JOB_ID and AWX_HOST are set" in done.output and CANARY not in done.output
    assert (tmp_path / "kept" / "secrets.db").exists()
